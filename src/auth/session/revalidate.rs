//! Revalidation: one background task asks each session's provider again, at least every
//! `session_revalidate`, for the user's groups (with the refresh token; GitHub: the access
//! token). A group lost there is lost here at that moment (the user's groups are rewritten,
//! audited with the roles they map to). A provider that refuses (`invalid_grant`: the user was
//! disabled or their grant revoked) ends the session at once. A provider that cannot be reached
//! (a timeout, a 5xx) is not a revocation: the session stays until `session_revalidate_grace`
//! has passed since the first failure, and then ends. A session whose provider gave no refresh
//! token ends when its ID token does.

use super::Sessions;
use crate::auth::login::Refresh;
use crate::auth::login::outbound::Spent;
use crate::domain::AuditAction;
use crate::error::Result;
use crate::store::{DueSession, Revalidated};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Sessions handled per pass (a pass repeats while it finds this many).
const BATCH: i64 = 100;
/// A failing provider is asked again after at most this long.
const RETRY_MS: i64 = 30_000;

/// Starts the revalidation loop; it ends with `shutdown`.
pub fn spawn(sessions: Arc<Sessions>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
    let every = Duration::from_millis(u64::try_from(sessions.timeouts.tick()).unwrap_or(1_000));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let now = sessions.clock.now_ms();
            if let Err(e) = sessions.revalidate_due(now).await {
                tracing::error!(error = e.detail(), "revalidating sessions failed");
            }
        }
    })
}

impl Sessions {
    /// Revalidates every session due at `now`; returns how many were handled.
    pub async fn revalidate_due(&self, now: i64) -> Result<usize> {
        let mut handled = 0;
        loop {
            let due = self.store.list_due_sessions(now, BATCH).await?;
            let n = due.len();
            for session in due {
                self.revalidate(&session, now).await?;
            }
            handled += n;
            if i64::try_from(n).unwrap_or(0) < BATCH {
                break;
            }
        }
        if handled > 0 {
            self.forget();
        }
        Ok(handled)
    }

    async fn revalidate(&self, session: &DueSession, now: i64) -> Result<()> {
        if session.refresh_token.is_none() && session.provider_expires > 0 {
            // Nothing to ask with: the session lives as long as its ID token.
            if now >= session.provider_expires {
                self.store
                    .end_session(
                        session.id,
                        AuditAction::SessionEnded,
                        "the provider's ID token expired",
                        now,
                    )
                    .await?;
            }
            return Ok(());
        }
        let spent = Spent::default();
        let outcome = self
            .login
            .refresh(
                &session.provider,
                session.refresh_token.as_deref(),
                &session.sub,
                &spent,
            )
            .await;
        match outcome {
            Refresh::Ok {
                groups,
                refresh_token,
                expires: _,
            } => {
                metrics::counter!("hangar_session_revalidations_total", "outcome" => "ok")
                    .increment(1);
                let revalidated = Revalidated {
                    groups,
                    refresh_token: refresh_token.map(|t| self.login.seal(&t)),
                    provider_expires: 0,
                    next_at: self.timeouts.next_check(now),
                };
                self.store
                    .record_revalidation(session, &revalidated, &self.roles, now)
                    .await
            }
            Refresh::Revoked(reason) => {
                metrics::counter!("hangar_session_revalidations_total", "outcome" => "revoked")
                    .increment(1);
                tracing::info!(user = %session.login, reason = %reason, "session ended by its provider");
                self.store
                    .end_session(session.id, AuditAction::SessionEnded, &reason, now)
                    .await
                    .map(|_| ())
            }
            Refresh::Unreachable(detail) => {
                metrics::counter!("hangar_session_revalidations_total", "outcome" => "unreachable")
                    .increment(1);
                let since = if session.failing_since > 0 {
                    session.failing_since
                } else {
                    now
                };
                if now - since >= self.timeouts.grace {
                    tracing::warn!(user = %session.login, "session ended: its provider stayed unreachable past the grace period");
                    self.store
                        .end_session(
                            session.id,
                            AuditAction::SessionEnded,
                            "the provider stayed unreachable past the grace period",
                            now,
                        )
                        .await
                        .map(|_| ())
                } else {
                    tracing::warn!(user = %session.login, detail = %detail, "revalidating a session: the provider is unreachable");
                    let next = now + self.timeouts.revalidate.min(RETRY_MS);
                    self.store
                        .record_revalidation_failure(session, since, next, &detail, now)
                        .await
                }
            }
        }
    }
}
