//! Builds: created in groups (one transaction for many webhooks), prepared once their
//! `.drone.yml` is read, read back with their stages and steps.

use super::rows::{BUILD_COLUMNS, BuildRow, STAGE_COLUMNS, STEP_COLUMNS, StageRow, StepRow};
use super::{Store, Tx, audit, db, list, values};
use crate::domain::{Actor, AuditAction, AuditEvent, Build, BuildId, Event, RepoId, Stage, Status};
use crate::error::{Error, Result};
use sha2::Digest;
use std::collections::{BTreeMap, HashMap};

/// A build to create, before it has a number.
#[derive(Debug, Clone, Default)]
pub struct NewBuild {
    pub repo_id: RepoId,
    /// For the audit trail: `repo:owner/name`.
    pub repo_slug: String,
    pub trigger: String,
    pub parent: i64,
    pub event: Option<Event>,
    pub action: String,
    pub link: String,
    pub timestamp: i64,
    pub title: String,
    pub message: String,
    pub before: String,
    pub after: String,
    pub git_ref: String,
    pub source_repo: String,
    pub source: String,
    pub target: String,
    pub author_login: String,
    pub author_name: String,
    pub author_email: String,
    pub author_avatar: String,
    pub sender: String,
    pub params: BTreeMap<String, String>,
    pub cron: String,
    pub deploy_to: String,
    pub deploy_id: i64,
    pub delivery_id: String,
    pub actor: Option<Actor>,
    /// Who the build acts as.
    pub identity: Option<crate::domain::BuildActor>,
    /// Why it must wait for approval; empty: it runs.
    pub blocked_reason: String,
    pub warnings: Vec<String>,
}

/// What became of one [`NewBuild`] of a group.
#[derive(Debug, Clone)]
pub enum Created {
    New(Build),
    /// The delivery id was seen before: this is the build it made.
    Duplicate(Build),
}

/// A stage to create when a build is prepared.
#[derive(Debug, Clone)]
pub struct NewStage {
    pub number: i64,
    pub name: String,
    pub kind: String,
    pub stage_type: String,
    /// `pending`, `waiting_on_dependencies`, `blocked` or `skipped`.
    pub status: Status,
    pub error: String,
    pub os: String,
    pub arch: String,
    pub variant: String,
    pub limit: i64,
    pub on_success: bool,
    pub on_failure: bool,
    pub depends_on: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// What reading a build's `.drone.yml` decided.
#[derive(Debug, Clone)]
pub struct Preparation {
    /// The configuration text as read at the build's commit, if it was read.
    pub config: Option<String>,
    /// `pending` when stages will run; `skipped` or `error` when none will.
    pub status: Status,
    pub error: String,
    pub stages: Vec<NewStage>,
}

const BUILD_INSERT_COLUMNS: usize = 40;

impl Store {
    /// Creates a group of builds in one transaction: numbers them per repository, drops
    /// redeliveries (same repository and delivery id) and records one audit event per build.
    pub async fn create_builds(&self, group: &[NewBuild], now: i64) -> Result<Vec<Created>> {
        let mut tx = self.begin().await?;
        let mut out = insert_builds(&mut tx, group, now).await?;
        tx.commit().await?;

        // Second copies of a delivery inside this group point at the first one's build.
        let mut firsts: HashMap<(i64, &str), usize> = HashMap::new();
        for (i, b) in group.iter().enumerate() {
            firsts
                .entry((b.repo_id.0, b.delivery_id.as_str()))
                .or_insert(i);
        }
        for (i, b) in group.iter().enumerate() {
            if out[i].is_none() {
                let first = firsts[&(b.repo_id.0, b.delivery_id.as_str())];
                if let Some(Created::New(build) | Created::Duplicate(build)) = &out[first] {
                    out[i] = Some(Created::Duplicate(build.clone()));
                }
            }
        }
        out.into_iter()
            .map(|c| c.ok_or_else(|| Error::internal(anyhow::anyhow!("build group lost an entry"))))
            .collect()
    }

