use super::*;
use crate::domain::{BuildId, Event, RepoId, UserId, Visibility, repo::WebhookSecret};
use std::collections::BTreeMap;

fn repo() -> Repo {
    Repo {
        id: RepoId(1),
        uid: String::new(),
        user_id: UserId(1),
        namespace: "acme".into(),
        name: "api".into(),
        slug: "acme/api".into(),
        scm: "git".into(),
        git_http_url: "/srv/git/api.git".into(),
        git_ssh_url: String::new(),
        link: String::new(),
        default_branch: "main".into(),
        private: true,
        visibility: Visibility::Private,
        active: true,
        config_path: ".drone.yml".into(),
        trusted: false,
        protected: false,
        ignore_forks: false,
        ignore_pull_requests: false,
        auto_cancel_pull_requests: false,
        auto_cancel_pushes: false,
        auto_cancel_running: false,
        timeout: 60,
        counter: 1,
        synced: 0,
        created: 0,
        updated: 0,
        version: 1,
        archived: false,
        webhook_secret: WebhookSecret::default(),
        trigger_policy: Default::default(),
        verify_commits: false,
        untrusted_id_tokens: false,
    }
}

fn build(branch: &str) -> Build {
    Build {
        id: BuildId(1),
        repo_id: RepoId(1),
        trigger: "@hook".into(),
        number: 1,
        parent: 0,
        status: Status::Pending,
        error: String::new(),
        event: Event::Push,
        action: String::new(),
        link: String::new(),
        timestamp: 0,
        title: String::new(),
        message: "change".into(),
        before: String::new(),
        after: "a".repeat(40),
        git_ref: format!("refs/heads/{branch}"),
        source_repo: String::new(),
        source: branch.into(),
        target: branch.into(),
        author_login: String::new(),
        author_name: String::new(),
        author_email: String::new(),
        author_avatar: String::new(),
        sender: String::new(),
        params: BTreeMap::new(),
        cron: String::new(),
        deploy_to: String::new(),
        deploy_id: 0,
        started: 0,
        finished: 0,
        created: 0,
        updated: 0,
        version: 1,
        delivery_id: String::new(),
        actor: None,
        blocked_reason: String::new(),
        approved_by: String::new(),
        warnings: Vec::new(),
        stages: Vec::new(),
        statuses: Vec::new(),
    }
}

fn exec_runner() -> Vec<ClaimFilter> {
    vec![ClaimFilter {
        types: vec!["exec".into()],
        os: "linux".into(),
        arch: "amd64".into(),
        labels: BTreeMap::new(),
        machine: "here".into(),
    }]
}

fn plan(config: &str, branch: &str) -> Preparation {
    plan_stages(
        config,
        &build(branch),
        &repo(),
        "ci.example.com",
        &exec_runner(),
    )
}

#[test]
fn a_stage_with_dependencies_waits_and_one_without_is_pending() {
    let p = plan(
        "kind: pipeline\ntype: exec\nname: a\nsteps:\n- name: s\n  commands: [x]\n---\nkind: pipeline\ntype: exec\nname: b\ndepends_on: [a]\nsteps:\n- name: s\n  commands: [x]\n",
        "main",
    );
    assert_eq!(p.status, Status::Pending);
    assert_eq!(p.stages[0].status, Status::Pending);
    assert_eq!(p.stages[1].status, Status::WaitingOnDependencies);
    assert_eq!(p.stages[1].depends_on, vec!["a"]);
}

#[test]
fn a_dependency_on_a_left_out_stage_becomes_a_dependency_on_what_it_waited_for() {
    let p = plan(
        "kind: pipeline\ntype: exec\nname: build\nsteps:\n- name: s\n  commands: [x]\n---\nkind: pipeline\ntype: exec\nname: release\ndepends_on: [build]\ntrigger: {branch: [release]}\nsteps:\n- name: s\n  commands: [x]\n---\nkind: pipeline\ntype: exec\nname: notify\ndepends_on: [release]\nsteps:\n- name: s\n  commands: [x]\n",
        "main",
    );
    let names: Vec<&str> = p.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["build", "notify"]);
    assert_eq!(p.stages[1].depends_on, vec!["build"]);
    assert_eq!(p.stages[1].number, 2);
}

#[test]
fn a_build_no_pipeline_matches_is_skipped() {
    let p = plan(
        "kind: pipeline\ntype: exec\ntrigger: {event: [tag]}\nsteps:\n- name: s\n  commands: [x]\n",
        "main",
    );
    assert_eq!(p.status, Status::Skipped);
    assert!(p.stages.is_empty());
}

#[test]
fn a_parse_error_names_the_file_line_and_column() {
    let p = plan("kind: pipeline\nsteps: [\n", "main");
    assert_eq!(p.status, Status::Error);
    assert!(p.error.starts_with(".drone.yml: line "), "{}", p.error);
    assert!(p.config.is_some(), "the text is kept for inspection");
}

#[test]
fn an_untrusted_repository_may_not_run_privileged_steps() {
    let p = plan(
        "kind: pipeline\ntype: docker\nsteps:\n- name: s\n  image: alpine\n  privileged: true\n",
        "main",
    );
    assert_eq!(p.status, Status::Error);
    assert!(p.error.contains("trusted"), "{}", p.error);
}

#[test]
fn a_stage_no_runner_can_take_says_what_is_missing() {
    let docker = plan(
        "kind: pipeline\ntype: docker\nsteps:\n- name: s\n  image: alpine\n",
        "main",
    );
    assert!(docker.stages[0].error.contains("no runner of type docker"));
    let windows = plan(
        "kind: pipeline\ntype: exec\nplatform: {os: windows, arch: amd64}\nsteps:\n- name: s\n  commands: [x]\n",
        "main",
    );
    assert!(
        windows.stages[0].error.contains("windows/amd64"),
        "{}",
        windows.stages[0].error
    );
    let labelled = plan(
        "kind: pipeline\ntype: exec\nnode: {gpu: \"yes\"}\nsteps:\n- name: s\n  commands: [x]\n",
        "main",
    );
    assert!(
        labelled.stages[0].error.contains("gpu=yes"),
        "{}",
        labelled.stages[0].error
    );
    let fine = plan(
        "kind: pipeline\ntype: exec\nsteps:\n- name: s\n  commands: [x]\n",
        "main",
    );
    assert_eq!(fine.stages[0].error, "");
}

#[test]
fn trigger_status_sets_when_a_stage_runs_after_its_dependencies() {
    let p = plan(
        "kind: pipeline\ntype: exec\nname: a\nsteps:\n- name: s\n  commands: [x]\n---\nkind: pipeline\ntype: exec\nname: b\ndepends_on: [a]\ntrigger: {status: [success, failure]}\nsteps:\n- name: s\n  commands: [x]\n",
        "main",
    );
    assert!(p.stages[1].on_success && p.stages[1].on_failure);
    assert!(p.stages[0].on_success && !p.stages[0].on_failure);
}
