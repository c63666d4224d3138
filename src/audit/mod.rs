//! The audit trail's tamper evidence. Writers append audit rows inside their own transactions
//! (`store`); afterwards one chainer links them, in order, each with the SHA-256 of the previous
//! link and the entry, and every so often writes a checkpoint signed with the server's key.
//! `verify` walks the chain and names the first entry that was altered, deleted, inserted or
//! reordered. Writers never wait for the chain.

pub mod chainer;
pub mod context;
pub mod verify;

use crate::store::AuditRecord;
use sha2::{Digest, Sha256};

/// The hash before the first link.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The bytes of an entry that the chain covers: its JSON, fields in a fixed order. Fields added
/// to audit rows later must be left out when empty, so older entries keep their bytes.
pub fn canonical(entry: &AuditRecord) -> Vec<u8> {
    serde_json::to_vec(entry).unwrap_or_default()
}

/// The link after `previous` for `entry`.
pub fn link_hash(previous: &str, entry: &AuditRecord) -> String {
    let mut h = Sha256::new();
    h.update(previous.as_bytes());
    h.update(canonical(entry));
    hex::encode(h.finalize())
}

/// What a checkpoint signature covers.
pub fn checkpoint_bytes(seq: i64, hash: &str, time: i64) -> Vec<u8> {
    format!("hangar audit checkpoint v1\n{seq}\n{hash}\n{time}").into_bytes()
}
