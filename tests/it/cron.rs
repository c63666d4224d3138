//! Stories of cron jobs: the API and its errors, the time a job runs (on a clock the story
//! moves by hand), once per slot even with two servers on one database, and a job whose owner
//! lost the right to build that does not run and says why.

use crate::support::database::TestDatabase;
use crate::support::people::{developers_and_maintainers as roles, person, store};
use crate::support::{ADMIN_TOKEN, GitRepo, TestApp};
use hangar::clock::{FixedClock, SharedClock};
use hangar::domain::Actor;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;

/// 2026-03-02 10:00:00 UTC, a Monday.
const MONDAY_10: i64 = 1_772_445_600_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

const PIPELINE: &str = "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: \
                        work\n  commands: [echo cron=$DRONE_CRON event=$DRONE_BUILD_EVENT]\n";

/// A server on `database` whose clock stands at Monday 10:00 UTC, with `acme/api` active.
async fn server(database: TestDatabase) -> (TestApp, Arc<FixedClock>, GitRepo) {
    let clock = Arc::new(FixedClock::at(MONDAY_10));
    let app = TestApp::spawn_with_clock(database, roles, clock.clone()).await;
    let git = GitRepo::with_pipeline(PIPELINE);
    app.activate("acme/api", &git).await;
    (app, clock, git)
}

/// Adds a job as the holder of `token` (`None`: the admin).
async fn add_job(app: &TestApp, token: Option<&str>, body: Value) -> Value {
    let (status, job) = app
        .call_as(
            token.or(Some(ADMIN_TOKEN)),
            Method::POST,
            "/api/repos/acme/api/cron",
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "adding a cron job: {job}");
    job
}

/// The repository's builds made by cron, newest first.
async fn cron_builds(app: &TestApp) -> Vec<Value> {
    let builds = app.get("/api/repos/acme/api/builds?per_page=100").await;
    builds
        .as_array()
        .expect("a list")
        .iter()
        .filter(|b| b["event"] == "cron")
        .cloned()
        .collect()
}

async fn a_job_runs_when_due_not_before_and_once_per_slot(database: TestDatabase) {
    let (app, clock, git) = server(database).await;
    let job = add_job(
        &app,
        None,
        json!({ "name": "nightly", "expr": "0 30 10 * * *", "branch": "main" }),
    )
    .await;
    let due = MONDAY_10 + 30 * MINUTE;
    assert_eq!(job["next"], due / 1000, "six fields, seconds first: {job}");
    assert_eq!(job["owner"], "bootstrap-admin", "{job}");

    clock.set_ms(due - 1_000);
    app.tick_crons().await;
    assert!(
        cron_builds(&app).await.is_empty(),
        "nothing runs before its time"
    );

    clock.set_ms(due);
    app.tick_crons().await;
    app.tick_crons().await;
    let builds = cron_builds(&app).await;
    assert_eq!(builds.len(), 1, "one build for the slot: {builds:?}");
    let build = &builds[0];
    assert_eq!(build["cron"], "nightly", "{build}");
    assert_eq!(build["trigger"], "@cron", "{build}");
    assert_eq!(build["target"], "main", "{build}");
    assert_eq!(build["after"], git.head(), "the branch's head: {build}");
    assert_eq!(
        build["actor"]["login"], "bootstrap-admin",
        "as its owner: {build}"
    );
    let number = build["number"].as_i64().expect("a number");
    let done = app.wait_for_build("acme/api", number).await;
    assert_eq!(done["status"], "success", "{done}");
    let log = app.log_text("acme/api", number, 1, 1).await;
    assert!(log.contains("cron=nightly event=cron"), "{log}");

    let job = app.get("/api/repos/acme/api/cron/nightly").await;
    assert_eq!(job["prev"], due / 1000, "{job}");
    assert_eq!(job["next"], (due + DAY) / 1000, "{job}");

    // Down for three days: the missed slots make one run, not three.
    clock.set_ms(due + 3 * DAY + 5_000);
    app.tick_crons().await;
    app.tick_crons().await;
    assert_eq!(
        cron_builds(&app).await.len(),
        2,
        "one run for the missed slots"
    );
    let job = app.get("/api/repos/acme/api/cron/nightly").await;
    assert_eq!(job["next"], (due + 4 * DAY) / 1000, "{job}");
}

