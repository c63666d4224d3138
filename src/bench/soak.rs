//! `hangar bench soak`: a steady stream of small builds (signed push webhooks, a step printing
//! a few lines) against a server with retention on, sampling the SQLite database's size (file
//! plus WAL) and its row counts as builds complete. With retention the size levels off: the
//! figures printed show where, and compare the end of the run with its 60% mark.

use super::target::{Repo, Server};
use anyhow::bail;
use reqwest::Method;
use std::time::{Duration, Instant};

/// Builds in flight at once (queued or running).
const WINDOW: usize = 24;
/// Longest run accepted.
const LIMIT: Duration = Duration::from_secs(3600);

const PIPELINE: &str = "kind: pipeline\ntype: exec\nclone:\n  disable: true\nsteps:\n- name: hello\n  commands:\n  - echo build $DRONE_BUILD_NUMBER\n  - seq 1 20\n";

/// The database file and its WAL, in bytes.
fn database_bytes(data: &std::path::Path) -> u64 {
    ["hangar.db", "hangar.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(data.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

/// How many of the newest builds are not finished yet.
async fn unfinished(server: &Server) -> anyhow::Result<usize> {
    let list = server
        .call(
            Method::GET,
            "/api/repos/acme/bench/builds?per_page=100",
            None,
        )
        .await?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| {
            !matches!(
                b["status"].as_str(),
                Some("success" | "failure" | "error" | "killed" | "skipped")
            )
        })
        .count())
}

pub async fn run(builds: usize, keep: u64, keep_logs: u64) -> anyhow::Result<()> {
    let repo = Repo::new(PIPELINE)?;
    let server = Server::start(&[
        ("HANGAR_RUNNER_CAPACITY", "8".to_string()),
        ("HANGAR_BUILD_RETENTION_COUNT", keep.to_string()),
        ("HANGAR_LOG_RETENTION_COUNT", keep_logs.to_string()),
        ("HANGAR_RETENTION_INTERVAL", "2s".to_string()),
        ("HANGAR_AUDIT_RETENTION", "60s".to_string()),
    ])
    .await?;
    let secret = server.activate(&repo).await?;
    let sha = repo.push_change(0)?;
    let store = crate::store::Store::connect(&format!(
        "sqlite://{}",
        server.data_dir().join("hangar.db").display()
    ))
    .await?;
    let started = Instant::now();
    let mut sent = 0;
    let mut samples: Vec<(usize, u64)> = Vec::new();
    let every = (builds / 10).max(1);
    println!("soak: {builds} builds, keeping {keep} builds and {keep_logs} logs per repository");
    println!(
        "{:>8} {:>8} {:>10} {:>8} {:>8} {:>8} {:>10} {:>8}",
        "builds", "secs", "db+wal", "builds", "steps", "chunks", "audit", "configs"
    );
    loop {
        let in_flight = unfinished(&server).await?;
        let done = sent - in_flight.min(sent);
        if done >= samples.len() * every && (done > 0 || samples.is_empty()) {
            let bytes = database_bytes(&server.data_dir());
            let rows = store.count_build_rows().await?;
            let row = |t: &str| rows.iter().find(|(n, _)| *n == t).map_or(0, |(_, c)| *c);
            println!(
                "{:>8} {:>8.0} {:>8.1}MB {:>8} {:>8} {:>8} {:>10} {:>8}",
                done,
                started.elapsed().as_secs_f64(),
                bytes as f64 / 1e6,
                row("builds"),
                row("steps"),
                row("log_chunks"),
                row("audit_events"),
                row("configs"),
            );
            samples.push((done, bytes));
        }
        if done >= builds {
            break;
        }
        if started.elapsed() > LIMIT {
            bail!("soak: only {done} of {builds} builds finished within {LIMIT:?}");
        }
        let room = WINDOW.saturating_sub(in_flight).min(builds - sent);
        server
            .push_hooks(
                &secret,
                &sha,
                (sent + 1..=sent + room).map(|n| format!("soak-{n}")),
            )
            .await?;
        sent += room;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let at = |fraction: f64| {
        let target = (builds as f64 * fraction) as usize;
        samples
            .iter()
            .find(|(d, _)| *d >= target)
            .map_or(0, |(_, b)| *b)
    };
    // The audit trail keeps its last minute (audit_retention 60s), which fills during the first
    // minute of the run: compare from 60% on, once every kind of row has reached its limit.
    let (settled, end) = (at(0.6), at(1.0));
    let growth = if settled > 0 {
        (end as f64 / settled as f64 - 1.0) * 100.0
    } else {
        f64::NAN
    };
    println!(
        "soak: {builds} builds in {elapsed:.0} s ({:.1} builds/s); database {:.1} MB at 60%, {:.1} MB at the end: {growth:+.1}% over the last 40% (target: levels off, <= +10%)",
        builds as f64 / elapsed,
        settled as f64 / 1e6,
        end as f64 / 1e6,
    );
    store.close().await;
    server.stop();
    Ok(())
}
