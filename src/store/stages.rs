//! Stages and steps through their lives: leased by a runner, steps reported, finished; the
//! build's DAG moved on; builds cancelled; and what a restart leaves behind cleaned up.

use super::rows::{BUILD_COLUMNS, BuildRow, STAGE_COLUMNS, STEP_COLUMNS, StageRow, StepRow};
use super::{Db, Store, Tx, audit, db, list, values};
use crate::domain::{
    Actor, AuditAction, AuditEvent, Build, BuildId, Stage, StageId, Status, Step, StepId,
    build::build_status_from_stages,
};
use crate::error::{Error, Result};
use std::collections::HashMap;

pub use claim::{ClaimFilter, LeaseScope, Leased};

/// A step the runner will run, created when its stage starts.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewStep {
    pub number: i64,
    pub name: String,
    pub errignore: bool,
    pub depends_on: Vec<String>,
    pub detached: bool,
}

/// A runner's report on one step.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub step: StepId,
    pub status: Status,
    pub exit_code: i64,
    pub error: String,
    /// For the audit trail: `build:acme/api#3/default/test`.
    pub target: String,
}

/// What finishing a stage changed.
#[derive(Debug, Clone, Default)]
pub struct Finished {
    /// The build, if it finished with this stage.
    pub build: Option<Build>,
    /// Stages that became `pending` (their dependencies are done).
    pub released: usize,
    /// False when the stage was no longer running (cancelled meanwhile): nothing was changed.
    pub applied: bool,
}

/// What start-up recovery changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    pub stages: usize,
    pub builds: Vec<BuildId>,
}

pub(super) const DONE: &str = "('skipped','declined','success','failure','killed','error')";

