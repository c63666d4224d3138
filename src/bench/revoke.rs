//! `hangar bench revoke`: from revoking the token a running build was started with to SIGTERM
//! reaching the build's step, measured from outside: the step notes (through a FIFO) when it
//! starts and when the signal arrives; the clock starts just before the `DELETE` is sent.

use super::quantile;
use super::target::{Repo, Server, TOKEN, mkfifo};
use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::BufRead;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// What the step wrote: `start N` or `term N`, and when it was read.
type Note = (String, i64, Instant);

async fn call_as(
    server: &Server,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut req = server
        .http
        .request(method, format!("{}{path}", server.url))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        bail!("{path}: {status}: {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn wait_note(notes: &Receiver<Note>, kind: &str, number: i64) -> anyhow::Result<Instant> {
    loop {
        let (k, n, at) = notes
            .recv_timeout(Duration::from_secs(30))
            .with_context(|| format!("no `{kind} {number}` from the step within 30 s"))?;
        if k == kind && n == number {
            return Ok(at);
        }
    }
}

pub async fn run(revocations: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let fifo = dir.path().join("notes");
    mkfifo(&fifo)?;
    let pipeline = format!(
        "kind: pipeline\ntype: exec\nclone:\n  disable: true\nsteps:\n- name: hold\n  commands:\n  \
         - trap 'echo term $DRONE_BUILD_NUMBER > {f}; exit 143' TERM\n  \
         - echo start $DRONE_BUILD_NUMBER > {f}\n  - sleep 300 & wait\n",
        f = fifo.display()
    );
    let repo = Repo::new(&pipeline)?;
    let server = Server::start(&[]).await?;
    server.activate(&repo).await?;
    let (tx, notes) = std::sync::mpsc::channel::<Note>();
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)?;
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(reader).lines() {
            let Ok(line) = line else { return };
            let mut parts = line.split_whitespace();
            if let (Some(kind), Some(Ok(n))) = (parts.next(), parts.next().map(str::parse))
                && tx.send((kind.to_string(), n, Instant::now())).is_err()
            {
                return;
            }
        }
    });
    // A service account allowed to build, whose tokens start the builds.
    let account = server
        .call(
            Method::POST,
            "/api/users",
            Some(json!({ "login": "deployer", "machine": true, "admin": true })),
        )
        .await?;
    let account_token = account["token"]
        .as_str()
        .context("the service account came without a token")?
        .to_string();
    let warmup = 3;
    let mut samples = Vec::new();
    for i in 0..(revocations + warmup) {
        let issued = call_as(
            &server,
            &account_token,
            Method::POST,
            "/api/user/tokens",
            Some(json!({ "name": format!("run-{i}"), "expires_in": 3600 })),
        )
        .await?;
        let (Some(token), Some(id)) = (issued["token"].as_str(), issued["id"].as_i64()) else {
            bail!("no token in {issued}");
        };
        let build = call_as(
            &server,
            token,
            Method::POST,
            "/api/repos/acme/bench/builds?branch=main",
            None,
        )
        .await?;
        let number = build["number"].as_i64().context("no build number")?;
        wait_note(&notes, "start", number)?;
        let revoked = Instant::now();
        call_as(
            &server,
            TOKEN,
            Method::DELETE,
            &format!("/api/user/tokens/{id}"),
            None,
        )
        .await?;
        let terminated = wait_note(&notes, "term", number)?;
        let build = server.wait_build(number, Duration::from_secs(30)).await?;
        if build["error"] != "token revoked" {
            bail!("build {number} ended without the reason: {build}");
        }
        if i >= warmup {
            samples.push(terminated.duration_since(revoked).as_secs_f64() * 1000.0);
        }
    }
    let (p50, p99) = (quantile(&mut samples, 0.5), quantile(&mut samples, 0.99));
    let max = samples.iter().cloned().fold(0.0, f64::max);
    println!(
        "revoke: token revoked -> SIGTERM in the step: p50 {p50:.1} ms, p99 {p99:.1} ms (target <= 1000 ms), max {max:.1} ms over {revocations} revocations"
    );
    server.stop();
    Ok(())
}
