//! Remote runners: `hangar runner` processes with their own tokens lease stages over HTTP from a
//! server whose in-process runner is off, run them, and report. Routing by labels, 401 for bad
//! or revoked tokens, revocation and lost runners (killed, or paused and coming back), re-queued
//! stages, and a runner kept away from stages it did not lease. Each story runs on SQLite and,
//! with HANGAR_TEST_DATABASE_URL, on PostgreSQL.

#![allow(clippy::disallowed_methods)] // these stories start, pause and kill runner processes

use crate::support::database::TestDatabase;
use crate::support::{GitRepo, TestApp};
use reqwest::Method;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A server without its in-process runner, whose remote runners are lost after `timeout`.
pub async fn server(database: TestDatabase, timeout: Duration) -> TestApp {
    TestApp::spawn_with(database, |c| {
        c.runner_capacity = 0;
        c.runner_timeout = timeout;
    })
    .await
}

/// Registers a runner; returns its token.
pub async fn register(app: &TestApp, name: &str, labels: &str) -> String {
    let (status, made) = app
        .call(
            Method::POST,
            "/api/runners",
            Some(json!({ "name": name, "labels": labels })),
        )
        .await;
    assert_eq!(status, 201, "registering {name}: {made}");
    made["token"].as_str().expect("a token").to_string()
}

/// A `hangar runner` process.
pub struct RunnerProcess {
    child: Child,
    _work: tempfile::TempDir,
}

impl RunnerProcess {
    fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("a pid"))
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(self.pid(), signal).expect("the runner takes the signal");
    }
}

impl Drop for RunnerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `hangar runner` against the server at `url` with `token` and `labels`.
pub fn spawn_runner(url: &str, token: &str, labels: &str) -> RunnerProcess {
    spawn_runner_with_capacity(url, token, labels, 2)
}

/// Like [`spawn_runner`], running at most `capacity` stages at once.
pub fn spawn_runner_with_capacity(
    url: &str,
    token: &str,
    labels: &str,
    capacity: usize,
) -> RunnerProcess {
    let work = tempfile::tempdir().expect("a folder");
    let child = Command::new(env!("CARGO_BIN_EXE_hangar"))
        .arg("runner")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HANGAR_SERVER_URL", url)
        .env("HANGAR_RUNNER_TOKEN", token)
        .env("HANGAR_RUNNER_LABELS", labels)
        .env("HANGAR_RUNNER_CAPACITY", capacity.to_string())
        .env("HANGAR_DATA_DIR", work.path())
        .env("HANGAR_SANDBOX", "off")
        .env("HANGAR_CANCEL_GRACE", "1s")
        .env("HANGAR_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the runner starts");
    RunnerProcess { child, _work: work }
}

/// Starts `hangar runner` against `app` with `token` and `labels`; returns once the server
/// has heard its first heartbeat.
async fn start_runner(app: &TestApp, name: &str, token: &str, labels: &str) -> RunnerProcess {
    let runner = spawn_runner(&app.url, token, labels);
    wait_for(app, &format!("runner {name} says hello"), |runners| {
        runners
            .iter()
            .any(|r| r["name"] == name && r["last_seen"].as_i64().unwrap_or(0) > 0)
    })
    .await;
    runner
}

