//! Leasing a stage: the oldest pending stage a runner matches, taken by exactly one runner
//! across every server on the database (`FOR NO KEY UPDATE ... SKIP LOCKED` on PostgreSQL, the
//! one writer on SQLite), within its `limit`, with its build marked running and the lease
//! audited, in one transaction of few statements (a lease is the runners' hot path).
//!
//! The pending stages are found through the partial index `stages_pending` (migration 0022),
//! so a claim reads the queue's head, not every stage leased before it.

use crate::domain::runner::scope_like;
use crate::domain::{Actor, AuditAction, AuditEvent, Build, BuildId, RunnerId, Stage};
use crate::error::Result;
use crate::store::rows::{BUILD_COLUMNS, BuildRow, STAGE_COLUMNS, StageRow};
use crate::store::{Db, Store, Tx, audit, db, list};
use std::collections::BTreeMap;

/// What a runner can run; a stage is leased only if it matches exactly (Drone's rule: `type`,
/// platform, and labels equal to the pipeline's `node:` map).
#[derive(Debug, Clone)]
pub struct ClaimFilter {
    pub types: Vec<String>,
    pub os: String,
    pub arch: String,
    pub labels: BTreeMap<String, String>,
    /// The runner's name, recorded on the stage.
    pub machine: String,
}

/// Who leases beside what: the remote runner (none: the in-process runner) and the repositories
/// (`owner/name`, `*` within a part) its registration limits it to (empty: any).
#[derive(Debug, Clone, Default)]
pub struct LeaseScope {
    pub runner: RunnerId,
    pub repos: Vec<String>,
}

/// A stage just leased, with what its runner needs beside it (read in the lease's own
/// statements, not after it).
#[derive(Debug, Clone)]
pub struct Leased {
    pub stage: Stage,
    pub build: Build,
    /// The lease's number (each lease of a stage counts up).
    pub lease: i64,
    /// The repository's `owner/name`.
    pub slug: String,
    /// The configuration text the build was prepared with.
    pub config: String,
}

/// The build a lease marked running, with its repository's slug and its configuration.
#[derive(sqlx::FromRow)]
struct StartedBuild {
    #[sqlx(flatten)]
    build: BuildRow,
    slug: String,
    config: Option<String>,
}

/// How often `claim_stage` tries again when another runner got in first.
const CLAIM_ATTEMPTS: usize = 8;

/// One attempt at leasing a stage.
enum Claim {
    Leased(Box<Leased>),
    Nothing,
    /// Another runner got in first: leasing the stage would break its `limit`, or the stage
    /// was taken while this claim waited for its build.
    Retry,
}

impl Store {
    /// Leases the oldest pending stage that `filter` matches, marks it (and its build) running.
    pub async fn claim_stage(
        &self,
        filter: &ClaimFilter,
        now: i64,
    ) -> Result<Option<(Stage, Build)>> {
        Ok(self
            .claim_stage_for(filter, &LeaseScope::default(), now)
            .await?
            .map(|(stage, build, _)| (stage, build)))
    }

    /// Leases as [`Store::claim_stage`] does, for the runner `scope` names and only stages of
    /// its repositories; returns the lease's number too (each lease of a stage counts up).
    pub async fn claim_stage_for(
        &self,
        filter: &ClaimFilter,
        scope: &LeaseScope,
        now: i64,
    ) -> Result<Option<(Stage, Build, i64)>> {
        Ok(self
            .lease_stage(filter, scope, now)
            .await?
            .map(|l| (l.stage, l.build, l.lease)))
    }

    /// Leases as [`Store::claim_stage_for`] does; with the repository's slug and the build's
    /// configuration, read in the lease's own statements.
    pub async fn lease_stage(
        &self,
        filter: &ClaimFilter,
        scope: &LeaseScope,
        now: i64,
    ) -> Result<Option<Leased>> {
        if filter.types.is_empty() {
            // Matches nothing; and `IN ()` is valid SQLite but a syntax error on PostgreSQL.
            return Ok(None);
        }
        // Another attempt is needed when another runner took the stage first, or took one of
        // the same name that the stage's `limit` counts; the next attempt sees it running.
        for _ in 0..CLAIM_ATTEMPTS {
            match self.try_claim_stage(filter, scope, now).await? {
                Claim::Leased(leased) => return Ok(Some(*leased)),
                Claim::Nothing => return Ok(None),
                Claim::Retry => {}
            }
        }
        Ok(None)
    }

