//! Several servers on one PostgreSQL database: each listens for the others' notices
//! (`store::Notice`, over `LISTEN`/`NOTIFY`) and applies them here. A credential revoked, a user
//! or session changed on one server drops the cached lookups on all (so a revoked token fails
//! everywhere within the notice's delivery, well under a second); a repository changed drops its
//! cached copy; a runner revoked loses its token and leases everywhere; a build cancelled stops its steps on whichever server's runner holds them;
//! queued work wakes every server's runners; build events and new log chunks reach watchers
//! connected to any server (a log chunk is read back from the store, so no notice carries log
//! text). When the connection drops, notices may have been missed: every cache is dropped.
//! With SQLite there is one server and nothing runs here.

use crate::auth::Authenticator;
use crate::auth::session::Sessions;
use crate::domain::{BuildId, RepoId, RunnerId, StageId, StepId};
use crate::live::Live;
use crate::scheduler::Scheduler;
use crate::store::{Heard, Notice, Store};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What a notice acts on.
pub struct Peers {
    pub store: Store,
    pub auth: Arc<Authenticator>,
    pub sessions: Arc<Sessions>,
    pub scheduler: Arc<Scheduler>,
    pub live: Arc<Live>,
}

impl Peers {
    /// Starts listening (PostgreSQL only); returns once the listener is connected, so nothing
    /// sent after this is missed.
    pub async fn spawn(
        self,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
        let Some(mut listener) = self.store.listen().await? else {
            return Ok(None);
        };
        Ok(Some(tokio::spawn(async move {
            loop {
                let heard = tokio::select! {
                    h = listener.next() => h,
                    _ = shutdown.cancelled() => return,
                };
                self.apply(heard).await;
            }
        })))
    }

    async fn apply(&self, heard: Heard) {
        let notice = match heard {
            Heard::Notice(n) => n,
            Heard::Lost => {
                self.forget_everything();
                self.scheduler.wake_here();
                return;
            }
        };
        match notice {
            Notice::Forget => {
                self.auth.forget_here();
                self.sessions.forget_here();
            }
            Notice::Repo { slug } => self.store.forget_repo_here(&slug),
            Notice::Work => self.scheduler.wake_here(),
            Notice::Cancel { build } => self.scheduler.cancel_here(BuildId(build)),
            Notice::Build { repo, build } => {
                self.scheduler
                    .heard_build(RepoId(repo), BuildId(build))
                    .await;
            }
            Notice::Log { step, seq } => {
                let step = StepId(step);
                if !self.live.has_log_watchers(step) {
                    return;
                }
                match self.store.list_log_chunks(step, seq - 1, 1).await {
                    Ok(chunks) => {
                        for chunk in chunks.iter().filter(|c| c.seq == seq) {
                            self.live.publish_log(step, chunk);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e.detail(), "reading a log chunk another server stored failed")
                    }
                }
            }
            Notice::LogEnd { step } => self.live.end_log(StepId(step)),
            Notice::RunnerRevoked { runner } => {
                self.scheduler.runner_revoked_here(RunnerId(runner))
            }
            Notice::LeaseEnded { stage, lease, why } => {
                self.scheduler
                    .lease_ended_elsewhere((StageId(stage), lease), &why);
            }
        }
    }

    fn forget_everything(&self) {
        self.auth.forget_here();
        self.sessions.forget_here();
        self.store.forget_repos_here();
        self.scheduler.remote.forget_here();
    }
}
