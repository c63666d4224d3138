//! API tokens as the rest of Hangar sees them: their kinds, their scopes and the record a listing
//! shows (never the secret). The secret's format lives in `auth::token`.
//!
//! A scope is `ACTION` or `ACTION:REPO_GLOB` (`build.trigger:acme/*`). This module only checks
//! the syntax; which requests a scope lets through is decided by the policy at request time,
//! where a scope only ever narrows the owner's rights, never widens them.

use super::build::secs;
use super::ids::{TokenId, UserId};
use serde::Serialize;

/// What kind of credential a token is. Stored as its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// The `HANGAR_ADMIN_TOKEN` of first set-up: any string, no expiry.
    Bootstrap,
    /// A token a person made for themselves (`hgr_pat_`).
    Personal,
    /// A token of a service account (`hgr_sa_`).
    Service,
    /// A short-lived OAuth access token minted by the embedded provider (`hgr_at_`).
    Access,
    /// A SCIM provisioning client's token (`hgr_scim_`), stored apart from API tokens.
    Scim,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Bootstrap => "bootstrap",
            TokenKind::Personal => "personal",
            TokenKind::Service => "service",
            TokenKind::Access => "access",
            TokenKind::Scim => "scim",
        }
    }

    /// The kind named `s`; `None` for a name Hangar does not know.
    pub fn parse(s: &str) -> Option<TokenKind> {
        Some(match s {
            "bootstrap" => TokenKind::Bootstrap,
            "personal" => TokenKind::Personal,
            "service" => TokenKind::Service,
            "access" => TokenKind::Access,
            "scim" => TokenKind::Scim,
            _ => return None,
        })
    }
}

/// A stored token as its owner and administrators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Token {
    pub id: TokenId,
    pub user_id: UserId,
    pub name: String,
    pub kind: TokenKind,
    /// The first characters of the secret (`hgr_pat_AbCd`), to recognise it by.
    pub prefix: String,
    /// `None`: all of the owner's rights.
    pub scopes: Option<Vec<String>>,
    #[serde(serialize_with = "secs")]
    pub created: i64,
    /// Unix time of expiry; 0 = never (only the bootstrap token).
    #[serde(serialize_with = "secs")]
    pub expires: i64,
    /// 0 = never used. Recorded at most about once a minute.
    #[serde(serialize_with = "secs")]
    pub last_used: i64,
    /// 0 = live.
    #[serde(serialize_with = "secs")]
    pub revoked: i64,
    pub created_by: Option<UserId>,
}

impl Token {
    /// Neither revoked nor expired at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked == 0 && (self.expires == 0 || self.expires > now)
    }
}

/// Every action a scope may name (the policy's actions).
pub const ACTIONS: &[&str] = &[
    "repo.read",
    "repo.admin",
    "build.trigger",
    "build.cancel",
    "build.restart",
    "build.approve",
    "build.promote",
    "secret.list",
    "secret.write",
    "cron.write",
    "token.manage",
    "user.manage",
    "policy.manage",
    "audit.read",
    "metrics.read",
];

/// Actions about Hangar as a whole, which take no repository pattern (the same list as
/// `auth::policy::Action::on_repo`, which a test holds to).
pub const GLOBAL_ACTIONS: &[&str] = &[
    "token.manage",
    "user.manage",
    "policy.manage",
    "audit.read",
    "metrics.read",
];

/// The most scopes one token may carry.
pub const MAX_SCOPES: usize = 64;
const MAX_GLOB: usize = 200;

/// Checks one scope's syntax; the error says what is wrong.
pub fn check_scope(scope: &str) -> Result<(), String> {
    let (action, glob) = match scope.split_once(':') {
        Some((a, g)) => (a, Some(g)),
        None => (scope, None),
    };
    if !ACTIONS.contains(&action) {
        return Err(format!(
            "scope {scope:?}: unknown action {action:?}; use one of {}",
            ACTIONS.join(", ")
        ));
    }
    let Some(glob) = glob else {
        return Ok(());
    };
    if GLOBAL_ACTIONS.contains(&action) {
        return Err(format!(
            "scope {scope:?}: {action} is not about repositories; give it without :REPO"
        ));
    }
    check_repo_glob(glob).map_err(|e| format!("scope {scope:?}: {e}"))
}

