//! Stories of build credentials: a build acts as whoever started it and stops when that
//! identity stops being entitled to it: the token revoked or expired, the user deactivated, or
//! the user's groups no longer granting `build.trigger`. The running step gets SIGTERM, no
//! failure handler runs, and the build ends `killed` with the reason.

#![allow(clippy::disallowed_methods)] // one story runs the `hangar` binary itself

use crate::support::database::TestDatabase;
use crate::support::people::{Person, developers_and_maintainers as roles, person, store};
use crate::support::{GitRepo, TestApp, step};
use hangar::clock::FixedClock;
use hangar::domain::Actor;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Files a running step leaves: that it started, that it got SIGTERM, that a failure handler
/// ran.
struct Marks {
    started: PathBuf,
    terminated: PathBuf,
    handled: PathBuf,
}

/// A repository whose build runs a step until it is stopped (noting SIGTERM), then a step that
/// runs only on failure.
async fn long_build_repo(app: &TestApp) -> (GitRepo, Marks) {
    let dir = app.data.path();
    let marks = Marks {
        started: dir.join("started"),
        terminated: dir.join("terminated"),
        handled: dir.join("handled"),
    };
    let pipeline = format!(
        "kind: pipeline\ntype: exec\nclone: {{disable: true}}\nsteps:\n- name: work\n  commands:\n  \
         - trap 'touch {term}; exit 143' TERM\n  - touch {started}\n  - sleep 300 & wait\n\
         - name: cleanup\n  commands: [touch {handled}]\n  when:\n    status: [failure]\n",
        term = marks.terminated.display(),
        started = marks.started.display(),
        handled = marks.handled.display(),
    );
    let git = GitRepo::with_pipeline(&pipeline);
    app.activate("acme/api", &git).await;
    (git, marks)
}

async fn wait_for_file(path: &Path) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `who` starts a build of main; it is running once its step has started and says so.
async fn start_running_build(app: &TestApp, who: &Person, marks: &Marks) -> Value {
    let (status, build) = app
        .call_as(
            Some(&who.token),
            Method::POST,
            "/api/repos/acme/api/builds?branch=main",
            None,
        )
        .await;
    assert_eq!(status, 200, "starting a build: {build}");
    wait_for_file(&marks.started).await;
    // The runner has reported the step running (it may start before the report is stored).
    app.wait_until("acme/api", 1, |b| {
        b["stages"][0]["steps"][0]["status"] == "running"
    })
    .await;
    build
}

/// The build was stopped for `reason`: SIGTERM reached its step, nothing ran after it.
async fn assert_stopped_for(app: &TestApp, marks: &Marks, reason: &str) {
    wait_for_file(&marks.terminated).await;
    let build = app
        .wait_until("acme/api", 1, |b| {
            crate::support::is_done(&b["status"])
                && b["stages"][0]["steps"][0]["status"] == "killed"
        })
        .await;
    assert_eq!(build["status"], "killed", "{build}");
    assert_eq!(build["error"], reason, "{build}");
    assert_eq!(step(&build, 1, "cleanup")["status"], "skipped", "{build}");
    assert!(
        !marks.handled.exists(),
        "a failure handler ran after the credential ended"
    );
}

#[tokio::test]
async fn revoking_the_token_that_started_a_build_stops_the_build() {
    revoking_story(TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn revoking_the_token_that_started_a_build_stops_the_build_on_postgresql_too() {
    let Some(database) = TestDatabase::postgres().await else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must set HANGAR_TEST_DATABASE_URL"
        );
        eprintln!("skipped: HANGAR_TEST_DATABASE_URL is not set");
        return;
    };
    revoking_story(database).await;
}

