//! Stories of two servers on one PostgreSQL database: what is changed through one is in force on
//! the other at once (a revoked token, a cancelled build), and watchers connected to one see
//! builds that run on the other. They run where PostgreSQL is (always in CI).

use crate::runners::spawn_runner;
use crate::support::database::TestDatabase;
use crate::support::{ADMIN_TOKEN, GitRepo, TestApp};
use crate::tokens::{make, person};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The first server (on `database`, its in-process runner as `first_runs` says) and a second on
/// the same database and key (its in-process runner as `second_runs` says); returns both and the
/// second's URL.
async fn two_servers(
    database: TestDatabase,
    first_runs: bool,
    second_runs: bool,
) -> (TestApp, hangar::server::Running, String, tempfile::TempDir) {
    let first = TestApp::spawn_with(database, |c| {
        if !first_runs {
            // No runner here: every stage runs on the second server.
            c.runner_capacity = 0;
        }
    })
    .await;
    let data = tempfile::tempdir().expect("a data folder");
    let mut config = first.config_beside(data.path());
    if !second_runs {
        config.runner_capacity = 0;
    }
    let second = hangar::server::start(config, hangar::clock::system())
        .await
        .expect("the second server starts");
    let url = format!("http://{}", second.addr);
    (first, second, url, data)
}

async fn call_on(url: &str, token: &str, method: Method, path: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .request(method, format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("the server answers");
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_through_one_server_fails_on_the_other_within_a_second() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let (first, second, url, _data) = two_servers(database, true, true).await;
    let alice = person(&first, "alice").await;
    let (status, made) = make(
        &first,
        &alice,
        json!({ "name": "laptop", "expires_in": 3600 }),
    )
    .await;
    assert_eq!(status, 200, "{made}");
    let token = made["token"].as_str().expect("token").to_string();
    // The second server has the token's lookup cached (fresh for seconds without a notice).
    assert_eq!(call_on(&url, &token, Method::GET, "/api/user").await.0, 200);
    assert_eq!(call_on(&url, &token, Method::GET, "/api/user").await.0, 200);

    let id = made["id"].as_i64().expect("id");
    let (status, body) = first
        .call_as(
            Some(&alice),
            Method::DELETE,
            &format!("/api/user/tokens/{id}"),
            None,
        )
        .await;
    assert!(matches!(status, 200 | 204), "{status} {body}");
    let revoked = Instant::now();
    loop {
        let (status, _) = call_on(&url, &token, Method::GET, "/api/user").await;
        if status == 401 {
            break;
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "the second server still took the revoked token after a second"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    second.shutdown.cancel();
    let _ = second.done.await;
}

/// A step that writes its shell's pid to `pid_file`, then sleeps.
fn sleeper(pid_file: &std::path::Path) -> String {
    format!(
        "kind: pipeline\ntype: exec\nclone: {{disable: true}}\nsteps:\n- name: nap\n  commands: [\"echo $$ > {}\", \"echo napping\", \"sleep 60\"]\n",
        pid_file.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_cancelled_through_one_server_stops_on_the_others_runner() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let (first, second, _url, _data) = two_servers(database, false, true).await;
    let marks = tempfile::tempdir().expect("a folder");
    let pid_file = marks.path().join("pid");
    let git = GitRepo::with_pipeline(&sleeper(&pid_file));
    first.activate("acme/api", &git).await;
    first.start_build("acme/api", "main").await;
    first
        .wait_until("acme/api", 1, |b| {
            b["stages"][0]["steps"][0]["status"] == "running"
        })
        .await;
    let pid = step_pid(&pid_file).await;
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());

    let (status, body) = first
        .call(Method::DELETE, "/api/repos/acme/api/builds/1", None)
        .await;
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            Instant::now() < deadline,
            "the step on the second server's runner still runs"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let build = first.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "killed", "{build}");
    second.shutdown.cancel();
    let _ = second.done.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_on_one_server_sees_the_live_log_of_a_step_running_on_the_other() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let (first, second, _url, _data) = two_servers(database, false, true).await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: talk\n  commands: [sleep 1, echo one, sleep 0.5, echo two]\n",
    );
    first.activate("acme/api", &git).await;
    // Build events: the first server's stream hears the build that runs on the second.
    let events = first
        .http
        .get(format!("{}/api/stream", first.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("event stream");
    assert_eq!(events.status(), 200);
    first.start_build("acme/api", "main").await;
    first
        .wait_until("acme/api", 1, |b| {
            b["stages"][0]["steps"][0]["status"] == "running"
        })
        .await;
    let log = first
        .http
        .get(format!("{}/api/stream/acme/api/1/1/1", first.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("log stream");
    assert_eq!(log.status(), 200);
    let body = tokio::time::timeout(Duration::from_secs(30), log.text())
        .await
        .expect("the log stream ends")
        .expect("text");
    assert!(body.contains(r#""out":"one\n""#), "{body}");
    assert!(body.contains(r#""out":"two\n""#), "{body}");
    assert!(
        body.trim_end().ends_with("event: error\ndata: eof"),
        "{body}"
    );

    let mut events = events;
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !seen.contains(r#""status":"success""#) {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, events.chunk())
            .await
            .expect("the finished build's event arrives on the first server")
            .expect("stream")
            .expect("more events");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains(r#""slug":"acme/api""#), "{seen}");
    second.shutdown.cancel();
    let _ = second.done.await;
}

/// Waits until the step wrote its pid to `pid_file`; returns it.
async fn step_pid(pid_file: &std::path::Path) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(pid) = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "the step never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_revoked_through_one_server_loses_its_stage_on_the_other_at_once() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let (first, second, url, _data) = two_servers(database, false, false).await;
    let marks = tempfile::tempdir().expect("a folder");
    let pid_file = marks.path().join("pid");
    let git = GitRepo::with_pipeline(&sleeper(&pid_file));
    first.activate("acme/api", &git).await;
    let (status, made) = first
        .call(
            Method::POST,
            "/api/runners",
            Some(json!({ "name": "far", "labels": "" })),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let token = made["token"].as_str().expect("a token").to_string();
    // The runner talks to the second server only.
    let _runner = spawn_runner(&url, &token, "");
    first.start_build("acme/api", "main").await;
    let pid = step_pid(&pid_file).await;

    let (status, body) = first.call(Method::DELETE, "/api/runners/far", None).await;
    assert_eq!(status, 204, "{body}");
    let build = first
        .wait_within("acme/api", 1, 5, |b| b["status"] == "error")
        .await;
    assert_eq!(build["stages"][0]["error"], "runner revoked", "{build}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            Instant::now() < deadline,
            "the revoked runner's step still runs"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    second.shutdown.cancel();
    let _ = second.done.await;
}
