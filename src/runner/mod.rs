//! Runs stages: leases them from the scheduler, runs their steps as processes in a fresh
//! workspace, streams their logs, and reports every step and the stage's end.
//!
//! The runner talks to the server only through [`Link`]: the in-process runner's link calls the
//! scheduler directly; a remote runner's link speaks the same calls over HTTP. So there is one
//! runner code path. `process.rs` is the only place that starts processes.

mod credentials;
pub mod env;
pub mod log;
pub mod mask;
pub mod process;
pub mod remote;
pub mod sandbox;
mod script;
mod stage;
pub mod wire;
mod workspace;

use crate::domain::{Build, Repo, Stage, Status, Step, StepId};
use crate::error::Result;
use crate::store::{ClaimFilter, LogChunk, NewStep};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// A stage handed to a runner, with everything it needs to run it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Assignment {
    pub stage: Stage,
    pub build: Build,
    pub repo: Repo,
    /// The configuration text the build was prepared with.
    pub config: String,
    /// The lease's number (each lease of a stage counts up): a remote runner's reports carry
    /// it, and are refused once the lease is no longer current.
    pub lease: i64,
}

/// A runner's report on one step.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StepUpdate {
    pub step: StepId,
    pub name: String,
    pub status: Status,
    pub exit_code: i64,
    pub error: String,
}

/// What a step about to start asks the server for: the secrets its `from_secret` values name,
/// the ID tokens its `id_tokens:` declare (variable name, audience), and for the clone step the
/// repository's clone credentials.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct StepAsk {
    pub step: StepId,
    pub name: String,
    pub clone: bool,
    pub secrets: Vec<String>,
    pub id_tokens: Vec<(String, String)>,
}

/// What the server hands a step: the secrets it may have (by secret name), the URL and bearer
/// to ask for ID tokens (`HANGAR_ID_TOKEN_REQUEST_*`; absent when the build may get none), the
/// declared ID tokens (by variable name), and the clone step's clone credentials. `Debug` shows
/// no value.
#[derive(Debug, Clone, Default)]
pub struct StepGrant {
    pub secrets: Vec<(String, crate::config::Secret)>,
    pub request: Option<(String, crate::config::Secret)>,
    pub id_tokens: Vec<(String, crate::config::Secret)>,
    pub netrc: Option<crate::auth::netrc::Netrc>,
}

impl StepGrant {
    /// Every value the step receives that its log must never show.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.secrets
            .iter()
            .map(|(_, s)| s)
            .chain(self.request.iter().map(|(_, s)| s))
            .chain(self.id_tokens.iter().map(|(_, s)| s))
            .chain(self.netrc.iter().map(|n| &n.password))
            .map(|s| s.expose())
    }
}

/// How a stage ended, as its runner saw it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StageResult {
    pub status: Status,
    pub exit_code: i64,
    pub error: String,
}

/// The calls between a runner and the server that hands out stages.
pub trait Link: Send + Sync + 'static {
    /// Waits (up to about half a minute) for a stage the runner can run, and leases it.
    fn lease(
        &self,
        filter: &ClaimFilter,
    ) -> impl Future<Output = Result<Option<Assignment>>> + Send;
    /// Records the steps the runner compiled for a leased stage; returns them with their ids.
    fn create_steps(
        &self,
        stage: &Assignment,
        steps: Vec<NewStep>,
    ) -> impl Future<Output = Result<Vec<Step>>> + Send;
    /// Reports a step's new status.
    fn update_step(
        &self,
        stage: &Assignment,
        update: StepUpdate,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Stores a chunk of a step's log.
    fn append_log(
        &self,
        stage: &Assignment,
        step: StepId,
        chunk: LogChunk,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Reports the end of a stage; the lease ends with it.
    fn finish_stage(
        &self,
        stage: &Assignment,
        result: StageResult,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The secrets and ID-token grant of a step about to start; an error when the build may no
    /// longer receive any (its credential has ended).
    fn step_credentials(
        &self,
        stage: &Assignment,
        ask: StepAsk,
    ) -> impl Future<Output = Result<StepGrant>> + Send;
    /// Resolves when the build is cancelled or the lease is lost: the runner must stop.
    fn cancelled(&self, stage: &Assignment) -> impl Future<Output = ()> + Send;
}

/// How a runner is set up.
#[derive(Clone)]
pub struct Settings {
    /// The runner's name, recorded on the stages it runs.
    pub name: String,
    /// Its labels: it leases stages whose `node:` is exactly these.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Stages run at once.
    pub capacity: usize,
    /// Where stage workspaces are made (and swept at start).
    pub work_dir: PathBuf,
    /// Bytes of log kept per step.
    pub log_limit: u64,
    /// Time between SIGTERM and SIGKILL when a step is stopped.
    pub cancel_grace: Duration,
    /// The server's public URL (for `DRONE_SYSTEM_*` and links).
    pub server_url: String,
    /// Proxy variables of the runner's own environment, passed on to steps.
    pub proxy: env::Environment,
    /// Where steps run isolated: the sandbox around them.
    pub sandbox: Option<sandbox::Sandbox>,
    pub clock: crate::clock::SharedClock,
}

impl Settings {
    /// What this runner can run: exec pipelines for this machine's platform, no labels.
    pub fn filter(&self) -> ClaimFilter {
        ClaimFilter {
            types: vec!["exec".into()],
            os: platform_os().into(),
            arch: platform_arch().into(),
            labels: self.labels.clone(),
            machine: self.name.clone(),
        }
    }
}

/// This machine's OS as Drone names it.
pub fn platform_os() -> &'static str {
    std::env::consts::OS
}

/// This machine's architecture as Drone names it.
pub fn platform_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        other => other,
    }
}

/// Kills every step still running under `work_dir` and removes the workspaces (at shutdown).
pub async fn stop_all(work_dir: &std::path::Path) {
    workspace::sweep(work_dir).await;
}

/// Leases and runs stages until `shutdown` is cancelled, at most `capacity` at once.
pub async fn run<L: Link>(link: Arc<L>, settings: Arc<Settings>, shutdown: CancellationToken) {
    workspace::sweep(&settings.work_dir).await;
    let slots = Arc::new(Semaphore::new(settings.capacity));
    let filter = settings.filter();
    let running = tokio_util::task::TaskTracker::new();
    // After a failed lease request (the server unreachable or restarting), the next waits
    // longer: 1 s, doubling up to 5 s, back to 1 s once one succeeds.
    let mut retry = Duration::from_secs(1);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.cancelled() => break,
        };
        let leased = tokio::select! {
            l = link.lease(&filter) => l,
            _ = shutdown.cancelled() => break,
        };
        if leased.is_ok() {
            retry = Duration::from_secs(1);
        }
        match leased {
            Ok(Some(assignment)) => {
                let link = link.clone();
                let settings = settings.clone();
                running.spawn(async move {
                    stage::run(link.as_ref(), &settings, assignment).await;
                    drop(permit);
                });
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(error = %err.detail(), retry_in_s = retry.as_secs(), "leasing a stage failed; trying again");
                tokio::select! {
                    _ = tokio::time::sleep(retry) => {}
                    _ = shutdown.cancelled() => break,
                }
                retry = (retry * 2).min(Duration::from_secs(5));
            }
        }
    }
    running.close();
    running.wait().await;
}