impl Store {
    /// Creates the step records of a leased stage, as its runner compiled them.
    pub async fn create_steps(
        &self,
        stage: StageId,
        steps: &[NewStep],
        now: i64,
    ) -> Result<Vec<Step>> {
        if steps.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let status: Option<String> = on!(&mut tx, t => sqlx::query_scalar(
            "SELECT status FROM stages WHERE id = $1")
            .bind(stage.0)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        if status.as_deref() != Some("running") {
            return Err(Error::conflict("the stage is no longer running"));
        }
        let sql = format!(
            "INSERT INTO steps (stage_id, number, name, status, errignore, depends_on, detached) \
             VALUES {} RETURNING {STEP_COLUMNS}",
            values(steps.len(), 7, 1)
        );
        let rows: Vec<StepRow> = on!(&mut tx, t => {
            let mut q = sqlx::query_as(&sql);
            for s in steps {
                q = q
                    .bind(stage.0)
                    .bind(s.number)
                    .bind(&s.name)
                    .bind(Status::Pending.as_str())
                    .bind(s.errignore)
                    .bind(serde_json::to_string(&s.depends_on).unwrap_or_else(|_| "[]".into()))
                    .bind(s.detached);
            }
            q.fetch_all(&mut **t).await.map_err(db)?
        });
        let _ = now;
        tx.commit().await?;
        let mut steps = rows
            .into_iter()
            .map(StepRow::into_step)
            .collect::<Result<Vec<_>>>()?;
        steps.sort_by_key(|s| s.number);
        Ok(steps)
    }

    /// Records a step's new status. Returns false when the step had already finished (its stage
    /// was cancelled meanwhile), and changes nothing then.
    pub async fn update_step(&self, report: &StepReport, actor: &Actor, now: i64) -> Result<bool> {
        let (started, stopped) = match report.status {
            Status::Running => (now, 0),
            s if s.is_done() => (0, now),
            _ => (0, 0),
        };
        let mut tx = self.begin().await?;
        let sql = format!(
            "UPDATE steps SET status = $2, exit_code = $3, error = $4, \
             started = CASE WHEN $5 > 0 THEN $5 ELSE started END, \
             stopped = CASE WHEN $6 > 0 THEN $6 ELSE stopped END, version = version + 1 \
             WHERE id = $1 AND status NOT IN {DONE}"
        );
        let done = on!(&mut tx, t => sqlx::query(&sql)
            .bind(report.step.0)
            .bind(report.status.as_str())
            .bind(report.exit_code)
            .bind(&report.error)
            .bind(started)
            .bind(stopped)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        if done == 0 {
            return Ok(false);
        }
        let action = if report.status == Status::Running {
            AuditAction::StepStarted
        } else {
            AuditAction::StepFinished
        };
        let event = AuditEvent::new(actor, action, report.target.clone()).with_detail(
            serde_json::json!({ "status": report.status.as_str(), "exit_code": report.exit_code }),
        );
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Finishes a running stage, moves the build's DAG on, and finishes the build when nothing
    /// is left to run.
    pub async fn finish_stage(
        &self,
        stage: StageId,
        status: Status,
        exit_code: i64,
        error: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<Finished> {
        let mut tx = self.begin().await?;
        lock_build_of_stage(&mut tx, stage).await?;
        let sql = format!(
            "UPDATE stages SET status = $2, exit_code = $3, error = $4, stopped = $5, updated = $5, \
             version = version + 1 WHERE id = $1 AND status = 'running' RETURNING {STAGE_COLUMNS}"
        );
        let row: Option<StageRow> = on!(&mut tx, t => sqlx::query_as(&sql)
            .bind(stage.0)
            .bind(status.as_str())
            .bind(exit_code)
            .bind(error)
            .bind(now)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        let Some(row) = row else {
            return Ok(Finished::default());
        };
        let stage = row.into_stage()?;
        close_steps(&mut tx, &[stage.id], Status::Killed, "", now).await?;
        let slug = slug_of(&mut tx, &stage).await?;
        let mut events = Vec::new();
        let number = build_number(&mut tx, stage.build_id).await?;
        events.push(
            AuditEvent::new(
                actor,
                AuditAction::StageFinished,
                format!("build:{slug}#{number}/{}", stage.name),
            )
            .with_detail(serde_json::json!({ "status": status.as_str(), "exit_code": exit_code })),
        );
        let (build, released) = progress(&mut tx, stage.build_id, &slug, now, &mut events).await?;
        audit::append(&mut tx, now, &events).await?;
        tx.commit().await?;
        Ok(Finished {
            build,
            released,
            applied: true,
        })
    }

    /// Cancels a build that has not finished: it becomes `killed` (with `reason` as its error,
    /// if any), its running stages and steps `killed`, everything not yet started `skipped`.
    /// Returns `None` if it had finished.
    pub async fn cancel_build(
        &self,
        build: BuildId,
        slug: &str,
        actor: &Actor,
        reason: &str,
        now: i64,
    ) -> Result<Option<Build>> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "UPDATE builds SET status = 'killed', error = $3, finished = $2, updated = $2, \
             version = version + 1 WHERE id = $1 AND status NOT IN {DONE} RETURNING {BUILD_COLUMNS}"
        );
        let row: Option<BuildRow> = on!(&mut tx, t => sqlx::query_as(&sql)
            .bind(build.0)
            .bind(now)
            .bind(reason)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        let Some(row) = row else {
            return Ok(None);
        };
        let build = row.into_build()?;
        let stage_ids: Vec<i64> = on!(&mut tx, t => sqlx::query_scalar(&format!(
            "UPDATE stages SET status = CASE WHEN status = 'running' THEN 'killed' ELSE 'skipped' END, \
             stopped = $2, updated = $2, version = version + 1 WHERE build_id = $1 AND status NOT IN {DONE} \
             RETURNING id"))
            .bind(build.id.0)
            .bind(now)
            .fetch_all(&mut **t)
            .await
            .map_err(db)?);
        let ids: Vec<StageId> = stage_ids.into_iter().map(StageId).collect();
        close_steps(&mut tx, &ids, Status::Killed, "", now).await?;
        let mut event = AuditEvent::new(
            actor,
            AuditAction::BuildCancelled,
            format!("build:{slug}#{}", build.number),
        );
        if !reason.is_empty() {
            event = event.with_detail(serde_json::json!({ "reason": reason }));
        }
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(Some(build))
    }

    /// After a restart: every stage the named runner held is ended `error` with `why`, and the
    /// builds are moved on (and finished, usually as `error`). Queued stages stay queued.
    pub async fn recover_stages(&self, machine: &str, why: &str, now: i64) -> Result<Recovery> {
        let mut tx = self.begin().await?;
        // Builds before their stages, the order every write keeps (see `lock_build_of_stage`).
        let lock = match &*self.write {
            Db::Sqlite(_) => "",
            Db::Postgres(_) => "FOR NO KEY UPDATE",
        };
        let sql = format!(
            "SELECT id FROM builds WHERE id IN (SELECT build_id FROM stages WHERE \
             status = 'running' AND machine = $1) ORDER BY id {lock}"
        );
        let held: Vec<i64> = on!(&mut tx, t => sqlx::query_scalar(&sql)
            .bind(machine)
            .fetch_all(&mut **t)
            .await
            .map_err(db)?);
        let rows: Vec<StageRow> = if held.is_empty() {
            Vec::new()
        } else {
            let sql = format!(
                "UPDATE stages SET status = 'error', error = $2, stopped = $3, updated = $3, \
                 version = version + 1 WHERE status = 'running' AND machine = $1 \
                 AND build_id IN ({}) RETURNING {STAGE_COLUMNS}",
                list(held.len(), 4)
            );
            on!(&mut tx, t => {
                let q = sqlx::query_as(&sql).bind(machine).bind(why).bind(now);
                held.iter()
                    .fold(q, |q, id| q.bind(id))
                    .fetch_all(&mut **t)
                    .await
                    .map_err(db)?
            })
        };
        let stages = rows
            .into_iter()
            .map(StageRow::into_stage)
            .collect::<Result<Vec<_>>>()?;
        let ids: Vec<StageId> = stages.iter().map(|s| s.id).collect();
        close_steps(&mut tx, &ids, Status::Error, why, now).await?;
        let mut builds: Vec<BuildId> = stages.iter().map(|s| s.build_id).collect();
        builds.sort();
        builds.dedup();
        let system = Actor::system();
        let mut events = vec![
            AuditEvent::new(
                &system,
                AuditAction::ServerRecovered,
                format!("runner:{machine}"),
            )
            .with_detail(
                serde_json::json!({ "stages": ids.len(), "builds": builds.len(), "why": why }),
            ),
        ];
        for &build in &builds {
            let stage = stages
                .iter()
                .find(|s| s.build_id == build)
                .ok_or_else(|| Error::internal(anyhow::anyhow!("lost stage")))?;
            let slug = slug_of(&mut tx, stage).await?;
            progress(&mut tx, build, &slug, now, &mut events).await?;
        }
        audit::append(&mut tx, now, &events).await?;
        tx.commit().await?;
        Ok(Recovery {
            stages: ids.len(),
            builds,
        })
    }

    /// Builds that are not finished (for start-up: waking the scheduler and the trigger).
    pub async fn count_pending_stages(&self) -> Result<i64> {
        Ok(on!(&*self.read, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM stages WHERE status = 'pending'")
            .fetch_one(p)
            .await
            .map_err(db)?))
    }

    /// A stage by id.
    pub async fn find_stage(&self, id: StageId) -> Result<Option<Stage>> {
        let sql = format!("SELECT {STAGE_COLUMNS} FROM stages WHERE id = $1");
        let row: Option<StageRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(id.0)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        row.map(StageRow::into_stage).transpose()
    }

    /// The status of a build (cheap; for runners watching for cancellation).
    pub async fn build_status(&self, id: BuildId) -> Result<Option<Status>> {
        let status: Option<String> = on!(&*self.read, p => sqlx::query_scalar(
            "SELECT status FROM builds WHERE id = $1")
            .bind(id.0)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        status
            .map(|s| {
                s.parse()
                    .map_err(|e: String| Error::internal(anyhow::anyhow!(e)))
            })
            .transpose()
    }
}

/// Takes the row lock of the build `stage` belongs to, before anything else in `tx`.
///
/// PostgreSQL runs writers side by side, so the writes here keep one lock order: a build's row,
/// then its stages' rows. A write that reads a build's stages to move the build on (see
/// [`progress`]) holds the build's lock, or two stages finishing at once would each read the
/// other as still running and neither would release the stage that waits on both. A claim
/// takes its stage and build together without waiting (`SKIP LOCKED`), and otherwise waits for
/// a build while holding nothing, so it cannot close a cycle with a cancel or a finish.
/// SQLite has one writer: nothing to do.
pub(super) async fn lock_build_of_stage(tx: &mut Tx, stage: StageId) -> Result<()> {
    if let Db::Postgres(t) = tx {
        sqlx::query(
            "SELECT id FROM builds WHERE id = (SELECT build_id FROM stages WHERE id = $1) \
             FOR NO KEY UPDATE",
        )
        .bind(stage.0)
        .fetch_optional(&mut **t)
        .await
        .map_err(db)?;
    }
    Ok(())
}

pub(super) async fn slug_of(tx: &mut Tx, stage: &Stage) -> Result<String> {
    Ok(
        on!(tx, t => sqlx::query_scalar("SELECT slug FROM repos WHERE id = $1")
        .bind(stage.repo_id.0)
        .fetch_one(&mut **t)
        .await
        .map_err(db)?),
    )
}

pub(super) async fn build_number(tx: &mut Tx, build: BuildId) -> Result<i64> {
    Ok(
        on!(tx, t => sqlx::query_scalar("SELECT number FROM builds WHERE id = $1")
        .bind(build.0)
        .fetch_one(&mut **t)
        .await
        .map_err(db)?),
    )
}

/// Ends the unfinished steps of `stages`: running ones take `running_to`, pending ones `skipped`.
pub(super) async fn close_steps(
    tx: &mut Tx,
    stages: &[StageId],
    running_to: Status,
    error: &str,
    now: i64,
) -> Result<()> {
    if stages.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE steps SET status = CASE WHEN status = 'running' THEN $1 ELSE 'skipped' END, \
         error = CASE WHEN status = 'running' THEN $2 ELSE error END, stopped = $3, \
         version = version + 1 WHERE status IN ('pending', 'running') AND stage_id IN ({})",
        list(stages.len(), 4)
    );
    on!(tx, t => {
        let mut q = sqlx::query(&sql).bind(running_to.as_str()).bind(error).bind(now);
        for id in stages {
            q = q.bind(id.0);
        }
        q.execute(&mut **t).await.map_err(db)?.rows_affected()
    });
    Ok(())
}

/// Moves a build's DAG on after a stage ended: stages whose dependencies are all done become
/// `pending`, or `skipped` when the build's failing state does not match their `on_success` /
/// `on_failure`. Finishes the build when every stage is done. Returns the finished build (if it
/// finished) and how many stages became pending. The caller holds the build's lock.
pub(super) async fn progress(
    tx: &mut Tx,
    build: BuildId,
    slug: &str,
    now: i64,
    events: &mut Vec<AuditEvent>,
) -> Result<(Option<Build>, usize)> {
    let sql = format!("SELECT {STAGE_COLUMNS} FROM stages WHERE build_id = $1 ORDER BY number");
    let rows: Vec<StageRow> = on!(tx, t => sqlx::query_as(&sql)
        .bind(build.0)
        .fetch_all(&mut **t)
        .await
        .map_err(db)?);
    let mut stages = rows
        .into_iter()
        .map(StageRow::into_stage)
        .collect::<Result<Vec<_>>>()?;
    let changed = next_statuses(&mut stages);
    let mut released = 0;
    for (id, status) in &changed {
        if *status == Status::Pending {
            released += 1;
        }
        on!(tx, t => sqlx::query(
            "UPDATE stages SET status = $2, stopped = CASE WHEN $2 = 'skipped' THEN $3 ELSE stopped END, \
             updated = $3, version = version + 1 WHERE id = $1")
            .bind(id.0)
            .bind(status.as_str())
            .bind(now)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
    }
    let Some(status) = build_status_from_stages(&stages) else {
        return Ok((None, released));
    };
    let error = if status == Status::Error {
        stages
            .iter()
            .find(|s| s.status == Status::Error && !s.error.is_empty())
            .map(|s| s.error.clone())
            .unwrap_or_default()
    } else {
        String::new()
    };
    let sql = format!(
        "UPDATE builds SET status = $2, error = CASE WHEN error = '' THEN $3 ELSE error END, \
         finished = $4, updated = $4, version = version + 1 WHERE id = $1 AND status NOT IN {DONE} \
         RETURNING {BUILD_COLUMNS}"
    );
    let row: Option<BuildRow> = on!(tx, t => sqlx::query_as(&sql)
        .bind(build.0)
        .bind(status.as_str())
        .bind(&error)
        .bind(now)
        .fetch_optional(&mut **t)
        .await
        .map_err(db)?);
    let Some(row) = row else {
        return Ok((None, released));
    };
    let mut finished = row.into_build()?;
    events.push(
        AuditEvent::new(
            &Actor::system(),
            AuditAction::BuildFinished,
            format!("build:{slug}#{}", finished.number),
        )
        .with_detail(serde_json::json!({ "status": status.as_str() })),
    );
    finished.stages = stages;
    Ok((Some(finished), released))
}

/// The pure part of [`progress`]: which waiting stages change, and to what. Updates `stages`.
pub(crate) fn next_statuses(stages: &mut [Stage]) -> Vec<(StageId, Status)> {
    let mut changed = Vec::new();
    loop {
        let failing = stages.iter().any(|s| s.status.is_failed() && !s.errignore);
        let done: HashMap<&str, bool> = stages
            .iter()
            .map(|s| (s.name.as_str(), s.status.is_done()))
            .collect();
        let next = stages.iter().position(|s| {
            s.status == Status::WaitingOnDependencies
                && s.depends_on
                    .iter()
                    .all(|d| done.get(d.as_str()).copied().unwrap_or(true))
        });
        let Some(i) = next else {
            return changed;
        };
        let s = &mut stages[i];
        let skip = (failing && !s.on_failure) || (!failing && !s.on_success);
        s.status = if skip {
            Status::Skipped
        } else {
            Status::Pending
        };
        changed.push((s.id, s.status));
    }
}

mod claim;
#[cfg(test)]
mod tests;
