//! Deleting finished builds and their logs: by retention limits (age, newest N per
//! repository) and by Drone's purge (`before=N`). Each call handles one batch in one
//! transaction, so a purge never holds the database long; unfinished builds are never touched.
//! Deleting a build takes its stages, steps, logs, ID-token grants and commit statuses with it
//! (foreign keys cascade), and its configuration once no other build uses it.

use super::stages::DONE;
use super::{Store, Tx, audit, db, list};
use crate::domain::{Actor, AuditAction, AuditEvent, RepoId};
use crate::error::Result;

/// Which finished builds a retention limit reaches: finished before `finished_before` (Unix
/// ms), or numbered at least `keep` below their repository's newest. `None` leaves a limit off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reach {
    pub finished_before: Option<i64>,
    pub keep: Option<u64>,
}

impl Reach {
    fn binds(&self) -> (i64, i64) {
        // A build always finished after 0, and no repository counts to i64::MAX / 2.
        (
            self.finished_before.unwrap_or(0),
            self.keep
                .and_then(|k| i64::try_from(k).ok())
                .unwrap_or(i64::MAX / 2),
        )
    }

    fn is_off(&self) -> bool {
        self.finished_before.is_none() && self.keep.is_none()
    }
}

/// `b` is reached by `$1` (finished before) or `$2` (kept per repository).
const REACHED: &str = "(b.finished < $1 OR b.number <= \
                       (SELECT r.counter FROM repos r WHERE r.id = b.repo_id) - $2)";

