//! The audit chain's storage: which entries are chained, in what order, with what hash, and the
//! signed checkpoints. Written only by the one chainer (`audit::chainer`) and pruned only by the
//! retention job (`audit::retention`); read by `verify` and the sinks.

use super::audit::{self, AuditRecord};
use super::{Db, Store, db, values};
use crate::domain::AuditEvent;
use crate::error::Result;

/// One link: the chain position, the audit entry, the hash after it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChainLink {
    pub seq: i64,
    pub audit_id: i64,
    pub hash: String,
}

/// A signed checkpoint: the chain's hash after `seq`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub time: i64,
    pub signature: String,
}

const AUDIT_COLUMNS: &str = "a.id, a.time, a.actor_kind, a.actor_id, a.actor_name, a.token_id, \
    a.action, a.target, a.outcome, a.detail, a.context";

impl Store {
    /// The last link of the chain, if any.
    pub async fn chain_tail(&self) -> Result<Option<ChainLink>> {
        Ok(on!(&*self.read, p => sqlx::query_as::<_, ChainLink>(
            "SELECT seq, audit_id, hash FROM audit_chain ORDER BY seq DESC LIMIT 1")
            .fetch_optional(p)
            .await
            .map_err(db)?))
    }

    /// Audit entries not chained yet, oldest first, from id `from` on. On PostgreSQL, entries
    /// newer than `settle_ms` before `now` wait, so a slow transaction's entry (whose id may be
    /// lower than a committed one's) is not skipped.
    pub async fn unchained_audit(
        &self,
        from: i64,
        now: i64,
        settle_ms: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>> {
        let cutoff = match &*self.read {
            Db::Sqlite(_) => i64::MAX,
            Db::Postgres(_) => now - settle_ms,
        };
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events a LEFT JOIN audit_chain c ON c.audit_id = a.id \
             WHERE c.audit_id IS NULL AND a.id >= $1 AND a.time <= $2 ORDER BY a.id LIMIT $3"
        );
        Ok(on!(&*self.read, p => sqlx::query_as::<_, AuditRecord>(&sql)
            .bind(from)
            .bind(cutoff)
            .bind(limit)
            .fetch_all(p)
            .await
            .map_err(db)?))
    }

    /// Appends links (and a checkpoint, if given) in one transaction.
    pub async fn append_chain(
        &self,
        links: &[ChainLink],
        checkpoint: Option<&Checkpoint>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        for batch in links.chunks(1000) {
            let sql = format!(
                "INSERT INTO audit_chain (seq, audit_id, hash) VALUES {}",
                values(batch.len(), 3, 1)
            );
            on!(&mut tx, t => {
                let mut q = sqlx::query(&sql);
                for l in batch {
                    q = q.bind(l.seq).bind(l.audit_id).bind(&l.hash);
                }
                q.execute(&mut **t).await.map_err(db)?.rows_affected()
            });
        }
        if let Some(c) = checkpoint {
            on!(&mut tx, t => sqlx::query(
                "INSERT INTO audit_checkpoints (seq, hash, time, signature) VALUES ($1, $2, $3, $4)")
                .bind(c.seq)
                .bind(&c.hash)
                .bind(c.time)
                .bind(&c.signature)
                .execute(&mut **t)
                .await
                .map_err(db)?
                .rows_affected());
        }
        tx.commit().await
    }