#[tokio::test]
async fn a_job_runs_when_due_not_before_and_once_per_slot_on_sqlite() {
    a_job_runs_when_due_not_before_and_once_per_slot(TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn a_job_runs_when_due_not_before_and_once_per_slot_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    a_job_runs_when_due_not_before_and_once_per_slot(database).await;
}

#[tokio::test]
async fn five_field_expressions_and_time_zones_set_the_next_run() {
    let (app, _clock, _git) = server(TestDatabase::sqlite()).await;
    let utc = add_job(&app, None, json!({ "name": "utc", "expr": "15 11 * * *" })).await;
    assert_eq!(
        utc["next"],
        (MONDAY_10 + HOUR + 15 * MINUTE) / 1000,
        "{utc}"
    );
    assert_eq!(utc["zone"], "UTC", "{utc}");
    assert_eq!(utc["branch"], "main", "the default branch: {utc}");
    // 09:00 in Berlin has passed (08:00 UTC): tomorrow's.
    let berlin = add_job(
        &app,
        None,
        json!({ "name": "berlin", "expr": "0 9 * * *", "zone": "Europe/Berlin" }),
    )
    .await;
    assert_eq!(berlin["next"], (MONDAY_10 + 22 * HOUR) / 1000, "{berlin}");
    // Fridays at 09:00 in New York (14:00 UTC before the switch to summer time).
    let friday = add_job(
        &app,
        None,
        json!({ "name": "friday", "expr": "0 0 9 * * FRI", "zone": "America/New_York" }),
    )
    .await;
    assert_eq!(
        friday["next"],
        (MONDAY_10 + 4 * DAY + 4 * HOUR) / 1000,
        "{friday}"
    );

    // A new zone counts again from now.
    let (status, moved) = app
        .call(
            Method::PATCH,
            "/api/repos/acme/api/cron/utc",
            Some(json!({ "zone": "Asia/Tokyo" })),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    // 11:15 in Tokyo is 02:15 UTC: tomorrow's.
    assert_eq!(
        moved["next"],
        (MONDAY_10 + 16 * HOUR + 15 * MINUTE) / 1000,
        "{moved}"
    );
}

#[tokio::test]
async fn bad_input_gets_clear_errors() {
    let (app, _clock, _git) = server(TestDatabase::sqlite()).await;
    let cases = [
        (json!({ "name": "a", "expr": "* * *" }), 400, "has 3 fields"),
        (
            json!({ "name": "a", "expr": "0 61 * * *" }),
            400,
            "is not valid",
        ),
        (
            json!({ "name": "a", "expr": "0 0 * * *", "zone": "Mars/Olympus" }),
            400,
            "IANA time zone",
        ),
        (
            json!({ "name": "a b", "expr": "0 0 * * *" }),
            422,
            "letters, digits",
        ),
        (json!({ "expr": "0 0 * * *" }), 422, "name is required"),
        (json!({ "name": "a" }), 400, "expr"),
        (
            json!({ "name": "a", "expr": "0 0 * * *", "branch": "-x" }),
            422,
            "branch",
        ),
    ];
    for (body, status, message) in cases {
        let (got, answer) = app
            .call(Method::POST, "/api/repos/acme/api/cron", Some(body.clone()))
            .await;
        assert_eq!(got, status, "{body}: {answer}");
        let text = answer["message"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{body}: {text}");
    }
    add_job(&app, None, json!({ "name": "nightly", "expr": "@daily" })).await;
    let (status, answer) = app
        .call(
            Method::POST,
            "/api/repos/acme/api/cron",
            Some(json!({ "name": "nightly", "expr": "@hourly" })),
        )
        .await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains("already exists")
    );
    let (status, answer) = app
        .call(
            Method::POST,
            "/api/repos/acme/unknown/cron",
            Some(json!({ "name": "x", "expr": "@daily" })),
        )
        .await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not active")
    );
    let (status, _) = app
        .call(Method::GET, "/api/repos/acme/api/cron/none", None)
        .await;
    assert_eq!(status, 404);
    let (status, answer) = app
        .call(
            Method::PATCH,
            "/api/repos/acme/api/cron/nightly",
            Some(json!({ "expr": "0 0 0 31 2 *" })),
        )
        .await;
    assert_eq!(status, 400, "February 31st never comes: {answer}");
}

#[tokio::test]
async fn a_job_whose_owner_lost_the_right_to_build_does_not_run_and_says_why() {
    let (app, clock, _git) = server(TestDatabase::sqlite()).await;
    let maintainer = person(&app, "mia", &["maintainers"], 0).await;
    let developer = person(&app, "dev", &["developers"], 0).await;
    let (status, answer) = app
        .call_as(
            Some(&developer.token),
            Method::POST,
            "/api/repos/acme/api/cron",
            Some(json!({ "name": "x", "expr": "@hourly" })),
        )
        .await;
    assert_eq!(status, 403, "developers may not write cron jobs: {answer}");
    let (status, list) = app
        .call_as(
            Some(&developer.token),
            Method::GET,
            "/api/repos/acme/api/cron",
            None,
        )
        .await;
    assert_eq!(status, 200, "but may read them: {list}");

    let job = add_job(
        &app,
        Some(&maintainer.token),
        json!({ "name": "hourly", "expr": "0 * * * *" }),
    )
    .await;
    assert_eq!(job["owner"], "mia", "{job}");

    // Mia leaves the maintainers: the next run does not start.
    let store = store(&app).await;
    store
        .set_user_groups(maintainer.id, &["readers".to_string()], &Actor::system(), 2)
        .await
        .expect("groups written");
    clock.set_ms(MONDAY_10 + HOUR);
    app.tick_crons().await;
    assert!(
        cron_builds(&app).await.is_empty(),
        "no build as someone without the right"
    );
    let job = app.get("/api/repos/acme/api/cron/hourly").await;
    let error = job["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("mia may no longer build.trigger on acme/api"),
        "{job}"
    );
    assert_eq!(
        job["next"],
        (MONDAY_10 + 2 * HOUR) / 1000,
        "the slot is used up: {job}"
    );

    // Back in the group, then deactivated.
    store
        .set_user_groups(
            maintainer.id,
            &["maintainers".to_string()],
            &Actor::system(),
            3,
        )
        .await
        .expect("groups written");
    store.close().await;
    let (status, answer) = app
        .call(
            Method::PATCH,
            "/api/users/mia",
            Some(json!({ "active": false })),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    clock.set_ms(MONDAY_10 + 2 * HOUR);
    app.tick_crons().await;
    assert!(cron_builds(&app).await.is_empty());
    let job = app.get("/api/repos/acme/api/cron/hourly").await;
    assert!(
        job["error"]
            .as_str()
            .unwrap_or_default()
            .contains("mia is deactivated"),
        "{job}"
    );
    let (status, answer) = app
        .call(Method::POST, "/api/repos/acme/api/cron/hourly", None)
        .await;
    assert_eq!(status, 409, "running it by hand is refused too: {answer}");

    let audit = app.get("/api/audit?action=cron.skipped").await;
    let entries = audit.as_array().expect("a list");
    assert_eq!(
        entries.len(),
        2,
        "one audit entry per skipped slot: {audit}"
    );

    // Whoever changes the job takes it over; it runs as them.
    let (status, job) = app
        .call(
            Method::PATCH,
            "/api/repos/acme/api/cron/hourly",
            Some(json!({ "branch": "main" })),
        )
        .await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["owner"], "bootstrap-admin", "{job}");
    assert_eq!(job["error"], "", "{job}");
    clock.set_ms(MONDAY_10 + 3 * HOUR);
    app.tick_crons().await;
    assert_eq!(cron_builds(&app).await.len(), 1);
}

/// Two servers on one database, their schedulers racing over the same due jobs.
async fn two_servers_run_each_slot_once(database: TestDatabase) {
    let (first, clock, _git) = server(database).await;
    let data = tempfile::tempdir().expect("a data folder");
    let mut config = first.config_beside(data.path());
    roles(&mut config);
    let shared: SharedClock = clock.clone();
    let second = hangar::server::start(config, shared)
        .await
        .expect("the second server starts");
    const JOBS: usize = 8;
    for i in 0..JOBS {
        add_job(
            &first,
            None,
            json!({ "name": format!("job{i}"), "expr": "* * * * *" }),
        )
        .await;
    }
    for slot in 1..=3 {
        clock.set_ms(MONDAY_10 + slot * MINUTE);
        let (a, b) = tokio::join!(first.tick_crons(), second.crons.tick());
        let b = b.expect("the second server's tick");
        let started = a.started + b.started;
        assert!(started <= JOBS, "slot {slot}: {a:?} {b:?}");
        // The servers' own loops may have taken some; either way, one build per job and slot.
        let builds = cron_builds(&first).await;
        assert_eq!(
            builds.len(),
            JOBS * slot as usize,
            "slot {slot}: {a:?} {b:?}"
        );
    }
    let builds = cron_builds(&first).await;
    for i in 0..JOBS {
        let name = format!("job{i}");
        let runs = builds.iter().filter(|b| b["cron"] == name.as_str()).count();
        assert_eq!(runs, 3, "{name} ran once per slot");
    }
    second.shutdown.cancel();
    let _ = second.done.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_database_run_each_slot_once() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    two_servers_run_each_slot_once(database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_sqlite_file_run_each_slot_once() {
    two_servers_run_each_slot_once(TestDatabase::sqlite()).await;
}
