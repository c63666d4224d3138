//! The forges Hangar listens to (GitHub, Gitea/Forgejo): their webhook payloads, turned into one
//! [`Hook`] shape, and their signatures, checked in constant time.
//!
//! The order of work for a delivery, cheapest first so that a flood of forged webhooks costs
//! little: [`forge_of`] (headers), [`repo_full_name`] (one field of the body, to find the
//! repository and its secret), [`verify_signature`], and only then [`parse`].
//!
//! What does not live here: finding the repository or creating builds (`trigger`), `[ci skip]`
//! (`trigger`), HTTP (`http::hook`).

mod events;
mod payload;
mod repo_name;
mod signature;
mod timestamp;

#[cfg(test)]
mod tests;

use http::HeaderMap;
use serde::de::DeserializeOwned;

use crate::domain::Event;

pub use signature::{sign, verify_signature};

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

/// What is wrong with a webhook that claims to be from a forge; the HTTP layer answers it with
/// 400 and this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A header the forge always sends is missing or not text.
    #[error("missing or unreadable {0} header")]
    Header(&'static str),
    /// The body is not JSON, or a field has the wrong type.
    #[error("invalid JSON payload at line {line} column {column}: {reason}")]
    Json {
        line: usize,
        column: usize,
        reason: String,
    },
    /// The payload lacks a field a build cannot do without (dotted path).
    #[error("the payload has no {0}")]
    MissingField(&'static str),
}

impl From<serde_json::Error> for ParseError {
    fn from(error: serde_json::Error) -> Self {
        let (line, column) = (error.line(), error.column());
        // serde_json appends the position to its message; it is reported separately here.
        let message = error.to_string();
        let suffix = format!(" at line {line} column {column}");
        let reason = message.strip_suffix(&suffix).unwrap_or(&message).to_owned();
        ParseError::Json {
            line,
            column,
            reason,
        }
    }
}

/// Which forge sent a webhook, from its headers; `None` if neither.
///
/// Gitea also sends GitHub's `X-GitHub-Event` for compatibility, so its own headers are looked
/// for first; Forgejo sends both `X-Forgejo-Event` and `X-Gitea-Event`.
pub fn forge_of(headers: &HeaderMap) -> Option<Forge> {
    if headers.contains_key("x-gitea-event") || headers.contains_key("x-forgejo-event") {
        Some(Forge::Gitea)
    } else if headers.contains_key("x-github-event") {
        Some(Forge::GitHub)
    } else {
        None
    }
}

/// `repository.full_name` of a webhook body, read without parsing the rest into values: this
/// runs before the signature check, on forged deliveries too. `None` if the body is not JSON
/// or names no repository.
///
/// The name only says which secret to check the signature with; callers must still match the
/// repository of the parsed [`Hook`], which comes from the same signed body.
pub fn repo_full_name(body: &[u8]) -> Option<String> {
    repo_name::repo_full_name(body)
}

/// What a webhook asks for. Call only after [`verify_signature`] accepted it.
///
/// Events that never build are answered without reading the body.
pub fn parse(forge: Forge, headers: &HeaderMap, body: &[u8]) -> Result<Parsed, ParseError> {
    let event =
        header(headers, event_headers(forge)).ok_or(ParseError::Header(event_headers(forge)[0]))?;
    let parsed = match event {
        "ping" => Parsed::Ignore("pong".into()),
        "push" => events::push(read(body)?)?,
        "pull_request" => events::pull_request(forge, read(body)?)?,
        "create" => events::create(&read(body)?),
        other => Parsed::Ignore(format!("event {other} is not built")),
    };
    Ok(match parsed {
        Parsed::Build(mut hook) => {
            hook.delivery_id = header(headers, delivery_headers(forge))
                .unwrap_or_default()
                .to_owned();
            Parsed::Build(hook)
        }
        ignore @ Parsed::Ignore(_) => ignore,
    })
}

fn read<T: DeserializeOwned>(body: &[u8]) -> Result<T, ParseError> {
    Ok(serde_json::from_slice(body)?)
}

/// The first of `names` present with a text value.
fn header<'a>(headers: &'a HeaderMap, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok())
}

fn event_headers(forge: Forge) -> &'static [&'static str] {
    match forge {
        Forge::GitHub => &["X-GitHub-Event"],
        Forge::Gitea => &["X-Gitea-Event", "X-Forgejo-Event"],
    }
}

fn delivery_headers(forge: Forge) -> &'static [&'static str] {
    match forge {
        Forge::GitHub => &["X-GitHub-Delivery"],
        Forge::Gitea => &[
            "X-Gitea-Delivery",
            "X-Forgejo-Delivery",
            "X-GitHub-Delivery",
        ],
    }
}
