//! An event (a webhook, a manual start, a restart, a cron job) becomes a build; the build's `.drone.yml`,
//! read at its commit, becomes stages.
//!
//! Two steps, so a webhook is answered as soon as its build is durably queued:
//! 1. `intake`: builds are written in groups (one transaction for whatever arrived meanwhile),
//!    then the caller gets its answer.
//! 2. `prepare`: a background loop reads each new build's configuration from the repository's
//!    mirror and decides, on the server, which stages run (`plan`), then wakes the scheduler.
//!    Builds are found by status in the store, so a restart loses none.

pub mod acting;
mod cron;
mod intake;
mod plan;
mod prepare;

pub use cron::Owner;
pub use plan::plan_stages;

/// Who starts a build by a request: the audit actor, the identity the build acts as, and what
/// the starter should be told (see [`acting::of_caller`]).
#[derive(Debug, Clone)]
pub struct Starter {
    pub actor: Actor,
    pub identity: BuildActor,
    pub warnings: Vec<String>,
}

use crate::auth::policy::Authz;
use crate::auth::principal::Principal;
use crate::clock::SharedClock;
use crate::domain::{Actor, Build, BuildActor, Event, Repo};
use crate::error::{Error, Result};
use crate::forge::{Forge, Hook};
use crate::mirror::Mirrors;
use crate::scheduler::Scheduler;
use crate::store::{Created, NewBuild, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// What a webhook came to.
#[derive(Debug, Clone)]
pub enum HookOutcome {
    Created(Build),
    /// A redelivery of a webhook that already made this build.
    Duplicate(Build),
    /// No build, for this reason (`[ci skip]`, ...).
    Skipped(String),
}

/// The trigger: shared by the HTTP layer (webhooks, manual builds, restarts).
pub struct Trigger {
    store: Store,
    clock: SharedClock,
    scheduler: Arc<Scheduler>,
    mirrors: Arc<Mirrors>,
    intake: mpsc::Sender<intake::Request>,
    prepare: Notify,
    /// The server's host, for `instance` conditions.
    instance: String,
    /// What the attached runners can run, to explain stages none of them can.
    runners: Vec<crate::store::ClaimFilter>,
    /// The intake and prepare loops, so shutdown can wait for them.
    loops: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    shutdown: CancellationToken,
}

impl Trigger {
    /// Starts the intake and prepare loops; they stop with `shutdown`.
    pub fn start(
        store: Store,
        clock: SharedClock,
        scheduler: Arc<Scheduler>,
        mirrors: Arc<Mirrors>,
        server_url: &str,
        runners: Vec<crate::store::ClaimFilter>,
        shutdown: CancellationToken,
    ) -> Arc<Trigger> {
        let (tx, rx) = mpsc::channel(4096);
        let instance = url::Url::parse(server_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        let trigger = Arc::new(Trigger {
            store,
            clock,
            scheduler,
            mirrors,
            intake: tx,
            prepare: Notify::new(),
            instance,
            runners,
            loops: std::sync::Mutex::new(Vec::new()),
            shutdown: shutdown.clone(),
        });
        let handles = vec![
            tokio::spawn(intake::run(trigger.clone(), rx, shutdown.clone())),
            tokio::spawn(prepare::run(trigger.clone(), shutdown)),
        ];
        if let Ok(mut loops) = trigger.loops.lock() {
            loops.extend(handles);
        }
        trigger
    }

    /// Waits until the loops have stopped (after the shutdown token was cancelled).
    pub async fn stopped(&self) {
        let handles: Vec<_> = match self.loops.lock() {
            Ok(mut loops) => loops.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for handle in handles {
            let _ = handle.await;
        }
    }

    /// Why a build of `commit` must wait for approval under verified commits (empty: it need
    /// not, or the repository does not ask).
    async fn unverified(&self, repo: &Repo, commit: &str) -> Result<String> {
        Ok(
            crate::auth::commit_keys::unverified_reason(&self.store, &self.mirrors, repo, commit)
                .await?
                .unwrap_or_default(),
        )
    }

    /// Queues a build durably and returns it (or the build an earlier delivery made).
    pub async fn submit(&self, build: NewBuild) -> Result<Created> {
        intake::submit(self, build).await
    }

    /// Who `principal` starts builds of `repo` as.
    pub async fn starter(
        &self,
        authz: &Authz,
        principal: &Principal,
        repo: &Repo,
    ) -> Result<Starter> {
        let (identity, warnings) =
            acting::of_caller(&self.store, authz, principal, repo, self.clock.now_ms()).await?;
        Ok(Starter {
            actor: principal.actor(),
            identity,
            warnings,
        })
    }

    /// Turns a verified webhook for `repo` into a build, acting as its sender; the build waits
    /// for approval when the repository's trigger policy says so.
    pub async fn hook(
        &self,
        repo: &Repo,
        forge: Forge,
        hook: &Hook,
        authz: &Authz,
    ) -> Result<HookOutcome> {
        let event = hook.event.unwrap_or(Event::Push);
        if event.honours_skip_markers()
            && let Some(marker) = skip_marker(&hook.message).or_else(|| skip_marker(&hook.title))
        {
            return Ok(HookOutcome::Skipped(format!(
                "skipped: the commit message holds {marker}"
            )));
        }
        let decision = acting::of_sender(&self.store, authz, repo, forge, hook).await?;
        let blocked_reason = if decision.blocked_reason.is_empty() {
            self.unverified(repo, &hook.after).await?
        } else {
            decision.blocked_reason
        };
        let build = NewBuild {
            repo_id: repo.id,
            repo_slug: repo.slug.clone(),
            trigger: "@hook".into(),
            event: Some(event),
            action: hook.action.clone(),
            link: hook.link.clone(),
            timestamp: hook.timestamp,
            title: hook.title.clone(),
            message: hook.message.clone(),
            before: hook.before.clone(),
            after: hook.after.clone(),
            git_ref: hook.git_ref.clone(),
            source_repo: hook.source_repo.clone(),
            source: hook.source.clone(),
            target: hook.target.clone(),
            author_login: hook.author_login.clone(),
            author_name: hook.author_name.clone(),
            author_email: hook.author_email.clone(),
            author_avatar: hook.author_avatar.clone(),
            sender: hook.sender.clone(),
            delivery_id: hook.delivery_id.clone(),
            actor: Some(Actor::hook()),
            identity: Some(decision.identity),
            blocked_reason,
            ..NewBuild::default()
        };
        Ok(match self.submit(build).await? {
            Created::New(b) => HookOutcome::Created(b),
            Created::Duplicate(b) => HookOutcome::Duplicate(b),
        })
    }

    /// Starts a build of `branch` (at `commit`, or its tip) by hand.
    pub async fn manual(
        &self,
        repo: &Repo,
        branch: &str,
        commit: Option<&str>,
        params: BTreeMap<String, String>,
        starter: &Starter,
    ) -> Result<Build> {
        let actor = &starter.actor;
        let found = match commit {
            Some(sha) => self.mirrors.commit(repo, sha).await?,
            None => self.mirrors.branch_head(repo, branch).await?,
        };
        let Some(head) = found else {
            return Err(Error::not_found(match commit {
                Some(sha) => format!("commit {sha} is not in the repository"),
                None => format!("branch {branch:?} is not in the repository"),
            }));
        };
        let blocked_reason = self.unverified(repo, &head.sha).await?;
        let build = NewBuild {
            repo_id: repo.id,
            repo_slug: repo.slug.clone(),
            trigger: actor.name.clone(),
            blocked_reason,
            event: Some(Event::Custom),
            timestamp: head.timestamp,
            message: head.message,
            after: head.sha,
            git_ref: format!("refs/heads/{branch}"),
            source: branch.into(),
            target: branch.into(),
            author_name: head.author_name,
            author_email: head.author_email,
            sender: actor.name.clone(),
            params,
            actor: Some(actor.clone()),
            identity: Some(starter.identity.clone()),
            warnings: starter.warnings.clone(),
            ..NewBuild::default()
        };
        match self.submit(build).await? {
            Created::New(b) | Created::Duplicate(b) => Ok(b),
        }
    }

    /// Runs a build again as a new build whose parent it is.
    pub async fn restart(&self, repo: &Repo, old: &Build, starter: &Starter) -> Result<Build> {
        let build = NewBuild {
            blocked_reason: self.unverified(repo, &old.after).await?,
            event: Some(old.event),
            action: old.action.clone(),
            sender: old.sender.clone(),
            params: old.params.clone(),
            cron: old.cron.clone(),
            deploy_to: old.deploy_to.clone(),
            deploy_id: old.deploy_id,
            ..child_of(repo, old, starter)
        };
        match self.submit(build).await? {
            Created::New(b) | Created::Duplicate(b) => Ok(b),
        }
    }

    /// Deploys `old` to `target`: a new `promote` (or `rollback`) build of the same commit
    /// whose parent it is.
    pub async fn promote(
        &self,
        repo: &Repo,
        old: &Build,
        deployment: Deployment<'_>,
        params: BTreeMap<String, String>,
        starter: &Starter,
    ) -> Result<Build> {
        let build = NewBuild {
            blocked_reason: self.unverified(repo, &old.after).await?,
            event: Some(deployment.event),
            sender: starter.actor.name.clone(),
            params,
            deploy_to: deployment.target.to_string(),
            ..child_of(repo, old, starter)
        };
        match self.submit(build).await? {
            Created::New(b) | Created::Duplicate(b) => Ok(b),
        }
    }
}

/// Where a promotion goes: `promote` or `rollback`, to `target`.
#[derive(Debug, Clone, Copy)]
pub struct Deployment<'a> {
    pub event: Event,
    pub target: &'a str,
}

/// A new build of `old`'s commit, whose parent `old` is, started by `starter`.
fn child_of(repo: &Repo, old: &Build, starter: &Starter) -> NewBuild {
    let actor = &starter.actor;
    NewBuild {
        repo_id: repo.id,
        repo_slug: repo.slug.clone(),
        trigger: actor.name.clone(),
        parent: old.number,
        link: old.link.clone(),
        timestamp: old.timestamp,
        title: old.title.clone(),
        message: old.message.clone(),
        before: old.before.clone(),
        after: old.after.clone(),
        git_ref: old.git_ref.clone(),
        source_repo: old.source_repo.clone(),
        source: old.source.clone(),
        target: old.target.clone(),
        author_login: old.author_login.clone(),
        author_name: old.author_name.clone(),
        author_email: old.author_email.clone(),
        author_avatar: old.author_avatar.clone(),
        actor: Some(actor.clone()),
        identity: Some(starter.identity.clone()),
        warnings: starter.warnings.clone(),
        ..NewBuild::default()
    }
}

/// The skip marker a commit message holds, if any (Drone's: `[ci skip]`, `[skip ci]`,
/// `***NO_CI***`, in any case).
pub fn skip_marker(message: &str) -> Option<&'static str> {
    let lower = message.to_ascii_lowercase();
    ["[ci skip]", "[skip ci]", "***no_ci***"]
        .into_iter()
        .find(|m| lower.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_markers_are_found_in_any_case() {
        assert_eq!(skip_marker("fix typo [CI SKIP]"), Some("[ci skip]"));
        assert_eq!(skip_marker("docs [skip ci]"), Some("[skip ci]"));
        assert_eq!(skip_marker("***NO_CI*** wip"), Some("***no_ci***"));
        assert_eq!(skip_marker("ci: skip flaky test"), None);
    }
}