impl Store {
    /// Deletes the logs of up to `batch` finished builds that `reach` reaches and that still
    /// hold them; the build records stay. Returns how many builds lost their logs.
    pub async fn purge_logs(&self, reach: Reach, batch: u32, now: i64) -> Result<u64> {
        if reach.is_off() {
            return Ok(0);
        }
        let mut tx = self.begin().await?;
        let ids = reached(&mut tx, reach, "b.logs_purged = 0", batch).await?;
        if ids.is_empty() {
            tx.rollback().await?;
            return Ok(0);
        }
        let chunks = in_ids(
            &mut tx,
            &format!(
                "DELETE FROM log_chunks WHERE step_id IN (SELECT s.id FROM steps s JOIN stages g \
                 ON g.id = s.stage_id WHERE g.build_id IN ({}))",
                list(ids.len(), 1)
            ),
            &ids,
            None,
        )
        .await?;
        in_ids(
            &mut tx,
            &format!(
                "UPDATE builds SET logs_purged = ${} WHERE id IN ({})",
                ids.len() + 1,
                list(ids.len(), 1)
            ),
            &ids,
            Some(now),
        )
        .await?;
        let event = AuditEvent::new(&Actor::system(), AuditAction::LogsPurged, "builds")
            .with_detail(serde_json::json!({
                "builds": ids.len(),
                "chunks": chunks,
                "reason": "retention",
            }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(ids.len() as u64)
    }

    /// Deletes up to `batch` finished builds that `reach` reaches. Returns how many.
    pub async fn purge_builds(&self, reach: Reach, batch: u32, now: i64) -> Result<u64> {
        if reach.is_off() {
            return Ok(0);
        }
        let mut tx = self.begin().await?;
        let ids = reached(&mut tx, reach, "TRUE", batch).await?;
        let detail = serde_json::json!({ "reason": "retention" });
        let deleted = delete_builds(&mut tx, &ids, &Actor::system(), "builds", detail, now).await?;
        tx.commit().await?;
        Ok(deleted)
    }

    /// Drone's purge: deletes up to `batch` finished builds of `repo` numbered below `before`.
    /// Returns how many (0: none left).
    pub async fn purge_builds_before(
        &self,
        repo: RepoId,
        slug: &str,
        before: i64,
        batch: u32,
        actor: &Actor,
        now: i64,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "SELECT id FROM builds WHERE repo_id = $1 AND number < $2 AND status IN {DONE} \
             ORDER BY number LIMIT $3"
        );
        let ids: Vec<i64> = on!(&mut tx, t => sqlx::query_scalar(&sql)
            .bind(repo.0)
            .bind(before)
            .bind(i64::from(batch))
            .fetch_all(&mut **t)
            .await
            .map_err(db)?);
        let detail = serde_json::json!({ "before": before });
        let target = format!("repo:{slug}");
        let deleted = delete_builds(&mut tx, &ids, actor, &target, detail, now).await?;
        tx.commit().await?;
        Ok(deleted)
    }

    /// Rows of the tables retention keeps bounded, for the soak benchmark and tests:
    /// `(table, rows)`.
    pub async fn count_build_rows(&self) -> Result<Vec<(&'static str, i64)>> {
        let mut out = Vec::new();
        for table in [
            "builds",
            "stages",
            "steps",
            "log_chunks",
            "configs",
            "audit_events",
        ] {
            let sql = format!("SELECT COUNT(*) FROM {table}");
            let n: i64 = on!(&*self.read, p => sqlx::query_scalar(&sql)
                .fetch_one(p)
                .await
                .map_err(db)?);
            out.push((table, n));
        }
        Ok(out)
    }
}

/// The ids of up to `batch` finished builds that `reach` reaches and `also` holds for, oldest
/// first.
async fn reached(tx: &mut Tx, reach: Reach, also: &str, batch: u32) -> Result<Vec<i64>> {
    let (before, keep) = reach.binds();
    let sql = format!(
        "SELECT b.id FROM builds b WHERE {also} AND b.status IN {DONE} AND {REACHED} \
         ORDER BY b.id LIMIT $3"
    );
    Ok(on!(&mut *tx, t => sqlx::query_scalar(&sql)
        .bind(before)
        .bind(keep)
        .bind(i64::from(batch))
        .fetch_all(&mut **t)
        .await
        .map_err(db)?))
}

/// Runs `sql` with `ids` bound as `$1..$n` (and `extra` after them); returns rows affected.
async fn in_ids(tx: &mut Tx, sql: &str, ids: &[i64], extra: Option<i64>) -> Result<u64> {
    Ok(on!(&mut *tx, t => {
        let q = ids.iter().fold(sqlx::query(sql), |q, id| q.bind(id));
        let q = match extra {
            Some(v) => q.bind(v),
            None => q,
        };
        q.execute(&mut **t).await.map_err(db)?.rows_affected()
    }))
}

/// Deletes the builds `ids` (finished ones only) and the configurations they leave unused,
/// with one audit event; returns how many builds went.
async fn delete_builds(
    tx: &mut Tx,
    ids: &[i64],
    actor: &Actor,
    target: &str,
    mut detail: serde_json::Value,
    now: i64,
) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let marks = list(ids.len(), 1);
    let configs: Vec<i64> = on!(&mut *tx, t => {
        let sql = format!(
            "SELECT DISTINCT config_id FROM builds WHERE id IN ({marks}) AND config_id IS NOT NULL"
        );
        ids.iter()
            .fold(sqlx::query_scalar(&sql), |q, id| q.bind(id))
            .fetch_all(&mut **t)
            .await
            .map_err(db)?
    });
    let deleted = in_ids(
        tx,
        &format!("DELETE FROM builds WHERE id IN ({marks}) AND status IN {DONE}"),
        ids,
        None,
    )
    .await?;
    if !configs.is_empty() {
        in_ids(
            tx,
            &format!(
                "DELETE FROM configs WHERE id IN ({}) AND NOT EXISTS \
                 (SELECT 1 FROM builds WHERE builds.config_id = configs.id)",
                list(configs.len(), 1)
            ),
            &configs,
            None,
        )
        .await?;
    }
    detail["builds"] = deleted.into();
    let event = AuditEvent::new(actor, AuditAction::BuildsPurged, target).with_detail(detail);
    audit::append(tx, now, &[event]).await?;
    Ok(deleted)
}
