//! Remote runners' leases: which runner holds which stage under which lease number, and the
//! steps it recorded. The truth is in the database (`store/leases.rs`: one row per lease, with
//! its holder and whether and why it ended; each runner's last heartbeat), so every server
//! sharing it answers a runner the same way and a runner may talk to any of them. Each server
//! keeps the leases its runners' reports name in memory, loaded from the database on first
//! sight; a lease ended anywhere is marked ended here by the notice its server sends
//! (`cluster.rs`), and a runner's watch on it returns at once.
//!
//! Every report a remote runner sends names its stage and lease; [`Scheduler::held`] refuses it
//! (409) once that lease has ended, and (403) when it never was this runner's, so a runner that
//! comes back after losing its lease reports nothing over the new owner's, and no runner
//! reaches another's stage, secrets or logs. Lost, revoked and finished leases: `ending.rs`.

mod ending;

pub use ending::reap;

use crate::auth::token;
use crate::domain::{Runner, RunnerId, StageId, Step, StepId};
use crate::error::{Error, Result};
use crate::runner::Assignment;
use crate::scheduler::Scheduler;
use crate::store::{ClaimFilter, LeaseScope};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a remote runner may stay silent before its leases end, unless configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Ended leases are remembered this long, so their runner hears 409 without a lookup.
const REMEMBER_ENDED_MS: i64 = 10 * 60 * 1000;

/// A stage under a remote lease: `(stage, lease number)`.
pub type LeaseKey = (StageId, i64);

/// A lease as this server knows it.
struct Held {
    runner: RunnerId,
    assignment: Arc<Assignment>,
    /// The steps the runner recorded, with their names.
    steps: HashMap<StepId, String>,
    /// Why and when the lease ended (it is kept a while to answer 409).
    ended: Option<(String, i64)>,
    /// Cancelled when the lease ends: the runner's watch returns at once.
    stop: CancellationToken,
}

#[derive(Default)]
struct Inner {
    held: HashMap<LeaseKey, Held>,
    /// Runners by token hash (live ones only; revocation removes them).
    tokens: HashMap<String, Runner>,
    /// The in-process runner's name and capacity (for listings).
    local: Option<(String, usize)>,
}

/// What one server knows of the remote leases.
pub struct Leases {
    timeout: Duration,
    inner: Mutex<Inner>,
    /// Cancelled when the server stops: runners' long polls answer at once, so a graceful
    /// stop does not wait them out.
    stopping: CancellationToken,
}

/// A running stage of a remote runner, for listings.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunningStage {
    pub runner: RunnerId,
    /// `owner/name#number/stage`.
    pub stage: String,
}

impl Leases {
    pub fn new(timeout: Duration) -> Leases {
        Leases {
            timeout,
            inner: Mutex::new(Inner::default()),
            stopping: CancellationToken::new(),
        }
    }

    /// The server is stopping: long polls answer "nothing" now.
    pub fn stop_waiting(&self) {
        self.stopping.cancel();
    }

    /// Resolves once the server is stopping.
    pub async fn stopping(&self) {
        self.stopping.cancelled().await;
    }

