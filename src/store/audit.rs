//! The audit table: appended to inside other writes' transactions, read for inspection. There is
//! deliberately no method that updates or deletes an audit row.

use super::{Store, Tx, db, values};
use crate::domain::AuditEvent;
use crate::error::Result;

const COLUMNS: usize = 9;

/// Appends `events` inside `tx`: one statement whatever their number.
pub(super) async fn append(tx: &mut Tx, now: i64, events: &[AuditEvent]) -> Result<()> {
    for batch in events.chunks(500) {
        let sql = format!(
            "INSERT INTO audit_events (time, actor_kind, actor_id, actor_name, token_id, action, \
             target, outcome, detail) VALUES {}",
            values(batch.len(), COLUMNS, 1)
        );
        on!(tx, t => {
            let mut q = sqlx::query(&sql);
            for e in batch {
                q = q
                    .bind(now)
                    .bind(e.actor.kind.as_str())
                    .bind(e.actor.user_id.map(|id| id.0))
                    .bind(e.actor.name.as_str())
                    .bind(e.actor.token_id.map(|id| id.0))
                    .bind(e.action.as_str())
                    .bind(e.target.as_str())
                    .bind(e.outcome.as_str())
                    .bind(e.detail.to_string());
            }
            q.execute(&mut **t).await.map_err(db)?.rows_affected()
        });
    }
    Ok(())
}

/// One stored audit entry, as read back.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct AuditRecord {
    pub id: i64,
    pub time: i64,
    pub actor_kind: String,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub token_id: Option<i64>,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: String,
}

impl Store {
    /// Audit entries with an id above `after`, oldest first.
    pub async fn list_audit(&self, after: i64, limit: i64) -> Result<Vec<AuditRecord>> {
        let sql = "SELECT id, time, actor_kind, actor_id, actor_name, token_id, action, target, \
                   outcome, detail FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2";
        Ok(on!(&*self.read, p => sqlx::query_as::<_, AuditRecord>(sql)
            .bind(after)
            .bind(limit)
            .fetch_all(p)
            .await
            .map_err(db)?))
    }
}

impl Store {
    /// Appends audit events that record no other change (an authorization denial, a failed
    /// login), in one transaction.
    pub async fn append_audit(&self, events: &[AuditEvent], now: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        append(&mut tx, now, events).await?;
        tx.commit().await
    }
}
