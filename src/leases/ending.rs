//! How remote leases end: with their runner's report ("the stage finished"), or without it:
//! the runner went silent past the timeout or never took a lease handed to it ("runner lost":
//! back to the queue once if no step had started, else `error`), or was revoked ("runner
//! revoked"). Any server may end any lease (each end is a compare-and-set on its row); the
//! others hear of it and mark it ended. Time comes from the scheduler's clock.

use super::LeaseKey;
use crate::domain::{Actor, Runner, RunnerId, StageId, Status};
use crate::error::Result;
use crate::scheduler::Scheduler;
use crate::store::{LeaseEnd, LeaseEnded, Notice, OpenLease};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn key(lease: &OpenLease) -> LeaseKey {
    (StageId(lease.stage_id), lease.lease)
}

impl Scheduler {
    /// A runner's heartbeat: it is alive now (recorded for every server to see); what it says
    /// of itself is recorded. A lease handed to it a timeout ago or more that it does not run
    /// (the answer to its lease request was lost on the way) ends as if the runner were lost.
    pub async fn heartbeat(&self, runner: &Runner, running: &[LeaseKey]) -> Result<()> {
        let now = self.clock.now_ms();
        self.store.record_runner_seen(runner, now).await?;
        let timeout = self.remote.timeout_ms();
        let unknown: Vec<LeaseKey> = self
            .store
            .list_open_leases(Some(runner.id))
            .await?
            .iter()
            .filter(|l| now - l.leased_at >= timeout && !running.contains(&key(l)))
            .map(key)
            .collect();
        self.end_remote(&unknown, "runner lost", true).await
    }

    /// The lease `key` ended with its runner's own report.
    pub async fn release(&self, key: LeaseKey) -> Result<()> {
        let why = "the stage finished";
        let now = self.clock.now_ms();
        self.store.close_lease(key.0, key.1, now).await?;
        self.remote.end_here(key, why, now);
        self.store.announce(Notice::lease_ended(key, why));
        Ok(())
    }

    /// Another server ended the lease `key`.
    pub fn lease_ended_elsewhere(&self, key: LeaseKey, why: &str) {
        self.remote.end_here(key, why, self.clock.now_ms());
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
        let end = LeaseEnd {
            why: why.to_string(),
            requeue,
        };
        let now = self.clock.now_ms();
        let outcome = self.store.end_lease(key.0, key.1, &end, now).await?;
        self.remote.end_here(key, why, now);
        if matches!(outcome, LeaseEnded::Gone) {
            return Ok(());
        }
        self.store.announce(Notice::lease_ended(key, why));
        match outcome {
            LeaseEnded::Gone | LeaseEnded::Closed => {}
            LeaseEnded::Requeued => {
                tracing::warn!(
                    stage = key.0.0,
                    why,
                    "a stage no step of which had started went back to the queue"
                );
                metrics::gauge!("hangar_stages_running").decrement(1.0);
                self.wake();
                let a = self.load_assignment(key).await?;
                self.announce(&a.repo, a.build.id).await;
            }
            LeaseEnded::Ended(finished) => {
                tracing::warn!(stage = key.0.0, why, "a stage ended with its runner");
                let a = self.load_assignment(key).await?;
                self.stage_ended(&a, Status::Error, &finished).await;
            }
        }
        Ok(())
    }

    /// Ends the leases of runners silent for longer than the timeout ("runner lost"). A server
    /// up for less than the timeout (`up_since`) leaves them alone: its runners may not have
    /// found it yet.
    pub async fn reap_lost_runners(&self, up_since: i64) -> Result<usize> {
        let now = self.clock.now_ms();
        let timeout = self.remote.timeout_ms();
        if now - up_since < timeout {
            return Ok(0);
        }
        let lost: Vec<LeaseKey> = self
            .store
            .list_open_leases(None)
            .await?
            .iter()
            .filter(|l| now - l.last_seen > timeout && now - l.leased_at > timeout)
            .map(key)
            .collect();
        self.end_remote(&lost, "runner lost", true).await?;
        Ok(lost.len())
    }

    /// Revokes the runner `name`: its token stops working and its leases end at once ("runner
    /// revoked"), on every server. `None` when there is no live runner of that name.
    pub async fn revoke_runner(&self, actor: &Actor, name: &str) -> Result<Option<Runner>> {
        let Some(runner) = self
            .store
            .revoke_runner(actor, name, self.clock.now_ms())
            .await?
        else {
            return Ok(None);
        };
        self.runner_revoked_here(runner.id);
        // Other servers forget its token; its leases' notices tell them they ended.
        self.store.announce(Notice::RunnerRevoked {
            runner: runner.id.0,
        });
        let leases: Vec<LeaseKey> = self
            .store
            .list_open_leases(Some(runner.id))
            .await?
            .iter()
            .map(key)
            .collect();
        self.end_remote(&leases, "runner revoked", false).await?;
        Ok(Some(runner))
    }

    /// A runner was revoked (here or on another server): its token stops working here, and the
    /// leases of it known here end ("runner revoked").
    pub fn runner_revoked_here(&self, runner: RunnerId) {
        let now = self.clock.now_ms();
        let keys: Vec<LeaseKey> = match self.remote.lock() {
            Ok(mut inner) => {
                inner.tokens.retain(|_, r| r.id != runner);
                inner
                    .held
                    .iter()
                    .filter(|(_, h)| h.runner == runner && h.ended.is_none())
                    .map(|(k, _)| *k)
                    .collect()
            }
            Err(_) => return,
        };
        for key in keys {
            self.remote.end_here(key, "runner revoked", now);
        }
    }
}

/// Checks for lost runners every quarter of the timeout (at most each second) until shutdown.
pub async fn reap(scheduler: Arc<Scheduler>, shutdown: CancellationToken) {
    let up_since = scheduler.clock.now_ms();
    let every =
        (scheduler.remote.timeout() / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
        if let Err(e) = scheduler.reap_lost_runners(up_since).await {
            tracing::warn!(error = %e.detail(), "ending the leases of lost runners failed");
        }
    }
}