    /// The silence after which a runner's leases end.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn timeout_ms(&self) -> i64 {
        i64::try_from(self.timeout.as_millis()).unwrap_or(i64::MAX)
    }

    /// How often a runner should send a heartbeat: a quarter of the timeout, at most 10 s.
    pub fn heartbeat_interval(&self) -> Duration {
        (self.timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(10))
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>> {
        self.inner
            .lock()
            .map_err(|_| Error::internal(anyhow::anyhow!("the lease table is poisoned")))
    }

    /// Records the in-process runner's name and capacity (0: it is off).
    pub fn set_local(&self, name: &str, capacity: usize) {
        if let Ok(mut inner) = self.lock() {
            inner.local = Some((name.to_string(), capacity));
        }
    }

    /// The in-process runner's name and capacity.
    pub fn local(&self) -> Option<(String, usize)> {
        self.lock().ok().and_then(|i| i.local.clone())
    }

    /// Drops what this server remembers of runners and leases (notices may have been missed):
    /// the next report is checked against the database.
    pub fn forget_here(&self) {
        if let Ok(mut inner) = self.lock() {
            inner.tokens.clear();
            inner.held.clear();
        }
    }

    /// Marks the lease `key` ended here; its runner's watch returns.
    fn end_here(&self, key: LeaseKey, why: &str, now: i64) {
        if let Ok(mut inner) = self.lock() {
            if let Some(h) = inner.held.get_mut(&key)
                && h.ended.is_none()
            {
                h.ended = Some((why.to_string(), now));
                h.stop.cancel();
            }
            inner.held.retain(|_, h| {
                h.ended
                    .as_ref()
                    .is_none_or(|(_, at)| now - at < REMEMBER_ENDED_MS)
            });
        }
    }

    /// The lease `key` as known here: `Some(Ok)` if it is `runner`'s current one, `Some(Err)`
    /// if it ended or is another's, `None` if it is not known here.
    fn cached(&self, runner: &Runner, key: LeaseKey) -> Result<Option<Result<Arc<Assignment>>>> {
        let inner = self.lock()?;
        Ok(inner.held.get(&key).map(|h| {
            if h.runner != runner.id {
                Err(not_yours(runner, key))
            } else if let Some((why, _)) = &h.ended {
                Err(ended(key, why))
            } else {
                Ok(h.assignment.clone())
            }
        }))
    }

    /// The name of `step` of the lease `key`, if the runner recorded it (as known here).
    fn step_name(&self, key: LeaseKey, step: StepId) -> Result<Option<String>> {
        Ok(self
            .lock()?
            .held
            .get(&key)
            .and_then(|h| h.steps.get(&step).cloned()))
    }

    fn remember_steps(&self, key: LeaseKey, steps: impl IntoIterator<Item = (StepId, String)>) {
        if let Ok(mut inner) = self.lock()
            && let Some(h) = inner.held.get_mut(&key)
        {
            h.steps.extend(steps);
        }
    }

    /// Keeps a lease just handed out or read from the database (a known one stays as it is).
    fn remember(&self, key: LeaseKey, runner: RunnerId, assignment: Arc<Assignment>) {
        if let Ok(mut inner) = self.lock() {
            inner.held.entry(key).or_insert_with(|| Held {
                runner,
                assignment,
                steps: HashMap::new(),
                ended: None,
                stop: CancellationToken::new(),
            });
        }
    }
}

fn ended(key: LeaseKey, why: &str) -> Error {
    Error::conflict(format!(
        "lease {} of stage {} has ended ({why}); stop the stage",
        key.1, key.0
    ))
}

fn not_yours(runner: &Runner, key: LeaseKey) -> Error {
    Error::Forbidden(format!(
        "runner {} holds no lease {} of stage {}",
        runner.name, key.1, key.0
    ))
}

impl Scheduler {
    /// The live runner a bearer token belongs to; 401 for anything else.
    pub async fn authenticate_runner(&self, bearer: &str) -> Result<Runner> {
        let refused = || {
            Error::Unauthenticated(
                "the runner token is not valid (unknown, malformed or revoked)".into(),
            )
        };
        if !token::is_runner_token(bearer) {
            return Err(refused());
        }
        let hash = token::hash(bearer);
        if let Some(runner) = self.remote.lock()?.tokens.get(&hash) {
            return Ok(runner.clone());
        }
        let runner = self
            .store
            .find_runner_by_hash(&hash)
            .await?
            .ok_or_else(refused)?;
        self.remote.lock()?.tokens.insert(hash, runner.clone());
        Ok(runner)
    }

