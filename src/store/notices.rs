//! Notices between servers sharing one PostgreSQL database, over `LISTEN`/`NOTIFY` on the
//! channel [`CHANNEL`]: what one server changed that the others keep in memory (cached token
//! lookups, sessions, repositories), builds cancelled, and build and log events for watchers
//! connected elsewhere. Each `Store` sends its notices in order from one task and marks them
//! with its own random id, so a server skips what it sent itself. With SQLite there is one
//! server and nothing is sent.

use super::{Db, Store};
use crate::domain::{BuildId, RepoId, StepId};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// The channel every server listens on.
pub const CHANNEL: &str = "hangar";

/// Something another server should hear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Notice {
    /// Credentials or users changed: drop cached token lookups and sessions.
    Forget,
    /// A repository changed: drop its cached copy.
    Repo { slug: String },
    /// Stages were queued or released: runners waiting for work look again.
    Work,
    /// A build was cancelled: stop its steps wherever they run.
    Cancel { build: i64 },
    /// A build changed: tell its watchers.
    Build { repo: i64, build: i64 },
    /// A step's log has a new stored chunk.
    Log { step: i64, seq: i64 },
    /// A step's log ended.
    LogEnd { step: i64 },
    /// A remote runner was revoked: its token stops working and its leases end.
    RunnerRevoked { runner: i64 },
    /// A remote lease ended (finished, lost, revoked): its runner's watch returns.
    LeaseEnded { stage: i64, lease: i64, why: String },
}

impl Notice {
    pub fn cancel(build: BuildId) -> Notice {
        Notice::Cancel { build: build.0 }
    }

    pub fn build(repo: RepoId, build: BuildId) -> Notice {
        Notice::Build {
            repo: repo.0,
            build: build.0,
        }
    }

    pub fn log(step: StepId, seq: i64) -> Notice {
        Notice::Log { step: step.0, seq }
    }

    pub fn lease_ended(key: crate::leases::LeaseKey, why: &str) -> Notice {
        Notice::LeaseEnded {
            stage: key.0.0,
            lease: key.1,
            why: why.to_string(),
        }
    }

    pub fn log_end(step: StepId) -> Notice {
        Notice::LogEnd { step: step.0 }
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    from: u64,
    #[serde(flatten)]
    notice: Notice,
}

/// What a listener heard.
#[derive(Debug, PartialEq, Eq)]
pub enum Heard {
    Notice(Notice),
    /// The connection was lost and is being made again: notices may have been missed.
    Lost,
}

/// The sending side: one task per store, so notices leave in the order they were given.
#[derive(Clone)]
pub(super) struct Sender {
    pub id: u64,
    tx: mpsc::UnboundedSender<Notice>,
}

impl Sender {
    /// Starts the sending task on `pool`. Notices given while one is being sent leave
    /// together, in order, in one statement (a busy server gives hundreds a second: one
    /// round trip each would cost the database more than the work they tell of).
    pub fn start(pool: sqlx::PgPool) -> Sender {
        let id = rand::random();
        let (tx, mut rx) = mpsc::unbounded_channel::<Notice>();
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let payloads: Vec<String> = batch
                    .drain(..)
                    .filter_map(|notice| serde_json::to_string(&Envelope { from: id, notice }).ok())
                    .collect();
                if let Err(e) = send(&pool, &payloads).await {
                    tracing::warn!(error = %e, "telling the other servers failed");
                }
            }
        });
        Sender { id, tx }
    }
}

/// At most this many notices leave in one statement.
const MAX_BATCH: usize = 256;

/// Sends `payloads` on [`CHANNEL`] in their order. PostgreSQL delivers the notifications of
/// one statement in the order they were made, but folds identical ones of one transaction
/// into one: a notice given twice while the first waited is told once, which is all a
/// listener needs (each notice says "look again", never "this many happened").
async fn send(pool: &sqlx::PgPool, payloads: &[String]) -> Result<(), sqlx::Error> {
    match payloads {
        [] => Ok(()),
        [one] => sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(one)
            .execute(pool)
            .await
            .map(|_| ()),
        many => sqlx::query(
            "SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS n(p, i) ORDER BY i",
        )
        .bind(CHANNEL)
        .bind(many)
        .execute(pool)
        .await
        .map(|_| ()),
    }
}

/// A server's ear on [`CHANNEL`].
pub struct Listener {
    inner: sqlx::postgres::PgListener,
    me: u64,
}

impl Listener {
    /// The next notice from another server (its own are skipped), or [`Heard::Lost`] after the
    /// connection dropped (the next call connects again).
    pub async fn next(&mut self) -> Heard {
        loop {
            match self.inner.try_recv().await {
                Ok(Some(n)) => match serde_json::from_str::<Envelope>(n.payload()) {
                    Ok(e) if e.from == self.me => continue,
                    Ok(e) => return Heard::Notice(e.notice),
                    Err(e) => {
                        tracing::warn!(error = %e, "a notice that does not read; ignored");
                        continue;
                    }
                },
                Ok(None) => return Heard::Lost,
                Err(e) => {
                    tracing::warn!(error = %e, "listening for the other servers failed; trying again");
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    return Heard::Lost;
                }
            }
        }
    }
}

impl Store {
    /// Tells the other servers on this database (nothing with SQLite). Never waits.
    pub fn announce(&self, notice: Notice) {
        if let Some(sender) = &self.notices {
            let _ = sender.tx.send(notice);
        }
    }

    /// Whether other servers may share this database (PostgreSQL).
    pub fn shared(&self) -> bool {
        self.notices.is_some()
    }

    /// Listens for the other servers' notices; `None` with SQLite.
    pub async fn listen(&self) -> anyhow::Result<Option<Listener>> {
        let (Db::Postgres(pool), Some(sender)) = (&*self.write, &self.notices) else {
            return Ok(None);
        };
        let mut inner = sqlx::postgres::PgListener::connect_with(pool).await?;
        inner.listen(CHANNEL).await?;
        Ok(Some(Listener {
            inner,
            me: sender.id,
        }))
    }

    /// Drops every cached repository (another server changed one, or notices were missed).
    pub fn forget_repos_here(&self) {
        if let Ok(mut cache) = self.repos.write() {
            cache.clear();
        }
        self.forget_repo_list();
    }

    /// Drops one cached repository, here only.
    pub fn forget_repo_here(&self, slug: &str) {
        if let Ok(mut cache) = self.repos.write() {
            cache.remove(slug);
        }
        self.forget_repo_list();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_travels_as_small_json_with_its_sender() {
        let text = serde_json::to_string(&Envelope {
            from: 7,
            notice: Notice::log(StepId(12), 3),
        })
        .expect("json");
        assert_eq!(text, r#"{"from":7,"k":"log","step":12,"seq":3}"#);
        let back: Envelope = serde_json::from_str(&text).expect("reads");
        assert_eq!(back.notice, Notice::Log { step: 12, seq: 3 });
        let forget: Envelope = serde_json::from_str(r#"{"from":1,"k":"forget"}"#).expect("reads");
        assert_eq!(forget.notice, Notice::Forget);
    }
}
