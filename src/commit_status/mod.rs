//! Commit statuses back to the forge: the green or red mark beside a commit or pull request.
//!
//! The scheduler tells a [`Reporter`] what happened (a stage started, a stage or the build
//! ended) and goes on at once: a send on an unbounded channel, so posting never delays or fails
//! a build. One background task turns each change into the state of a context (the whole build:
//! `continuous-integration/hangar/{event}`; each pipeline: `.../{event}/{stage}`) for
//! repositories that have forge credentials (`PUT /api/repos/{o}/{n}/forge`), and one worker
//! per context posts them in order: pending first, then the final state. A failed post is tried
//! again after a pause that doubles each time, up to `forge_status_attempts` attempts; a newer
//! state for the same context replaces one still waiting to be retried. Each attempt's outcome
//! is recorded on the build (`statuses` in its JSON). Nothing here is durable: statuses in
//! flight when the server stops are not sent.
//!
//! What does not live here: the request shapes (`post.rs`), SQL (`store/forges.rs`).

pub mod app;
pub mod post;

use crate::auth::keys::SecretBox;
use crate::clock::SharedClock;
use crate::domain::commit_status::{build_context, description, stage_context};
use crate::domain::{BuildId, CommitState, Delivery, Event, ForgeKind, RepoId, Status};
use crate::store::{ForgeAuth, RepoForge, StatusRecord, Store};
use post::{Auth, Post, Target};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// The longest pause between two attempts.
const MAX_PAUSE: Duration = Duration::from_secs(300);
/// Ended builds remembered, so a late change for one of them is ignored.
const ENDED_KEPT: usize = 4096;

/// How statuses are posted.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Hangar's public URL: the statuses link to `{server_url}/{owner}/{name}/{number}`.
    pub server_url: String,
    /// The GitHub API used when a repository names none (`github_api_url`).
    pub github_api_url: String,
    /// Attempts per status before giving up.
    pub attempts: u32,
    /// The pause after the first failed attempt; it doubles after each further one.
    pub backoff: Duration,
    /// The server's GitHub App, for repositories that post with installation tokens.
    pub github_app: Option<Arc<app::GitHubApp>>,
}

/// The build a change is about.
#[derive(Debug, Clone)]
pub struct Subject {
    pub build: BuildId,
    pub repo: RepoId,
    /// `owner/name`, as on the forge.
    pub slug: String,
    /// The repository's clone URL (a Gitea server's root is taken from it when none is set).
    pub clone_url: String,
    pub number: i64,
    pub sha: String,
    pub event: Event,
}

/// Something the forge should hear about: a stage (`stage` set) or the whole build took
/// `status`.
#[derive(Debug, Clone)]
pub struct Change {
    pub subject: Subject,
    pub stage: Option<String>,
    pub status: Status,
}

/// The scheduler's side: tells the background task, never waits.
#[derive(Debug, Clone)]
pub struct Reporter {
    tx: mpsc::UnboundedSender<Change>,
}

impl Reporter {
    /// A stage started running: its context and the build's become pending.
    pub fn stage_started(&self, subject: &Subject, stage: &str) {
        self.tell(subject, None, Status::Running);
        self.tell(subject, Some(stage), Status::Running);
    }

    /// A stage ended with `status`.
    pub fn stage_ended(&self, subject: &Subject, stage: &str, status: Status) {
        self.tell(subject, Some(stage), status);
    }

    /// The build ended with `status`; stages still pending on the forge end with it.
    pub fn build_ended(&self, subject: &Subject, status: Status) {
        self.tell(subject, None, status);
    }

    fn tell(&self, subject: &Subject, stage: Option<&str>, status: Status) {
        let _ = self.tx.send(Change {
            subject: subject.clone(),
            stage: stage.map(str::to_string),
            status,
        });
    }
}

