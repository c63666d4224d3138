//! Cron builds: a job's branch head becomes a build with event `cron`, `cron` = the job's name,
//! trigger `@cron` and the job's deploy target, acting as the job's owner. A due run is
//! written in the transaction that claims its slot (`Store::claim_cron`), so it happens once
//! however many servers share the database; a run started by hand goes through the intake.

use super::Trigger;
use crate::domain::identity::ActorKind;
use crate::domain::{Actor, Build, BuildActor, Cron, Event, Repo, UserId};
use crate::error::{Error, Result};
use crate::store::{Created, CronClaim, CronRun, NewBuild};

/// The user a cron job's builds act as.
#[derive(Debug, Clone)]
pub struct Owner {
    pub id: UserId,
    pub login: String,
}

impl Trigger {
    /// The build a run of `job` makes: its branch's head, fetched fresh. `Err(reason)` when
    /// there is nothing to build (the branch is gone, the repository cannot be read).
    pub async fn cron_build(
        &self,
        repo: &Repo,
        job: &Cron,
        owner: &Owner,
        actor: Actor,
    ) -> std::result::Result<NewBuild, String> {
        let head = match self.mirrors.branch_head(repo, &job.branch).await {
            Ok(Some(head)) => head,
            Ok(None) => return Err(format!("branch {:?} is not in the repository", job.branch)),
            Err(err) => {
                tracing::warn!(repo = %repo.slug, cron = %job.name, error = %err.detail(), "reading a cron job's branch failed");
                return Err(format!("reading branch {:?} failed: {err}", job.branch));
            }
        };
        Ok(NewBuild {
            repo_id: repo.id,
            repo_slug: repo.slug.clone(),
            trigger: "@cron".into(),
            event: Some(Event::Cron),
            timestamp: head.timestamp,
            message: head.message,
            after: head.sha,
            git_ref: format!("refs/heads/{}", job.branch),
            source: job.branch.clone(),
            target: job.branch.clone(),
            author_name: head.author_name,
            author_email: head.author_email,
            sender: owner.login.clone(),
            cron: job.name.clone(),
            deploy_to: job.target.clone(),
            actor: Some(actor),
            identity: Some(BuildActor {
                kind: ActorKind::User,
                login: owner.login.clone(),
                user_id: Some(owner.id),
                token_id: None,
                session_id: None,
                verified: true,
                entitled: true,
                token_expires: 0,
            }),
            ..NewBuild::default()
        })
    }

    /// Claims a due slot with what it does (see `Store::claim_cron`); `None` when another
    /// server had it first. A build made is prepared at once.
    pub async fn claim_cron(
        &self,
        claim: CronClaim,
        run: &CronRun,
        slug: &str,
    ) -> Result<Option<Option<Build>>> {
        let claimed = self
            .store
            .claim_cron(claim, run, (slug, self.clock.now_ms()))
            .await?;
        Ok(claimed.map(|created| {
            created.map(|c| {
                self.prepare.notify_one();
                match c {
                    Created::New(b) | Created::Duplicate(b) => b,
                }
            })
        }))
    }

    /// Runs `job` now, outside its schedule (`POST .../cron/{name}`).
    pub async fn cron_now(
        &self,
        repo: &Repo,
        job: &Cron,
        owner: &Owner,
        actor: Actor,
    ) -> Result<Build> {
        let build = self
            .cron_build(repo, job, owner, actor)
            .await
            .map_err(Error::conflict)?;
        match self.submit(build).await? {
            Created::New(b) | Created::Duplicate(b) => Ok(b),
        }
    }
}
