//! Remote leases live in the database, so a runner's reports may reach any server: a stage
//! leased through one server is reported and finished through another, a restarted server
//! leaves a remote runner's stage running, and a runner that falls silent is reaped by
//! whichever server notices first, after which every server refuses it. The runner protocol is
//! spoken by hand here, to choose which server hears each report.

use crate::runners::{beat, platform, server};
use crate::support::database::TestDatabase;
use crate::support::{GitRepo, TestApp};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const ONE_STEP: &str = "kind: pipeline\ntype: exec\nname: default\nclone: {disable: true}\nsteps:\n- name: run\n  commands: [echo hi]\n";

/// A second server on `first`'s database and key, without its in-process runner.
async fn second_server(
    first: &TestApp,
    timeout: Duration,
) -> (hangar::server::Running, String, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("a data folder");
    let mut config = first.config_beside(data.path());
    config.runner_capacity = 0;
    config.runner_timeout = timeout;
    let running = hangar::server::start(config, hangar::clock::system())
        .await
        .expect("the second server starts");
    let url = format!("http://{}", running.addr);
    (running, url, data)
}

/// A runner speaking the protocol by hand to whichever server a call names.
struct HandRunner {
    token: String,
    http: reqwest::Client,
}

impl HandRunner {
    fn new(token: String) -> HandRunner {
        HandRunner {
            token,
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, url: &str, method: Method, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .request(method, format!("{url}/api/runner{path}"))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("the server answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn heartbeat(&self, url: &str) {
        let (status, body) = self.call(url, Method::POST, "/heartbeat", beat()).await;
        assert_eq!(status, 200, "{body}");
    }

    /// Leases the waiting stage through `url`; answers the lease's path `/leases/{stage}/{n}`.
    async fn lease(&self, url: &str) -> String {
        let (status, leased) = self.call(url, Method::POST, "/lease", platform()).await;
        assert_eq!(status, 200, "{leased}");
        format!("/leases/{}/{}", leased["stage"]["id"], leased["lease"])
    }

    /// Records the one step `run` of the lease through `url`; answers its id.
    async fn record_step(&self, url: &str, lease: &str) -> Value {
        let steps = json!([{"number": 1, "name": "run", "errignore": false, "depends_on": [], "detached": false}]);
        let (status, made) = self
            .call(url, Method::POST, &format!("{lease}/steps"), steps)
            .await;
        assert_eq!(status, 200, "{made}");
        made[0]["id"].clone()
    }

    async fn report_step(&self, url: &str, lease: &str, step: &Value, status: &str) -> u16 {
        let update =
            json!({"step": step, "name": "run", "status": status, "exit_code": 0, "error": ""});
        self.call(url, Method::PUT, &format!("{lease}/steps/{step}"), update)
            .await
            .0
    }

    async fn finish(&self, url: &str, lease: &str) -> (u16, Value) {
        let result = json!({"status": "success", "exit_code": 0, "error": ""});
        self.call(url, Method::POST, &format!("{lease}/finish"), result)
            .await
    }

    /// Asks for the step's credentials (none named), as a step about to start does.
    async fn ask_credentials(&self, url: &str, lease: &str, step: &Value) -> u16 {
        let ask =
            json!({"step": step, "name": "run", "clone": false, "secrets": [], "id_tokens": []});
        self.call(url, Method::POST, &format!("{lease}/credentials"), ask)
            .await
            .0
    }
}

/// What `GET /api/runners` on `url` says `name` runs now.
async fn listed_running(url: &str, name: &str) -> Value {
    let resp = reqwest::Client::new()
        .get(format!("{url}/api/runners"))
        .bearer_auth(crate::support::ADMIN_TOKEN)
        .send()
        .await
        .expect("the server answers");
    let runners: Value = resp.json().await.expect("JSON");
    runners
        .as_array()
        .expect("a list")
        .iter()
        .find(|r| r["name"] == name)
        .map(|r| r["running"].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_leased_through_one_server_is_reported_and_finished_through_the_other() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let first = server(database, Duration::from_secs(60)).await;
    let (second, url, _data) = second_server(&first, Duration::from_secs(60)).await;
    let git = GitRepo::with_pipeline(ONE_STEP);
    first.activate("acme/api", &git).await;
    let runner = HandRunner::new(crate::runners::register(&first, "roaming", "").await);
    first.start_build("acme/api", "main").await;

    let lease = runner.lease(&first.url).await;
    // Both servers list the stage as the runner's, whichever handed it out.
    assert_eq!(
        listed_running(&url, "roaming").await,
        json!(["acme/api#1/default"])
    );
    let step = runner.record_step(&url, &lease).await;
    assert_eq!(runner.ask_credentials(&first.url, &lease, &step).await, 200);
    assert_eq!(
        runner.report_step(&url, &lease, &step, "running").await,
        204
    );
    assert_eq!(
        runner
            .report_step(&first.url, &lease, &step, "success")
            .await,
        204
    );
    let (status, body) = runner.finish(&url, &lease).await;
    assert_eq!(status, 204, "{body}");

    let build = first.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "success", "{build}");
    // The lease is over on both servers: a second finish is refused by each.
    assert_eq!(runner.finish(&first.url, &lease).await.0, 409);
    assert_eq!(runner.finish(&url, &lease).await.0, 409);
    assert_eq!(listed_running(&first.url, "roaming").await, json!([]));
    second.shutdown.cancel();
    let _ = second.done.await;
}

async fn a_restarted_server_leaves_a_remote_runners_stage_running(database: TestDatabase) {
    let mut app = server(database, Duration::from_secs(60)).await;
    let git = GitRepo::with_pipeline(ONE_STEP);
    app.activate("acme/api", &git).await;
    let runner = HandRunner::new(crate::runners::register(&app, "steady", "").await);
    app.start_build("acme/api", "main").await;
    let lease = runner.lease(&app.url).await;
    let step = runner.record_step(&app.url, &lease).await;
    assert_eq!(
        runner.report_step(&app.url, &lease, &step, "running").await,
        204
    );

    app.start_again(|c| c.runner_capacity = 0).await;
    let build = app.get("/api/repos/acme/api/builds/1").await;
    assert_eq!(build["status"], "running", "{build}");
    runner.heartbeat(&app.url).await;
    assert_eq!(
        runner.report_step(&app.url, &lease, &step, "success").await,
        204
    );
    let (status, body) = runner.finish(&app.url, &lease).await;
    assert_eq!(status, 204, "{body}");
    let build = app.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "success", "{build}");
}

#[tokio::test]
async fn a_restarted_server_leaves_a_remote_runners_stage_running_on_sqlite() {
    a_restarted_server_leaves_a_remote_runners_stage_running(TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn a_restarted_server_leaves_a_remote_runners_stage_running_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    a_restarted_server_leaves_a_remote_runners_stage_running(database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_silent_past_the_timeout_is_reaped_by_either_server_and_refused_by_both() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let timeout = Duration::from_millis(1200);
    let first = server(database, timeout).await;
    let (second, url, _data) = second_server(&first, timeout).await;
    let git = GitRepo::with_pipeline(ONE_STEP);
    first.activate("acme/api", &git).await;
    let runner = HandRunner::new(crate::runners::register(&first, "fading", "").await);
    first.start_build("acme/api", "main").await;
    let lease = runner.lease(&url).await;
    let step = runner.record_step(&url, &lease).await;
    // The step was handed its credentials through the first server: it may have started, so
    // the stage is not put back in the queue.
    assert_eq!(runner.ask_credentials(&first.url, &lease, &step).await, 200);

    let build = first
        .wait_within("acme/api", 1, 20, |b| crate::support::is_done(&b["status"]))
        .await;
    assert_eq!(build["status"], "error", "{build}");
    assert_eq!(build["stages"][0]["error"], "runner lost", "{build}");
    assert_eq!(
        crate::support::step(&build, 1, "run")["status"],
        "error",
        "{build}"
    );
    for server in [&first.url, &url] {
        assert_eq!(
            runner.report_step(server, &lease, &step, "success").await,
            409
        );
        let (status, body) = runner.finish(server, &lease).await;
        assert_eq!(status, 409, "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or("")
                .contains("runner lost"),
            "{body}"
        );
    }
    second.shutdown.cancel();
    let _ = second.done.await;
}

#[tokio::test]
async fn a_stopping_server_answers_a_runners_long_poll_at_once_instead_of_waiting_it_out() {
    let mut app = server(TestDatabase::sqlite(), Duration::from_secs(60)).await;
    let runner = HandRunner::new(crate::runners::register(&app, "patient", "").await);
    let url = app.url.clone();
    let platform = platform();
    // No work is queued: the lease request waits (about half a minute) for some.
    let waiting =
        tokio::spawn(async move { runner.call(&url, Method::POST, "/lease", platform).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = std::time::Instant::now();
    app.stop().await;
    let (status, _) = waiting.await.expect("the lease request ends");
    assert_eq!(
        status, 204,
        "the long poll answers 'nothing' when the server stops"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "the stop waited out the long poll: {:?}",
        asked.elapsed()
    );
}
