//! The principal: who a request acts as, once its credential has been checked. A user (or no
//! one, for anonymous requests), the user's groups, and the credential used (a token with its
//! scopes, a browser session, or none). Authorization (`auth::policy`) decides from this alone.

use super::policy::scope::{self, Scope};
use crate::domain::{Actor, SessionId, TokenId, User};
use crate::error::{Error, Result};
use crate::store::{Identity, TokenKind};
use std::sync::Arc;

/// The login the anonymous principal has in policies (`User::"@anonymous"`).
pub const ANONYMOUS: &str = "@anonymous";

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum Credential {
    /// An API token. `scopes: None` means all of the owner's rights.
    Token {
        id: TokenId,
        kind: TokenKind,
        scopes: Option<Vec<Scope>>,
    },
    /// A browser session.
    Session { id: SessionId },
    /// Nothing: only what public repositories allow.
    Anonymous,
}

/// Who a request acts as.
#[derive(Debug, Clone)]
pub struct Principal {
    /// `None` for anonymous requests.
    pub user: Option<User>,
    /// The user's groups, sorted, without duplicates.
    pub groups: Vec<String>,
    pub credential: Credential,
    /// The part of a decision-cache key that stands for this principal: admin flag, signed in
    /// or not, and the group set.
    key: Arc<str>,
}

impl Principal {
    fn new(user: Option<User>, mut groups: Vec<String>, credential: Credential) -> Principal {
        groups.sort();
        groups.dedup();
        let admin = user.as_ref().is_some_and(|u| u.admin);
        let mut key = String::with_capacity(4 + groups.iter().map(|g| g.len() + 1).sum::<usize>());
        key.push(if admin { 'A' } else { '-' });
        key.push(if user.is_some() { 'S' } else { '-' });
        for g in &groups {
            key.push('\u{1f}');
            key.push_str(g);
        }
        Principal {
            user,
            groups,
            credential,
            key: Arc::from(key),
        }
    }

    /// A caller without a credential.
    pub fn anonymous() -> Principal {
        Principal::new(None, Vec::new(), Credential::Anonymous)
    }

    /// The principal behind a checked API token, with the groups stored for its user. A stored
    /// scope that no longer parses (an action renamed since) denies everything: the token keeps
    /// `Some(vec![])`, never widens to all of its owner's rights.
    pub fn from_identity(identity: Identity) -> Principal {
        let scopes = identity
            .scopes
            .as_deref()
            .map(|s| scope::parse_all(s).unwrap_or_default());
        let credential = Credential::Token {
            id: identity.token,
            kind: identity.kind,
            scopes,
        };
        Principal::new(Some(identity.user), identity.groups, credential)
    }

    /// A principal for a browser session of `user`.
    pub fn from_session(user: User, groups: Vec<String>, session_id: SessionId) -> Principal {
        Principal::new(Some(user), groups, Credential::Session { id: session_id })
    }

    /// The principal a build acts as when it is checked again (no request made it): the user
    /// with the groups stored for them, all of their own rights.
    pub fn for_build(user: User, groups: Vec<String>) -> Principal {
        Principal::new(Some(user), groups, Credential::Anonymous)
    }

    /// The same principal acting through a token limited to `scopes`.
    pub fn with_scopes(self, scopes: Vec<Scope>) -> Principal {
        let credential = match self.credential {
            Credential::Token { id, kind, .. } => Credential::Token {
                id,
                kind,
                scopes: Some(scopes),
            },
            // A scoped credential that is not a token: keep the limit all the same.
            _ => Credential::Token {
                id: TokenId(0),
                kind: TokenKind::Personal,
                scopes: Some(scopes),
            },
        };
        Principal { credential, ..self }
    }

    /// A principal that no request made: what `hangar policy test`, tests and benchmarks ask
    /// about. `scopes` are parsed strictly.
    pub fn hypothetical(
        login: &str,
        groups: Vec<String>,
        admin: bool,
        scopes: Option<&[String]>,
    ) -> std::result::Result<Principal, String> {
        let user = User {
            id: crate::domain::UserId(0),
            login: login.to_string(),
            email: String::new(),
            machine: false,
            admin,
            active: true,
            avatar: String::new(),
            created: 0,
            updated: 0,
            last_login: 0,
        };
        let principal = Principal::new(
            Some(user),
            groups,
            Credential::Token {
                id: TokenId(0),
                kind: TokenKind::Personal,
                scopes: None,
            },
        );
        Ok(match scopes {
            Some(s) => principal.with_scopes(scope::parse_all(s)?),
            None => principal,
        })
    }

    pub fn signed_in(&self) -> bool {
        self.user.is_some()
    }

    /// The user's login, or `@anonymous`.
    pub fn login(&self) -> &str {
        self.user.as_ref().map_or(ANONYMOUS, |u| u.login.as_str())
    }

    /// The `users.admin` flag.
    pub fn admin_flag(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.admin)
    }

    /// The token's scopes, if the credential is a scoped token.
    pub fn scopes(&self) -> Option<&[Scope]> {
        match &self.credential {
            Credential::Token {
                scopes: Some(s), ..
            } => Some(s),
            _ => None,
        }
    }

    /// The signed-in user, or 401 for anonymous callers.
    pub fn require_user(&self) -> Result<&User> {
        self.user.as_ref().ok_or_else(|| {
            Error::Unauthenticated(
                "sign in or send an API token: Authorization: Bearer <token>".into(),
            )
        })
    }

    /// Who acted, for the audit trail.
    pub fn actor(&self) -> Actor {
        match (&self.user, &self.credential) {
            (Some(u), Credential::Token { id, .. }) => Actor::user(u.id, &u.login, Some(*id)),
            (Some(u), _) => Actor::user(u.id, &u.login, None),
            (None, _) => Actor::anonymous(),
        }
    }

    pub(crate) fn cache_key(&self) -> &Arc<str> {
        &self.key
    }
}