/// Waits (at most 30 s) until the runner listing satisfies `ready`.
async fn wait_for(app: &TestApp, what: &str, ready: impl Fn(&[Value]) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let runners = app.get("/api/runners").await;
        if ready(runners.as_array().map(Vec::as_slice).unwrap_or_default()) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never: {what}: {runners}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (at most 20 s) until process `pid` is gone.
async fn wait_gone(pid: i32) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the step's process {pid} still runs"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A pipeline whose one step writes its pid where the test finds it, then sleeps.
fn sleeping_pipeline(pid_file: &std::path::Path) -> String {
    format!(
        "kind: pipeline\ntype: exec\nname: default\nclone: {{disable: true}}\nsteps:\n- name: sleep\n  commands:\n  - echo $$ > {}\n  - sleep 300\n",
        pid_file.display()
    )
}

/// Waits until the step wrote its pid; returns it.
async fn step_pid(pid_file: &std::path::Path) -> i32 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(pid_file)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the step never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Calls the runner protocol as a runner would, with `token`.
async fn as_runner(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    app.call_as(Some(token), method, &format!("/api/runner{path}"), body)
        .await
}

pub fn platform() -> Value {
    json!({
        "types": ["exec"],
        "os": hangar::runner::platform_os(),
        "arch": hangar::runner::platform_arch(),
        "labels": {}
    })
}

pub fn beat() -> Value {
    json!({
        "os": hangar::runner::platform_os(),
        "arch": hangar::runner::platform_arch(),
        "capacity": 1
    })
}

async fn a_build_runs_end_to_end_on_a_remote_runner(database: TestDatabase) {
    let app = server(database, Duration::from_secs(60)).await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nname: default\nsteps:\n- name: greet\n  environment:\n    TOKEN: {from_secret: token}\n  commands:\n  - test -f .drone.yml\n  - echo \"hello from $DRONE_STAGE_MACHINE with $TOKEN\"\n",
    );
    app.activate("acme/api", &git).await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/repos/acme/api/secrets",
            Some(json!({"name": "token", "data": "remote-s3cret-value"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let token = register(&app, "builder-1", "").await;
    let _runner = start_runner(&app, "builder-1", &token, "").await;

    app.start_build("acme/api", "main").await;
    let build = app.wait_for_build("acme/api", 1).await;

    assert_eq!(build["status"], "success", "{build}");
    assert_eq!(build["stages"][0]["machine"], "builder-1");
    let log = app.log_text("acme/api", 1, 1, 2).await;
    assert!(log.contains("hello from builder-1 with ********"), "{log}");
    assert!(!log.contains("remote-s3cret-value"), "{log}");
}

#[tokio::test]
async fn a_build_runs_end_to_end_on_a_remote_runner_on_sqlite() {
    a_build_runs_end_to_end_on_a_remote_runner(TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn a_build_runs_end_to_end_on_a_remote_runner_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    a_build_runs_end_to_end_on_a_remote_runner(database).await;
}

async fn a_pipeline_with_node_labels_waits_for_a_runner_with_exactly_those_labels(
    database: TestDatabase,
) {
    let app = server(database, Duration::from_secs(60)).await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nname: default\nclone: {disable: true}\nnode:\n  gpu: yes\nsteps:\n- name: run\n  commands: [echo on the gpu]\n",
    );
    app.activate("acme/api", &git).await;
    let plain = register(&app, "plain", "").await;
    let _plain = start_runner(&app, "plain", &plain, "").await;
    let other = register(&app, "other-gpu", "gpu=yes,zone=eu").await;
    let _other = start_runner(&app, "other-gpu", &other, "gpu=yes,zone=eu").await;

    app.start_build("acme/api", "main").await;
    // Neither runner's labels are exactly the pipeline's node: the stage waits.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let waiting = app.get("/api/repos/acme/api/builds/1").await;
    assert_eq!(waiting["stages"][0]["status"], "pending", "{waiting}");

    let gpu = register(&app, "gpu-1", "gpu=yes").await;
    let _gpu = start_runner(&app, "gpu-1", &gpu, "gpu=yes").await;
    let build = app.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "success", "{build}");
    assert_eq!(build["stages"][0]["machine"], "gpu-1");
}

#[tokio::test]
async fn a_pipeline_with_node_labels_waits_for_a_matching_runner_on_sqlite() {
    a_pipeline_with_node_labels_waits_for_a_runner_with_exactly_those_labels(
        TestDatabase::sqlite(),
    )
    .await;
}

#[tokio::test]
async fn a_pipeline_with_node_labels_waits_for_a_matching_runner_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    a_pipeline_with_node_labels_waits_for_a_runner_with_exactly_those_labels(database).await;
}

#[tokio::test]
async fn a_runner_with_a_wrong_or_revoked_token_gets_401_and_its_token_is_no_api_token() {
    let app = server(TestDatabase::sqlite(), Duration::from_secs(60)).await;
    let token = register(&app, "short-lived", "").await;
    let (status, _) = as_runner(&app, &token, Method::POST, "/heartbeat", Some(beat())).await;
    assert_eq!(status, 200);
    // A runner's token is not an API token.
    let (status, _) = app
        .call_as(Some(&token), Method::GET, "/api/user", None)
        .await;
    assert_eq!(status, 401);

    let mut typo = token.clone();
    typo.replace_range(9..10, if &token[9..10] == "a" { "b" } else { "a" });
    let unknown = hangar::auth::token::mint_runner_token();
    for wrong in [
        "not-a-token",
        typo.as_str(),
        unknown.secret.expose(),
        crate::support::ADMIN_TOKEN,
    ] {
        let (status, body) = as_runner(&app, wrong, Method::POST, "/heartbeat", Some(beat())).await;
        assert_eq!(status, 401, "{wrong}: {body}");
    }

    let (status, _) = app
        .call(Method::DELETE, "/api/runners/short-lived", None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = as_runner(&app, &token, Method::POST, "/lease", Some(platform())).await;
    assert_eq!(status, 401);
    let audit = app.get("/api/audit?action=runner.revoked").await;
    assert!(audit.to_string().contains("runner:short-lived"), "{audit}");
    // A runner process with a revoked token stops at once, saying why.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hangar"))
        .arg("runner")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HANGAR_SERVER_URL", &app.url)
        .env("HANGAR_RUNNER_TOKEN", &token)
        .env("HANGAR_DATA_DIR", app.data.path())
        .output()
        .await
        .expect("the runner runs");
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("refused this runner"), "{said}");
    assert!(said.contains("revoked"), "{said}");
    assert!(!said.contains(&token), "{said}");
}

async fn revoking_a_runner_mid_build_ends_its_stage_at_once_and_kills_the_step(
    database: TestDatabase,
) {
    let app = server(database, Duration::from_secs(60)).await;
    let pid_file = app.data.path().join("step.pid");
    let git = GitRepo::with_pipeline(&sleeping_pipeline(&pid_file));
    app.activate("acme/api", &git).await;
    let token = register(&app, "doomed", "").await;
    let _runner = start_runner(&app, "doomed", &token, "").await;
    app.start_build("acme/api", "main").await;
    let pid = step_pid(&pid_file).await;

    let (status, _) = app.call(Method::DELETE, "/api/runners/doomed", None).await;
    assert_eq!(status, 204);
    // At once: the answer to the revocation comes after the stage has ended.
    let build = app.get("/api/repos/acme/api/builds/1").await;
    assert_eq!(build["status"], "error", "{build}");
    assert_eq!(build["stages"][0]["error"], "runner revoked", "{build}");
    wait_gone(pid).await;
}

#[tokio::test]
async fn revoking_a_runner_mid_build_ends_its_stage_and_kills_the_step_on_sqlite() {
    revoking_a_runner_mid_build_ends_its_stage_at_once_and_kills_the_step(TestDatabase::sqlite())
        .await;
}

#[tokio::test]
async fn revoking_a_runner_mid_build_ends_its_stage_and_kills_the_step_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    revoking_a_runner_mid_build_ends_its_stage_at_once_and_kills_the_step(database).await;
}

