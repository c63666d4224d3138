//! `hangar bench lease-rate`: how many stages per second remote runners lease from a server on
//! PostgreSQL. A server with its in-process runner off gets `stages` queued builds (one stage
//! each; queued first, then measured); `runners` registered runners then lease as fast as they
//! can over the runner protocol (`POST /api/runner/lease`, each lease one `FOR UPDATE SKIP
//! LOCKED` claim), `connections` requests in flight per runner, until every stage is leased.
//! The stages are not run: this measures the lease, not the steps.

use super::quantile;
use super::target::{Repo, Server};
use anyhow::{Context, bail};
use futures_util::stream::{self, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const TARGET_PER_SECOND: f64 = 1000.0;

pub async fn run(
    stages: usize,
    runners: usize,
    connections: usize,
    database_url: &str,
) -> anyhow::Result<()> {
    if !database_url.starts_with("postgres") {
        bail!(
            "--database-url must be a postgres:// URL (the lease rate is measured on PostgreSQL)"
        );
    }
    let repo = Repo::new(
        "kind: pipeline\ntype: exec\nclone:\n  disable: true\nsteps:\n- name: s\n  commands: [\"true\"]\n",
    )?;
    let server = Server::start(&[
        ("HANGAR_RUNNER_CAPACITY", "0".into()),
        ("HANGAR_DATABASE_URL", database_url.to_string()),
    ])
    .await?;
    let result = measure(&server, &repo, stages, runners, connections).await;
    server.stop();
    result
}

async fn measure(
    server: &Server,
    repo: &Repo,
    stages: usize,
    runners: usize,
    connections: usize,
) -> anyhow::Result<()> {
    // A repository of its own, so earlier runs on the same database do not count.
    let slug = format!("bench/lease-{:08x}", rand::random::<u32>());
    server
        .call(
            Method::POST,
            &format!("/api/repos/{slug}"),
            Some(json!({ "clone_url": repo.bare.to_string_lossy() })),
        )
        .await?;
    let mut tokens = Vec::new();
    for i in 0..runners {
        let made = server
            .call(
                Method::POST,
                "/api/runners",
                Some(json!({ "name": format!("{}-{i}", slug.replace('/', "-")) })),
            )
            .await?;
        tokens.push(
            made["token"]
                .as_str()
                .context("no runner token")?
                .to_string(),
        );
    }
    println!("lease-rate: queueing {stages} builds of one stage");
    let queued = Instant::now();
    let path = format!("/api/repos/{slug}/builds?branch=main");
    let results: Vec<anyhow::Result<Value>> = stream::iter(0..stages)
        .map(|_| server.call(Method::POST, &path, None))
        .buffer_unordered(32)
        .collect()
        .await;
    for r in results {
        r?;
    }
    // Every build prepared: its stage is pending in the queue.
    let last = format!("/api/repos/{slug}/builds/{stages}");
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let b = server.call(Method::GET, &last, None).await?;
        if b["stages"].as_array().is_some_and(|s| !s.is_empty()) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the builds were not prepared within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "lease-rate: queued and prepared in {:.1} s",
        queued.elapsed().as_secs_f64()
    );

    let ask = json!({ "types": ["exec"], "os": "linux", "arch": "amd64", "labels": {} });
    let leased = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    // When the last stage was leased (requests still waiting then end by their timeout).
    let done = Arc::new(std::sync::Mutex::new(None::<f64>));
    let mut tasks = Vec::new();
    for token in &tokens {
        for _ in 0..connections {
            let (http, url, token, ask, leased, slug, done) = (
                server.http.clone(),
                format!("{}/api/runner/lease", server.url),
                token.clone(),
                ask.clone(),
                leased.clone(),
                slug.clone(),
                done.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut times = Vec::new();
                while leased.load(Ordering::SeqCst) < stages {
                    let asked = Instant::now();
                    let resp = http
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&ask)
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await;
                    let Ok(resp) = resp else { continue };
                    if resp.status() != reqwest::StatusCode::OK {
                        continue;
                    }
                    let Ok(assignment) = resp.json::<Value>().await else {
                        continue;
                    };
                    if assignment["repo"]["slug"] == slug.as_str() {
                        times.push(asked.elapsed().as_secs_f64() * 1000.0);
                        if leased.fetch_add(1, Ordering::SeqCst) + 1 == stages
                            && let Ok(mut done) = done.lock()
                        {
                            *done = Some(started.elapsed().as_secs_f64());
                        }
                    }
                }
                times
            }));
        }
    }
    let mut times = Vec::new();
    for task in tasks {
        if let Ok(Ok(mut t)) = tokio::time::timeout(Duration::from_secs(300), task).await {
            times.append(&mut t);
        }
    }
    let count = times.len();
    let elapsed = done
        .lock()
        .ok()
        .and_then(|d| *d)
        .unwrap_or_else(|| started.elapsed().as_secs_f64());
    if count < stages {
        bail!("only {count} of {stages} stages were leased");
    }
    let rate = count as f64 / elapsed;
    println!(
        "lease-rate: {count} stages leased by {runners} runners x {connections} connections in {elapsed:.2} s: {rate:.0} leases/s (target >= {TARGET_PER_SECOND:.0}/s); one lease p50 {:.1} ms, p99 {:.1} ms",
        quantile(&mut times, 0.5),
        quantile(&mut times, 0.99)
    );
    Ok(())
}
