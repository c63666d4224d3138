//! `hangar audit verify`: walks the chain from the start, recomputing every link, checks every
//! checkpoint's signature, and looks for entries slipped in below the chained range. After
//! retention pruned the oldest entries, the walk starts from the signed checkpoint left just
//! before the first entry still stored.

use super::{GENESIS, checkpoint_bytes, link_hash};
use crate::auth::keys::SecretBox;
use crate::error::Result;
use crate::store::Store;
use std::fmt;

const PAGE: i64 = 20_000;

/// The first thing wrong with the trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The entry at this chain position is gone.
    Deleted { seq: i64, audit_id: i64 },
    /// The entry's content no longer gives the chained hash: edited, or moved.
    Altered { seq: i64, audit_id: i64 },
    /// An entry below the chained range that the chain never linked.
    Inserted { audit_id: i64 },
    /// A checkpoint whose signature is not the server's, or whose hash is not the chain's.
    BadCheckpoint { seq: i64 },
    /// The chain starts after position 1 without a signed checkpoint just before its start
    /// (retention always leaves one).
    Truncated { first: i64 },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Deleted { seq, audit_id } => {
                write!(f, "entry {audit_id} (chain position {seq}) was deleted")
            }
            Finding::Altered { seq, audit_id } => write!(
                f,
                "entry {audit_id} (chain position {seq}) was altered, or entries were reordered"
            ),
            Finding::Inserted { audit_id } => {
                write!(f, "entry {audit_id} was inserted after the chain passed it")
            }
            Finding::BadCheckpoint { seq } => write!(
                f,
                "the checkpoint at chain position {seq} is not signed by this server's key"
            ),
            Finding::Truncated { first } => write!(
                f,
                "the entries before chain position {first} were removed without a signed checkpoint"
            ),
        }
    }
}

/// The result of a walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Entries whose links checked out.
    pub verified: i64,
    pub checkpoints: usize,
    /// The newest signed checkpoint: its chain position and time (Unix ms).
    pub newest_checkpoint: Option<(i64, i64)>,
    pub finding: Option<Finding>,
}

/// Walks the whole chain.
pub async fn verify(store: &Store, keys: &SecretBox) -> Result<Report> {
    let checkpoints = store.list_checkpoints().await?;
    let mut cps = checkpoints.iter().peekable();
    let mut report = Report {
        verified: 0,
        checkpoints: checkpoints.len(),
        newest_checkpoint: checkpoints.iter().map(|c| (c.seq, c.time)).max(),
        finding: None,
    };
    let (mut hash, mut newest_id) = (GENESIS.to_string(), 0i64);
    if let Some(first) = store.chain_head().await?.filter(|&f| f > 1) {
        let anchor = checkpoints.iter().find(|c| c.seq == first - 1);
        match anchor {
            Some(cp)
                if keys.verify(&checkpoint_bytes(cp.seq, &cp.hash, cp.time), &cp.signature) =>
            {
                hash = cp.hash.clone();
            }
            _ => {
                report.finding = Some(Finding::Truncated { first });
                return Ok(report);
            }
        }
    }
    // Pages are read one ahead: the database builds the next while this one is hashed.
    let mut next = Some(tokio::spawn({
        let store = store.clone();
        async move { store.list_chain(0, PAGE).await }
    }));
    while let Some(pending) = next.take() {
        let page = pending
            .await
            .map_err(|e| crate::error::Error::internal(anyhow::anyhow!(e)))??;
        let Some((last, _)) = page.last() else {
            break;
        };
        let after = last.seq;
        if page.len() as i64 == PAGE {
            let store = store.clone();
            next = Some(tokio::spawn(
                async move { store.list_chain(after, PAGE).await },
            ));
        }
        for (link, entry) in &page {
            let Some(entry) = entry else {
                report.finding = Some(Finding::Deleted {
                    seq: link.seq,
                    audit_id: link.audit_id,
                });
                return Ok(report);
            };
            hash = link_hash(&hash, entry);
            if hash != link.hash || entry.id != link.audit_id {
                report.finding = Some(Finding::Altered {
                    seq: link.seq,
                    audit_id: link.audit_id,
                });
                return Ok(report);
            }
            while let Some(cp) = cps.peek() {
                if cp.seq > link.seq {
                    break;
                }
                if cp.seq == link.seq
                    && (cp.hash != hash
                        || !keys
                            .verify(&checkpoint_bytes(cp.seq, &cp.hash, cp.time), &cp.signature))
                {
                    report.finding = Some(Finding::BadCheckpoint { seq: cp.seq });
                    return Ok(report);
                }
                cps.next();
            }
            newest_id = newest_id.max(link.audit_id);
            report.verified += 1;
        }
    }
    if let Some(cp) = cps.next() {
        report.finding = Some(Finding::BadCheckpoint { seq: cp.seq });
        return Ok(report);
    }
    if let Some(&id) = store.unchained_below(newest_id, 1).await?.first() {
        report.finding = Some(Finding::Inserted { audit_id: id });
    }
    Ok(report)
}