    /// A build by repository and number, with its stages and their steps.
    pub async fn find_build(&self, repo: RepoId, number: i64) -> Result<Option<Build>> {
        let sql = format!("SELECT {BUILD_COLUMNS} FROM builds WHERE repo_id = $1 AND number = $2");
        let row: Option<BuildRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(repo.0)
            .bind(number)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        match row {
            Some(row) => Ok(Some(self.with_stages(row.into_build()?).await?)),
            None => Ok(None),
        }
    }

    /// A build by id, with its stages and their steps.
    pub async fn find_build_by_id(&self, id: BuildId) -> Result<Option<Build>> {
        let sql = format!("SELECT {BUILD_COLUMNS} FROM builds WHERE id = $1");
        let row: Option<BuildRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(id.0)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        match row {
            Some(row) => Ok(Some(self.with_stages(row.into_build()?).await?)),
            None => Ok(None),
        }
    }

    async fn with_stages(&self, mut build: Build) -> Result<Build> {
        build.stages = self.list_stages(build.id).await?;
        build.statuses = self.list_commit_statuses(build.id).await?;
        Ok(build)
    }

    /// The stages of a build with their steps, in order.
    pub async fn list_stages(&self, build: BuildId) -> Result<Vec<Stage>> {
        let sql = format!("SELECT {STAGE_COLUMNS} FROM stages WHERE build_id = $1 ORDER BY number");
        let rows: Vec<StageRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(build.0)
            .fetch_all(p)
            .await
            .map_err(db)?);
        let mut stages = rows
            .into_iter()
            .map(StageRow::into_stage)
            .collect::<Result<Vec<_>>>()?;
        if stages.is_empty() {
            return Ok(stages);
        }
        let sql = format!(
            "SELECT {STEP_COLUMNS} FROM steps WHERE stage_id IN (SELECT id FROM stages WHERE \
             build_id = $1) ORDER BY stage_id, number"
        );
        let steps: Vec<StepRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(build.0)
            .fetch_all(p)
            .await
            .map_err(db)?);
        for step in steps {
            let step = step.into_step()?;
            if let Some(stage) = stages.iter_mut().find(|s| s.id == step.step_id) {
                stage.steps.push(step);
            }
        }
        Ok(stages)
    }

    /// A page of a repository's builds, newest first, without stages (as Drone lists them).
    pub async fn list_builds(
        &self,
        repo: RepoId,
        branch: Option<&str>,
        page: i64,
        per_page: i64,
    ) -> Result<Vec<Build>> {
        let sql = format!(
            "SELECT {BUILD_COLUMNS} FROM builds WHERE repo_id = $1 AND ($2 = '' OR target = $2) \
             ORDER BY number DESC LIMIT $3 OFFSET $4"
        );
        let rows: Vec<BuildRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(repo.0)
            .bind(branch.unwrap_or(""))
            .bind(per_page)
            .bind((page.max(1) - 1) * per_page)
            .fetch_all(p)
            .await
            .map_err(db)?);
        rows.into_iter().map(BuildRow::into_build).collect()
    }

    /// The newest build of a repository, optionally of one branch or ref, with its stages.
    pub async fn latest_build(
        &self,
        repo: RepoId,
        branch: Option<&str>,
        git_ref: Option<&str>,
    ) -> Result<Option<Build>> {
        let sql = format!(
            "SELECT {BUILD_COLUMNS} FROM builds WHERE repo_id = $1 AND ($2 = '' OR target = $2) \
             AND ($3 = '' OR git_ref = $3) ORDER BY number DESC LIMIT 1"
        );
        let row: Option<BuildRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(repo.0)
            .bind(branch.unwrap_or(""))
            .bind(git_ref.unwrap_or(""))
            .fetch_optional(p)
            .await
            .map_err(db)?);
        match row {
            Some(row) => Ok(Some(self.with_stages(row.into_build()?).await?)),
            None => Ok(None),
        }
    }

    /// Builds whose configuration has not been read yet, oldest first.
    pub async fn list_unprepared_builds(&self, limit: i64) -> Result<Vec<Build>> {
        let sql = format!(
            "SELECT {BUILD_COLUMNS} FROM builds WHERE status IN ('pending', 'blocked') AND \
             config_id IS NULL ORDER BY id LIMIT $1"
        );
        let rows: Vec<BuildRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(limit)
            .fetch_all(p)
            .await
            .map_err(db)?);
        rows.into_iter().map(BuildRow::into_build).collect()
    }

    /// The configuration text a build was prepared with.
    pub async fn find_build_config(&self, build: BuildId) -> Result<Option<String>> {
        Ok(on!(&*self.read, p => sqlx::query_scalar(
            "SELECT c.data FROM configs c JOIN builds b ON b.config_id = c.id WHERE b.id = $1")
            .bind(build.0)
            .fetch_optional(p)
            .await
            .map_err(db)?))
    }

    /// Stores what reading a build's configuration decided: the configuration, the stages, and
    /// the build's status (a build with nothing to run finishes here).
    pub async fn prepare_build(
        &self,
        build: &Build,
        slug: &str,
        prep: &Preparation,
        now: i64,
    ) -> Result<Build> {
        let mut tx = self.begin().await?;
        let text = prep.config.as_deref().unwrap_or("");
        let hash = hex::encode(sha2::Sha256::digest(text.as_bytes()));
        on!(&mut tx, t => sqlx::query(
            "INSERT INTO configs (hash, data) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING")
            .bind(&hash)
            .bind(text)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        let config_id: i64 = on!(&mut tx, t => sqlx::query_scalar(
            "SELECT id FROM configs WHERE hash = $1")
            .bind(&hash)
            .fetch_one(&mut **t)
            .await
            .map_err(db)?);
        let finished = if prep.status.is_done() { now } else { 0 };
        let sql = format!(
            "UPDATE builds SET config_id = $2, status = $3, error = $4, finished = $5, \
             started = CASE WHEN $5 > 0 THEN $5 ELSE started END, updated = $6, \
             version = version + 1 WHERE id = $1 AND status IN ('pending', 'blocked') \
             AND config_id IS NULL RETURNING {BUILD_COLUMNS}"
        );
        let row: Option<BuildRow> = on!(&mut tx, t => sqlx::query_as(&sql)
            .bind(build.id.0)
            .bind(config_id)
            .bind(prep.status.as_str())
            .bind(&prep.error)
            .bind(finished)
            .bind(now)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        let Some(row) = row else {
            // Cancelled or prepared meanwhile: leave it as it is.
            return self
                .find_build_by_id(build.id)
                .await?
                .ok_or_else(|| Error::not_found("no such build"));
        };
        let mut updated = row.into_build()?;
        let target = format!("build:{slug}#{}", updated.number);
        let system = Actor::system();
        let mut events = Vec::new();
        for chunk in prep.stages.chunks(100) {
            let sql = format!(
                "INSERT INTO stages (repo_id, build_id, number, name, kind, type, status, error, \
                 os, arch, variant, limit_n, on_success, on_failure, depends_on, labels, created, \
                 updated) VALUES {} RETURNING {STAGE_COLUMNS}",
                values(chunk.len(), 18, 1)
            );
            let rows: Vec<StageRow> = on!(&mut tx, t => {
                let mut q = sqlx::query_as(&sql);
                for s in chunk {
                    q = q
                        .bind(build.repo_id.0)
                        .bind(build.id.0)
                        .bind(s.number)
                        .bind(&s.name)
                        .bind(&s.kind)
                        .bind(&s.stage_type)
                        .bind(s.status.as_str())
                        .bind(&s.error)
                        .bind(&s.os)
                        .bind(&s.arch)
                        .bind(&s.variant)
                        .bind(s.limit)
                        .bind(s.on_success)
                        .bind(s.on_failure)
                        .bind(serde_json::to_string(&s.depends_on).unwrap_or_else(|_| "[]".into()))
                        .bind(serde_json::to_string(&s.labels).unwrap_or_else(|_| "{}".into()))
                        .bind(now)
                        .bind(now);
                }
                q.fetch_all(&mut **t).await.map_err(db)?
            });
            for row in rows {
                let stage = row.into_stage()?;
                events.push(
                    AuditEvent::new(
                        &system,
                        AuditAction::StageQueued,
                        format!("{target}/{}", stage.name),
                    )
                    .with_detail(serde_json::json!({ "status": stage.status.as_str() })),
                );
                updated.stages.push(stage);
            }
        }
        updated.stages.sort_by_key(|s| s.number);
        if prep.status.is_done() {
            events.push(
                AuditEvent::new(&system, AuditAction::BuildFinished, target).with_detail(
                    serde_json::json!({ "status": prep.status.as_str(), "error": prep.error }),
                ),
            );
        }
        audit::append(&mut tx, now, &events).await?;
        tx.commit().await?;
        Ok(updated)
    }
}

/// Inserts a group of builds inside `tx` (see [`Store::create_builds`]); entries left `None`
/// are second copies of a delivery in the group.
pub(super) async fn insert_builds(
    tx: &mut Tx,
    group: &[NewBuild],
    now: i64,
) -> Result<Vec<Option<Created>>> {
    let mut out: Vec<Option<Created>> = vec![None; group.len()];

    // Redeliveries: already stored, or twice in this group.
    let ids: Vec<&str> = group
        .iter()
        .map(|b| b.delivery_id.as_str())
        .filter(|d| !d.is_empty())
        .collect();
    let mut seen: HashMap<(i64, String), Build> = HashMap::new();
    if !ids.is_empty() {
        let sql = format!(
            "SELECT {BUILD_COLUMNS} FROM builds WHERE delivery_id IN ({})",
            list(ids.len(), 1)
        );
        let rows: Vec<BuildRow> = on!(&mut *tx, t => {
            let mut q = sqlx::query_as(&sql);
            for id in &ids {
                q = q.bind(*id);
            }
            q.fetch_all(&mut **t).await.map_err(db)?
        });
        for row in rows {
            let b = row.into_build()?;
            seen.insert((b.repo_id.0, b.delivery_id.clone()), b);
        }
    }
    let mut fresh: Vec<usize> = Vec::new();
    let mut in_group: HashMap<(i64, &str), usize> = HashMap::new();
    for (i, b) in group.iter().enumerate() {
        if !b.delivery_id.is_empty() {
            if let Some(existing) = seen.get(&(b.repo_id.0, b.delivery_id.clone())) {
                out[i] = Some(Created::Duplicate(existing.clone()));
                continue;
            }
            // Keep the first index: later copies are resolved below, once it has a build.
            let first = *in_group
                .entry((b.repo_id.0, b.delivery_id.as_str()))
                .or_insert(i);
            if first != i {
                continue;
            }
        }
        fresh.push(i);
    }

    // Numbers: one counter bump per repository.
    let mut per_repo: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for &i in &fresh {
        per_repo.entry(group[i].repo_id.0).or_default().push(i);
    }
    let mut numbers: HashMap<usize, i64> = HashMap::new();
    for (repo_id, members) in &per_repo {
        let n = members.len() as i64;
        let counter: Option<i64> = on!(&mut *tx, t => sqlx::query_scalar(
                "UPDATE repos SET counter = counter + $1 WHERE id = $2 RETURNING counter")
                .bind(n)
                .bind(repo_id)
                .fetch_optional(&mut **t)
                .await
                .map_err(db)?);
        let counter = counter.ok_or_else(|| Error::not_found("no such repository"))?;
        for (k, &i) in members.iter().enumerate() {
            numbers.insert(i, counter - n + 1 + k as i64);
        }
    }

    let mut created: HashMap<(i64, i64), Build> = HashMap::new();
    for chunk in fresh.chunks(200) {
        let sql = format!(
            "INSERT INTO builds (repo_id, trigger_by, number, parent, status, event, action, \
                 link, timestamp, title, message, before_sha, after_sha, git_ref, source_repo, \
                 source, target, author_login, author_name, author_email, author_avatar, sender, \
                 params, cron, deploy_to, deploy_id, created, updated, delivery_id, actor_kind, \
                 actor_user_id, actor_login, actor_token_id, actor_session_id, actor_verified, \
                 actor_entitled, token_expires, blocked_reason, approved_by, warnings) VALUES {} \
                 RETURNING {BUILD_COLUMNS}",
            values(chunk.len(), BUILD_INSERT_COLUMNS, 1)
        );
        let rows: Vec<BuildRow> = on!(&mut *tx, t => {
            let mut q = sqlx::query_as(&sql);
            for &i in chunk {
                let b = &group[i];
                let who = b.identity.as_ref();
                let status = if b.blocked_reason.is_empty() {
                    Status::Pending
                } else {
                    Status::Blocked
                };
                q = q
                    .bind(b.repo_id.0)
                    .bind(&b.trigger)
                    .bind(numbers[&i])
                    .bind(b.parent)
                    .bind(status.as_str())
                    .bind(b.event.unwrap_or(Event::Custom).as_str())
                    .bind(&b.action)
                    .bind(&b.link)
                    .bind(b.timestamp)
                    .bind(&b.title)
                    .bind(&b.message)
                    .bind(&b.before)
                    .bind(&b.after)
                    .bind(&b.git_ref)
                    .bind(&b.source_repo)
                    .bind(&b.source)
                    .bind(&b.target)
                    .bind(&b.author_login)
                    .bind(&b.author_name)
                    .bind(&b.author_email)
                    .bind(&b.author_avatar)
                    .bind(&b.sender)
                    .bind(serde_json::to_string(&b.params).unwrap_or_else(|_| "{}".into()))
                    .bind(&b.cron)
                    .bind(&b.deploy_to)
                    .bind(b.deploy_id)
                    .bind(now)
                    .bind(now)
                    .bind(&b.delivery_id)
                    .bind(who.map_or("", |w| w.kind.as_str()))
                    .bind(who.and_then(|w| w.user_id).map(|u| u.0))
                    .bind(who.map_or("", |w| w.login.as_str()))
                    .bind(who.and_then(|w| w.token_id).map(|t| t.0))
                    .bind(who.and_then(|w| w.session_id).map(|t| t.0))
                    .bind(who.is_some_and(|w| w.verified))
                    .bind(who.is_some_and(|w| w.entitled))
                    .bind(who.map_or(0, |w| w.token_expires))
                    .bind(&b.blocked_reason)
                    .bind("")
                    .bind(serde_json::to_string(&b.warnings).unwrap_or_else(|_| "[]".into()));
            }
            q.fetch_all(&mut **t).await.map_err(db)?
        });
        for row in rows {
            let b = row.into_build()?;
            created.insert((b.repo_id.0, b.number), b);
        }
    }

    let mut events = Vec::with_capacity(fresh.len());
    for &i in &fresh {
        let b = &group[i];
        let build = created
            .remove(&(b.repo_id.0, numbers[&i]))
            .ok_or_else(|| Error::internal(anyhow::anyhow!("inserted build not returned")))?;
        let actor = b.actor.clone().unwrap_or_else(Actor::hook);
        events.push(
            AuditEvent::new(
                &actor,
                AuditAction::BuildCreated,
                format!("build:{}#{}", b.repo_slug, build.number),
            )
            .with_detail(serde_json::json!({
                "event": build.event.as_str(),
                "ref": build.git_ref,
                "commit": build.after,
                "sender": build.sender,
                "delivery": build.delivery_id,
                "actor": build.actor.as_ref().map(|a| a.login.as_str()),
                "verified": build.actor.as_ref().is_some_and(|a| a.verified),
                "blocked": build.blocked_reason,
            })),
        );
        out[i] = Some(Created::New(build));
    }
    audit::append(tx, now, &events).await?;
    Ok(out)
}
