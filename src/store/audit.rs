//! The audit table: appended to inside other writes' transactions, read for inspection. There is
//! deliberately no method that updates or deletes an audit row.

use super::{Store, Tx, db, values};
use crate::domain::AuditEvent;
use crate::error::Result;

const COLUMNS: usize = 10;

/// Appends `events` inside `tx`: one statement whatever their number.
pub(super) async fn append(tx: &mut Tx, now: i64, events: &[AuditEvent]) -> Result<()> {
    for batch in events.chunks(500) {
        let sql = format!(
            "INSERT INTO audit_events (time, actor_kind, actor_id, actor_name, token_id, action, \
             target, outcome, detail, context) VALUES {}",
            values(batch.len(), COLUMNS, 1)
        );
        let context = crate::audit::context::current_json();
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
                    .bind(e.detail.to_string())
                    .bind(context.as_deref());
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
    /// The request behind it (JSON: request id, client address, user agent); `None` for work
    /// no request did, and for entries older than this column. Left out of the chained bytes
    /// when `None`, so older entries keep theirs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

impl Store {
    /// Audit entries with an id above `after`, oldest first.
    pub async fn list_audit(&self, after: i64, limit: i64) -> Result<Vec<AuditRecord>> {
        let sql = "SELECT id, time, actor_kind, actor_id, actor_name, token_id, action, target, \
                   outcome, detail, context FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2";
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

/// Which audit entries to read (`GET /api/audit`). Every filter is optional.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Entries with an id above this (a cursor).
    pub after: i64,
    /// Entries with an id below this (0: no bound).
    pub before: i64,
    /// From this time on (Unix ms).
    pub since: Option<i64>,
    /// Before this time (Unix ms).
    pub until: Option<i64>,
    /// The acting login.
    pub actor: Option<String>,
    /// An action (`build.created`), or a family ending in `*` (`build.*`).
    pub action: Option<String>,
    /// Entries about this repository or its builds (`acme/api`).
    pub repo: Option<String>,
    pub limit: i64,
    /// Newest first (else oldest first).
    pub newest_first: bool,
}

/// An audit entry with its actor's identity at their provider (for joining with the
/// provider's own logs).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditEntry {
    #[sqlx(flatten)]
    pub record: AuditRecord,
    pub actor_iss: Option<String>,
    pub actor_sub: Option<String>,
}

/// `%`, `_` and `\` in `text` escaped for `LIKE ... ESCAPE '\'`.
fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Store {
    /// The entries `query` selects, at most `query.limit`.
    pub async fn query_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let mut sql = String::from(
            "SELECT a.id, a.time, a.actor_kind, a.actor_id, a.actor_name, a.token_id, a.action, \
             a.target, a.outcome, a.detail, a.context, u.iss AS actor_iss, u.sub AS actor_sub \
             FROM audit_events a LEFT JOIN users u ON u.id = a.actor_id WHERE a.id > $1",
        );
        // Each filter adds one clause and its values, numbered in order.
        enum Bind {
            Int(i64),
            Text(String),
        }
        let mut binds = vec![Bind::Int(query.after)];
        let mut clause = |sql: &mut String, text: &str, values: Vec<Bind>| {
            let mut parts = text.split('?');
            sql.push_str(" AND ");
            sql.push_str(parts.next().unwrap_or_default());
            for (part, value) in parts.zip(values) {
                binds.push(value);
                sql.push_str(&format!("${}{part}", binds.len()));
            }
        };
        if query.before > 0 {
            clause(&mut sql, "a.id < ?", vec![Bind::Int(query.before)]);
        }
        if let Some(since) = query.since {
            clause(&mut sql, "a.time >= ?", vec![Bind::Int(since)]);
        }
        if let Some(until) = query.until {
            clause(&mut sql, "a.time < ?", vec![Bind::Int(until)]);
        }
        if let Some(actor) = &query.actor {
            clause(
                &mut sql,
                "a.actor_name = ?",
                vec![Bind::Text(actor.clone())],
            );
        }
        if let Some(action) = &query.action {
            match action.strip_suffix('*') {
                Some(prefix) => {
                    let pattern = format!("{}%", like_literal(prefix));
                    clause(
                        &mut sql,
                        "a.action LIKE ? ESCAPE '\\'",
                        vec![Bind::Text(pattern)],
                    );
                }
                None => clause(&mut sql, "a.action = ?", vec![Bind::Text(action.clone())]),
            }
        }
        if let Some(repo) = &query.repo {
            clause(
                &mut sql,
                "(a.target = ? OR a.target LIKE ? ESCAPE '\\')",
                vec![
                    Bind::Text(format!("repo:{repo}")),
                    Bind::Text(format!("build:{}#%", like_literal(repo))),
                ],
            );
        }
        let order = if query.newest_first { "DESC" } else { "ASC" };
        sql.push_str(&format!(
            " ORDER BY a.id {order} LIMIT {}",
            query.limit.max(0)
        ));
        Ok(on!(&*self.read, p => {
            let mut q = sqlx::query_as::<_, AuditEntry>(&sql);
            for b in &binds {
                q = match b {
                    Bind::Int(v) => q.bind(*v),
                    Bind::Text(t) => q.bind(t.as_str()),
                };
            }
            q.fetch_all(p).await.map_err(db)?
        }))
    }
}

/// A user's identity at their provider (`iss`, `sub`), where known.
pub type ProviderIdentity = (Option<String>, Option<String>);

impl Store {
    /// The provider identities of the users `ids`, for audit lines shipped to a SIEM.
    pub async fn provider_identities(
        &self,
        ids: &[i64],
    ) -> Result<std::collections::HashMap<i64, ProviderIdentity>> {
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let sql = format!(
            "SELECT id, iss, sub FROM users WHERE id IN ({})",
            super::list(ids.len(), 1)
        );
        let rows: Vec<(i64, Option<String>, Option<String>)> = on!(&*self.read, p => {
            let mut q = sqlx::query_as(&sql);
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(p).await.map_err(db)?
        });
        Ok(rows
            .into_iter()
            .map(|(id, iss, sub)| (id, (iss, sub)))
            .collect())
    }
}

impl Store {
    /// Records `token.expired` once for each token whose expiry has passed at `now` (and was
    /// not revoked first); returns how many. Several servers may call it: each expiry is
    /// claimed by one update.
    pub async fn record_expired_tokens(&self, now: i64) -> Result<usize> {
        let mut tx = self.begin().await?;
        let expired: Vec<(i64, i64, String)> = on!(&mut tx, t => sqlx::query_as(
            "UPDATE tokens SET expiry_audited = TRUE WHERE revoked = 0 AND expires > 0 \
             AND expires <= $1 AND expiry_audited = FALSE RETURNING id, user_id, name")
            .bind(now)
            .fetch_all(&mut **t)
            .await
            .map_err(db)?);
        if expired.is_empty() {
            return Ok(0);
        }
        let events: Vec<AuditEvent> = expired
            .iter()
            .map(|(id, user, name)| {
                AuditEvent::new(
                    &crate::domain::Actor::system(),
                    crate::domain::AuditAction::TokenExpired,
                    format!("token:{id}"),
                )
                .with_detail(serde_json::json!({ "user_id": user, "name": name }))
            })
            .collect();
        append(&mut tx, now, &events).await?;
        tx.commit().await?;
        Ok(expired.len())
    }
}