    /// Chain links from position `after` on, each with its audit entry (`None` if the entry is
    /// gone), in chain order. The page comes back as one JSON value built by the database: one
    /// row instead of thousands, because the SQLite driver pays a thread hop per row.
    pub async fn list_chain(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(ChainLink, Option<AuditRecord>)>> {
        let fields = "c.seq, c.audit_id, c.hash, a.id, a.time, a.actor_kind, a.actor_id, \
                      a.actor_name, a.token_id, a.action, a.target, a.outcome, a.detail, a.context";
        let page = format!(
            "SELECT {fields} FROM audit_chain c LEFT JOIN audit_events a ON a.id = c.audit_id \
             WHERE c.seq > $1 ORDER BY c.seq LIMIT $2"
        );
        let cols = "seq, audit_id, hash, id, time, actor_kind, actor_id, actor_name, token_id, action, target, outcome, detail, context";
        let sql = match &*self.read {
            // No ORDER BY inside the aggregate (it triples the cost on SQLite): the page is
            // sorted by position below instead.
            Db::Sqlite(_) => format!("SELECT json_group_array(json_array({cols})) FROM ({page})"),
            Db::Postgres(_) => format!(
                "SELECT COALESCE(json_agg(json_build_array({cols})), '[]')::text FROM ({page}) p"
            ),
        };
        let text: Option<String> = on!(&*self.read, p => sqlx::query_scalar(&sql)
            .bind(after)
            .bind(limit)
            .fetch_one(p)
            .await
            .map_err(db)?);
        type Row = (
            i64,
            i64,
            String,
            Option<i64>,
            Option<i64>,
            Option<String>,
            Option<i64>,
            Option<String>,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let mut rows: Vec<Row> =
            serde_json::from_str(text.as_deref().unwrap_or("[]")).map_err(|e| {
                crate::error::Error::internal(anyhow::anyhow!("reading the audit chain: {e}"))
            })?;
        rows.sort_unstable_by_key(|r| r.0);
        Ok(rows
            .into_iter()
            .map(
                |(
                    seq,
                    audit_id,
                    hash,
                    id,
                    time,
                    kind,
                    actor_id,
                    name,
                    token_id,
                    action,
                    target,
                    outcome,
                    detail,
                    context,
                )| {
                    let entry = id.map(|id| AuditRecord {
                        id,
                        time: time.unwrap_or_default(),
                        actor_kind: kind.unwrap_or_default(),
                        actor_id,
                        actor_name: name.unwrap_or_default(),
                        token_id,
                        action: action.unwrap_or_default(),
                        target: target.unwrap_or_default(),
                        outcome: outcome.unwrap_or_default(),
                        detail: detail.unwrap_or_default(),
                        context,
                    });
                    (
                        ChainLink {
                            seq,
                            audit_id,
                            hash,
                        },
                        entry,
                    )
                },
            )
            .collect())
    }

    /// Audit entries with an id at or below `up_to` that are not in the chain (inserted after
    /// chaining), the first few.
    pub async fn unchained_below(&self, up_to: i64, limit: i64) -> Result<Vec<i64>> {
        Ok(on!(&*self.read, p => sqlx::query_scalar(
            "SELECT a.id FROM audit_events a LEFT JOIN audit_chain c ON c.audit_id = a.id \
             WHERE c.audit_id IS NULL AND a.id <= $1 ORDER BY a.id LIMIT $2")
            .bind(up_to)
            .bind(limit)
            .fetch_all(p)
            .await
            .map_err(db)?))
    }

    /// Every checkpoint, in chain order.
    pub async fn list_checkpoints(&self) -> Result<Vec<Checkpoint>> {
        Ok(on!(&*self.read, p => sqlx::query_as::<_, Checkpoint>(
            "SELECT seq, hash, time, signature FROM audit_checkpoints ORDER BY seq")
            .fetch_all(p)
            .await
            .map_err(db)?))
    }
}

impl Store {
    /// The audit trail's one delete path, for retention: deletes the chained entries at or
    /// below chain position `up_to`, their links and the checkpoints before it, and records
    /// `event`, in one transaction. The checkpoint at `up_to` stays: verification starts from
    /// it. Returns how many entries went (0: nothing to do, and nothing is recorded).
    pub async fn prune_audit(&self, up_to: i64, event: &AuditEvent, now: i64) -> Result<u64> {
        let mut tx = self.begin().await?;
        let entries = on!(&mut tx, t => sqlx::query(
            "DELETE FROM audit_events WHERE id IN \
             (SELECT audit_id FROM audit_chain WHERE seq <= $1)")
            .bind(up_to)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        if entries == 0 {
            return Ok(0);
        }
        on!(&mut tx, t => {
            sqlx::query("DELETE FROM audit_chain WHERE seq <= $1")
                .bind(up_to)
                .execute(&mut **t)
                .await
                .map_err(db)?;
            sqlx::query("DELETE FROM audit_checkpoints WHERE seq < $1")
                .bind(up_to)
                .execute(&mut **t)
                .await
                .map_err(db)?;
        });
        audit::append(&mut tx, now, std::slice::from_ref(event)).await?;
        tx.commit().await?;
        Ok(entries)
    }

    /// The first chain position still stored (`None`: an empty chain).
    pub async fn chain_head(&self) -> Result<Option<i64>> {
        Ok(
            on!(&*self.read, p => sqlx::query_scalar("SELECT MIN(seq) FROM audit_chain")
            .fetch_one(p)
            .await
            .map_err(db)?),
        )
    }

    /// The chain position sink `name` last delivered (0: none yet).
    pub async fn sink_position(&self, name: &str) -> Result<i64> {
        let seq: Option<i64> = on!(&*self.read, p => sqlx::query_scalar(
            "SELECT seq FROM audit_sink_positions WHERE sink = $1")
            .bind(name)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        Ok(seq.unwrap_or(0))
    }

    /// Records that sink `name` delivered everything up to chain position `seq`.
    pub async fn set_sink_position(&self, name: &str, seq: i64) -> Result<()> {
        on!(&*self.write, p => sqlx::query(
            "INSERT INTO audit_sink_positions (sink, seq) VALUES ($1, $2) \
             ON CONFLICT (sink) DO UPDATE SET seq = excluded.seq")
            .bind(name)
            .bind(seq)
            .execute(p)
            .await
            .map_err(db)?
            .rows_affected());
        Ok(())
    }
}
