//! Build credentials: every unfinished build acts as the identity that started it (recorded on
//! the build: a user and the token or session it came through, or an unverified forge sender),
//! and stops the moment that identity is no longer entitled to it. The credential ends when its
//! lifetime (the repository's timeout) passes, when the triggering token expires or is revoked,
//! when the user is deactivated, or when the user no longer holds `build.trigger` on the
//! repository (a group or policy change). Logging out of a browser does not end it.
//!
//! Then the build is cancelled with the reason as its error: no further step starts (failure
//! handlers included), and the runner stops the running step's process group (SIGTERM, then
//! SIGKILL after `cancel_grace`).
//!
//! The watch looks at every live build at once (one statement) each [`SWEEP_EVERY`], and at
//! once when the authenticator reports a revocation or a user change, so a revocation reaches
//! the step within a fraction of a second.

use crate::auth::policy::{Action, Authz, RepoRef};
use crate::auth::principal::Principal;
use crate::clock::SharedClock;
use crate::domain::{Actor, Ending};
use crate::error::Result;
use crate::scheduler::Scheduler;
use crate::store::{LiveCredential, Store};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How often every live build's credential is checked (expiry, group and policy changes).
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The watch over live builds' credentials.
pub struct Watch {
    pub store: Store,
    pub clock: SharedClock,
    pub scheduler: Arc<Scheduler>,
    pub authz: Arc<Authz>,
}

impl Watch {
    /// Checks every live build every [`SWEEP_EVERY`], and at once whenever `wake` is notified,
    /// until `shutdown`.
    pub fn spawn(
        self,
        wake: Arc<Notify>,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                if let Err(err) = self.sweep().await {
                    tracing::warn!(error = %err.detail(), "checking build credentials failed; trying again");
                }
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(SWEEP_EVERY) => {}
                    _ = shutdown.cancelled() => return,
                }
            }
        })
    }

    /// Ends the builds whose credential has ended; returns how many.
    pub async fn sweep(&self) -> Result<usize> {
        let now = self.clock.now_ms();
        let mut ended = 0;
        for live in self.store.list_live_credentials().await? {
            let Some(ending) = live
                .state
                .ending(now)
                .or_else(|| self.access_removed(&live))
            else {
                continue;
            };
            let cancelled = self
                .scheduler
                .cancel_because(
                    live.build,
                    live.repo,
                    &live.slug,
                    &Actor::system(),
                    ending.reason(),
                )
                .await?;
            if cancelled.is_some() {
                ended += 1;
                metrics::counter!("hangar_build_credentials_ended_total", "reason" => ending.reason())
                    .increment(1);
                tracing::info!(repo = %live.slug, build = live.number, reason = ending.reason(), "a build's credential ended; the build was stopped");
            }
        }
        Ok(ended)
    }

    /// Whether the user a build acts as no longer holds `build.trigger` on its repository.
    /// Only for builds whose identity held it when they were made (an approved build of someone
    /// without it is not ended for that).
    fn access_removed(&self, live: &LiveCredential) -> Option<Ending> {
        if !live.entitled {
            return None;
        }
        let (login, groups, admin) = live.user.as_ref()?;
        let principal = Principal::hypothetical(login, groups.clone(), *admin, None).ok()?;
        let repo = RepoRef {
            slug: &live.slug,
            visibility: live.visibility,
        };
        let allowed = self
            .authz
            .decide(&principal, Action::BuildTrigger, Some(repo), None)
            .allowed;
        (!allowed).then_some(Ending::AccessRemoved)
    }
}
