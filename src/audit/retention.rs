//! Retention: entries older than `audit_retention` are deleted, but only up to a signed
//! checkpoint older than the cut-off, which stays as the new start of the chain (so `verify`
//! goes on from it), and only below the newest link (the chainer continues from that). The
//! pruning itself is an audit entry.

use crate::domain::{Actor, AuditAction, AuditEvent};
use crate::error::Result;
use crate::store::Store;
use std::time::Duration;

/// How often the job looks, at most: an hour, or a quarter of a shorter retention.
const EVERY: Duration = Duration::from_secs(3600);

fn every(retention: Duration) -> Duration {
    (retention / 4).clamp(Duration::from_secs(1), EVERY)
}

/// Prunes what `retention` allows at `now`; returns the entries deleted.
pub async fn prune_once(store: &Store, retention: Duration, now: i64) -> Result<u64> {
    let cutoff = now - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let Some(tail) = store.chain_tail().await? else {
        return Ok(0);
    };
    let checkpoints = store.list_checkpoints().await?;
    let Some(anchor) = checkpoints
        .iter()
        .rev()
        .find(|c| c.time < cutoff && c.seq < tail.seq)
    else {
        return Ok(0);
    };
    let event = AuditEvent::new(
        &Actor::system(),
        AuditAction::AuditPruned,
        "audit".to_string(),
    )
    .with_detail(serde_json::json!({
        "up_to_seq": anchor.seq,
        "checkpoint_time": anchor.time,
        "retention_secs": retention.as_secs(),
    }));
    let deleted = store.prune_audit(anchor.seq, &event, now).await?;
    if deleted > 0 {
        tracing::info!(
            deleted,
            up_to_seq = anchor.seq,
            "audit entries past their retention pruned"
        );
    }
    Ok(deleted)
}

/// Runs the job every hour (a quarter of the retention, if that is shorter) until `shutdown`.
pub async fn run(
    store: Store,
    retention: Duration,
    clock: crate::clock::SharedClock,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        if let Err(err) = prune_once(&store, retention, clock.now_ms()).await {
            tracing::error!(error = %err.detail(), "pruning the audit trail failed; retrying later");
        }
        tokio::select! {
            _ = tokio::time::sleep(every(retention)) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
