//! Hands stages to runners and takes their reports: leases (a long poll woken when work
//! appears), step and log updates, stage ends (which move the build's DAG on), cancellation,
//! and the clean-up of stages a restart interrupted. The in-process runner reaches it through
//! [`LocalLink`]; remote runners will reach the same methods over HTTP.

use crate::auth::workload::Workload;
use crate::clock::SharedClock;
use crate::commit_status::{Reporter, Subject};
use crate::domain::{Actor, Build, BuildId, RepoId, Status, Step, StepId};
use crate::error::{Error, Result};
use crate::live::{BuildEvent, Live};
use crate::runner::{Assignment, Link, StageResult, StepAsk, StepGrant, StepUpdate};
use crate::store::{
    ClaimFilter, Finished, LeaseScope, Leased, LogChunk, NewStep, Notice, StepReport, Store,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long a lease request waits for work before answering "nothing".
pub const LEASE_WAIT: Duration = Duration::from_secs(30);

/// The scheduler, shared by the HTTP layer, the trigger and the runners.
pub struct Scheduler {
    pub(crate) store: Store,
    pub(crate) clock: SharedClock,
    live: Arc<Live>,
    workload: Arc<Workload>,
    work: Notify,
    cancels: Mutex<HashMap<BuildId, CancellationToken>>,
    /// Remote runners' leases and heartbeats (`leases.rs`).
    pub(crate) remote: crate::leases::Leases,
    /// When each running step started, for the step duration histogram.
    steps_started: Mutex<HashMap<StepId, std::time::Instant>>,
    /// Where stage and build starts and ends go to become commit statuses on the forge.
    statuses: Option<Reporter>,
}

impl Scheduler {
    pub fn new(
        store: Store,
        clock: SharedClock,
        live: Arc<Live>,
        workload: Arc<Workload>,
        statuses: Option<Reporter>,
    ) -> Scheduler {
        Scheduler {
            store,
            clock,
            live,
            workload,
            work: Notify::new(),
            cancels: Mutex::new(HashMap::new()),
            steps_started: Mutex::new(HashMap::new()),
            statuses,
            remote: crate::leases::Leases::new(crate::leases::DEFAULT_TIMEOUT),
        }
    }

    /// Sets how long a remote runner may stay silent before its leases end (`runner_timeout`).
    pub fn with_runner_timeout(mut self, timeout: Duration) -> Scheduler {
        self.remote = crate::leases::Leases::new(timeout);
        self
    }

    /// Wakes runners waiting for work (stages were queued or released), here and on the other
    /// servers on the same database.
    pub fn wake(&self) {
        self.work.notify_waiters();
        self.store.announce(Notice::Work);
    }

    /// Wakes the runners waiting here (another server queued work).
    pub fn wake_here(&self) {
        self.work.notify_waiters();
    }

    /// Leases a stage matching `filter`, waiting up to `wait` for one to appear.
    pub async fn lease(&self, filter: &ClaimFilter, wait: Duration) -> Result<Option<Assignment>> {
        self.lease_scoped(filter, &LeaseScope::default(), wait)
            .await
    }

    /// Leases as [`Scheduler::lease`] does, for the runner and repositories of `scope`.
    pub async fn lease_scoped(
        &self,
        filter: &ClaimFilter,
        scope: &LeaseScope,
        wait: Duration,
    ) -> Result<Option<Assignment>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Listen before looking, so a wake between the look and the wait is not lost.
            let notified = self.work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(leased) = self
                .store
                .lease_stage(filter, scope, self.clock.now_ms())
                .await?
            {
                let Leased {
                    stage,
                    build,
                    lease,
                    slug,
                    config,
                } = leased;
                // The repository from memory (every change to one drops its copy, here and on
                // the other servers); from the database if it is no longer active.
                let repo = match self.store.cached_repo_by_slug(&slug).await? {
                    Some(repo) if repo.id == stage.repo_id => repo,
                    _ => self
                        .store
                        .find_repo(stage.repo_id)
                        .await?
                        .ok_or_else(|| Error::not_found("the stage's repository is gone"))?,
                };
                self.publish(&repo, build.id).await;
                if let Some(statuses) = &self.statuses {
                    statuses.stage_started(&subject(&repo, &build), &stage.name);
                }
                metrics::gauge!("hangar_stages_running").increment(1.0);
                return Ok(Some(Assignment {
                    stage,
                    build,
                    repo,
                    config,
                    lease,
                }));
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(deadline) => return Ok(None),
                _ = self.remote.stopping() => return Ok(None),
            }
        }
    }

    /// Records the steps of a leased stage.
    pub async fn create_steps(&self, a: &Assignment, steps: Vec<NewStep>) -> Result<Vec<Step>> {
        let created = self
            .store
            .create_steps(a.stage.id, &steps, self.clock.now_ms())
            .await?;
        self.publish(&a.repo, a.build.id).await;
        Ok(created)
    }

    /// Records a step's new status.
    pub async fn update_step(&self, a: &Assignment, update: StepUpdate) -> Result<()> {
        let report = StepReport {
            step: update.step,
            status: update.status,
            exit_code: update.exit_code,
            error: update.error,
            target: format!(
                "build:{}#{}/{}/{}",
                a.repo.slug, a.build.number, a.stage.name, update.name
            ),
        };
        let now = self.clock.now_ms();
        self.store
            .update_step(&report, &Actor::runner(&a.stage.machine), now)
            .await?;
        if let Ok(mut started) = self.steps_started.lock() {
            if update.status == Status::Running {
                started.insert(update.step, std::time::Instant::now());
            } else if let Some(at) = started.remove(&update.step) {
                metrics::histogram!("hangar_step_duration_seconds", "status" => update.status.as_str())
                    .record(at.elapsed().as_secs_f64());
            }
        }
        if update.status.is_done() {
            self.live.end_log(update.step);
            self.store.announce(Notice::log_end(update.step));
        }
        self.publish(&a.repo, a.build.id).await;
        Ok(())
    }

    /// Stores a chunk of a step's log and hands it to live watchers.
    pub async fn append_log(&self, step: StepId, chunk: LogChunk) -> Result<()> {
        self.store.append_log(step, &chunk).await?;
        self.live.publish_log(step, &chunk);
        self.store.announce(Notice::log(step, chunk.seq));
        Ok(())
    }

    /// Records the end of a stage and moves its build on.
    pub async fn finish_stage(&self, a: &Assignment, result: StageResult) -> Result<()> {
        let now = self.clock.now_ms();
        let finished = self
            .store
            .finish_stage(
                a.stage.id,
                result.status,
                result.exit_code,
                &result.error,
                &Actor::runner(&a.stage.machine),
                now,
            )
            .await?;
        self.stage_ended(a, result.status, &finished).await;
        Ok(())
    }

    /// What follows the end of a leased stage, however it ended: waiting runners woken for
    /// released stages, commit statuses, the build's end, live watchers.
    pub(crate) async fn stage_ended(&self, a: &Assignment, status: Status, finished: &Finished) {
        metrics::gauge!("hangar_stages_running").decrement(1.0);
        if finished.released > 0 {
            self.wake();
        }
        if let Some(statuses) = self.statuses.as_ref().filter(|_| finished.applied) {
            let subject = subject(&a.repo, &a.build);
            statuses.stage_ended(&subject, &a.stage.name, status);
            if let Some(build) = &finished.build {
                statuses.build_ended(&subject, build.status);
            }
        }
        if let Some(build) = &finished.build {
            self.build_finished(build);
        }
        self.publish(&a.repo, a.build.id).await;
    }

    /// Whether a build's credential still holds: the one question asked before a step receives
    /// secrets or an ID-token grant, and before each ID token is issued. Today the build must
    /// still be running (not finished, not cancelled); what else ends a build's credential
    /// (its lifetime, its trigger's token or user) belongs here too.
    pub async fn build_credential_valid(&self, build: BuildId) -> Result<bool> {
        // A build this server's runner is running, not cancelled: no need to ask the store
        // (the hot path of ID-token requests). Ending a build here drops it from the map.
        let running_here = self
            .cancels
            .lock()
            .ok()
            .and_then(|map| map.get(&build).map(|t| !t.is_cancelled()))
            .unwrap_or(false);
        if running_here {
            return Ok(true);
        }
        Ok(matches!(self.store.build_status(build).await?, Some(s) if !s.is_done()))
    }

    /// The secrets and ID-token grant of a step about to start.
    pub async fn step_credentials(&self, a: &Assignment, ask: StepAsk) -> Result<StepGrant> {
        if !self.build_credential_valid(a.build.id).await? {
            return Err(Error::Forbidden(
                "the build has ended: it receives no more secrets or ID tokens".into(),
            ));
        }
        self.workload
            .step_credentials(a, &ask, self.clock.now_ms())
            .await
    }

    fn build_finished(&self, build: &Build) {
        self.workload.forget_build(build.id);
        metrics::counter!("hangar_builds_finished_total", "status" => build.status.as_str())
            .increment(1);
        if build.finished > 0 && build.started > 0 {
            metrics::histogram!("hangar_build_duration_seconds")
                .record((build.finished - build.started) as f64 / 1000.0);
        }
        if let Ok(mut map) = self.cancels.lock() {
            map.remove(&build.id);
        }
    }

    /// Cancels a build: running steps are stopped by their runner, the rest skipped. Returns
    /// `None` when the build had already finished.
    pub async fn cancel(&self, build: &Build, slug: &str, actor: &Actor) -> Result<Option<Build>> {
        self.cancel_because(build.id, build.repo_id, slug, actor, "")
            .await
    }

    /// Cancels a build with `reason` as its error (a build credential that ended).
    pub async fn cancel_because(
        &self,
        build: BuildId,
        repo: RepoId,
        slug: &str,
        actor: &Actor,
        reason: &str,
    ) -> Result<Option<Build>> {
        let cancelled = self
            .store
            .cancel_build(build, slug, actor, reason, self.clock.now_ms())
            .await?;
        if cancelled.is_some() {
            self.workload.forget_build(build);
            self.cancel_here(build);
            // The build may run on a runner of another server on the same database.
            self.store.announce(Notice::cancel(build));
            metrics::counter!("hangar_builds_finished_total", "status" => Status::Killed.as_str())
                .increment(1);
            if let Some(repo) = self.store.find_repo(repo).await? {
                if let (Some(statuses), Some(cancelled)) = (&self.statuses, &cancelled) {
                    statuses.build_ended(&subject(&repo, cancelled), cancelled.status);
                }
                self.publish(&repo, build).await;
            }
        }
        Ok(cancelled)
    }

    /// Resolves when `build` is cancelled (or has already finished).
    pub async fn cancelled(&self, build: BuildId) {
        let token = match self.cancels.lock() {
            Ok(mut map) => map.entry(build).or_default().clone(),
            Err(_) => return,
        };
        // Looked at after the token exists: a cancel before this point shows in the store.
        match self.store.build_status(build).await {
            Ok(Some(status)) if status.is_done() => {
                self.forget_cancel(build);
                return;
            }
            Ok(None) => {
                self.forget_cancel(build);
                return;
            }
            _ => {}
        }
        token.cancelled().await;
    }

    fn forget_cancel(&self, build: BuildId) {
        if let Ok(mut map) = self.cancels.lock() {
            map.remove(&build);
        }
    }

    /// After a restart: the stages this server's runner held end `error` ("server restarted").
    pub async fn recover(&self, machine: &str) -> Result<usize> {
        let recovery = self
            .store
            .recover_stages(machine, "server restarted", self.clock.now_ms())
            .await?;
        if recovery.stages > 0 {
            self.wake();
        }
        Ok(recovery.stages)
    }

    /// Stops `build`'s steps running on this server's runners (cancelled here, or by another
    /// server).
    pub fn cancel_here(&self, build: BuildId) {
        let token = self
            .cancels
            .lock()
            .ok()
            .and_then(|mut map| map.remove(&build));
        if let Some(token) = token {
            token.cancel();
        }
    }

    /// Another server changed `build`: watchers here hear of it.
    pub async fn heard_build(&self, repo: RepoId, build: BuildId) {
        if !self.live.has_build_watchers() {
            return;
        }
        if let Ok(Some(repo)) = self.store.find_repo(repo).await {
            self.publish_here(&repo, build).await;
        }
    }

    /// Sends the build's current state to live watchers here and on the other servers.
    async fn publish(&self, repo: &crate::domain::Repo, build: BuildId) {
        self.store.announce(Notice::build(repo.id, build));
        self.publish_here(repo, build).await;
    }

    /// Sends the build's current state to live watchers here, if anyone watches.
    async fn publish_here(&self, repo: &crate::domain::Repo, build: BuildId) {
        if !self.live.has_build_watchers() {
            return;
        }
        if let Ok(Some(build)) = self.store.find_build_by_id(build).await {
            let mut value = serde_json::to_value(repo).unwrap_or_default();
            value["build"] = serde_json::to_value(&build).unwrap_or_default();
            self.live.publish_build(BuildEvent {
                repo: repo.slug.clone(),
                json: value.to_string().into(),
            });
        }
    }

    /// Publishes a build event for a build that changed outside the runner path.
    pub async fn announce(&self, repo: &crate::domain::Repo, build: BuildId) {
        self.publish(repo, build).await;
    }
}