/// A repository pattern: `*` or `**` (every repository), or `OWNER/NAME` where each part is
/// letters, digits, `.`, `_`, `-` and the wildcards `*` and `?`.
fn check_repo_glob(glob: &str) -> Result<(), String> {
    if glob == "*" || glob == "**" {
        return Ok(());
    }
    if glob.is_empty() || glob.len() > MAX_GLOB {
        return Err(format!(
            "the repository pattern must have 1 to {MAX_GLOB} characters"
        ));
    }
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '*' | '?'))
    };
    match glob.split_once('/') {
        Some((owner, name)) if part_ok(owner) && part_ok(name) => Ok(()),
        _ => Err(format!(
            "{glob:?} is not a repository pattern like acme/* or acme/api (letters, digits, . _ - and the wildcards * ?)"
        )),
    }
}

/// Checks a token's scopes and returns them without duplicates (first occurrence kept).
/// `None` stays `None` (all of the owner's rights); an empty list is refused, since a token
/// that may do nothing is a mistake.
pub fn check_scopes(scopes: Option<Vec<String>>) -> Result<Option<Vec<String>>, String> {
    let Some(scopes) = scopes else {
        return Ok(None);
    };
    if scopes.is_empty() {
        return Err(
            "scopes is empty: leave it out for all of your rights, or name at least one".into(),
        );
    }
    if scopes.len() > MAX_SCOPES {
        return Err(format!("a token may have at most {MAX_SCOPES} scopes"));
    }
    let mut out: Vec<String> = Vec::with_capacity(scopes.len());
    for scope in scopes {
        check_scope(&scope)?;
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_alone_is_a_scope() {
        for a in ACTIONS {
            assert_eq!(check_scope(a), Ok(()), "{a}");
        }
    }

    #[test]
    fn a_repository_action_may_name_a_repository_pattern() {
        for s in [
            "build.trigger:acme/*",
            "repo.read:acme/api",
            "secret.list:*",
            "repo.read:**",
            "build.promote:acme-corp/web.site_2",
            "secret.list:*/api-?",
        ] {
            assert_eq!(check_scope(s), Ok(()), "{s}");
        }
    }

    #[test]
    fn an_unknown_action_is_refused() {
        for s in [
            "repo.write",
            "build",
            "",
            "BUILD.TRIGGER",
            " repo.read",
            "repo.read ",
        ] {
            assert!(check_scope(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn a_malformed_repository_pattern_is_refused() {
        for s in [
            "repo.read:",
            "repo.read:acme",
            "repo.read:acme/",
            "repo.read:/api",
            "repo.read:acme/api/x",
            "repo.read:acme/a pi",
            "repo.read:acme/[ab]",
            "repo.read:acme/{a,b}",
            "repo.read:acme/api:x",
        ] {
            assert!(check_scope(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn global_actions_take_no_repository() {
        assert!(check_scope("user.manage:acme/*").is_err());
        assert!(check_scope("token.manage:*").is_err());
        assert_eq!(check_scope("user.manage"), Ok(()));
    }

    #[test]
    fn duplicate_scopes_are_kept_once_and_an_empty_list_is_refused() {
        let got = check_scopes(Some(vec![
            "repo.read".into(),
            "build.trigger:acme/*".into(),
            "repo.read".into(),
        ]));
        assert_eq!(
            got,
            Ok(Some(vec![
                "repo.read".into(),
                "build.trigger:acme/*".into()
            ]))
        );
        assert_eq!(check_scopes(None), Ok(None));
        assert!(check_scopes(Some(vec![])).is_err());
        assert!(check_scopes(Some(vec!["repo.read".into(); MAX_SCOPES + 1])).is_err());
    }

    #[test]
    fn token_kinds_round_trip_through_their_names() {
        for k in [
            TokenKind::Bootstrap,
            TokenKind::Personal,
            TokenKind::Service,
            TokenKind::Access,
        ] {
            assert_eq!(TokenKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(TokenKind::parse("session"), None);
    }
}
