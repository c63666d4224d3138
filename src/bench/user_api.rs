//! `hangar bench user-api`: what authenticating an API call costs. The same server answers
//! `/healthz` (no authentication, no database) and then `GET /api/user` with a personal access
//! token, each flooded over the same connections for the same time; the token's figures are
//! printed beside `/healthz`'s and the targets (at least half its requests per second, a p99 at
//! most 1.5 times its p99).

use super::load;
use super::target::Server;
use anyhow::{Context, bail};
use reqwest::Method;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// One measured flood.
struct Figures {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    failed: u64,
}

async fn measure(host: &str, request: Vec<u8>, connections: usize, seconds: u64) -> Figures {
    let started = Instant::now();
    let tally = load::flood(host, connections, Duration::from_secs(seconds), move |_| {
        request.clone()
    })
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    Figures {
        per_second: tally.ok.load(Ordering::Relaxed) as f64 / elapsed,
        p50_ms: tally.latency_ms(0.5),
        p99_ms: tally.latency_ms(0.99),
        failed: tally.answered() - tally.ok.load(Ordering::Relaxed),
    }
}

/// Floods `/healthz`, then `GET /api/user` with a personal access token.
pub async fn user_api(seconds: u64, connections: usize) -> anyhow::Result<()> {
    let server = Server::start(&[]).await?;
    server
        .call(
            Method::POST,
            "/api/users",
            Some(serde_json::json!({ "login": "bench-user" })),
        )
        .await?;
    let made = server
        .call(Method::POST, "/api/users/bench-user/token/rotate", None)
        .await?;
    let token = made["token"]
        .as_str()
        .context("no token in the answer")?
        .to_string();
    if !token.starts_with("hgr_pat_") {
        bail!("expected a personal access token");
    }
    let host = server.url.trim_start_matches("http://").to_string();
    let health = load::get(&host, "/healthz", &[]);
    let auth = [("Authorization".to_string(), format!("Bearer {token}"))];
    let user = load::get(&host, "/api/user", &auth);
    // Warm both paths (connections, the token's first lookup) before measuring.
    measure(&host, health.clone(), connections, 1).await;
    measure(&host, user.clone(), connections, 1).await;
    let h = measure(&host, health, connections, seconds).await;
    let u = measure(&host, user, connections, seconds).await;
    println!(
        "user-api: /healthz {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms; GET /api/user with a personal access token {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms ({connections} connections, {seconds} s each)",
        h.per_second, h.p50_ms, h.p99_ms, u.per_second, u.p50_ms, u.p99_ms
    );
    println!(
        "user-api: GET /api/user at {:.0}% of /healthz's req/s (target >= 50%), p99 {:.2}x /healthz's (target <= 1.5x); {} failed answers",
        100.0 * u.per_second / h.per_second,
        u.p99_ms / h.p99_ms,
        h.failed + u.failed
    );
    server.stop();
    Ok(())
}
