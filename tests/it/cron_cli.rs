//! The story of `hangar cron` against a running server: add, list, change, run now, remove,
//! and a bad expression explained.

use crate::cli::hangar;
use crate::support::database::TestDatabase;
use crate::support::{ADMIN_TOKEN, GitRepo, TestApp};
use hangar::clock::FixedClock;
use std::process::Output;
use std::sync::Arc;

/// 2026-03-02 10:00:00 UTC.
const MONDAY_10: i64 = 1_772_445_600_000;

async fn cron(app: &TestApp, args: &[&str]) -> Output {
    let server = app.url.clone();
    let args: Vec<String> = std::iter::once("cron")
        .chain(args.iter().copied())
        .map(String::from)
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        hangar(
            &args,
            &[("HANGAR_SERVER", &server), ("HANGAR_TOKEN", ADMIN_TOKEN)],
        )
    })
    .await
    .expect("joins")
}

fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_adds_lists_changes_runs_and_removes_a_cron_job() {
    let clock = Arc::new(FixedClock::at(MONDAY_10));
    let app = TestApp::spawn_with_clock(TestDatabase::sqlite(), |_| {}, clock).await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: hi\n  commands: [echo $DRONE_CRON]\n",
    );
    app.activate("acme/api", &git).await;

    let added = stdout_of(
        &cron(
            &app,
            &[
                "add",
                "acme/api",
                "nightly",
                "0 0 2 * * *",
                "--zone",
                "Europe/Berlin",
            ],
        )
        .await,
    );
    assert!(added.contains("nightly"), "{added}");
    assert!(
        added.contains("next 2026-03-03T02:00:00+01:00"),
        "the next run in the job's zone: {added}"
    );
    let listed = stdout_of(&cron(&app, &["ls", "acme/api"]).await);
    assert!(
        listed.contains("nightly") && listed.contains("owner bootstrap-admin"),
        "{listed}"
    );

    let changed = stdout_of(
        &cron(
            &app,
            &["update", "acme/api", "nightly", "--disabled", "true"],
        )
        .await,
    );
    assert!(changed.contains("disabled"), "{changed}");
    let info: serde_json::Value = serde_json::from_str(&stdout_of(
        &cron(&app, &["info", "acme/api", "nightly"]).await,
    ))
    .expect("JSON");
    assert_eq!(info["disabled"], true, "{info}");
    assert_eq!(info["expr"], "0 0 2 * * *", "{info}");

    let ran = stdout_of(&cron(&app, &["exec", "acme/api", "nightly"]).await);
    assert!(ran.contains("started build #1"), "{ran}");
    let build = app.wait_for_build("acme/api", 1).await;
    assert_eq!(build["event"], "cron", "{build}");
    let log = app.log_text("acme/api", 1, 1, 1).await;
    assert!(
        log.contains("\nnightly"),
        "DRONE_CRON is the job's name: {log}"
    );

    let bad = cron(&app, &["add", "acme/api", "broken", "0 0 2 *"]).await;
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("400") && err.contains("has 4 fields"), "{err}");

    stdout_of(&cron(&app, &["rm", "acme/api", "nightly"]).await);
    let listed = stdout_of(&cron(&app, &["ls", "acme/api"]).await);
    assert!(listed.trim().is_empty(), "{listed}");
}
