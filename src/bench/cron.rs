//! `hangar bench cron`: the cron scheduler's question each tick, "which enabled jobs are due
//! now?", among 10,000 jobs spread over a day, measured in process against the store (SQLite
//! in a temporary folder, or the PostgreSQL database given). Each simulated second is one tick:
//! the lookup (timed: the target is <= 5 ms), then the due jobs claimed as the scheduler
//! claims them (compare-and-set on `next`, timed apart).

use super::quantile;
use crate::domain::{Actor, Schedule, Slug, Visibility};
use crate::store::{CronClaim, CronRun, NewCron, NewRepo, Store};
use anyhow::Context;
use std::time::Instant;

/// 2026-03-02 00:00:00 UTC.
const START: i64 = 1_772_409_600_000;
/// The first tick: an hour into the day.
const FIRST_TICK: i64 = START + 3_600_000;
const DAY: i64 = 86_400_000;
const TARGET_MS: f64 = 5.0;

pub async fn run(jobs: usize, ticks: usize, database_url: Option<&str>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = match database_url {
        Some(u) => u.to_string(),
        None => format!("sqlite://{}", dir.path().join("bench.db").display()),
    };
    let store = Store::open(&url).await?;
    let system = Actor::system();
    let owner = store
        .create_machine_user(
            &format!("cron-bench-{}", rand::random::<u32>()),
            &[],
            &system,
            START,
        )
        .await
        .context("creating the jobs' owner")?;
    let slug = format!("bench/cron-{}", rand::random::<u32>());
    let repo = store
        .activate_repo(
            &NewRepo {
                slug: Slug::parse(&slug).map_err(anyhow::Error::msg)?,
                clone_url: "/nonexistent".into(),
                default_branch: "main".into(),
                config_path: ".drone.yml".into(),
                visibility: Visibility::Private,
                user_id: owner.id,
                webhook_secret: "bench".into(),
            },
            &system,
            START,
        )
        .await?;
    // Every job runs once a day, their times spread evenly over the day (to the second).
    let filling = Instant::now();
    for i in 0..jobs {
        let second = (i as i64 * DAY / jobs as i64) / 1000;
        let expr = format!(
            "{} {} {} * * *",
            second % 60,
            (second / 60) % 60,
            second / 3600
        );
        let next = Schedule::parse(&expr, "UTC")
            .map_err(anyhow::Error::msg)?
            .next_after(FIRST_TICK - 1)
            .context("a next time")?;
        let new = NewCron {
            repo_id: repo.id,
            name: format!("job-{i}"),
            expr,
            zone: "UTC".into(),
            next,
            branch: "main".into(),
            target: String::new(),
            disabled: false,
            owner: owner.id,
        };
        store.create_cron(&new, &slug, &system, START).await?;
    }
    eprintln!(
        "{jobs} cron jobs stored in {:.1} s ({})",
        filling.elapsed().as_secs_f64(),
        store.dialect()
    );

    let mut find = Vec::with_capacity(ticks);
    let mut claim = Vec::new();
    let mut due_total = 0;
    // Ticks one simulated second apart.
    for t in 0..ticks {
        let now = FIRST_TICK + t as i64 * 1000;
        let started = Instant::now();
        let due = store.list_due_crons(now, 256).await?;
        find.push(started.elapsed().as_secs_f64() * 1000.0);
        due_total += due.len();
        for job in due {
            let next = Schedule::parse(&job.cron.expr, &job.cron.zone)
                .map_err(anyhow::Error::msg)?
                .next_after(now)
                .unwrap_or(i64::MAX);
            let c = CronClaim {
                id: job.cron.id,
                slot: job.cron.next,
                next,
            };
            let started = Instant::now();
            store
                .claim_cron(c, &CronRun::Skip("benchmark".into()), (&slug, now))
                .await?;
            claim.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    store.close().await;
    let p50 = quantile(&mut find, 0.5);
    let p99 = quantile(&mut find, 0.99);
    println!(
        "cron ({}): {jobs} jobs, {ticks} ticks, {due_total} due runs: finding due jobs per tick \
         p50 {p50:.3} ms, p99 {p99:.3} ms (target <= {TARGET_MS} ms) {}",
        if database_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        },
        if p99 <= TARGET_MS { "ok" } else { "MISSED" }
    );
    if !claim.is_empty() {
        println!(
            "cron: claiming a due run (compare-and-set + audit row) p50 {:.3} ms, p99 {:.3} ms",
            quantile(&mut claim, 0.5),
            quantile(&mut claim, 0.99)
        );
    }
    Ok(())
}
