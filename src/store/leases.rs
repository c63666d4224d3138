//! Remote runners' leases as rows every server reads the same way (`stage_leases`): who holds
//! lease number N of a stage, since when, whether and why it ended; which steps were handed
//! their credentials; and the end of a lease without its runner (lost, revoked): the stage
//! ends `error`, or goes back to the queue once when none of its steps had started. Ending a
//! lease is a compare-and-set on its row, so two servers reaping the same lost runner end each
//! lease once.

use super::rows::{STAGE_COLUMNS, StageRow};
use super::stages::{Finished, build_number, close_steps, lock_build_of_stage, progress, slug_of};
use super::{Store, Tx, audit, db};
use crate::domain::{Actor, AuditAction, AuditEvent, RunnerId, StageId, Status, StepId};
use crate::error::Result;

/// Why a remote lease ends without its runner's report.
#[derive(Debug, Clone)]
pub struct LeaseEnd {
    /// The stage's error: "runner lost", "runner revoked".
    pub why: String,
    /// Put the stage back in the queue (once) when none of its steps had been handed its
    /// credentials or reported started.
    pub requeue: bool,
}

/// What ending a lease did.
#[derive(Debug, Clone)]
pub enum LeaseEnded {
    /// The lease had already ended (its runner finished the stage, or another server ended it).
    Gone,
    /// The lease ended; its stage was no longer running under it (cancelled meanwhile).
    Closed,
    /// The stage is pending again.
    Requeued,
    /// The stage ended `error`; the build moved on.
    Ended(Box<Finished>),
}

/// One remote lease as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    pub runner: RunnerId,
    /// When it ended (0: it has not).
    pub ended: i64,
    /// Why it ended ("the stage finished", "runner lost", ...).
    pub why: String,
}

/// A lease that has not ended, with what listings and the lost-runner check need.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenLease {
    pub stage_id: i64,
    pub lease: i64,
    pub runner_id: i64,
    pub leased_at: i64,
    /// The runner's last heartbeat, as any server recorded it.
    pub last_seen: i64,
    /// `owner/name#number/stage`.
    pub label: String,
}

/// Records that `runner` holds lease number `lease` of `stage` from `now` (in the claim's
/// transaction).
pub(super) async fn record_lease(
    tx: &mut Tx,
    stage: StageId,
    lease: i64,
    runner: RunnerId,
    now: i64,
) -> Result<()> {
    on!(tx, t => sqlx::query(
        "INSERT INTO stage_leases (stage_id, lease, runner_id, leased_at) VALUES ($1, $2, $3, $4)")
        .bind(stage.0)
        .bind(lease)
        .bind(runner.0)
        .bind(now)
        .execute(&mut **t)
        .await
        .map_err(db)?
        .rows_affected());
    Ok(())
}