/// Starts the background task; it ends with `shutdown`.
pub fn start(
    store: Store,
    secrets: SecretBox,
    clock: SharedClock,
    settings: Settings,
    shutdown: CancellationToken,
) -> anyhow::Result<Reporter> {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = Task {
        shared: Arc::new(Shared {
            store,
            clock,
            http: post::client()?,
            settings,
        }),
        secrets,
        builds: HashMap::new(),
        ended: (VecDeque::new(), HashSet::new()),
    };
    tokio::spawn(task.run(rx, shutdown));
    Ok(Reporter { tx })
}

struct Shared {
    store: Store,
    clock: SharedClock,
    http: reqwest::Client,
    settings: Settings,
}

/// A build the forge is hearing about: where its statuses go (none: the repository has no
/// forge credentials) and the latest state of each context, with the worker posting it.
struct Open {
    target: Option<Arc<Target>>,
    contexts: HashMap<String, (CommitState, watch::Sender<Post>)>,
}

struct Task {
    shared: Arc<Shared>,
    secrets: SecretBox,
    builds: HashMap<BuildId, Open>,
    ended: (VecDeque<BuildId>, HashSet<BuildId>),
}

impl Task {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Change>, shutdown: CancellationToken) {
        loop {
            let change = tokio::select! {
                c = rx.recv() => c,
                _ = shutdown.cancelled() => None,
            };
            let Some(change) = change else { return };
            self.apply(change).await;
        }
    }

    async fn apply(&mut self, change: Change) {
        let build = change.subject.build;
        if self.ended.1.contains(&build) {
            return;
        }
        if !self.builds.contains_key(&build) {
            let target = self.target(&change.subject).await;
            self.builds.insert(
                build,
                Open {
                    target,
                    contexts: HashMap::new(),
                },
            );
        }
        let Some(open) = self.builds.get_mut(&build) else {
            return;
        };
        let state = CommitState::of(change.status);
        if let Some(target) = open.target.clone() {
            let event = change.subject.event;
            let context = match &change.stage {
                Some(stage) => stage_context(event, stage),
                None => build_context(event),
            };
            let mut updates = vec![(context, state, description(change.status))];
            // The build's end closes every pipeline still pending on the forge (a cancel).
            if change.stage.is_none() && state.is_final() {
                for (context, (current, _)) in &open.contexts {
                    if !current.is_final() && *context != updates[0].0 {
                        updates.push((context.clone(), state, description(change.status)));
                    }
                }
            }
            for (context, state, description) in updates {
                let post = Post {
                    sha: change.subject.sha.clone(),
                    state,
                    description: description.to_string(),
                    context: context.clone(),
                    target_url: format!(
                        "{}/{}/{}",
                        self.shared.settings.server_url, change.subject.slug, change.subject.number
                    ),
                };
                match open.contexts.get_mut(&context) {
                    Some((current, _)) if current.is_final() || *current == state => {}
                    Some((current, sender)) => {
                        *current = state;
                        sender.send_replace(post);
                    }
                    None => {
                        let (sender, receiver) = watch::channel(post);
                        open.contexts.insert(context, (state, sender));
                        tokio::spawn(deliver(
                            self.shared.clone(),
                            target.clone(),
                            build,
                            receiver,
                        ));
                    }
                }
            }
        }
        if change.stage.is_none() && state.is_final() {
            // Dropping the senders lets each worker finish what it holds, then stop.
            self.builds.remove(&build);
            self.ended.0.push_back(build);
            self.ended.1.insert(build);
            if self.ended.0.len() > ENDED_KEPT
                && let Some(old) = self.ended.0.pop_front()
            {
                self.ended.1.remove(&old);
            }
        }
    }

    /// Where the subject's statuses go, or `None` (no credentials, or they do not open).
    async fn target(&self, subject: &Subject) -> Option<Arc<Target>> {
        let forge: RepoForge = match self.shared.store.find_repo_forge(subject.repo).await {
            Ok(Some(f)) => f,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(repo = %subject.slug, error = %e.detail(), "reading forge credentials failed; no statuses for this build");
                return None;
            }
        };
        let auth = match forge.auth {
            ForgeAuth::Token => {
                let Some(token) = self
                    .secrets
                    .open(&forge.sealed_token)
                    .and_then(|t| String::from_utf8(t).ok())
                else {
                    tracing::warn!(repo = %subject.slug, "the forge token does not open with the server key; set it again");
                    return None;
                };
                Auth::Token(token)
            }
            ForgeAuth::GitHubApp { installation } => {
                let Some(app) = self.shared.settings.github_app.clone() else {
                    tracing::warn!(repo = %subject.slug, "the repository posts statuses as the GitHub App, but none is configured (github_app_id, github_app_key_file)");
                    return None;
                };
                Auth::App { app, installation }
            }
        };
        let api_url = match (forge.kind, forge.api_url.is_empty()) {
            (_, false) => forge.api_url,
            (ForgeKind::GitHub, true) => self.shared.settings.github_api_url.clone(),
            (ForgeKind::Gitea, true) => origin(&subject.clone_url)?,
        };
        let (owner, name) = subject.slug.split_once('/')?;
        Some(Arc::new(Target {
            kind: forge.kind,
            api_url,
            auth,
            owner: owner.to_string(),
            name: name.to_string(),
        }))
    }
}