    /// Leases a stage for a remote runner: its registered labels must be the ones it asks with,
    /// and only its repositories' stages are handed to it.
    pub async fn lease_remote(
        &self,
        runner: &Runner,
        filter: &ClaimFilter,
        wait: Duration,
    ) -> Result<Option<Assignment>> {
        if filter.labels != runner.labels {
            return Err(Error::Forbidden(format!(
                "runner {} is registered for the labels {{{}}}, not {{{}}}",
                runner.name,
                crate::domain::runner::labels_text(&runner.labels),
                crate::domain::runner::labels_text(&filter.labels)
            )));
        }
        let mut filter = filter.clone();
        filter.machine = runner.name.clone();
        let scope = LeaseScope {
            runner: runner.id,
            repos: runner.repos.clone(),
        };
        let Some(assignment) = self.lease_scoped(&filter, &scope, wait).await? else {
            return Ok(None);
        };
        self.remote.remember(
            (assignment.stage.id, assignment.lease),
            runner.id,
            Arc::new(assignment.clone()),
        );
        Ok(Some(assignment))
    }

    /// The stage `key` names, if it is `runner`'s current lease: 409 once the lease has ended
    /// (lost, revoked, re-queued, finished), 403 if it was never this runner's. A lease another
    /// server handed out is read from the database.
    pub async fn held(&self, runner: &Runner, key: LeaseKey) -> Result<Arc<Assignment>> {
        self.lookup(runner, key, false).await
    }

    /// Like [`Scheduler::held`], and confirmed in the database: for the reports that change
    /// what a stage is (its steps, their credentials, its end), so a lease another server
    /// ended a moment ago is refused before its notice arrives here. Log chunks and watches
    /// go by what this server knows.
    pub async fn held_now(&self, runner: &Runner, key: LeaseKey) -> Result<Arc<Assignment>> {
        self.lookup(runner, key, true).await
    }

    /// The lease `key` as `runner`'s current one: as this server knows it (confirmed in the
    /// database with `confirm`), or read from the database when it is not known here.
    async fn lookup(
        &self,
        runner: &Runner,
        key: LeaseKey,
        confirm: bool,
    ) -> Result<Arc<Assignment>> {
        if let Some(known) = self.remote.cached(runner, key)? {
            let assignment = known?;
            if confirm {
                self.confirm(runner, key).await?;
            }
            return Ok(assignment);
        }
        self.confirm(runner, key).await?;
        let assignment = Arc::new(self.load_assignment(key).await?);
        self.remote.remember(key, runner.id, assignment);
        let steps = self.store.list_step_names(key.0).await?;
        self.remote.remember_steps(key, steps);
        // An end committed before this second look shows in it; one committed after it sends
        // its notice after `remember`, which then marks the lease ended here.
        self.confirm(runner, key).await?;
        self.remote
            .cached(runner, key)?
            .unwrap_or_else(|| Err(ended(key, "forgotten")))
    }

    /// Refuses `key` unless the database has it as `runner`'s and not ended (an ended one is
    /// marked ended here too).
    async fn confirm(&self, runner: &Runner, key: LeaseKey) -> Result<()> {
        match self.store.find_lease(key.0, key.1).await? {
            Some(r) if r.runner != runner.id => Err(not_yours(runner, key)),
            None => Err(not_yours(runner, key)),
            Some(r) if r.ended > 0 => {
                self.remote.end_here(key, &r.why, self.clock.now_ms());
                Err(ended(key, &r.why))
            }
            Some(_) => Ok(()),
        }
    }

    /// A lease's stage, build, repository and configuration, read from the database.
    async fn load_assignment(&self, key: LeaseKey) -> Result<Assignment> {
        let gone = || Error::not_found(format!("stage {} is gone", key.0));
        let stage = self.store.find_stage(key.0).await?.ok_or_else(gone)?;
        let build = self
            .store
            .find_build_by_id(stage.build_id)
            .await?
            .ok_or_else(gone)?;
        let repo = self
            .store
            .find_repo(stage.repo_id)
            .await?
            .ok_or_else(gone)?;
        let config = self
            .store
            .find_build_config(build.id)
            .await?
            .unwrap_or_default();
        Ok(Assignment {
            stage,
            build,
            repo,
            config,
            lease: key.1,
        })
    }

