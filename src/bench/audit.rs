//! The audit trail's figures: what one audit row costs a write on SQLite, and how fast
//! `hangar audit verify` walks the chain.

use super::quantile;
use crate::audit::{chainer, verify};
use crate::auth::keys::SecretBox;
use crate::domain::{Actor, AuditAction, AuditEvent};
use crate::store::Store;
use std::time::Instant;

pub async fn run(entries: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(&format!(
        "sqlite://{}",
        dir.path().join("audit.db").display()
    ))
    .await?;
    let keys = SecretBox::from_key(&[7u8; 32])?;
    let event = |i: usize| {
        AuditEvent::new(
            &Actor::system(),
            AuditAction::RepoUpdated,
            format!("repo:acme/r{i}"),
        )
        .with_detail(serde_json::json!({ "timeout": 60, "n": i }))
    };
    // One audit row written in a transaction of its own, as a denial is.
    let mut single = Vec::new();
    for i in 0..2_000 {
        let started = Instant::now();
        store.append_audit(&[event(i)], 1_700_000_000_000).await?;
        single.push(started.elapsed().as_secs_f64() * 1e6);
    }
    // Fill the trail, chain it, verify it.
    let batch: Vec<AuditEvent> = (0..1_000).map(event).collect();
    for _ in 0..entries.saturating_sub(2_000).div_ceil(1_000) {
        store.append_audit(&batch, 1_700_000_000_000).await?;
    }
    while chainer::chain_once(&store, &keys, 1_700_000_100_000).await? > 0 {}
    // `hangar audit verify` opens the database afresh, as a separate process does.
    store.close().await;
    let store = Store::open(&format!(
        "sqlite://{}",
        dir.path().join("audit.db").display()
    ))
    .await?;
    let started = Instant::now();
    let report = verify::verify(&store, &keys).await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "audit: a one-row audit write (its own transaction) p50 {:.0} us, p99 {:.0} us (target: the row adds <= 100 us p50 on SQLite); `audit verify` walked {} entries in {secs:.2} s = {:.0} entries/s (target >= 200,000/s){}",
        quantile(&mut single, 0.5),
        quantile(&mut single, 0.99),
        report.verified,
        report.verified as f64 / secs,
        if report.finding.is_some() {
            " — FOUND A PROBLEM"
        } else {
            ""
        }
    );
    store.close().await;
    Ok(())
}
