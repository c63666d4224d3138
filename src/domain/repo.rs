//! Repositories: an activated forge repository whose pushes Hangar builds.

use super::ids::{RepoId, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Top-level paths of Hangar's own web routes: a repository owner may not take one of these
/// names, or `/{owner}/{name}` pages would shadow them.
pub const RESERVED_OWNERS: &[&str] = &[
    "api",
    "auth",
    "oidc",
    "scim",
    "login",
    "logout",
    "hook",
    "admin",
    "account",
    "static",
    "healthz",
    "metrics",
    "version",
    "rpc",
    ".well-known",
];

/// Who may see a repository, as Drone names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    #[default]
    Private,
    Internal,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
            Visibility::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> Option<Visibility> {
        match s {
            "public" => Some(Visibility::Public),
            "private" => Some(Visibility::Private),
            "internal" => Some(Visibility::Internal),
            _ => None,
        }
    }
}

/// `owner/name`, checked: both parts are non-empty path segments and the owner is not one of
/// Hangar's own top-level paths.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug {
    pub owner: String,
    pub name: String,
}

impl Slug {
    /// Checks an owner and a name as they arrive in a URL or on the command line.
    pub fn new(owner: &str, name: &str) -> Result<Slug, String> {
        for (what, part) in [("owner", owner), ("name", name)] {
            if part.is_empty() || part.len() > 100 {
                return Err(format!("repository {what} must be 1 to 100 characters"));
            }
            if !part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                || part == "."
                || part == ".."
            {
                return Err(format!(
                    "repository {what} {part:?} may hold only letters, digits, '-', '_' and '.'"
                ));
            }
        }
        if RESERVED_OWNERS.contains(&owner.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "repository owner {owner:?} is reserved: it is one of Hangar's own paths"
            ));
        }
        Ok(Slug {
            owner: owner.to_string(),
            name: name.to_string(),
        })
    }

    /// Parses `owner/name`.
    pub fn parse(full: &str) -> Result<Slug, String> {
        match full.split_once('/') {
            Some((owner, name)) => Slug::new(owner, name),
            None => Err(format!("{full:?} is not of the form owner/name")),
        }
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// An activated repository. Serialises as Drone's Repo object; the webhook secret is never
/// serialised from here.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Repo {
    pub id: RepoId,
    pub uid: String,
    pub user_id: UserId,
    pub namespace: String,
    pub name: String,
    pub slug: String,
    pub scm: String,
    pub git_http_url: String,
    pub git_ssh_url: String,
    pub link: String,
    pub default_branch: String,
    pub private: bool,
    pub visibility: Visibility,
    pub active: bool,
    pub config_path: String,
    pub trusted: bool,
    pub protected: bool,
    pub ignore_forks: bool,
    pub ignore_pull_requests: bool,
    pub auto_cancel_pull_requests: bool,
    pub auto_cancel_pushes: bool,
    pub auto_cancel_running: bool,
    /// Minutes a stage may run before it is killed.
    pub timeout: i64,
    pub counter: i64,
    #[serde(
        serialize_with = "super::build::secs",
        deserialize_with = "super::build::from_secs"
    )]
    pub synced: i64,
    #[serde(
        serialize_with = "super::build::secs",
        deserialize_with = "super::build::from_secs"
    )]
    pub created: i64,
    #[serde(
        serialize_with = "super::build::secs",
        deserialize_with = "super::build::from_secs"
    )]
    pub updated: i64,
    pub version: i64,
    pub archived: bool,
    /// Who may start builds from webhooks.
    pub trigger_policy: super::identity::TriggerPolicy,
    /// Builds need a head commit signed by a key registered to an active user, or wait for
    /// approval.
    pub verify_commits: bool,
    /// Builds of fork pull requests and of senders taken at the forge's word (`any_sender`)
    /// may receive ID tokens; off by default.
    pub untrusted_id_tokens: bool,
    #[serde(skip)]
    pub webhook_secret: WebhookSecret,
}

impl Repo {
    /// Where the runner and the mirror fetch from: always the configured URL, never one from a
    /// webhook payload.
    pub fn clone_url(&self) -> &str {
        &self.git_http_url
    }
}

/// The shared secret of a repository's webhooks. Its `Debug` never shows the value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct WebhookSecret(pub String);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_owner_and_name_make_a_slug() {
        let slug = Slug::parse("acme/api").expect("valid");
        assert_eq!(slug.to_string(), "acme/api");
    }

    #[test]
    fn an_owner_named_after_a_hangar_path_is_refused() {
        for owner in ["api", "hook", ".well-known", "Admin", "healthz"] {
            let err = Slug::new(owner, "x").expect_err(owner);
            assert!(err.contains("reserved"), "{err}");
        }
    }

    #[test]
    fn slashes_and_dot_segments_are_refused() {
        assert!(Slug::new("acme", "..").is_err());
        assert!(Slug::new("acme", "a b").is_err());
        assert!(Slug::parse("noslash").is_err());
        assert!(Slug::parse("a/b/c").is_err());
    }

    #[test]
    fn the_webhook_secret_is_redacted_in_debug() {
        let s = WebhookSecret("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