async fn revoking_story(database: TestDatabase) {
    let app = TestApp::spawn_with(database, roles).await;
    let (_git, marks) = long_build_repo(&app).await;
    let dev = person(&app, "dev", &["developers"], 0).await;
    let build = start_running_build(&app, &dev, &marks).await;
    assert_eq!(build["actor"]["login"], "dev", "{build}");
    assert_eq!(build["actor"]["token_id"], dev.token_id.0, "{build}");
    assert_eq!(build["actor"]["verified"], true);

    let (status, body) = app
        .call_as(
            Some(&dev.token),
            Method::DELETE,
            &format!("/api/user/tokens/{}", dev.token_id.0),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_stopped_for(&app, &marks, "token revoked").await;
}

#[tokio::test]
async fn deactivating_the_user_stops_their_running_build() {
    let app = TestApp::spawn_with(TestDatabase::sqlite(), roles).await;
    let (_git, marks) = long_build_repo(&app).await;
    let dev = person(&app, "dev", &["developers"], 0).await;
    start_running_build(&app, &dev, &marks).await;

    let (status, body) = app
        .call(
            Method::PATCH,
            "/api/users/dev",
            Some(json!({ "active": false })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_stopped_for(&app, &marks, "user deactivated").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the CLI blocks a thread
async fn hangar_user_disable_offboards_at_once_from_another_process() {
    let app = TestApp::spawn_with(TestDatabase::sqlite(), roles).await;
    let (_git, marks) = long_build_repo(&app).await;
    let dev = person(&app, "dev", &["developers"], 0).await;
    start_running_build(&app, &dev, &marks).await;

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hangar"))
        .args(["user", "disable", "dev"])
        .env("HANGAR_DATA_DIR", app.data.path())
        .env("HANGAR_DATABASE_URL", app.database.url(app.data.path()))
        .output()
        .expect("hangar runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("disabled dev: 1 token(s) revoked"), "{said}");
    assert_stopped_for(&app, &marks, "user deactivated").await;
    let (status, _) = app
        .call_as(Some(&dev.token), Method::GET, "/api/user", None)
        .await;
    assert_eq!(status, 401, "the token is refused");

    let again = std::process::Command::new(env!("CARGO_BIN_EXE_hangar"))
        .args(["user", "disable", "nobody"])
        .env("HANGAR_DATA_DIR", app.data.path())
        .env("HANGAR_DATABASE_URL", app.database.url(app.data.path()))
        .output()
        .expect("hangar runs");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no user named \"nobody\""));
}

#[tokio::test]
async fn leaving_the_group_that_grants_build_trigger_stops_the_build() {
    let app = TestApp::spawn_with(TestDatabase::sqlite(), roles).await;
    let (_git, marks) = long_build_repo(&app).await;
    let dev = person(&app, "dev", &["developers"], 0).await;
    start_running_build(&app, &dev, &marks).await;

    // The directory says dev is no longer a developer (as a provider's revalidation writes it).
    let store = store(&app).await;
    store
        .set_user_groups(dev.id, &["readers".to_string()], &Actor::system(), 2)
        .await
        .expect("groups written");
    store.close().await;
    assert_stopped_for(&app, &marks, "access removed").await;
}

#[tokio::test]
async fn a_token_expiring_before_the_timeout_is_warned_about_and_its_expiry_stops_the_build() {
    let clock = Arc::new(FixedClock::at(1_700_000_000_000));
    let app = TestApp::spawn_with_clock(TestDatabase::sqlite(), roles, clock.clone()).await;
    let (_git, marks) = long_build_repo(&app).await;
    let dev = person(&app, "dev", &["developers"], 1_700_000_000_000 + 600_000).await;
    let build = start_running_build(&app, &dev, &marks).await;
    let warning = build["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains("expires in 600 s"),
        "the answer warns that the token expires before the timeout: {build}"
    );

    clock.advance_ms(599_000);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        !marks.terminated.exists(),
        "the build was stopped before its token expired"
    );
    clock.advance_ms(1_000);
    assert_stopped_for(&app, &marks, "credential expired").await;
}

#[tokio::test]
async fn a_build_whose_starter_keeps_their_rights_runs_to_the_end() {
    let app = TestApp::spawn_with(TestDatabase::sqlite(), roles).await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: work\n  commands: [sleep 2.5]\n",
    );
    app.activate("acme/api", &git).await;
    let dev = person(&app, "dev", &["developers"], 0).await;
    let (status, build) = app
        .call_as(
            Some(&dev.token),
            Method::POST,
            "/api/repos/acme/api/builds?branch=main",
            None,
        )
        .await;
    assert_eq!(status, 200, "{build}");
    assert!(build.get("warnings").is_none(), "{build}");
    // Another token of the same user revoked: not the one the build came through.
    let other = person(&app, "other", &["developers"], 0).await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/user/tokens/{}", other.token_id.0),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let build = app.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "success", "{build}");
}

#[tokio::test]
async fn a_restart_and_a_rollback_act_as_whoever_asked_for_them() {
    let app = TestApp::spawn_with(TestDatabase::sqlite(), roles).await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: work\n  commands: [echo ok]\n",
    );
    app.activate("acme/api", &git).await;
    let first = app.start_build("acme/api", "main").await;
    assert_eq!(first["actor"]["login"], "bootstrap-admin", "{first}");
    app.wait_for_build("acme/api", 1).await;

    let dev = person(&app, "dev", &["developers"], 0).await;
    let (status, restarted) = app
        .call_as(
            Some(&dev.token),
            Method::POST,
            "/api/repos/acme/api/builds/1",
            None,
        )
        .await;
    assert_eq!(status, 200, "{restarted}");
    assert_eq!(restarted["actor"]["login"], "dev");
    assert_eq!(restarted["parent"], 1);
    app.wait_for_build("acme/api", 2).await;

    let (status, body) = app
        .call_as(
            Some(&dev.token),
            Method::POST,
            "/api/repos/acme/api/builds/1/rollback?target=production",
            None,
        )
        .await;
    assert_eq!(
        status, 403,
        "a developer may not roll production back: {body}"
    );
    let (status, rollback) = app
        .call(
            Method::POST,
            "/api/repos/acme/api/builds/1/rollback?target=production",
            None,
        )
        .await;
    assert_eq!(status, 200, "{rollback}");
    assert_eq!(rollback["event"], "rollback");
    assert_eq!(rollback["deploy_to"], "production");
    assert_eq!(rollback["actor"]["login"], "bootstrap-admin");
    assert_eq!(
        rollback["author_name"], "Ada Lovelace",
        "the commit's author, beside"
    );
    assert_eq!(rollback["sender"], "bootstrap-admin", "who asked, beside");
}
