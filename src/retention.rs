//! Retention: every `retention_interval`, logs past their limits are deleted first, then build
//! records past theirs, a batch (one transaction) at a time with a pause between batches so
//! builds being recorded meanwhile never wait long. The time comes from the clock. Running
//! builds are never touched (the store only reaches finished ones).
//!
//! What does not live here: the SQL (`store/retention.rs`), Drone's purge endpoint
//! (`http/api/builds.rs`).

use crate::clock::SharedClock;
use crate::config::Retention;
use crate::error::Result;
use crate::store::{Reach, Store};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The pause between two batches of one pass.
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Builds whose logs were deleted.
    pub logs: u64,
    /// Builds deleted.
    pub builds: u64,
}

fn reach(now: i64, age: Option<Duration>, keep: Option<u64>) -> Reach {
    Reach {
        finished_before: age.map(|d| now - i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)),
        keep,
    }
}

/// One pass at `now`: logs first, then builds, until nothing more is reached.
pub async fn purge_once(store: &Store, retention: &Retention, now: i64) -> Result<Purged> {
    let mut purged = Purged::default();
    let logs = reach(now, retention.logs_for, retention.logs_kept);
    loop {
        let n = store.purge_logs(logs, retention.batch, now).await?;
        purged.logs += n;
        if n < u64::from(retention.batch) {
            break;
        }
        tokio::time::sleep(BETWEEN_BATCHES).await;
    }
    let builds = reach(now, retention.builds_for, retention.builds_kept);
    loop {
        let n = store.purge_builds(builds, retention.batch, now).await?;
        purged.builds += n;
        if n < u64::from(retention.batch) {
            break;
        }
        tokio::time::sleep(BETWEEN_BATCHES).await;
    }
    Ok(purged)
}

/// Runs a pass every `retention.interval` until `shutdown`.
pub async fn run(
    store: Store,
    retention: Retention,
    clock: SharedClock,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(retention.interval) => {}
            _ = shutdown.cancelled() => return,
        }
        match purge_once(&store, &retention, clock.now_ms()).await {
            Ok(p) if p.logs > 0 || p.builds > 0 => {
                tracing::info!(
                    logs = p.logs,
                    builds = p.builds,
                    "retention deleted old logs and builds"
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e.detail(), "retention failed; trying again next time");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_age_limit_reaches_builds_finished_before_now_minus_the_age() {
        let r = reach(100_000, Some(Duration::from_secs(60)), None);
        assert_eq!(r.finished_before, Some(40_000));
        assert_eq!(r.keep, None);
        assert_eq!(reach(5, None, Some(3)).finished_before, None);
    }
}