    /// Begins a claim's transaction. On PostgreSQL the planner may not sort in it: the
    /// oldest pending stage must come from walking `stages_pending` in id order, which stops
    /// at the first stage it can lock. With statistics from a quiet moment (few pending
    /// stages) the planner otherwise reads every pending stage and its build, then sorts them,
    /// on each lease (measured: 3-12 ms per lease with 1,500 queued). `SET LOCAL` ends with
    /// the transaction, and goes in the `BEGIN`'s round trip.
    async fn begin_claim(&self) -> Result<Tx> {
        Ok(match &*self.write {
            Db::Sqlite(_) => self.begin().await?,
            Db::Postgres(p) => Db::Postgres(
                p.begin_with("BEGIN; SET LOCAL enable_sort = off")
                    .await
                    .map_err(db)?,
            ),
        })
    }

    async fn try_claim_stage(
        &self,
        filter: &ClaimFilter,
        scope: &LeaseScope,
        now: i64,
    ) -> Result<Claim> {
        let labels = serde_json::to_string(&filter.labels).unwrap_or_else(|_| "{}".into());
        let n = filter.types.len() + scope.repos.len();
        // `$1` os, `$2` arch, `$3` labels, `$4...` types, then the scope's repository patterns
        // (`*` within a part: SQLite's case-sensitive `GLOB` as is; PostgreSQL's `LIKE` as
        // `scope_like` writes it): the oldest stage `filter` may lease.
        let (matches, patterns): (&str, Vec<String>) = match &*self.write {
            Db::Sqlite(_) => ("GLOB", scope.repos.clone()),
            Db::Postgres(_) => ("LIKE", scope.repos.iter().map(|p| scope_like(p)).collect()),
        };
        let scope = &LeaseScope {
            runner: scope.runner,
            repos: patterns,
        };
        let repos = if scope.repos.is_empty() {
            String::new()
        } else {
            let each: Vec<String> = (0..scope.repos.len())
                .map(|i| format!("slug {matches} ${}", 4 + filter.types.len() + i))
                .collect();
            format!(
                "AND s.repo_id IN (SELECT id FROM repos WHERE {})",
                each.join(" OR ")
            )
        };
        let matching = format!(
            "FROM stages s JOIN builds b ON b.id = s.build_id WHERE s.status = 'pending' \
             AND s.os = $1 AND s.arch = $2 AND s.labels = $3 AND s.type IN ({}) {repos} \
             AND (s.limit_n = 0 OR (SELECT COUNT(*) FROM stages r WHERE r.repo_id = s.repo_id \
             AND r.name = s.name AND r.status = 'running') < s.limit_n) ORDER BY s.id LIMIT 1",
            list(filter.types.len(), 4)
        );
        // PostgreSQL: lock the stage and its build together, passing over rows another writer
        // holds, so a claim never waits while it holds a lock (see `lock_build_of_stage`).
        let lock = match &*self.write {
            Db::Sqlite(_) => "",
            Db::Postgres(_) => "FOR NO KEY UPDATE OF s, b SKIP LOCKED",
        };
        let (machine, at, runner) = (n + 4, n + 5, n + 6);
        let lease_sql = format!(
            "UPDATE stages SET status = 'running', machine = ${machine}, started = ${at}, \
             updated = ${at}, version = version + 1, runner_id = ${runner}, lease = lease + 1 \
             WHERE status = 'pending' AND id = (SELECT s.id {matching} {lock}) \
             RETURNING {STAGE_COLUMNS}, lease"
        );
        let mut tx = self.begin_claim().await?;
        let mut leased = lease(&mut tx, &lease_sql, filter, scope, &labels, now).await?;
        if leased.is_none() && matches!(tx, Db::Postgres(_)) {
            // Every stage left may be of a build another writer holds (finishing a stage of
            // it, cancelling it, leasing another of its stages). Wait for the oldest one's
            // build, then look again. `SKIP LOCKED` keeps the locks of rows it took before
            // passing over their joined row, so start afresh: the wait must hold nothing.
            tx.rollback().await?;
            tx = self.begin_claim().await?;
            let Db::Postgres(t) = &mut tx else {
                return Ok(Claim::Nothing);
            };
            let oldest = format!("SELECT s.build_id {matching}");
            let q = sqlx::query_scalar::<_, i64>(&oldest)
                .bind(&filter.os)
                .bind(&filter.arch)
                .bind(&labels);
            let q = filter.types.iter().fold(q, |q, ty| q.bind(ty));
            let q = scope.repos.iter().fold(q, |q, slug| q.bind(slug));
            let Some(build) = q.fetch_optional(&mut **t).await.map_err(db)? else {
                return Ok(Claim::Nothing);
            };
            lock_builds(&mut tx, &[BuildId(build)]).await?;
            leased = lease(&mut tx, &lease_sql, filter, scope, &labels, now).await?;
            if leased.is_none() {
                tx.rollback().await?; // another runner took it first
                return Ok(Claim::Retry);
            }
        }
        let Some(LeasedRow {
            stage: row,
            lease: number,
        }) = leased
        else {
            return Ok(Claim::Nothing);
        };
        let stage = row.into_stage()?;
        if stage.limit > 0 && !within_limit(&mut tx, &stage).await? {
            tx.rollback().await?;
            return Ok(Claim::Retry);
        }
        let sql = format!(
            "UPDATE builds SET status = CASE WHEN status = 'pending' THEN 'running' ELSE status END, \
             started = CASE WHEN started = 0 THEN $2 ELSE started END, updated = $2, \
             version = version + 1 WHERE id = $1 RETURNING {BUILD_COLUMNS}, \
             (SELECT r.slug FROM repos r WHERE r.id = builds.repo_id) AS slug, \
             (SELECT c.data FROM configs c WHERE c.id = builds.config_id) AS config"
        );
        let started: StartedBuild = on!(&mut tx, t => sqlx::query_as(&sql)
            .bind(stage.build_id.0)
            .bind(now)
            .fetch_one(&mut **t)
            .await
            .map_err(db)?);
        let (build, slug) = (started.build.into_build()?, started.slug);
        if scope.runner.0 > 0 {
            crate::store::leases::record_lease(&mut tx, stage.id, number, scope.runner, now)
                .await?;
        }
        let runner = Actor::runner(&filter.machine);
        let mut events = vec![AuditEvent::new(
            &runner,
            AuditAction::StageLeased,
            format!("build:{slug}#{}/{}", build.number, stage.name),
        )];
        if build.started == now {
            events.push(AuditEvent::new(
                &Actor::system(),
                AuditAction::BuildStarted,
                format!("build:{slug}#{}", build.number),
            ));
        }
        audit::append(&mut tx, now, &events).await?;
        tx.commit().await?;
        Ok(Claim::Leased(Box::new(Leased {
            stage,
            build,
            lease: number,
            slug,
            config: started.config.unwrap_or_default(),
        })))
    }
}

