use super::*;
use crate::domain::RepoId;
use std::collections::BTreeMap;

fn stage(id: i64, name: &str, status: Status, deps: &[&str]) -> Stage {
    Stage {
        id: StageId(id),
        repo_id: RepoId(1),
        build_id: BuildId(1),
        number: id,
        name: name.into(),
        kind: "pipeline".into(),
        stage_type: "exec".into(),
        status,
        error: String::new(),
        errignore: false,
        exit_code: 0,
        machine: String::new(),
        os: "linux".into(),
        arch: "amd64".into(),
        variant: String::new(),
        kernel: String::new(),
        limit: 0,
        started: 0,
        stopped: 0,
        created: 0,
        updated: 0,
        version: 1,
        on_success: true,
        on_failure: false,
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
        labels: BTreeMap::new(),
        steps: vec![],
    }
}

#[test]
fn a_stage_is_released_when_its_dependencies_succeed() {
    let mut stages = vec![
        stage(1, "build", Status::Success, &[]),
        stage(2, "test", Status::WaitingOnDependencies, &["build"]),
    ];
    assert_eq!(
        next_statuses(&mut stages),
        vec![(StageId(2), Status::Pending)]
    );
}

#[test]
fn a_stage_waits_while_a_dependency_runs() {
    let mut stages = vec![
        stage(1, "build", Status::Running, &[]),
        stage(2, "test", Status::WaitingOnDependencies, &["build"]),
    ];
    assert!(next_statuses(&mut stages).is_empty());
}

#[test]
fn after_a_failure_on_success_stages_are_skipped_down_the_chain() {
    let mut stages = vec![
        stage(1, "build", Status::Failure, &[]),
        stage(2, "test", Status::WaitingOnDependencies, &["build"]),
        stage(3, "deploy", Status::WaitingOnDependencies, &["test"]),
    ];
    assert_eq!(
        next_statuses(&mut stages),
        vec![(StageId(2), Status::Skipped), (StageId(3), Status::Skipped)]
    );
}

#[test]
fn an_on_failure_stage_runs_only_when_the_build_is_failing() {
    let mut notify = stage(2, "notify", Status::WaitingOnDependencies, &["build"]);
    notify.on_success = false;
    notify.on_failure = true;
    let mut failing = vec![stage(1, "build", Status::Failure, &[]), notify.clone()];
    assert_eq!(
        next_statuses(&mut failing),
        vec![(StageId(2), Status::Pending)]
    );
    let mut passing = vec![stage(1, "build", Status::Success, &[]), notify];
    assert_eq!(
        next_statuses(&mut passing),
        vec![(StageId(2), Status::Skipped)]
    );
}
