//! Chaos: two servers on one PostgreSQL database and three remote runners take 300 builds,
//! while one runner is killed with SIGKILL and one server is killed and started again. Every
//! build ends in a final state, no step runs twice, no acknowledged log line is lost, and no
//! runner sees a secret of a stage it did not lease. PostgreSQL only (several servers need it).

mod builds;
mod checks;
mod repos;
mod servers;

use crate::runners::{RunnerProcess, register, spawn_runner_with_capacity};
use crate::support::TestApp;
use crate::support::database::TestDatabase;
use checks::Ended;
use servers::ServerProcess;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Builds the story runs.
const BUILDS: usize = 300;
/// Repositories they are spread over.
const REPOS: usize = 3;
/// Stages each runner runs at once.
const CAPACITY: usize = 4;
/// How long every build may take to end, from the first trigger.
const ALL_ENDED_WITHIN: Duration = Duration::from_secs(240);

/// The only reason a stage may end `error` in this story: its runner was killed. A restarted
/// server ends no remote runner's stage (leases are rows in the database), so "server
/// restarted" is not among them.
pub const ALLOWED_ERRORS: &[&str] = &["runner lost"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_builds_survive_a_killed_runner_and_a_restarted_server() {
    let Some(database) = TestDatabase::postgres().await else {
        eprintln!("skipped: HANGAR_TEST_DATABASE_URL is not set, and this story needs PostgreSQL");
        return;
    };
    let begun = Instant::now();
    let a = servers::server_a(database).await;
    let mut b = ServerProcess::beside(&a).await;
    let marks = tempfile::tempdir().expect("a folder for the steps' marks");
    let repos = repos::activate(&a, marks.path(), REPOS).await;
    let mut runners = three_runners(&a, &b).await;

    let slugs: Vec<String> = repos.iter().map(|r| r.slug.clone()).collect();
    let deadline = Instant::now() + ALL_ENDED_WITHIN;
    let triggers = builds::trigger_in_background(
        a.http.clone(),
        [a.url.clone(), b.url.clone()],
        slugs.clone(),
        BUILDS,
    );
    builds::wait_until_ended(&a, &slugs, BUILDS / 10, false, deadline).await;
    runners[0].signal(nix::sys::signal::Signal::SIGKILL);
    eprintln!("runner-1 killed after {:?}", begun.elapsed());
    builds::wait_until_ended(&a, &slugs, BUILDS * 4 / 10, false, deadline).await;
    b.restart_after(Duration::from_secs(3)).await;
    eprintln!("server B restarted after {:?}", begun.elapsed());
    triggers.await.expect("every build was triggered");
    let triggered = builds::wait_until_ended(&a, &slugs, BUILDS, true, deadline).await;
    assert!(triggered.len() >= BUILDS, "only {} builds", triggered.len());
    eprintln!(
        "all {} builds ended after {:?}",
        triggered.len(),
        begun.elapsed()
    );

    let findings = check_everything(&a, &repos, &triggered, marks.path()).await;
    eprintln!("checked after {:?}", begun.elapsed());
    assert!(
        findings.is_empty(),
        "{} findings:\n{}",
        findings.len(),
        findings.join("\n")
    );
    runners.clear();
}

/// Three registered runners: the first two talk to A, the third to B.
async fn three_runners(a: &TestApp, b: &ServerProcess) -> Vec<RunnerProcess> {
    let mut runners = Vec::new();
    for (n, url) in [(1, &a.url), (2, &a.url), (3, &b.url)] {
        let name = format!("runner-{n}");
        let token = register(a, &name, "").await;
        runners.push(spawn_runner_with_capacity(url, &token, "", CAPACITY));
    }
    runners
}

/// Reads every build, log, mark and the audit trail, and runs every check; returns what they
/// found.
async fn check_everything(
    a: &TestApp,
    repos: &[repos::Repo],
    triggered: &[(String, i64)],
    marks: &std::path::Path,
) -> Vec<String> {
    let paths: Vec<String> = triggered
        .iter()
        .map(|(slug, n)| format!("/api/repos/{slug}/builds/{n}"))
        .collect();
    let ended: Vec<Ended> = checks::get_all(a, &paths)
        .await
        .into_iter()
        .zip(triggered)
        .map(|(build, (slug, number))| Ended {
            slug: slug.clone(),
            number: *number,
            build,
            logs: HashMap::new(),
        })
        .collect();
    let mut ended = ended;
    read_logs(a, &mut ended).await;
    let leased = checks::audit_actors(a, "stage.leased").await;
    let requeued = checks::audit_actors(a, "stage.requeued").await;
    let granted = checks::audit_actors(a, "step.secrets_granted").await;
    let marks = repos::read_marks(marks, repos);

    let mut findings = Vec::new();
    checks::every_build_ended_well_or_for_an_allowed_reason(&ended, &mut findings);
    checks::no_step_ran_twice_nor_on_a_runner_without_the_lease(
        &ended,
        repos,
        &marks,
        &leased,
        &mut findings,
    );
    checks::every_secret_went_to_the_runner_holding_the_lease(
        &ended,
        &marks,
        &leased,
        &granted,
        &mut findings,
    );
    checks::no_stage_was_leased_more_often_than_requeued(&ended, &leased, &requeued, &mut findings);
    for e in &ended {
        checks::logs_lost_nothing_and_show_no_secret(e, repos, &mut findings);
    }
    checks::the_audit_chain_verifies(a, &mut findings).await;
    summarize(&ended, &leased, &requeued);
    eprintln!(
        "{} builds left marks; {} secrets granted",
        marks.len(),
        granted.values().map(Vec::len).sum::<usize>()
    );
    findings
}

/// Reads the log of every step of every build (a step with no log reads as none).
async fn read_logs(a: &TestApp, ended: &mut [Ended]) {
    let mut steps: Vec<(usize, String)> = Vec::new();
    let mut paths = Vec::new();
    for (i, e) in ended.iter().enumerate() {
        for s in e.build["stages"][0]["steps"]
            .as_array()
            .into_iter()
            .flatten()
        {
            steps.push((i, s["name"].as_str().unwrap_or("").to_string()));
            paths.push(format!(
                "/api/repos/{}/builds/{}/logs/1/{}",
                e.slug, e.number, s["number"]
            ));
        }
    }
    for ((i, name), lines) in steps.into_iter().zip(checks::get_all(a, &paths).await) {
        ended[i].logs.insert(name, lines);
    }
}

/// Prints how the builds ended, for the record.
fn summarize(
    ended: &[Ended],
    leased: &HashMap<String, Vec<String>>,
    requeued: &HashMap<String, Vec<String>>,
) {
    let mut outcomes: std::collections::BTreeMap<String, usize> = Default::default();
    for e in ended {
        let stage = &e.build["stages"][0];
        let key = format!(
            "{} {} on {}",
            stage["status"].as_str().unwrap_or(""),
            stage["error"].as_str().unwrap_or(""),
            stage["machine"].as_str().unwrap_or("")
        );
        *outcomes.entry(key).or_default() += 1;
    }
    let leases: usize = leased.values().map(Vec::len).sum();
    let requeues: usize = requeued.values().map(Vec::len).sum();
    eprintln!("stage outcomes: {outcomes:?}; {leases} leases, {requeues} re-queued");
}
