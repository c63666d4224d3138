//! Issuing and revoking credentials, and the user changes that touch them: the rules (names,
//! lifetimes, scope syntax, which format a user's tokens get) and, after each write commits,
//! dropping what the cache may still hold.
//!
//! Whether the caller may do any of this is decided before, by the HTTP layer.

use super::Authenticator;
use super::token::{self, Format};
use crate::config::Secret;
use crate::domain::{Actor, Token, TokenId, User, token::check_scopes};
use crate::error::{Error, Result};
use crate::store::{NewToken, NewUser, UserPatch};
use std::time::Duration;

/// A token someone asks for.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub name: String,
    /// Lifetime in seconds; `None` = the longest allowed (`token_max_expiry`).
    pub expires_in: Option<i64>,
    /// `None` = all of the owner's rights. A scope only ever narrows what the owner may do: the
    /// policy checks both the owner's rights and the token's scopes on every request, so a
    /// scope naming an action the owner lacks grants nothing.
    pub scopes: Option<Vec<String>>,
    /// Revoke the owner's other live tokens of the same name (rotation).
    pub replace_same_name: bool,
}

/// A token just made: its record, and its secret, to be shown once.
#[derive(Debug)]
pub struct Issued {
    pub token: Token,
    pub secret: Secret,
}

const MAX_NAME: usize = 100;
const MAX_LOGIN: usize = 64;

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "name must have 1 to {MAX_NAME} printable characters"
        )));
    }
    Ok(name.to_string())
}

/// A login: a letter or digit, then letters, digits, `.`, `_`, `-`; at most 64 characters.
pub fn check_login(login: &str) -> Result<()> {
    let mut chars = login.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok
        || login.len() > MAX_LOGIN
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(Error::invalid(format!(
            "login {login:?} must start with a letter or digit and have at most {MAX_LOGIN} letters, digits, '.', '_' or '-'"
        )));
    }
    Ok(())
}

fn check_email(email: &str) -> Result<()> {
    if !email.is_empty()
        && (email.len() > 254 || !email.contains('@') || email.contains(char::is_whitespace))
    {
        return Err(Error::invalid(format!(
            "email {email:?} is not an email address"
        )));
    }
    Ok(())
}

/// The format of tokens made for `user`: service accounts (machine users) get `hgr_sa_`.
fn format_for(user: &User) -> Format {
    if user.machine {
        Format::Service
    } else {
        Format::Personal
    }
}

impl Authenticator {
    /// The longest lifetime a personal or service token may have.
    pub fn max_expiry(&self) -> Duration {
        self.max_expiry
    }

    /// Checks `request` and turns it into what the store keeps, with a fresh secret.
    fn prepare(
        &self,
        format: Format,
        request: TokenRequest,
        now: i64,
    ) -> Result<(NewToken, Secret)> {
        let name = check_name(&request.name)?;
        let max = i64::try_from(self.max_expiry.as_secs()).unwrap_or(i64::MAX);
        let seconds = request.expires_in.unwrap_or(max);
        if seconds <= 0 || seconds > max {
            return Err(Error::invalid(format!(
                "expires_in must be between 1 and {max} seconds (token_max_expiry)"
            )));
        }
        let scopes = check_scopes(request.scopes).map_err(Error::Invalid)?;
        let minted = token::mint_token(format);
        let new = NewToken {
            name,
            kind: format.kind(),
            hash: minted.hash,
            prefix: minted.prefix,
            scopes,
            expires: now.saturating_add(seconds.saturating_mul(1000)),
            replace_same_name: request.replace_same_name,
        };
        Ok((new, minted.secret))
    }

    /// Makes a token for `owner`, on behalf of `actor`. Rotation revokes the owner's other
    /// tokens of that name, and they fail here at once.
    pub async fn issue_token(
        &self,
        actor: &Actor,
        owner: &User,
        request: TokenRequest,
    ) -> Result<Issued> {
        let now = self.clock.now_ms();
        let rotate = request.replace_same_name;
        let (new, secret) = self.prepare(format_for(owner), request, now)?;
        let token = self.store.create_token(actor, owner, &new, now).await?;
        if rotate {
            self.forget_user(owner.id);
        }
        Ok(Issued { token, secret })
    }

    /// Revokes a token; it fails on this server from now on. `false` when it was already
    /// revoked.
    pub async fn revoke_token(&self, actor: &Actor, id: TokenId) -> Result<bool> {
        let now = self.clock.now_ms();
        let revoked = self.store.revoke_token(actor, id, now).await?;
        self.forget_token(id);
        Ok(revoked)
    }

    /// Creates a user; a service account (`machine`) gets its first token, with the longest
    /// allowed lifetime and all of its rights, answered once.
    pub async fn create_user(&self, actor: &Actor, new: NewUser) -> Result<(User, Option<Issued>)> {
        check_login(&new.login)?;
        check_email(&new.email)?;
        let now = self.clock.now_ms();
        let first = if new.machine {
            let request = TokenRequest {
                name: DRONE_TOKEN_NAME.into(),
                ..TokenRequest::default()
            };
            Some(self.prepare(Format::Service, request, now)?)
        } else {
            None
        };
        let (user, token) = self
            .store
            .create_user(actor, &new, first.as_ref().map(|(t, _)| t), now)
            .await?;
        let issued = match (token, first) {
            (Some(token), Some((_, secret))) => Some(Issued { token, secret }),
            _ => None,
        };
        Ok((user, issued))
    }

    /// Changes a user (admin flag, active, email); a deactivated user's tokens are revoked and
    /// fail at once. `None` when there is no such login.
    pub async fn update_user(
        &self,
        actor: &Actor,
        login: &str,
        patch: UserPatch,
    ) -> Result<Option<User>> {
        if let Some(email) = &patch.email {
            check_email(email)?;
        }
        let now = self.clock.now_ms();
        let change = self.store.update_user(actor, login, &patch, now).await?;
        if let Some(c) = &change {
            self.forget_user(c.user.id);
        }
        Ok(change.map(|c| c.user))
    }
}

/// The name of tokens made through Drone's endpoints (`POST /api/user/token`,
/// `POST /api/users/{login}/token/rotate`, a new machine user's first token); rotating replaces
/// the earlier ones of this name.
pub const DRONE_TOKEN_NAME: &str = "drone-api";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_short_plain_names() {
        for ok in ["bob", "ci-bot", "a.b_c-1", "9lives"] {
            assert!(check_login(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-bob",
            ".x",
            "bob smith",
            "bob/x",
            "bö",
            &"x".repeat(65),
        ] {
            assert!(check_login(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_token_name_must_be_printable_and_short() {
        assert_eq!(check_name("  laptop ").ok().as_deref(), Some("laptop"));
        assert!(check_name("").is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"n".repeat(101)).is_err());
    }

    #[test]
    fn an_email_needs_an_at_sign() {
        assert!(check_email("").is_ok());
        assert!(check_email("bob@example.com").is_ok());
        assert!(check_email("bob").is_err());
        assert!(check_email("bob @x").is_err());
    }
}
