//! Remote runners' leases as this server handed them out: which runner holds which stage under
//! which lease number, the steps it recorded, when each runner last sent a heartbeat, and the
//! end of leases whose runner went silent past `runner_timeout` ("runner lost": back to the
//! queue once if no step had started, else `error`) or was revoked ("runner revoked").
//!
//! Every report a remote runner sends names its stage and lease; [`Scheduler::held`] refuses it
//! (409) once that lease is no longer current, and (403) when it never was this runner's, so a
//! runner that comes back after losing its lease reports nothing over the new owner's, and no
//! runner reaches another's stage, secrets or logs. Leases live in memory: a restart ends them
//! (`server.rs`), as it ends the in-process runner's. Time comes from the scheduler's clock.

use crate::auth::token;
use crate::domain::Step;
use crate::domain::{Actor, Runner, RunnerId, StageId, Status, StepId};
use crate::error::{Error, Result};
use crate::runner::Assignment;
use crate::scheduler::Scheduler;
use crate::store::{ClaimFilter, LeaseEnd, LeaseEnded, LeaseScope};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a remote runner may stay silent before its leases end, unless configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Ended leases are remembered this long, so their runner hears 409 rather than 403.
const REMEMBER_ENDED_MS: i64 = 10 * 60 * 1000;

/// A stage under a remote lease: `(stage, lease number)`.
pub type LeaseKey = (StageId, i64);

struct Held {
    runner: RunnerId,
    /// When it was handed out (Unix milliseconds).
    leased_at: i64,
    assignment: Arc<Assignment>,
    /// The steps that may have started: handed their credentials (just before their process
    /// starts) or reported. A stage with any is never re-queued; they end `error` with it.
    stepped: Vec<StepId>,
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
    /// Each runner's last sign of life (Unix milliseconds, from the clock).
    seen: HashMap<RunnerId, i64>,
    /// Runners by token hash (live ones only; revocation removes them).
    tokens: HashMap<String, Runner>,
    /// The in-process runner's name and capacity (for listings).
    local: Option<(String, usize)>,
}