/// What a commit status needs to know about a build.
fn subject(repo: &crate::domain::Repo, build: &Build) -> Subject {
    Subject {
        build: build.id,
        repo: repo.id,
        slug: repo.slug.clone(),
        clone_url: repo.clone_url().to_string(),
        number: build.number,
        sha: build.after.clone(),
        event: build.event,
    }
}

/// The in-process runner's [`Link`]: direct calls into the scheduler.
#[derive(Clone)]
pub struct LocalLink(pub Arc<Scheduler>);

impl Link for LocalLink {
    async fn lease(&self, filter: &ClaimFilter) -> Result<Option<Assignment>> {
        self.0.lease(filter, LEASE_WAIT).await
    }

    async fn create_steps(&self, stage: &Assignment, steps: Vec<NewStep>) -> Result<Vec<Step>> {
        self.0.create_steps(stage, steps).await
    }

    async fn update_step(&self, stage: &Assignment, update: StepUpdate) -> Result<()> {
        self.0.update_step(stage, update).await
    }

    async fn append_log(&self, _stage: &Assignment, step: StepId, chunk: LogChunk) -> Result<()> {
        self.0.append_log(step, chunk).await
    }

    async fn finish_stage(&self, stage: &Assignment, result: StageResult) -> Result<()> {
        self.0.finish_stage(stage, result).await
    }

    async fn step_credentials(&self, stage: &Assignment, ask: StepAsk) -> Result<StepGrant> {
        self.0.step_credentials(stage, ask).await
    }

    async fn cancelled(&self, stage: &Assignment) {
        self.0.cancelled(stage.build.id).await
    }
}
