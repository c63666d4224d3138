//! Stories of retention: old logs go first, then old builds, by age (a clock the test moves)
//! or by count per repository; Drone's purge endpoint; running builds always stay.

use crate::support::database::TestDatabase;
use crate::support::people::person;
use crate::support::{GitRepo, TestApp};
use hangar::clock::FixedClock;
use hangar::config::{Config, RoleGrant};
use reqwest::Method;
use std::sync::Arc;
use std::time::Duration;

const DAY_MS: i64 = 86_400_000;
const QUICK: &str = "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: hello\n  commands: [echo hello $DRONE_BUILD_NUMBER]\n";

fn often(config: &mut Config) {
    config.retention.interval = Duration::from_millis(100);
}

/// Runs `count` builds one after the other.
async fn run_builds(app: &TestApp, count: i64) {
    for n in 1..=count {
        app.start_build("acme/api", "main").await;
        let build = app.wait_for_build("acme/api", n).await;
        assert_eq!(build["status"], "success", "{build}");
    }
}

async fn build_status(app: &TestApp, number: i64) -> u16 {
    app.call(
        Method::GET,
        &format!("/api/repos/acme/api/builds/{number}"),
        None,
    )
    .await
    .0
}

/// Waits (at most 20 s) until `ready` holds.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, ready: impl Fn() -> F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !ready().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn logs_by_age_then_builds_by_age(database: TestDatabase) {
    let clock = Arc::new(FixedClock::at(1_800_000_000_000));
    let app = TestApp::spawn_with_clock(
        database,
        |c| {
            often(c);
            c.retention.logs_for = Some(Duration::from_secs(86_400));
            c.retention.builds_for = Some(Duration::from_secs(3 * 86_400));
        },
        clock.clone(),
    )
    .await;
    let git = GitRepo::with_pipeline(QUICK);
    app.activate("acme/api", &git).await;
    run_builds(&app, 2).await;
    assert!(app.log_text("acme/api", 1, 1, 1).await.contains("hello 1"));

    // Two days on: the logs are past their day, the builds not past their three.
    clock.advance_ms(2 * DAY_MS);
    eventually("the logs of both builds are deleted", || async {
        app.log_text("acme/api", 1, 1, 1).await.is_empty()
            && app.log_text("acme/api", 2, 1, 1).await.is_empty()
    })
    .await;
    assert_eq!(build_status(&app, 1).await, 200);
    assert_eq!(build_status(&app, 2).await, 200);

    // A build made now keeps its log; four days after the first two, they go.
    run_builds_from(&app, 3).await;
    clock.advance_ms(2 * DAY_MS);
    eventually("builds 1 and 2 are deleted", || async {
        build_status(&app, 1).await == 404 && build_status(&app, 2).await == 404
    })
    .await;
    // Build 3 finished two days ago: past its log's day, within its record's three.
    eventually("the log of build 3 is deleted", || async {
        app.log_text("acme/api", 3, 1, 1).await.is_empty()
    })
    .await;
    assert_eq!(build_status(&app, 3).await, 200);
}

async fn run_builds_from(app: &TestApp, number: i64) {
    app.start_build("acme/api", "main").await;
    let build = app.wait_for_build("acme/api", number).await;
    assert_eq!(build["status"], "success", "{build}");
    assert!(
        app.log_text("acme/api", number, 1, 1)
            .await
            .contains("hello")
    );
}

#[tokio::test]
async fn logs_go_after_their_age_and_builds_after_theirs() {
    logs_by_age_then_builds_by_age(TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn logs_go_after_their_age_and_builds_after_theirs_on_postgresql() {
    if let Some(db) = TestDatabase::postgres().await {
        logs_by_age_then_builds_by_age(db).await;
    }
}

async fn the_newest_builds_are_kept(database: TestDatabase) {
    let app = TestApp::spawn_with(database, |c| {
        often(c);
        c.retention.builds_kept = Some(3);
        c.retention.logs_kept = Some(1);
    })
    .await;
    let git = GitRepo::with_pipeline(QUICK);
    app.activate("acme/api", &git).await;
    run_builds(&app, 5).await;
    eventually("builds 1 and 2 are deleted", || async {
        build_status(&app, 1).await == 404 && build_status(&app, 2).await == 404
    })
    .await;
    eventually("only the newest build keeps its log", || async {
        app.log_text("acme/api", 3, 1, 1).await.is_empty()
            && app.log_text("acme/api", 4, 1, 1).await.is_empty()
    })
    .await;
    assert!(app.log_text("acme/api", 5, 1, 1).await.contains("hello 5"));
    let builds = app.get("/api/repos/acme/api/builds").await;
    let numbers: Vec<i64> = builds
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|b| b["number"].as_i64())
        .collect();
    assert_eq!(numbers, [5, 4, 3]);
}

#[tokio::test]
async fn only_the_newest_builds_of_a_repository_are_kept() {
    the_newest_builds_are_kept(TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn only_the_newest_builds_of_a_repository_are_kept_on_postgresql() {
    if let Some(db) = TestDatabase::postgres().await {
        the_newest_builds_are_kept(db).await;
    }
}

async fn purge_below(database: TestDatabase) {
    let app = TestApp::spawn_with(database, |c| {
        c.identity.roles = vec![RoleGrant {
            group: "developers".into(),
            role: "developer".into(),
            repos: vec!["acme/*".into()],
        }];
    })
    .await;
    let git = GitRepo::with_pipeline(QUICK);
    app.activate("acme/api", &git).await;
    run_builds(&app, 3).await;
    git.branch("slow");
    git.commit(
        ".drone.yml",
        "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: nap\n  commands: [sleep 30]\n",
        "slow",
    );
    git.push("slow");
    app.start_build("acme/api", "slow").await;
    app.wait_until("acme/api", 4, |b| b["status"] == "running")
        .await;

    for bad in ["", "?before=", "?before=x", "?before=0", "?before=-3"] {
        let (status, body) = app
            .call(
                Method::DELETE,
                &format!("/api/repos/acme/api/builds{bad}"),
                None,
            )
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["message"]
                .as_str()
                .expect("message")
                .contains("before")
        );
    }
    let dev = person(&app, "dev", &["developers"], 0).await;
    let (status, _) = app
        .call_as(
            Some(&dev.token),
            Method::DELETE,
            "/api/repos/acme/api/builds?before=9",
            None,
        )
        .await;
    assert_eq!(status, 403, "purging needs repo.admin");

    let (status, body) = app
        .call(Method::DELETE, "/api/repos/acme/api/builds?before=9", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deleted"], 3, "the running build 4 stays");
    for n in 1..=3 {
        assert_eq!(build_status(&app, n).await, 404);
        let (status, _) = app
            .call(
                Method::GET,
                &format!("/api/repos/acme/api/builds/{n}/logs/1/1"),
                None,
            )
            .await;
        assert_eq!(status, 404, "the logs of build {n} went with it");
    }
    assert_eq!(build_status(&app, 4).await, 200);
    let (status, _) = app
        .call(Method::DELETE, "/api/repos/acme/api/builds/4", None)
        .await;
    assert_eq!(status, 200);
    let audit = app.get("/api/audit?action=build.purged").await;
    assert!(audit.to_string().contains("\"before\":9"), "{audit}");
}

#[tokio::test]
async fn the_purge_endpoint_deletes_finished_builds_below_a_number_and_never_a_running_one() {
    purge_below(TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn the_purge_endpoint_works_on_postgresql() {
    if let Some(db) = TestDatabase::postgres().await {
        purge_below(db).await;
    }
}
