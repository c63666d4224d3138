//! `hangar bench id-token` and `hangar bench masking`: what builds' identity costs.
//!
//! - `id-token`: a running step's grant asks a real server for ID tokens, one request after
//!   another on one kept-alive connection; p50 and p99 of the whole request (HTTP, the grant
//!   lookup, the build's credential check, ES256 signing) against the 200 µs target.
//! - `masking`: a step with 50 secrets in scope prints a large log; end-to-end MB/s (the step's
//!   output stored, masked) against the 100 MB/s target, beside the masker alone in process.

use super::quantile;
use super::target::{Repo, Server};
use crate::runner::log::LogBuffer;
use crate::runner::mask::Masker;
use anyhow::{Context, bail};
use reqwest::Method;
use std::time::{Duration, Instant};

/// Secrets in scope for the masking figures.
const SECRETS: usize = 50;

async fn wait_for_file(path: &std::path::Path) -> anyhow::Result<String> {
    for _ in 0..3000 {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return Ok(text.trim().to_string());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bail!("{} never appeared", path.display())
}

/// `requests` ID tokens asked for by a running step's grant.
pub async fn id_token(requests: usize) -> anyhow::Result<()> {
    let shared = tempfile::tempdir()?;
    let dir = shared.path().display();
    let repo = Repo::new(&format!(
        "kind: pipeline\ntype: exec\nclone:\n  disable: true\nsteps:\n- name: wait\n  commands:\n  - printf '%s\\n' \"$HANGAR_ID_TOKEN_REQUEST_TOKEN\" > {dir}/grant\n  - while [ ! -f {dir}/release ]; do sleep 0.05; done\n"
    ))?;
    let server = Server::start(&[]).await?;
    server.activate(&repo).await?;
    server
        .call(
            Method::POST,
            "/api/repos/acme/bench/builds?branch=main",
            None,
        )
        .await?;
    let bearer = wait_for_file(&shared.path().join("grant")).await?;
    let url = format!(
        "{}{}?audience=https://vault.example",
        server.url,
        crate::auth::workload::REQUEST_PATH
    );
    let ask = || server.http.get(&url).bearer_auth(&bearer).send();
    // Warm the connection and the signing key.
    for _ in 0..50 {
        ask().await?.error_for_status()?;
    }
    let mut samples = Vec::with_capacity(requests);
    for _ in 0..requests {
        let started = Instant::now();
        let resp = ask().await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        samples.push(started.elapsed().as_secs_f64() * 1e6);
        if !status.is_success() || body.len() < 100 {
            bail!("asking for an ID token failed: {status}");
        }
    }
    std::fs::write(shared.path().join("release"), "")?;
    let build = server.wait_build(1, Duration::from_secs(60)).await?;
    let after = ask().await?.status();
    println!(
        "id-token: {requests} ID tokens issued to a running step: p50 {:.0} µs, p99 {:.0} µs (target p50 <= 200 µs), whole request on one connection; after the build ({}): {after}",
        quantile(&mut samples, 0.5),
        quantile(&mut samples, 0.99),
        build["status"].as_str().unwrap_or("?"),
    );
    server.stop();
    Ok(())
}

fn secret_value(i: usize) -> String {
    format!("bench-secret-{i:02}-{}", "Zq9".repeat(6))
}

/// The masker alone: a log buffer with 50 values in scope, fed 64 KiB reads.
fn masker_alone(megabytes: u64) -> f64 {
    let values: Vec<String> = (0..SECRETS).map(secret_value).collect();
    let line = b"0123456789 the quick brown fox jumps over the lazy dog 0123456789\n";
    let read: Vec<u8> = line.iter().copied().cycle().take(64 * 1024).collect();
    let total = megabytes * 1_000_000;
    let started = Instant::now();
    let mut buffer =
        LogBuffer::new(started, u64::MAX).with_mask(Masker::new(values.iter().map(String::as_str)));
    let mut fed = 0u64;
    while fed < total {
        buffer.feed(&read, Instant::now());
        fed += read.len() as u64;
        let _ = buffer.take();
    }
    buffer.finish(Instant::now());
    fed as f64 / 1e6 / started.elapsed().as_secs_f64()
}

/// A step with 50 secrets in scope prints `megabytes` of log.
pub async fn masking(megabytes: u64) -> anyhow::Result<()> {
    let alone = masker_alone(megabytes.min(200));
    let bytes = megabytes * 1_000_000;
    let line = "0123456789 the quick brown fox jumps over the lazy dog 0123456789";
    let mut env = String::new();
    for i in 0..SECRETS {
        env.push_str(&format!("    S{i}: {{from_secret: s{i}}}\n"));
    }
    let repo = Repo::new(&format!(
        "kind: pipeline\ntype: exec\nclone:\n  disable: true\nsteps:\n- name: print\n  environment:\n{env}  commands:\n  - yes '{line}' | head -c {bytes}\n  - echo \"$S0 $S49\"\n"
    ))?;
    let server = Server::start(&[]).await?;
    server.activate(&repo).await?;
    for i in 0..SECRETS {
        server
            .call(
                Method::POST,
                "/api/repos/acme/bench/secrets",
                Some(serde_json::json!({ "name": format!("s{i}"), "data": secret_value(i) })),
            )
            .await?;
    }
    let started = Instant::now();
    server
        .call(
            Method::POST,
            "/api/repos/acme/bench/builds?branch=main",
            None,
        )
        .await?;
    let build = server.wait_build(1, Duration::from_secs(900)).await?;
    let elapsed = started.elapsed().as_secs_f64();
    if build["status"] != "success" {
        bail!("the build ended {}", build["status"]);
    }
    let log = server
        .http
        .get(format!(
            "{}/api/repos/acme/bench/builds/1/logs/1/1",
            server.url
        ))
        .bearer_auth(super::target::TOKEN)
        .send()
        .await?
        .text()
        .await
        .context("reading the log")?;
    let masked = log.contains("******** ********") && !log.contains(&secret_value(0));
    println!(
        "masking: {megabytes} MB printed with {SECRETS} secrets in scope, stored in {elapsed:.2} s = {:.0} MB/s end to end (target >= 100 MB/s); the masker alone {alone:.0} MB/s; secrets in the log {}",
        megabytes as f64 / elapsed,
        if masked { "masked" } else { "NOT MASKED" },
    );
    server.stop();
    Ok(())
}
