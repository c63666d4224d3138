//! The loop that reads each new build's `.drone.yml` at its commit and stores its stages.

use super::Trigger;
use super::plan::plan_stages;
use crate::domain::{Build, Status};
use crate::error::Result;
use crate::mirror::{FileAt, MAX_CONFIG_BYTES};
use crate::store::Preparation;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const BATCH: i64 = 64;
const PARALLEL: usize = 8;

pub(super) async fn run(trigger: Arc<Trigger>, shutdown: CancellationToken) {
    loop {
        let builds = match trigger.store.list_unprepared_builds(BATCH).await {
            Ok(b) => b,
            Err(err) => {
                tracing::error!(error = %err.detail(), "listing new builds failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if builds.is_empty() {
            tokio::select! {
                _ = trigger.prepare.notified() => continue,
                _ = tokio::time::sleep(Duration::from_secs(5)) => continue,
                _ = shutdown.cancelled() => return,
            }
        }
        futures_util::stream::iter(builds)
            .for_each_concurrent(PARALLEL, |build| {
                let trigger = trigger.clone();
                async move {
                    if trigger.shutdown.is_cancelled() {
                        return;
                    }
                    if let Err(err) = prepare(&trigger, &build).await {
                        tracing::error!(build = build.id.0, error = %err.detail(), "preparing a build failed; it will be retried");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            })
            .await;
        if shutdown.is_cancelled() {
            return;
        }
    }
}

/// Reads the build's configuration and stores its stages (or why it has none).
async fn prepare(trigger: &Trigger, build: &Build) -> Result<()> {
    let Some(repo) = trigger.store.find_repo(build.repo_id).await? else {
        return Ok(());
    };
    let read = trigger
        .mirrors
        .read_file(&repo, &build.after, &repo.config_path)
        .await;
    let prep = match read {
        Ok(FileAt::Found(text)) => {
            plan_stages(&text, build, &repo, &trigger.instance, &trigger.runners)
        }
        Ok(FileAt::NoFile) => error(format!(
            "{} not found at commit {}",
            repo.config_path, build.after
        )),
        Ok(FileAt::NoCommit) => error(format!(
            "commit {} is not in {}",
            build.after,
            repo.clone_url()
        )),
        Ok(FileAt::TooLarge(size)) => error(format!(
            "{} is {size} bytes; configurations over {MAX_CONFIG_BYTES} bytes (10 MiB) are refused",
            repo.config_path
        )),
        Err(err) => {
            tracing::warn!(build = build.id.0, error = ?err, "reading the configuration failed");
            error(format!(
                "reading {} from {} failed",
                repo.config_path,
                repo.clone_url()
            ))
        }
    };
    let prep = hold_for_approval(build, prep);
    let prepared = trigger
        .store
        .prepare_build(build, &repo.slug, &prep, trigger.clock.now_ms())
        .await?;
    if prepared.stages.iter().any(|s| s.status == Status::Pending) {
        trigger.scheduler.wake();
    }
    if prepared.status.is_done() {
        metrics::counter!("hangar_builds_finished_total", "status" => prepared.status.as_str())
            .increment(1);
    }
    trigger.scheduler.announce(&repo, build.id).await;
    Ok(())
}

/// A build waiting for approval keeps waiting once prepared: the stages that would be queued
/// are `blocked` until someone approves (a build with nothing to run just ends).
fn hold_for_approval(build: &Build, mut prep: Preparation) -> Preparation {
    if build.status != Status::Blocked || prep.status.is_done() {
        return prep;
    }
    prep.status = Status::Blocked;
    for stage in &mut prep.stages {
        if matches!(
            stage.status,
            Status::Pending | Status::WaitingOnDependencies
        ) {
            stage.status = Status::Blocked;
        }
    }
    prep
}

fn error(message: String) -> Preparation {
    Preparation {
        config: None,
        status: Status::Error,
        error: message,
        stages: Vec::new(),
    }
}
