//! The chainer (one per server; on a shared database the first to link an entry wins and the
//! others go on from its tail): every 200 ms it links the audit entries committed since its last round,
//! and writes a signed checkpoint every 1,000 links or every minute.

use super::{GENESIS, checkpoint_bytes, link_hash};
use crate::auth::keys::SecretBox;
use crate::clock::SharedClock;
use crate::error::{Error, Result};
use crate::store::{ChainLink, Checkpoint, Store};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TICK: Duration = Duration::from_millis(200);
const BATCH: i64 = 10_000;
const CHECKPOINT_EVERY: i64 = 1_000;
const CHECKPOINT_MS: i64 = 60_000;
/// On PostgreSQL, how long an entry waits before it is linked (see `Store::unchained_audit`).
const SETTLE_MS: i64 = 2_000;
/// How far below the newest linked id the chainer looks for entries committed late.
const LATE_WINDOW: i64 = 10_000;

/// Links what is committed; returns how many entries it linked.
pub async fn chain_once(store: &Store, keys: &SecretBox, now: i64) -> Result<usize> {
    let tail = store.chain_tail().await?;
    let (mut seq, mut hash, newest) = match &tail {
        Some(t) => (t.seq, t.hash.clone(), t.audit_id),
        None => (0, GENESIS.to_string(), 0),
    };
    let from = if store.dialect() == "postgres" {
        (newest - LATE_WINDOW).max(0)
    } else {
        newest + 1
    };
    let entries = store.unchained_audit(from, now, SETTLE_MS, BATCH).await?;
    if entries.is_empty() {
        return Ok(0);
    }
    let last_checkpoint = store
        .list_checkpoints()
        .await?
        .last()
        .map(|c| (c.seq, c.time));
    let mut links = Vec::with_capacity(entries.len());
    for entry in &entries {
        seq += 1;
        hash = link_hash(&hash, entry);
        links.push(ChainLink {
            seq,
            audit_id: entry.id,
            hash: hash.clone(),
        });
    }
    let due = match last_checkpoint {
        Some((at, time)) => seq - at >= CHECKPOINT_EVERY || now - time >= CHECKPOINT_MS,
        None => true,
    };
    let checkpoint = due.then(|| Checkpoint {
        seq,
        hash: hash.clone(),
        time: now,
        signature: keys.sign(&checkpoint_bytes(seq, &hash, now)),
    });
    match store.append_chain(&links, checkpoint.as_ref()).await {
        // Another server's chainer linked them first (several servers on one PostgreSQL
        // database each run one); the next round goes on from its tail.
        Err(Error::Conflict(_)) => Ok(0),
        Err(e) => Err(e),
        Ok(()) => Ok(links.len()),
    }
}

/// Runs the chainer until `shutdown`.
pub async fn run(store: Store, keys: SecretBox, clock: SharedClock, shutdown: CancellationToken) {
    loop {
        if let Err(err) = chain_once(&store, &keys, clock.now_ms()).await {
            tracing::error!(error = %err.detail(), "linking audit entries failed; retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
