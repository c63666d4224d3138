//! The parts of GitHub's and Gitea's webhook payloads that Hangar reads, as serde structs.
//!
//! Gitea modelled its payloads on GitHub's, so one set of structs serves both; where the names
//! differ (`compare` against `compare_url`) both fields are declared and the conversion takes
//! whichever is set. Every struct is `#[serde(default)]` and unknown fields are skipped, so a
//! forge adding or dropping fields does not break parsing; the few fields a build cannot do
//! without are checked after deserializing, with a [`ParseError::MissingField`] naming them.
//!
//! What does not live here: deciding what a payload means (`events`).
//!
//! [`ParseError::MissingField`]: super::ParseError::MissingField

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};

use super::timestamp;

/// A JSON string where the forges may also send `null` (GitHub's `base_ref`, Gitea's absent
/// `head_commit` fields, ...): both `null` and a missing field read as `""`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Text(pub(super) String);

impl Text {
    pub(super) fn as_str(&self) -> &str {
        &self.0
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Text(
            Option::<String>::deserialize(deserializer)?.unwrap_or_default(),
        ))
    }
}

/// `null` read as the type's default, for objects and lists the forges sometimes send as `null`.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A point in time as Unix seconds, 0 when absent or unreadable. The forges send RFC 3339
/// strings for commit and pull request times, but GitHub sends some repository times as Unix
/// integers; a time is never worth refusing a webhook over, so anything else reads as 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Timestamp(pub(super) i64);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Borrowed when the JSON string has no escapes, which timestamps never have.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw<'a> {
            Text(#[serde(borrow)] Cow<'a, str>),
            Seconds(i64),
            Other(serde::de::IgnoredAny),
        }
        Ok(Timestamp(match Raw::deserialize(deserializer)? {
            Raw::Text(text) => timestamp::unix_seconds(&text).unwrap_or(0),
            Raw::Seconds(seconds) => seconds,
            Raw::Other(_) => 0,
        }))
    }
}

/// `repository` in every payload.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Repository {
    pub(super) full_name: Text,
}

/// A forge account: `sender`, `pusher`, `pull_request.user`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Account {
    pub(super) login: Text,
    /// Gitea's second name for `login`.
    pub(super) username: Text,
    /// Gitea's display name.
    pub(super) full_name: Text,
    /// GitHub's display name, when it sends one.
    pub(super) name: Text,
    pub(super) email: Text,
    pub(super) avatar_url: Text,
}

impl Account {
    pub(super) fn login(&self) -> &str {
        first_set(&[&self.login, &self.username])
    }

    pub(super) fn display_name(&self) -> &str {
        first_set(&[&self.full_name, &self.name])
    }
}

/// The author of a commit, as written in the commit; `username` is the forge account the
/// e-mail address belongs to, empty when the forge knows none.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Signature {
    pub(super) name: Text,
    pub(super) email: Text,
    pub(super) username: Text,
}

/// An entry of `commits`, or `head_commit`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Commit {
    pub(super) id: Text,
    pub(super) message: Text,
    pub(super) timestamp: Timestamp,
    pub(super) url: Text,
    #[serde(deserialize_with = "nullable")]
    pub(super) author: Signature,
}

/// The `push` event of both forges.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Push {
    #[serde(rename = "ref")]
    pub(super) git_ref: Text,
    pub(super) before: Text,
    pub(super) after: Text,
    /// GitHub only; Gitea signals a deletion by an all-zero `after`.
    #[serde(deserialize_with = "nullable")]
    pub(super) deleted: bool,
    /// GitHub's link to the change.
    pub(super) compare: Text,
    /// Gitea's link to the change (empty for a new branch without a base to compare with).
    pub(super) compare_url: Text,
    #[serde(deserialize_with = "nullable")]
    pub(super) commits: Vec<Commit>,
    /// Absent from older Gitea, `null` on GitHub when nothing was pushed.
    pub(super) head_commit: Option<Commit>,
    #[serde(deserialize_with = "nullable")]
    pub(super) repository: Repository,
    /// Gitea's pushing account; `sender` is the same person and is preferred.
    #[serde(deserialize_with = "nullable")]
    pub(super) pusher: Account,
    #[serde(deserialize_with = "nullable")]
    pub(super) sender: Account,
}

/// One side of a pull request: `pull_request.head` or `pull_request.base`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Branch {
    /// The branch name, without `refs/heads/`.
    #[serde(rename = "ref")]
    pub(super) name: Text,
    pub(super) sha: Text,
    /// `null` on GitHub when the fork the pull request came from was deleted.
    pub(super) repo: Option<Repository>,
}

/// `pull_request` inside a `pull_request` event.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct PullRequest {
    #[serde(deserialize_with = "nullable")]
    pub(super) number: i64,
    pub(super) title: Text,
    pub(super) html_url: Text,
    #[serde(deserialize_with = "nullable")]
    pub(super) user: Account,
    #[serde(deserialize_with = "nullable")]
    pub(super) head: Branch,
    #[serde(deserialize_with = "nullable")]
    pub(super) base: Branch,
    pub(super) created_at: Timestamp,
    pub(super) updated_at: Timestamp,
}

/// The `pull_request` event of both forges.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct PullRequestEvent {
    pub(super) action: Text,
    #[serde(deserialize_with = "nullable")]
    pub(super) number: i64,
    #[serde(deserialize_with = "nullable")]
    pub(super) pull_request: PullRequest,
    #[serde(deserialize_with = "nullable")]
    pub(super) repository: Repository,
    #[serde(deserialize_with = "nullable")]
    pub(super) sender: Account,
}

/// The `create` event: a branch or tag was created.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Create {
    pub(super) ref_type: Text,
}

/// The first non-empty text, or `""`.
pub(super) fn first_set<'a>(candidates: &[&'a Text]) -> &'a str {
    candidates
        .iter()
        .map(|text| text.as_str())
        .find(|text| !text.is_empty())
        .unwrap_or("")
}