/// A leased stage's row with the lease's number.
#[derive(sqlx::FromRow)]
struct LeasedRow {
    #[sqlx(flatten)]
    stage: StageRow,
    lease: i64,
}

/// Runs the claim's `UPDATE` (`sql`, numbered as `try_claim_stage` builds it).
async fn lease(
    tx: &mut Tx,
    sql: &str,
    filter: &ClaimFilter,
    scope: &LeaseScope,
    labels: &str,
    now: i64,
) -> Result<Option<LeasedRow>> {
    Ok(on!(tx, t => {
        let q = sqlx::query_as(sql)
            .bind(&filter.os)
            .bind(&filter.arch)
            .bind(labels);
        let q = filter.types.iter().fold(q, |q, ty| q.bind(ty));
        scope
            .repos
            .iter()
            .fold(q, |q, slug| q.bind(slug))
            .bind(&filter.machine)
            .bind(now)
            .bind(scope.runner.0)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?
    }))
}

/// Whether `stage`, just leased in `tx`, keeps the running stages of its name in its repository
/// within its `limit`. The claim's own check reads a snapshot; on PostgreSQL two runners can
/// each lease a stage of the same name, neither seeing the other's, so there the check is made
/// again under a lock per repository and name, which the first claim holds until it commits.
/// SQLite has one writer, so its snapshot is already the truth.
async fn within_limit(tx: &mut Tx, stage: &Stage) -> Result<bool> {
    let Db::Postgres(t) = tx else {
        return Ok(true);
    };
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, $2))")
        .bind(&stage.name)
        .bind(stage.repo_id.0)
        .execute(&mut **t)
        .await
        .map_err(db)?;
    let running: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM stages WHERE repo_id = $1 AND name = $2 AND status = 'running'",
    )
    .bind(stage.repo_id.0)
    .bind(&stage.name)
    .fetch_one(&mut **t)
    .await
    .map_err(db)?;
    Ok(running <= stage.limit)
}

/// Takes the row locks of `builds` (sorted) on PostgreSQL, as [`lock_build_of_stage`] explains.
async fn lock_builds(tx: &mut Tx, builds: &[BuildId]) -> Result<()> {
    let Db::Postgres(t) = tx else {
        return Ok(());
    };
    if builds.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "SELECT id FROM builds WHERE id IN ({}) ORDER BY id FOR NO KEY UPDATE",
        list(builds.len(), 1)
    );
    let mut q = sqlx::query(&sql);
    for build in builds {
        q = q.bind(build.0);
    }
    q.fetch_all(&mut **t).await.map_err(db)?;
    Ok(())
}
