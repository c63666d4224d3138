//! `hangar bench runner-lease`: a server with its in-process runner off and one idle remote
//! runner (`hangar runner`, this binary); builds started one after another; for each, the time
//! from its stage being queued to its lease by the runner, as the server's audit trail records
//! both (`stage.queued`, `stage.leased`, milliseconds of the same clock). Then the idle runner's
//! resident memory at start and after the builds, anonymous and file-backed (`/proc/PID/status`).

#![allow(clippy::disallowed_methods)] // the benchmark starts the runner process itself

use super::quantile;
use super::target::{Repo, Server};
use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

pub async fn run(builds: usize) -> anyhow::Result<()> {
    let repo = Repo::new(
        "kind: pipeline\ntype: exec\nname: default\nclone:\n  disable: true\nsteps:\n- name: s\n  commands: [true]\n",
    )?;
    let server = Server::start(&[("HANGAR_RUNNER_CAPACITY", "0".into())]).await?;
    server.activate(&repo).await?;
    let made = server
        .call(
            Method::POST,
            "/api/runners",
            Some(json!({ "name": "bench-runner" })),
        )
        .await?;
    let token = made["token"].as_str().context("no runner token")?;
    let work = tempfile::tempdir()?;
    let mut runner = Command::new(std::env::current_exe()?)
        .arg("runner")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", work.path())
        .env("HANGAR_SERVER_URL", &server.url)
        .env("HANGAR_RUNNER_TOKEN", token)
        .env("HANGAR_RUNNER_CAPACITY", "1")
        .env("HANGAR_DATA_DIR", work.path())
        .env("HANGAR_SANDBOX", "off")
        .env("HANGAR_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting hangar runner")?;
    let started = wait_started(&server).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let at_start = memory(runner.id());
    let measured = match started {
        Ok(()) => measure(&server, builds).await,
        Err(e) => Err(e),
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = memory(runner.id());
    let _ = runner.kill();
    let _ = runner.wait();
    server.stop();
    let mut samples = measured?;
    println!(
        "runner-lease: queued -> leased by an idle remote runner over {} builds: p50 {:.1} ms, p99 {:.1} ms (target p50 <= 20 ms)",
        samples.len(),
        quantile(&mut samples, 0.5),
        quantile(&mut samples, 0.99)
    );
    let mb = |kb: u64| kb as f64 / 1024.0;
    for (when, [rss, anon, file]) in [("at start", at_start), ("after the builds", after)] {
        println!(
            "runner-lease: idle remote runner RSS {when} {:.1} MB (anonymous {:.1} MB, file-backed {:.1} MB; target < 15 MB)",
            mb(rss),
            mb(anon),
            mb(file)
        );
    }
    Ok(())
}

/// Waits (up to 5 s) for the runner's first heartbeat.
async fn wait_started(server: &Server) -> anyhow::Result<()> {
    for _ in 0..500 {
        let runners = server.call(Method::GET, "/api/runners", None).await?;
        if runners[0]["last_seen"].as_i64().unwrap_or(0) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

async fn measure(server: &Server, builds: usize) -> anyhow::Result<Vec<f64>> {
    for n in 1..=builds {
        server
            .call(
                Method::POST,
                "/api/repos/acme/bench/builds?branch=main",
                None,
            )
            .await?;
        let build = server.wait_build(n as i64, Duration::from_secs(30)).await?;
        if build["status"] != "success" {
            bail!("build {n} ended {}", build["status"]);
        }
    }
    let queued = times(server, "stage.queued").await?;
    let leased = times(server, "stage.leased").await?;
    Ok(queued
        .iter()
        .filter_map(|(target, at)| leased.get(target).map(|l| (l - at) as f64))
        .collect())
}

/// When each stage had `action`, by target.
async fn times(server: &Server, action: &str) -> anyhow::Result<HashMap<String, i64>> {
    let mut out = HashMap::new();
    let mut after = 0;
    loop {
        let page = server
            .call(
                Method::GET,
                &format!("/api/audit?action={action}&limit=1000&after={after}"),
                None,
            )
            .await?;
        let entries = page.as_array().cloned().unwrap_or_default();
        for e in &entries {
            if let (Some(target), Some(time)) = (e["target"].as_str(), e["time_ms"].as_i64()) {
                out.insert(target.to_string(), time);
            }
        }
        match entries.last().and_then(|e: &Value| e["id"].as_i64()) {
            Some(id) if entries.len() == 1000 => after = id,
            _ => return Ok(out),
        }
    }
}

/// A process's resident memory in kB: in all, anonymous, file-backed (`/proc/PID/status`).
fn memory(pid: u32) -> [u64; 3] {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    [field("VmRSS:"), field("RssAnon:"), field("RssFile:")]
}
