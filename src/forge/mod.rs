//! The forges Hangar listens to (GitHub, Gitea/Forgejo): their webhook payloads, turned into one
//! [`Hook`] shape, and their signatures, checked in constant time.
//!
//! What does not live here: finding the repository or creating builds (`trigger`), HTTP
//! (`http::hook`).

use crate::domain::Event;

/// Which forge sent a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    GitHub,
    /// Gitea and Forgejo (same payloads and signature scheme).
    Gitea,
}

/// A webhook that should start a build, in forge-neutral terms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hook {
    /// The forge's delivery id (`X-GitHub-Delivery`, `X-Gitea-Delivery`); empty if none.
    pub delivery_id: String,
    /// `repository.full_name`: how the hook is matched to an activated repository.
    pub repo_full_name: String,
    pub event: Option<Event>,
    /// `""` for pushes, `create` for tags, the pull request action (`opened`, `synchronized`,
    /// `reopened`) for pull requests.
    pub action: String,
    /// `refs/heads/main`, `refs/tags/v1`, `refs/pull/12/head`.
    pub git_ref: String,
    pub before: String,
    pub after: String,
    /// Branch the change comes from (pull request head; the pushed branch otherwise).
    pub source: String,
    /// Branch the change goes to (pull request base; the pushed branch otherwise).
    pub target: String,
    /// `owner/name` of the repository the change comes from (a fork for fork pull requests).
    pub source_repo: String,
    /// Pull request number, 0 otherwise.
    pub pull_request: i64,
    pub fork: bool,
    /// Pull request title.
    pub title: String,
    pub message: String,
    /// Link to the commit, compare view or pull request.
    pub link: String,
    /// Commit time, Unix seconds (0 if unknown).
    pub timestamp: i64,
    pub author_login: String,
    pub author_name: String,
    pub author_email: String,
    pub author_avatar: String,
    /// Login of whoever pushed or opened the pull request.
    pub sender: String,
}

/// What a webhook asks of Hangar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Build this.
    Build(Box<Hook>),
    /// A ping or an event Hangar does not build (branch deletion, closed pull request, ...);
    /// answered 200 with this reason.
    Ignore(String),
}

mod interim;
pub use interim::{ParseError, forge_of, parse, repo_full_name, verify_signature};