impl Store {
    /// Lease number `lease` of `stage`, if it was ever handed to a remote runner.
    pub async fn find_lease(&self, stage: StageId, lease: i64) -> Result<Option<LeaseRecord>> {
        let row: Option<(i64, i64, String)> = on!(&*self.read, p => sqlx::query_as(
            "SELECT runner_id, ended, why FROM stage_leases \
             WHERE stage_id = $1 AND lease = $2")
            .bind(stage.0)
            .bind(lease)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        Ok(row.map(|(runner, ended, why)| LeaseRecord {
            runner: RunnerId(runner),
            ended,
            why,
        }))
    }

    /// The leases that have not ended: all of them, or one runner's.
    pub async fn list_open_leases(&self, runner: Option<RunnerId>) -> Result<Vec<OpenLease>> {
        let sql = format!(
            "SELECT l.stage_id, l.lease, l.runner_id, l.leased_at, r.last_seen, \
             p.slug || '#' || CAST(b.number AS TEXT) || '/' || s.name AS label \
             FROM stage_leases l JOIN runners r ON r.id = l.runner_id \
             JOIN stages s ON s.id = l.stage_id JOIN builds b ON b.id = s.build_id \
             JOIN repos p ON p.id = s.repo_id WHERE l.ended = 0 {} ORDER BY l.stage_id",
            if runner.is_some() {
                "AND l.runner_id = $1"
            } else {
                ""
            }
        );
        Ok(on!(&*self.read, p => {
            let q = sqlx::query_as(&sql);
            let q = match runner {
                Some(r) => q.bind(r.0),
                None => q,
            };
            q.fetch_all(p).await.map_err(db)?
        }))
    }

    /// The steps the runner recorded for `stage`, with their names.
    pub async fn list_step_names(&self, stage: StageId) -> Result<Vec<(StepId, String)>> {
        let rows: Vec<(i64, String)> = on!(&*self.read, p => sqlx::query_as(
            "SELECT id, name FROM steps WHERE stage_id = $1 ORDER BY number")
            .bind(stage.0)
            .fetch_all(p)
            .await
            .map_err(db)?);
        Ok(rows.into_iter().map(|(id, n)| (StepId(id), n)).collect())
    }

    /// Notes that `step` of `stage` was handed its credentials: it may have started.
    pub async fn mark_step_handed(&self, stage: StageId, step: StepId) -> Result<()> {
        on!(&*self.write, p => sqlx::query(
            "UPDATE steps SET handed = 1 WHERE id = $1 AND stage_id = $2 AND handed = 0")
            .bind(step.0)
            .bind(stage.0)
            .execute(p)
            .await
            .map_err(db)?
            .rows_affected());
        Ok(())
    }

    /// Ends lease number `lease` of `stage` with its runner's own report ("the stage
    /// finished"). False when it had already ended.
    pub async fn close_lease(&self, stage: StageId, lease: i64, now: i64) -> Result<bool> {
        let closed = on!(&*self.write, p => sqlx::query(CLOSE)
            .bind(stage.0)
            .bind(lease)
            .bind(now.max(1))
            .bind("the stage finished")
            .execute(p)
            .await
            .map_err(db)?
            .rows_affected());
        Ok(closed > 0)
    }

    /// Ends lease number `lease` of `stage` without its runner: back to the queue (once, when
    /// `end.requeue` and no step had started), else `error` with `end.why`.
    pub async fn end_lease(
        &self,
        stage: StageId,
        lease: i64,
        end: &LeaseEnd,
        now: i64,
    ) -> Result<LeaseEnded> {
        let mut tx = self.begin().await?;
        lock_build_of_stage(&mut tx, stage).await?;
        if !close(&mut tx, stage, lease, &end.why, now).await? {
            return Ok(LeaseEnded::Gone);
        }
        let held: Option<(i64, i64)> = on!(&mut tx, t => sqlx::query_as(
            "SELECT requeued, (SELECT COUNT(*) FROM steps WHERE stage_id = $1 \
             AND (started > 0 OR handed > 0)) \
             FROM stages WHERE id = $1 AND status = 'running' AND lease = $2 AND runner_id > 0")
            .bind(stage.0)
            .bind(lease)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        let Some((requeued, started)) = held else {
            tx.commit().await?;
            return Ok(LeaseEnded::Closed);
        };
        if end.requeue && requeued == 0 && started == 0 {
            requeue(&mut tx, stage, &end.why, now).await?;
            tx.commit().await?;
            return Ok(LeaseEnded::Requeued);
        }
        let sql = format!(
            "UPDATE stages SET status = 'error', exit_code = 0, error = $2, stopped = $3, \
             updated = $3, version = version + 1 WHERE id = $1 RETURNING {STAGE_COLUMNS}"
        );
        let row: StageRow = on!(&mut tx, t => sqlx::query_as(&sql)
            .bind(stage.0)
            .bind(&end.why)
            .bind(now)
            .fetch_one(&mut **t)
            .await
            .map_err(db)?);
        let stage = row.into_stage()?;
        // Steps handed their credentials count as running, so that `close_steps` ends them
        // `error` with the reason.
        on!(&mut tx, t => sqlx::query(
            "UPDATE steps SET status = 'running', version = version + 1 \
             WHERE stage_id = $1 AND status = 'pending' AND handed > 0")
            .bind(stage.id.0)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        close_steps(&mut tx, &[stage.id], Status::Error, &end.why, now).await?;
        let slug = slug_of(&mut tx, &stage).await?;
        let number = build_number(&mut tx, stage.build_id).await?;
        let mut events = vec![
            AuditEvent::new(
                &Actor::system(),
                AuditAction::StageFinished,
                format!("build:{slug}#{number}/{}", stage.name),
            )
            .with_detail(serde_json::json!({ "status": "error", "why": end.why })),
        ];
        let (build, released) = progress(&mut tx, stage.build_id, &slug, now, &mut events).await?;
        audit::append(&mut tx, now, &events).await?;
        tx.commit().await?;
        Ok(LeaseEnded::Ended(Box::new(Finished {
            build,
            released,
            applied: true,
        })))
    }
}

/// Ends a lease that has not ended (the compare-and-set): `$1` stage, `$2` lease, `$3` when
/// (never 0), `$4` why.
const CLOSE: &str = "UPDATE stage_leases SET ended = $3, why = $4 \
    WHERE stage_id = $1 AND lease = $2 AND ended = 0";

/// Marks the lease ended, if it had not; false when it had.
async fn close(tx: &mut Tx, stage: StageId, lease: i64, why: &str, now: i64) -> Result<bool> {
    let changed = on!(tx, t => sqlx::query(CLOSE)
        .bind(stage.0)
        .bind(lease)
        .bind(now.max(1))
        .bind(why)
        .execute(&mut **t)
        .await
        .map_err(db)?
        .rows_affected());
    Ok(changed > 0)
}

/// Puts a stage none of whose steps had started back in the queue, with its audit event.
async fn requeue(tx: &mut Tx, stage: StageId, why: &str, now: i64) -> Result<()> {
    on!(tx, t => sqlx::query("DELETE FROM steps WHERE stage_id = $1")
        .bind(stage.0)
        .execute(&mut **t)
        .await
        .map_err(db)?
        .rows_affected());
    let sql = format!(
        "UPDATE stages SET status = 'pending', machine = '', runner_id = 0, started = 0, \
         requeued = requeued + 1, updated = $2, version = version + 1 WHERE id = $1 \
         RETURNING {STAGE_COLUMNS}"
    );
    let row: StageRow = on!(tx, t => sqlx::query_as(&sql)
        .bind(stage.0)
        .bind(now)
        .fetch_one(&mut **t)
        .await
        .map_err(db)?);
    let stage = row.into_stage()?;
    let slug = slug_of(tx, &stage).await?;
    let number = build_number(tx, stage.build_id).await?;
    let event = AuditEvent::new(
        &Actor::system(),
        AuditAction::StageRequeued,
        format!("build:{slug}#{number}/{}", stage.name),
    )
    .with_detail(serde_json::json!({ "why": why }));
    audit::append(tx, now, &[event]).await
}
