//! A server killed with SIGKILL in the middle of builds loses nothing: after a restart the
//! interrupted build ends `error` ("server restarted"), the queued one runs, the log lines read
//! before the crash are still there, and the old step's processes are gone.

#![allow(clippy::disallowed_methods)] // this story starts and kills the server binary itself

use crate::support::{ADMIN_TOKEN, GitRepo};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Process {
    child: Child,
    url: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn start(data: &std::path::Path, port: u16) -> Process {
    let child = Command::new(env!("CARGO_BIN_EXE_hangar"))
        .arg("server")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HANGAR_ADDR", format!("127.0.0.1:{port}"))
        .env("HANGAR_DATA_DIR", data)
        .env("HANGAR_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("HANGAR_RUNNER_CAPACITY", "1")
        .env("HANGAR_LOG", "warn")
        // The step writes its pid where the test reads it: outside any sandbox.
        .env("HANGAR_SANDBOX", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server starts");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{url}/healthz")).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server never answered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Process { child, url }
}

async fn call(url: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut req = reqwest::Client::new()
        .request(method, format!("{url}{path}"))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("answers");
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.expect("json")
}

async fn wait(url: &str, path: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let client = reqwest::Client::new();
    loop {
        let resp = client
            .get(format!("{url}{path}"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await;
        let v: Value = match resp {
            Ok(r) if r.status().is_success() => r.json().await.unwrap_or(Value::Null),
            _ => Value::Null,
        };
        if !v.is_null() && ready(&v) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never got ready: {v}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn a_server_killed_mid_build_loses_nothing_and_leaves_no_step_running() {
    let data = tempfile::tempdir().expect("tempdir");
    let pidfile = data.path().join("step.pid");
    let git = GitRepo::with_pipeline(&format!(
        "kind: pipeline\ntype: exec\nclone: {{disable: true}}\nsteps:\n- name: long\n  commands:\n  - echo started\n  - if [ $DRONE_BUILD_NUMBER = 1 ]; then echo $$ > {}; sleep 300; fi\n",
        pidfile.display()
    ));
    let port = free_port();
    let mut server = start(data.path(), port).await;
    let url = server.url.clone();
    call(
        &url,
        reqwest::Method::POST,
        "/api/repos/acme/api",
        Some(serde_json::json!({ "clone_url": git.url() })),
    )
    .await;
    call(
        &url,
        reqwest::Method::POST,
        "/api/repos/acme/api/builds?branch=main",
        None,
    )
    .await;
    call(
        &url,
        reqwest::Method::POST,
        "/api/repos/acme/api/builds?branch=main",
        None,
    )
    .await;
    let seen = wait(&url, "/api/repos/acme/api/builds/1/logs/1/1", |v| {
        v.as_array().is_some_and(|l| !l.is_empty())
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !pidfile.exists() {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let step_pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid")
        .trim()
        .parse()
        .expect("pid");
    assert!(alive(step_pid));

    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");

    // The second build was queued behind the first (capacity 1); it runs after the restart.
    let mut server = start(data.path(), port).await;
    let first = wait(&url, "/api/repos/acme/api/builds/1", |b| {
        b["status"] != "running"
    })
    .await;
    assert_eq!(first["status"], "error", "{first}");
    assert_eq!(first["error"], "server restarted");
    let still = call(
        &url,
        reqwest::Method::GET,
        "/api/repos/acme/api/builds/1/logs/1/1",
        None,
    )
    .await;
    let seen = seen.as_array().expect("lines");
    assert_eq!(&still.as_array().expect("lines")[..seen.len()], &seen[..]);
    let second = wait(&url, "/api/repos/acme/api/builds/2", |b| {
        matches!(b["status"].as_str(), Some("success" | "failure" | "error"))
    })
    .await;
    assert_eq!(second["status"], "success", "{second}");
    assert!(
        !alive(step_pid),
        "the old step's process {step_pid} is still running"
    );
    server.child.kill().expect("stop");
    let _ = server.child.wait();
}