    /// Like [`Scheduler::held`] (with `confirm`: [`Scheduler::held_now`]), and `step` must be
    /// one the runner recorded for the stage; answers the step's name too.
    pub async fn held_step(
        &self,
        runner: &Runner,
        key: LeaseKey,
        step: StepId,
        confirm: bool,
    ) -> Result<(Arc<Assignment>, String)> {
        let assignment = self.lookup(runner, key, confirm).await?;
        if let Some(name) = self.remote.step_name(key, step)? {
            return Ok((assignment, name));
        }
        // Recorded through another server?
        let steps = self.store.list_step_names(key.0).await?;
        self.remote.remember_steps(key, steps);
        match self.remote.step_name(key, step)? {
            Some(name) => Ok((assignment, name)),
            None => Err(Error::Forbidden(format!(
                "step {step} is not a step of stage {}",
                key.0
            ))),
        }
    }

    /// Notes that `step` of the lease `key` may have started: it was handed its credentials
    /// (just before its process starts) or reported. A stage with such a step is never
    /// re-queued; they end `error` with it.
    pub async fn note_stepped(&self, key: LeaseKey, step: StepId) -> Result<()> {
        self.store.mark_step_handed(key.0, step).await
    }

    /// Remembers the steps a remote runner recorded for its lease.
    pub fn note_steps(&self, key: LeaseKey, steps: &[Step]) {
        self.remote
            .remember_steps(key, steps.iter().map(|s| (s.id, s.name.clone())));
    }

    /// Resolves with why the runner must stop the stage (its lease ended, the build was
    /// cancelled), or `None` after `wait` if nothing happened.
    pub async fn watch_lease(
        &self,
        runner: &Runner,
        key: LeaseKey,
        wait: Duration,
    ) -> Result<Option<String>> {
        let assignment = self.held(runner, key).await?;
        let stop = match self.remote.lock()?.held.get(&key) {
            Some(h) => h.stop.clone(),
            None => return Ok(Some("the lease has ended".into())),
        };
        tokio::select! {
            _ = stop.cancelled() => Ok(Some("the lease has ended".into())),
            _ = self.cancelled(assignment.build.id) => Ok(Some("the build was cancelled".into())),
            _ = tokio::time::sleep(wait) => Ok(None),
            _ = self.remote.stopping() => Ok(None),
        }
    }

    /// The stages remote runners hold now (on any server).
    pub async fn remote_running(&self) -> Result<Vec<RunningStage>> {
        Ok(self
            .store
            .list_open_leases(None)
            .await?
            .into_iter()
            .map(|l| RunningStage {
                runner: RunnerId(l.runner_id),
                stage: l.label,
            })
            .collect())
    }
}

/// Whether `ask` is what the stage's configuration lets that step have: a remote runner is
/// handed only the secrets and ID tokens its step names, and clone credentials only for the
/// clone step (the in-process runner asks from the same plan, so it needs no check).
pub fn check_ask(a: &Assignment, ask: &crate::runner::StepAsk) -> Result<()> {
    let refuse = |what: String| Err(Error::Forbidden(format!("step {:?} {what}", ask.name)));
    let manifest = crate::pipeline::parse(&a.config)
        .map_err(|_| Error::Forbidden("the stage's configuration does not parse".into()))?;
    let Some(pipeline) = manifest.pipelines.iter().find(|p| p.name == a.stage.name) else {
        return refuse("belongs to no pipeline of the build".into());
    };
    if ask.clone {
        if ask.name != "clone" || pipeline.clone.disable || !ask.secrets.is_empty() {
            return refuse("may not have clone credentials".into());
        }
        return Ok(());
    }
    let Some(step) = pipeline.steps.iter().find(|s| s.name == ask.name) else {
        return refuse("is not a step of the stage".into());
    };
    for name in &ask.secrets {
        let named = step
            .environment
            .values()
            .any(|v| matches!(v, crate::pipeline::EnvValue::FromSecret(n) if n == name));
        if !named {
            return refuse(format!("does not name the secret {name:?}"));
        }
    }
    for (variable, audience) in &ask.id_tokens {
        if step.id_tokens.get(variable) != Some(audience) {
            return refuse(format!(
                "declares no ID token {variable:?} for that audience"
            ));
        }
    }
    Ok(())
}
