//! The audit trail's tamper evidence. Writers append audit rows inside their own transactions
//! (`store`); afterwards one chainer links them, in order, each with the SHA-256 of the previous
//! link and the entry, and every so often writes a checkpoint signed with the server's key.
//! `verify` walks the chain and names the first entry that was altered, deleted, inserted or
//! reordered. Writers never wait for the chain.

pub mod chainer;
pub mod context;
pub mod retention;
pub mod sinks;
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

/// An entry as the API and the sinks show it: times in RFC 3339 and Unix ms, `detail` and
/// `context` as JSON, the actor's provider identity (`iss`, `sub`) where known.
pub fn entry_json(r: &AuditRecord, iss: Option<&str>, sub: Option<&str>) -> serde_json::Value {
    let time = chrono::DateTime::from_timestamp_millis(r.time)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    let parse = |text: &str| {
        serde_json::from_str::<serde_json::Value>(text).unwrap_or(serde_json::Value::Null)
    };
    serde_json::json!({
        "id": r.id,
        "time": time,
        "time_ms": r.time,
        "actor": {
            "kind": r.actor_kind,
            "login": r.actor_name,
            "user_id": r.actor_id,
            "token_id": r.token_id,
            "iss": iss,
            "sub": sub,
        },
        "action": r.action,
        "target": r.target,
        "outcome": r.outcome,
        "detail": parse(&r.detail),
        "context": r.context.as_deref().map(parse).unwrap_or(serde_json::Value::Null),
    })
}
