//! Group commit of new builds: whatever requests arrive while one group is being written go
//! into the next group, so a burst of webhooks costs one transaction per group rather than one
//! per webhook, and no caller waits on a timer.

use super::Trigger;
use crate::error::{Error, Result};
use crate::store::{Created, NewBuild};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

const MAX_GROUP: usize = 256;

pub(super) struct Request {
    build: NewBuild,
    reply: oneshot::Sender<Result<Created>>,
}

pub(super) async fn submit(trigger: &Trigger, build: NewBuild) -> Result<Created> {
    let (reply, answer) = oneshot::channel();
    trigger
        .intake
        .send(Request { build, reply })
        .await
        .map_err(|_| Error::internal(anyhow::anyhow!("the build intake has stopped")))?;
    answer
        .await
        .map_err(|_| Error::internal(anyhow::anyhow!("the build intake dropped a request")))?
}

pub(super) async fn run(
    trigger: Arc<Trigger>,
    mut rx: mpsc::Receiver<Request>,
    shutdown: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            r = rx.recv() => match r { Some(r) => r, None => return },
            _ = shutdown.cancelled() => return,
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(r) => group.push(r),
                Err(_) => break,
            }
        }
        let builds: Vec<NewBuild> = group.iter().map(|r| r.build.clone()).collect();
        let now = trigger.clock.now_ms();
        match trigger.store.create_builds(&builds, now).await {
            Ok(created) => {
                trigger.prepare.notify_one();
                for (request, result) in group.into_iter().zip(created) {
                    let _ = request.reply.send(Ok(result));
                }
            }
            Err(err) => {
                tracing::error!(error = %err.detail(), builds = builds.len(), "storing new builds failed");
                let message = err.to_string();
                for request in group {
                    let _ = request
                        .reply
                        .send(Err(Error::internal(anyhow::anyhow!(message.clone()))));
                }
            }
        }
    }
}