async fn a_runner_killed_mid_step_is_lost_after_the_timeout(database: TestDatabase) {
    let app = server(database, Duration::from_millis(1500)).await;
    let pid_file = app.data.path().join("step.pid");
    let git = GitRepo::with_pipeline(&sleeping_pipeline(&pid_file));
    app.activate("acme/api", &git).await;
    let token = register(&app, "fragile", "").await;
    let runner = start_runner(&app, "fragile", &token, "").await;
    app.start_build("acme/api", "main").await;
    let pid = step_pid(&pid_file).await;

    runner.signal(nix::sys::signal::Signal::SIGKILL);
    let build = app
        .wait_within("acme/api", 1, 20, |b| crate::support::is_done(&b["status"]))
        .await;
    assert_eq!(build["status"], "error", "{build}");
    assert_eq!(build["stages"][0]["error"], "runner lost", "{build}");
    assert_eq!(build["stages"][0]["steps"][0]["status"], "error", "{build}");
    // The orphaned step dies with the test (a new runner would sweep it at start).
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    drop(runner);
}

#[tokio::test]
async fn a_runner_killed_mid_step_is_lost_after_the_timeout_on_sqlite() {
    a_runner_killed_mid_step_is_lost_after_the_timeout(TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn a_runner_killed_mid_step_is_lost_after_the_timeout_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    a_runner_killed_mid_step_is_lost_after_the_timeout(database).await;
}

async fn a_stage_whose_runner_vanished_before_any_step_is_requeued_once(database: TestDatabase) {
    let app = server(database, Duration::from_millis(1000)).await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nname: default\nclone: {disable: true}\nsteps:\n- name: run\n  commands: [echo second time lucky]\n",
    );
    app.activate("acme/api", &git).await;
    // The first runner leases the stage, then falls silent before any step.
    let ghost = register(&app, "ghost", "").await;
    app.start_build("acme/api", "main").await;
    let (status, leased) = as_runner(&app, &ghost, Method::POST, "/lease", Some(platform())).await;
    assert_eq!(status, 200, "{leased}");
    let (stage, lease) = (leased["stage"]["id"].clone(), leased["lease"].clone());

    let requeued = app
        .wait_within("acme/api", 1, 20, |b| b["stages"][0]["status"] == "pending")
        .await;
    assert_eq!(requeued["status"], "running", "{requeued}");
    let token = register(&app, "steady", "").await;
    let _steady = start_runner(&app, "steady", &token, "").await;
    let build = app.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "success", "{build}");
    assert_eq!(build["stages"][0]["machine"], "steady");

    // The ghost comes back: its lease is over, and its report changes nothing.
    let (status, body) = as_runner(
        &app,
        &ghost,
        Method::POST,
        &format!("/leases/{stage}/{lease}/finish"),
        Some(json!({"status": "failure", "exit_code": 1, "error": ""})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let after = app.get("/api/repos/acme/api/builds/1").await;
    assert_eq!(after["status"], "success", "{after}");
}

#[tokio::test]
async fn a_stage_whose_runner_vanished_before_any_step_is_requeued_once_on_sqlite() {
    a_stage_whose_runner_vanished_before_any_step_is_requeued_once(TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn a_stage_whose_runner_vanished_before_any_step_is_requeued_once_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    a_stage_whose_runner_vanished_before_any_step_is_requeued_once(database).await;
}

async fn a_runner_back_after_losing_its_lease_is_refused_and_stops_its_step(
    database: TestDatabase,
) {
    let app = server(database, Duration::from_millis(1500)).await;
    let pid_file = app.data.path().join("step.pid");
    let git = GitRepo::with_pipeline(&sleeping_pipeline(&pid_file));
    app.activate("acme/api", &git).await;
    let token = register(&app, "sleepy", "").await;
    let runner = start_runner(&app, "sleepy", &token, "").await;
    app.start_build("acme/api", "main").await;
    let pid = step_pid(&pid_file).await;

    runner.signal(nix::sys::signal::Signal::SIGSTOP);
    let build = app
        .wait_within("acme/api", 1, 20, |b| crate::support::is_done(&b["status"]))
        .await;
    assert_eq!(build["stages"][0]["error"], "runner lost", "{build}");
    runner.signal(nix::sys::signal::Signal::SIGCONT);

    // Back, the runner hears its lease is over and stops the step; the build stays as it was.
    wait_gone(pid).await;
    let after = app.get("/api/repos/acme/api/builds/1").await;
    assert_eq!(after["status"], "error", "{after}");
    assert_eq!(after["stages"][0]["error"], "runner lost", "{after}");
}

#[tokio::test]
async fn a_runner_back_after_losing_its_lease_is_refused_and_stops_its_step_on_sqlite() {
    a_runner_back_after_losing_its_lease_is_refused_and_stops_its_step(TestDatabase::sqlite())
        .await;
}

#[tokio::test]
async fn a_runner_back_after_losing_its_lease_is_refused_and_stops_its_step_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    a_runner_back_after_losing_its_lease_is_refused_and_stops_its_step(database).await;
}

#[tokio::test]
async fn a_runner_cannot_reach_the_credentials_or_logs_of_a_stage_it_did_not_lease() {
    let app = server(TestDatabase::sqlite(), Duration::from_secs(60)).await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nname: default\nclone: {disable: true}\nsteps:\n- name: run\n  environment:\n    TOKEN: {from_secret: token}\n  commands: [echo hi]\n",
    );
    app.activate("acme/api", &git).await;
    app.call(
        Method::POST,
        "/api/repos/acme/api/secrets",
        Some(json!({"name": "token", "data": "not-for-prying-eyes"})),
    )
    .await;
    let holder = register(&app, "holder", "").await;
    let prying = register(&app, "prying", "").await;
    app.start_build("acme/api", "main").await;
    let (status, leased) = as_runner(&app, &holder, Method::POST, "/lease", Some(platform())).await;
    assert_eq!(status, 200, "{leased}");
    let base = format!("/leases/{}/{}", leased["stage"]["id"], leased["lease"]);
    let (status, steps) = as_runner(
        &app,
        &holder,
        Method::POST,
        &format!("{base}/steps"),
        Some(json!([{"number": 1, "name": "run", "errignore": false, "depends_on": [], "detached": false}])),
    )
    .await;
    assert_eq!(status, 200, "{steps}");
    let step = steps[0]["id"].clone();
    let ask =
        json!({"step": step, "name": "run", "clone": false, "secrets": ["token"], "id_tokens": []});

    let (status, body) = as_runner(
        &app,
        &prying,
        Method::POST,
        &format!("{base}/credentials"),
        Some(ask.clone()),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(!body.to_string().contains("not-for-prying-eyes"));
    let (status, _) = as_runner(
        &app,
        &prying,
        Method::POST,
        &format!("{base}/steps/{step}/logs?seq=1&first_pos=0&line_count=1&byte_count=4"),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .call_as(
            Some(&prying),
            Method::GET,
            "/api/repos/acme/api/builds/1/logs/1/1",
            None,
        )
        .await;
    assert_eq!(status, 401);
    // The holder gets its step's secret, and no secret its step does not name.
    let greedy = json!({"step": step, "name": "run", "clone": false, "secrets": ["token", "other"], "id_tokens": []});
    let (status, body) = as_runner(
        &app,
        &holder,
        Method::POST,
        &format!("{base}/credentials"),
        Some(greedy),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, grant) = as_runner(
        &app,
        &holder,
        Method::POST,
        &format!("{base}/credentials"),
        Some(ask),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(grant["secrets"][0][1], "not-for-prying-eyes");
}

/// `hangar runner ARGS` as an administrator of `app`; returns stdout, or panics with stderr.
async fn runner_command(app: &TestApp, args: &[&str]) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hangar"))
        .arg("runner")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HANGAR_SERVER", &app.url)
        .env("HANGAR_TOKEN", crate::support::ADMIN_TOKEN)
        .output()
        .await
        .expect("hangar runner runs");
    assert!(
        out.status.success(),
        "hangar runner {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn an_administrator_registers_lists_and_revokes_runners_from_the_command_line() {
    let app = server(TestDatabase::sqlite(), Duration::from_secs(60)).await;
    let token = runner_command(&app, &["register", "eu-1", "--labels", "zone=eu"]).await;
    let token = token.trim();
    assert!(hangar::auth::token::is_runner_token(token), "{token}");
    let (status, answer) = as_runner(&app, token, Method::POST, "/heartbeat", Some(beat())).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["name"], "eu-1");

    let listed = runner_command(&app, &["ls"]).await;
    let row = listed
        .lines()
        .find(|l| l.starts_with("eu-1"))
        .expect("eu-1 is listed");
    assert!(row.contains("zone=eu") && row.contains("s ago"), "{listed}");
    let listed = app.get("/api/runners").await;
    assert!(!listed.to_string().contains(token), "{listed}");

    runner_command(&app, &["rm", "eu-1"]).await;
    let (status, _) = as_runner(&app, token, Method::POST, "/heartbeat", Some(beat())).await;
    assert_eq!(status, 401);
    assert_eq!(app.get("/api/runners").await, json!([]));
}

async fn a_runner_limited_to_repositories_leases_only_their_stages(database: TestDatabase) {
    let app = server(database, Duration::from_secs(60)).await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nname: default\nclone: {disable: true}\nsteps:\n- name: run\n  commands: [true]\n",
    );
    app.activate("acme/api", &git).await;
    app.start_build("acme/api", "main").await;
    app.wait_until("acme/api", 1, |b| b["stages"][0]["status"] == "pending")
        .await;
    let store = crate::support::people::store(&app).await;
    let filter = hangar::store::ClaimFilter {
        types: vec!["exec".into()],
        os: hangar::runner::platform_os().into(),
        arch: hangar::runner::platform_arch().into(),
        labels: Default::default(),
        machine: "scoped".into(),
    };
    let elsewhere = hangar::store::LeaseScope {
        runner: hangar::domain::RunnerId(7),
        // Patterns match case and all: `_` is no wildcard, and `*` stays within its part.
        repos: ["acme/other", "ACME/*", "acme/a_i", "acme/api-*", "*/x*"]
            .map(String::from)
            .to_vec(),
    };
    let none = store
        .claim_stage_for(&filter, &elsewhere, 1)
        .await
        .expect("a claim");
    assert!(none.is_none(), "{none:?}");
    let here = hangar::store::LeaseScope {
        runner: hangar::domain::RunnerId(7),
        repos: vec!["acme/other".into(), "*/ap*".into()],
    };
    let (stage, _, lease) = store
        .claim_stage_for(&filter, &here, 2)
        .await
        .expect("a claim")
        .expect("the stage of acme/api");
    assert_eq!((stage.machine.as_str(), lease), ("scoped", 1));
    store.close().await;
}

#[tokio::test]
async fn a_runner_limited_to_repositories_leases_only_their_stages_on_sqlite() {
    a_runner_limited_to_repositories_leases_only_their_stages(TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn a_runner_limited_to_repositories_leases_only_their_stages_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    a_runner_limited_to_repositories_leases_only_their_stages(database).await;
}
