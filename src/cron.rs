//! The cron scheduler: each [`TICK_EVERY`] it asks the store for the enabled jobs whose `next`
//! has come (one indexed statement), and for each decides what the slot does: a build of the
//! branch's head acting as the job's owner, or, when the owner no longer exists, is deactivated
//! or no longer holds `build.trigger` on the repository (a group or policy change), no build
//! and the reason on the job (and in the audit trail). The slot is then claimed with a
//! compare-and-set on `next` together with that outcome, so with several servers on one
//! database each slot runs once. `next` moves to the first match after now: a job missed while
//! every server was down runs once, not once per missed slot.

use crate::auth::policy::Authz;
use crate::auth::principal::Principal;
use crate::clock::SharedClock;
use crate::domain::{Actor, Cron, Repo, Schedule};
use crate::error::Result;
use crate::store::{CronClaim, CronRun, DueCron, Store};
use crate::trigger::{Owner, Trigger};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often due jobs are looked for: runs start within this (plus the build's intake) of
/// their time.
pub const TICK_EVERY: Duration = Duration::from_secs(1);

/// Due jobs handled per statement; more wait for the next pass of the same tick.
const BATCH: i64 = 256;

/// When a job whose expression no longer reads is looked at again.
const RETRY_BROKEN_MS: i64 = 86_400_000;

/// What one tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tick {
    /// Slots this server claimed that started a build.
    pub started: usize,
    /// Slots this server claimed that did not (the reason is on the job).
    pub skipped: usize,
    /// Due slots another server claimed first.
    pub lost: usize,
}

/// The scheduler of one server.
pub struct Crons {
    pub store: Store,
    pub clock: SharedClock,
    pub trigger: Arc<Trigger>,
    pub authz: Arc<Authz>,
}

impl Crons {
    /// Ticks every [`TICK_EVERY`] until `shutdown`.
    pub fn spawn(self: Arc<Self>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                if let Err(err) = self.tick().await {
                    tracing::warn!(error = %err.detail(), "running due cron jobs failed; trying again");
                }
                tokio::select! {
                    _ = tokio::time::sleep(TICK_EVERY) => {}
                    _ = shutdown.cancelled() => return,
                }
            }
        })
    }

    /// Runs every job due now.
    pub async fn tick(&self) -> Result<Tick> {
        let now = self.clock.now_ms();
        let mut tick = Tick::default();
        loop {
            let due = self.store.list_due_crons(now, BATCH).await?;
            let full = due.len() as i64 == BATCH;
            for job in due {
                match self.run_due(job, now).await? {
                    None => tick.lost += 1,
                    Some(true) => tick.started += 1,
                    Some(false) => tick.skipped += 1,
                }
            }
            if !full {
                return Ok(tick);
            }
        }
    }

    /// Decides and claims one due slot: `Some(started)`, or `None` when another server had it.
    async fn run_due(&self, due: DueCron, now: i64) -> Result<Option<bool>> {
        let job = &due.cron;
        let (next, broken) = match Schedule::parse(&job.expr, &job.zone) {
            Ok(s) => (s.next_after(now).unwrap_or(i64::MAX), None),
            Err(e) => (now + RETRY_BROKEN_MS, Some(e)),
        };
        let claim = CronClaim {
            id: job.id,
            slot: job.next,
            next,
        };
        let repo = self.store.find_repo(job.repo_id).await?;
        let slug = repo.as_ref().map_or(String::new(), |r| r.slug.clone());
        let run = match (broken, repo) {
            (Some(reason), _) => CronRun::Skip(reason),
            (None, None) => CronRun::Skip("the repository no longer exists".into()),
            (None, Some(repo)) => match self.decide(&due, &repo).await {
                Ok(build) => CronRun::Build(Box::new(build)),
                Err(reason) => CronRun::Skip(reason),
            },
        };
        let Some(built) = self.trigger.claim_cron(claim, &run, &slug).await? else {
            return Ok(None);
        };
        match (&run, built) {
            (CronRun::Skip(reason), _) => {
                metrics::counter!("hangar_cron_runs_total", "outcome" => "skipped").increment(1);
                tracing::info!(repo = %slug, cron = %job.name, reason = %reason, "a due cron job did not run");
                Ok(Some(false))
            }
            (CronRun::Build(_), Some(build)) => {
                metrics::counter!("hangar_cron_runs_total", "outcome" => "started").increment(1);
                tracing::info!(repo = %slug, cron = %job.name, build = build.number, "a cron job started a build");
                Ok(Some(true))
            }
            (CronRun::Build(_), None) => Ok(Some(false)),
        }
    }

    /// The build a due slot makes, or why it makes none.
    async fn decide(
        &self,
        due: &DueCron,
        repo: &Repo,
    ) -> std::result::Result<crate::store::NewBuild, String> {
        if !repo.active {
            return Err(format!("the repository {} is not active", repo.slug));
        }
        let owner = entitled_owner(&self.authz, repo, due)?;
        self.trigger
            .cron_build(repo, &due.cron, &owner, Actor::cron())
            .await
    }
}

/// The job's owner if it may still start builds of `repo`; otherwise why not.
pub fn entitled_owner(
    authz: &Authz,
    repo: &Repo,
    due: &DueCron,
) -> std::result::Result<Owner, String> {
    let login = &due.cron.owner;
    let Some(id) = due.owner_id.filter(|_| !login.is_empty()) else {
        return Err(
            "its owner no longer exists; whoever changes the job next becomes its owner".into(),
        );
    };
    if !due.owner_active {
        return Err(format!("its owner {login} is deactivated"));
    }
    let principal = Principal::hypothetical(login, due.owner_groups.clone(), due.owner_admin, None)
        .map_err(|e| format!("its owner {login} cannot be checked: {e}"))?;
    let allowed = crate::trigger::acting::may_trigger(authz, &principal, repo);
    if !allowed {
        return Err(format!(
            "its owner {login} may no longer build.trigger on {}",
            repo.slug
        ));
    }
    Ok(Owner {
        id,
        login: login.clone(),
    })
}

/// A job read with its owner's state, for [`entitled_owner`] outside a tick (runs by hand).
pub async fn with_owner(store: &Store, job: Cron) -> Result<DueCron> {
    let user = if job.owner.is_empty() {
        None
    } else {
        store.find_user(&job.owner).await?
    };
    let groups = match &user {
        Some(u) => store.find_user_groups(u.id).await?,
        None => Vec::new(),
    };
    Ok(DueCron {
        owner_id: user.as_ref().map(|u| u.id),
        owner_active: user.as_ref().is_some_and(|u| u.active),
        owner_admin: user.as_ref().is_some_and(|u| u.admin),
        owner_groups: groups,
        cron: job,
    })
}
