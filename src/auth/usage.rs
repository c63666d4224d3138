//! Recording token use off the request path. A request that uses a token whose recorded use is
//! a minute old sends one message here and goes on; this task writes whatever has arrived
//! meanwhile in one transaction (`Store::record_token_uses`), so a busy server writes a few rows
//! a minute, not one per request. Uses still queued when the server stops are lost, which only
//! makes `last_used` a little older.

use crate::store::{Store, TokenUse};
use tokio::sync::mpsc;

/// The most uses written in one transaction.
const BATCH: usize = 500;

/// Writes uses as they arrive until every sender is gone.
pub(super) async fn record(store: Store, mut rx: mpsc::UnboundedReceiver<TokenUse>) {
    let mut batch = Vec::with_capacity(16);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(u) => batch.push(u),
                Err(_) => break,
            }
        }
        if let Err(e) = store.record_token_uses(&batch).await {
            tracing::warn!(
                error = e.detail(),
                uses = batch.len(),
                "recording token use failed"
            );
        }
        batch.clear();
    }
}