/// `https://host[:port]` of an http(s) URL: a Gitea server's root from a clone URL.
pub fn origin(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    Some(parsed.origin().ascii_serialization())
}

/// Posts one context's states in order until the last is final (or its build was forgotten).
async fn deliver(
    shared: Arc<Shared>,
    target: Arc<Target>,
    build: BuildId,
    mut rx: watch::Receiver<Post>,
) {
    loop {
        let post = rx.borrow_and_update().clone();
        let superseded = attempt_all(&shared, &target, build, &post, &mut rx).await;
        if superseded {
            continue;
        }
        if post.state.is_final() || rx.changed().await.is_err() {
            return;
        }
    }
}

/// Tries `post` up to the configured attempts, recording each outcome. Returns `true` when a
/// newer state arrived while waiting to try again (it replaces this one).
async fn attempt_all(
    shared: &Shared,
    target: &Target,
    build: BuildId,
    post: &Post,
    rx: &mut watch::Receiver<Post>,
) -> bool {
    let attempts = shared.settings.attempts.max(1);
    let mut pause = shared.settings.backoff;
    record(shared, build, post, Delivery::Sending, 0, "").await;
    for attempt in 1..=attempts {
        match post::send(&shared.http, target, post).await {
            Ok(()) => {
                record(shared, build, post, Delivery::Posted, attempt, "").await;
                return false;
            }
            Err(failure) => {
                let last = attempt == attempts || !failure.transient;
                let delivery = if last {
                    Delivery::Failed
                } else {
                    Delivery::Retrying
                };
                record(shared, build, post, delivery, attempt, &failure.message).await;
                if last {
                    tracing::warn!(context = %post.context, attempts = attempt, error = %failure.message, "a commit status could not be posted");
                    return false;
                }
                let wait = failure.retry_after.unwrap_or(pause).min(MAX_PAUSE);
                pause = (pause * 2).min(MAX_PAUSE);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    changed = rx.changed() => match changed {
                        Ok(()) => return true,
                        Err(_) => tokio::time::sleep(wait).await,
                    },
                }
            }
        }
    }
    false
}

/// Records where a post stands; a failure to record is only logged.
async fn record(
    shared: &Shared,
    build: BuildId,
    post: &Post,
    delivery: Delivery,
    attempts: u32,
    error: &str,
) {
    let record = StatusRecord {
        build,
        context: &post.context,
        state: post.state.as_str(),
        description: &post.description,
        delivery,
        attempts: i64::from(attempts),
        error,
    };
    let now = shared.clock.now_ms();
    if let Err(e) = shared.store.record_commit_status(&record, now).await {
        tracing::warn!(error = %e.detail(), "recording a commit status failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gitea_root_comes_from_an_https_clone_url_only() {
        assert_eq!(
            origin("https://gitea.example:3000/acme/api.git").as_deref(),
            Some("https://gitea.example:3000")
        );
        assert_eq!(origin("/srv/git/api.git"), None);
        assert_eq!(origin("git@gitea.example:acme/api.git"), None);
    }
}