/// The remote leases of one server.
pub struct Leases {
    timeout: Duration,
    inner: Mutex<Inner>,
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
        }
    }

    /// The silence after which a runner's leases end.
    pub fn timeout(&self) -> Duration {
        self.timeout
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

    /// When each runner was last heard from (Unix milliseconds), as this server saw it.
    pub fn last_seen(&self) -> HashMap<RunnerId, i64> {
        self.lock().map(|i| i.seen.clone()).unwrap_or_default()
    }

    /// The stages remote runners hold now.
    pub fn running(&self) -> Vec<RunningStage> {
        let Ok(inner) = self.lock() else {
            return Vec::new();
        };
        let mut out: Vec<RunningStage> = inner
            .held
            .values()
            .filter(|h| h.ended.is_none())
            .map(|h| RunningStage {
                runner: h.runner,
                stage: format!(
                    "{}#{}/{}",
                    h.assignment.repo.slug, h.assignment.build.number, h.assignment.stage.name
                ),
            })
            .collect();
        out.sort_by(|a, b| a.stage.cmp(&b.stage));
        out
    }
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

    /// A runner's heartbeat: it is alive now; what it says of itself is recorded. A lease
    /// handed to it a timeout ago or more that it does not run (the answer to its lease
    /// request was lost on the way) ends as if the runner were lost.
    pub async fn heartbeat(&self, runner: &Runner, running: &[LeaseKey]) -> Result<()> {
        let now = self.clock.now_ms();
        let timeout = i64::try_from(self.remote.timeout.as_millis()).unwrap_or(i64::MAX);
        let unknown: Vec<LeaseKey> = {
            let mut inner = self.remote.lock()?;
            inner.seen.insert(runner.id, now);
            inner
                .held
                .iter()
                .filter(|(k, h)| {
                    h.runner == runner.id
                        && h.ended.is_none()
                        && now - h.leased_at >= timeout
                        && !running.contains(k)
                })
                .map(|(k, _)| *k)
                .collect()
        };
        self.end_remote(&unknown, "runner lost", true).await?;
        self.store.record_runner_seen(runner, now).await
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
        self.remote
            .lock()?
            .seen
            .insert(runner.id, self.clock.now_ms());
        let Some(assignment) = self.lease_scoped(&filter, &scope, wait).await? else {
            return Ok(None);
        };
        let mut inner = self.remote.lock()?;
        inner.seen.insert(runner.id, self.clock.now_ms());
        inner.held.insert(
            (assignment.stage.id, assignment.lease),
            Held {
                runner: runner.id,
                leased_at: self.clock.now_ms(),
                assignment: Arc::new(assignment.clone()),
                stepped: Vec::new(),
                steps: HashMap::new(),
                ended: None,
                stop: CancellationToken::new(),
            },
        );
        Ok(Some(assignment))
    }

    /// The stage `key` names, if it is `runner`'s current lease: 409 once the lease has ended
    /// (lost, revoked, re-queued, finished), 403 if it was never this runner's.
    pub fn held(&self, runner: &Runner, key: LeaseKey) -> Result<Arc<Assignment>> {
        let inner = self.remote.lock()?;
        match inner.held.get(&key) {
            Some(h) if h.runner == runner.id => match &h.ended {
                None => Ok(h.assignment.clone()),
                Some((why, _)) => Err(Error::conflict(format!(
                    "lease {} of stage {} has ended ({why}); stop the stage",
                    key.1, key.0
                ))),
            },
            _ => Err(Error::Forbidden(format!(
                "runner {} holds no lease {} of stage {}",
                runner.name, key.1, key.0
            ))),
        }
    }

    /// Like [`Scheduler::held`], and `step` must be one the runner recorded for the stage.
    pub fn held_step(
        &self,
        runner: &Runner,
        key: LeaseKey,
        step: StepId,
    ) -> Result<Arc<Assignment>> {
        let assignment = self.held(runner, key)?;
        let inner = self.remote.lock()?;
        if inner
            .held
            .get(&key)
            .is_some_and(|h| h.steps.contains_key(&step))
        {
            Ok(assignment)
        } else {
            Err(Error::Forbidden(format!(
                "step {step} is not a step of stage {}",
                key.0
            )))
        }
    }

    /// Whether `step` of the lease `key` is named `name` (a credential ask names its step).
    pub fn check_step_name(&self, key: LeaseKey, step: StepId, name: &str) -> Result<()> {
        let inner = self.remote.lock()?;
        match inner.held.get(&key).and_then(|h| h.steps.get(&step)) {
            Some(recorded) if recorded == name => Ok(()),
            _ => Err(Error::Forbidden(format!(
                "step {step} of stage {} is not named {name:?}",
                key.0
            ))),
        }
    }

    /// Notes that `step` of the lease `key` may have started (see `Held::stepped`).
    pub fn note_stepped(&self, key: LeaseKey, step: StepId) -> Result<()> {
        if let Some(h) = self.remote.lock()?.held.get_mut(&key)
            && !h.stepped.contains(&step)
        {
            h.stepped.push(step);
        }
        Ok(())
    }

    /// Remembers the steps a remote runner recorded for its lease.
    pub fn note_steps(&self, key: LeaseKey, steps: &[Step]) -> Result<()> {
        if let Some(h) = self.remote.lock()?.held.get_mut(&key) {
            h.steps.extend(steps.iter().map(|s| (s.id, s.name.clone())));
        }
        Ok(())
    }

    /// Resolves with why the runner must stop the stage (its lease ended, the build was
    /// cancelled), or `None` after `wait` if nothing happened.
    pub async fn watch_lease(
        &self,
        runner: &Runner,
        key: LeaseKey,
        wait: Duration,
    ) -> Result<Option<String>> {
        let assignment = self.held(runner, key)?;
        let stop = match self.remote.lock()?.held.get(&key) {
            Some(h) => h.stop.clone(),
            None => return Ok(Some("the lease has ended".into())),
        };
        tokio::select! {
            _ = stop.cancelled() => Ok(Some("the lease has ended".into())),
            _ = self.cancelled(assignment.build.id) => Ok(Some("the build was cancelled".into())),
            _ = tokio::time::sleep(wait) => Ok(None),
        }
    }

    /// The lease `key` ended with its runner's own report.
    pub fn release(&self, key: LeaseKey) {
        self.end_held(key, "the stage finished");
    }

    fn end_held(&self, key: LeaseKey, why: &str) {
        let now = self.clock.now_ms();
        if let Ok(mut inner) = self.remote.lock() {
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

    /// Ends remote leases without their runner (lost or revoked) and moves their builds on.
    /// With `requeue`, a stage none of whose steps had started goes back to the queue.
    async fn end_remote(&self, keys: &[LeaseKey], why: &str, requeue: bool) -> Result<()> {
        for &key in keys {
            self.end_one_remote(key, why, requeue).await?;
        }
        Ok(())
    }

    async fn end_one_remote(&self, key: LeaseKey, why: &str, requeue: bool) -> Result<()> {
        let (assignment, stepped) = match self.remote.lock()?.held.get(&key) {
            Some(h) if h.ended.is_none() => (h.assignment.clone(), h.stepped.clone()),
            _ => return Ok(()),
        };
        let end = LeaseEnd {
            why: why.to_string(),
            requeue: requeue && stepped.is_empty(),
            started: stepped,
        };
        let now = self.clock.now_ms();
        let outcome = self.store.end_lease(key.0, key.1, &end, now).await?;
        self.end_held(key, &end.why);
        match outcome {
            LeaseEnded::Gone => {}
            LeaseEnded::Requeued => {
                tracing::warn!(stage = key.0.0, why = %end.why, "a stage no step of which had started went back to the queue");
                metrics::gauge!("hangar_stages_running").decrement(1.0);
                self.wake();
                self.announce(&assignment.repo, assignment.build.id).await;
            }
            LeaseEnded::Ended(finished) => {
                tracing::warn!(stage = key.0.0, why = %end.why, "a stage ended with its runner");
                self.stage_ended(&assignment, Status::Error, &finished)
                    .await;
            }
        }
        Ok(())
    }

    /// Ends the leases of runners silent for longer than the timeout ("runner lost").
    pub async fn reap_lost_runners(&self) -> Result<usize> {
        let now = self.clock.now_ms();
        let timeout = i64::try_from(self.remote.timeout.as_millis()).unwrap_or(i64::MAX);
        let lost: Vec<LeaseKey> = {
            let inner = self.remote.lock()?;
            inner
                .held
                .iter()
                .filter(|(_, h)| h.ended.is_none())
                .filter(|(_, h)| {
                    let seen = inner.seen.get(&h.runner).copied().unwrap_or(0);
                    now - seen > timeout
                })
                .map(|(k, _)| *k)
                .collect()
        };
        self.end_remote(&lost, "runner lost", true).await?;
        Ok(lost.len())
    }

    /// Revokes the runner `name`: its token stops working and its leases end at once ("runner
    /// revoked"). `None` when there is no live runner of that name.
    pub async fn revoke_runner(&self, actor: &Actor, name: &str) -> Result<Option<Runner>> {
        let Some(runner) = self
            .store
            .revoke_runner(actor, name, self.clock.now_ms())
            .await?
        else {
            return Ok(None);
        };
        self.runner_revoked_here(runner.id).await?;
        // Other servers on the same database forget its token and end the leases they hold.
        self.store.announce(crate::store::Notice::RunnerRevoked {
            runner: runner.id.0,
        });
        Ok(Some(runner))
    }

    /// A runner was revoked (here or on another server): its token stops working here and
    /// the leases this server handed it end ("runner revoked").
    pub async fn runner_revoked_here(&self, runner: RunnerId) -> Result<()> {
        let keys: Vec<LeaseKey> = {
            let mut inner = self.remote.lock()?;
            inner.tokens.retain(|_, r| r.id != runner);
            inner
                .held
                .iter()
                .filter(|(_, h)| h.runner == runner && h.ended.is_none())
                .map(|(k, _)| *k)
                .collect()
        };
        self.end_remote(&keys, "runner revoked", false).await
    }

    /// After a restart: the stages remote runners held end `error` ("server restarted"), as
    /// the in-process runner's do; their runners hear 403 and stop.
    pub async fn recover_remote(&self) -> Result<usize> {
        let mut ended = 0;
        for machine in self.store.list_remote_machines().await? {
            ended += self.recover(&machine).await?;
        }
        Ok(ended)
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

/// Checks for lost runners every quarter of the timeout (at most each second) until shutdown.
pub async fn reap(scheduler: Arc<Scheduler>, shutdown: CancellationToken) {
    let every =
        (scheduler.remote.timeout() / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
        if let Err(e) = scheduler.reap_lost_runners().await {
            tracing::warn!(error = %e.detail(), "ending the leases of lost runners failed");
        }
    }
}
