//! Hangar's own OAuth 2.0 endpoints for API access (`/oauth/...`), apart from the embedded
//! OpenID provider (`/oidc`, which signs people in): every token issued here is an API token
//! (`hgr_at_`, kind `access`, stored in `tokens` like the others: audited, listed, revocable,
//! expiring), so the API accepts it as any other.
//!
//! The map: `client_credentials.rs` (service accounts trade one of their `hgr_sa_` tokens for a
//! short-lived, possibly narrower access token, RFC 6749 §4.4), `device.rs` (the device
//! authorization grant behind `hangar login`, RFC 8628: the code, the browser's approval, the
//! polls), `refresh.rs` (refresh tokens rotated on every use, a reused one revokes its chain;
//! revocation, RFC 7009).
//!
//! A token derived from another never widens it: scopes asked for must be covered by the
//! scopes of what they come from (`policy::scope::all_covered`), and the policy still checks
//! the owner's own rights on every request. HTTP lives in `http::oauth`; SQL in
//! `store::devices` and `store::tokens`.

mod client_credentials;
mod device;
mod refresh;

pub use device::{Approval, Pending};

use super::Authenticator;
use super::issuer::{OAuthError, Params};
use super::policy::scope;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::domain::{UserId, token::check_scopes};
use crate::store::Store;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

/// The public client `hangar login` is (it holds no secret; the device code is its proof).
pub const CLI_CLIENT_ID: &str = "hangar-cli";
/// The device authorization grant's `grant_type`.
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Longest life of an access token from the client-credentials grant.
pub const CLIENT_CREDENTIALS_TTL_MS: i64 = 15 * 60_000;
/// Life of an access token from a device approval or a refresh.
pub const DEVICE_ACCESS_TTL_MS: i64 = 3_600_000;
/// How long a device code waits for its approval.
pub const DEVICE_CODE_TTL_MS: i64 = 600_000;

/// A successful token response. `Debug` shows no token.
#[derive(Serialize)]
pub struct TokenAnswer {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Space-separated scopes; absent when the token has all of its owner's rights.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl fmt::Debug for TokenAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAnswer")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

/// The `/oauth` endpoints' state: settings, the store, the clock, and how many wrong user codes
/// each person has typed lately.
pub struct OAuth {
    server_url: String,
    poll_interval_ms: i64,
    max_expiry_ms: i64,
    store: Store,
    clock: SharedClock,
    /// Per person: wrong user codes typed, and since when (RFC 8628 §5.1: user codes are short,
    /// so guessing them is slowed down).
    wrong_codes: Mutex<HashMap<UserId, (u32, i64)>>,
}

impl fmt::Debug for OAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth")
            .field("server_url", &self.server_url)
            .finish_non_exhaustive()
    }
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl OAuth {
    pub fn new(config: &Config, store: Store, clock: SharedClock) -> OAuth {
        OAuth {
            server_url: config.server_url.trim_end_matches('/').to_string(),
            poll_interval_ms: ms(config.identity.device_poll_interval).max(1),
            max_expiry_ms: ms(config.identity.token_max_expiry),
            store,
            clock,
            wrong_codes: Mutex::new(HashMap::new()),
        }
    }

    /// `POST /oauth/token`: the client-credentials, device-code and refresh-token grants.
    pub async fn token(
        &self,
        auth: &Authenticator,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<TokenAnswer, OAuthError> {
        let params = Params::parse(body);
        if let Some(name) = params.repeated() {
            return Err(OAuthError::invalid_request(format!("{name} is repeated")));
        }
        let grant_type = params
            .one("grant_type")
            .ok()
            .flatten()
            .ok_or_else(|| OAuthError::invalid_request("grant_type is missing"))?;
        match grant_type {
            "client_credentials" => self.client_credentials(auth, authorization, &params).await,
            DEVICE_GRANT => self.redeem_device_code(authorization, &params).await,
            "refresh_token" => self.refresh(auth, authorization, &params).await,
            other => Err(OAuthError::new(
                400,
                "unsupported_grant_type",
                format!(
                    "{other} is not supported here; use client_credentials, refresh_token or {DEVICE_GRANT}"
                ),
            )),
        }
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The authorization server's metadata (RFC 8414), at
    /// `/.well-known/oauth-authorization-server`.
    pub fn metadata(&self) -> serde_json::Value {
        let url = &self.server_url;
        serde_json::json!({
            "issuer": url,
            "token_endpoint": format!("{url}/oauth/token"),
            "device_authorization_endpoint": format!("{url}/oauth/device/code"),
            "revocation_endpoint": format!("{url}/oauth/revoke"),
            "grant_types_supported": ["client_credentials", DEVICE_GRANT, "refresh_token"],
            "token_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post", "none"],
            "scopes_supported": crate::domain::token::ACTIONS,
            "response_types_supported": [],
        })
    }
}

/// The public client's id, from the form or Basic (without a secret); anything else is not
/// `hangar login`.
fn public_client(authorization: Option<&str>, params: &Params) -> Result<(), OAuthError> {
    match super::issuer::client_auth(authorization, params)? {
        Some((id, None)) if id == CLI_CLIENT_ID => Ok(()),
        Some((id, Some(s))) if id == CLI_CLIENT_ID && s.is_empty() => Ok(()),
        Some(_) => Err(OAuthError::invalid_client(format!(
            "unknown client: this endpoint serves {CLI_CLIENT_ID}, which has no secret"
        ))),
        None => Err(OAuthError::invalid_client(format!(
            "client_id is missing (client_id={CLI_CLIENT_ID})"
        ))),
    }
}

/// The `scope` parameter as Hangar scopes: `None` when absent; each one checked
/// (`invalid_scope` names what is wrong).
fn asked_scopes(params: &Params) -> Result<Option<Vec<String>>, OAuthError> {
    let Some(text) = params.one("scope").ok().flatten() else {
        return Ok(None);
    };
    let list: Vec<String> = text
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    check_scopes(Some(list)).map_err(|e| OAuthError::new(400, "invalid_scope", e))
}

/// The scopes a derived token gets: `asked` when every one of them is covered by `parent`
/// (`None` = all of the owner's rights), else `invalid_scope`; the parent's own when none
/// are asked for.
fn narrowed(
    parent: Option<&[String]>,
    asked: Option<Vec<String>>,
) -> Result<Option<Vec<String>>, OAuthError> {
    let Some(asked) = asked else {
        return Ok(parent.map(<[String]>::to_vec));
    };
    let wide = parent.map(scope::parse_all).transpose();
    let narrow = scope::parse_all(&asked);
    match (wide, narrow) {
        (Ok(w), Ok(n)) if scope::all_covered(w.as_deref(), Some(&n)) => Ok(Some(asked)),
        _ => Err(OAuthError::new(
            400,
            "invalid_scope",
            "the scope asked for is wider than the credential it comes from",
        )),
    }
}

/// A new `hgr_at_` access token named `name`, to store; and its secret, to answer once.
fn mint_access(
    name: &str,
    scopes: Option<Vec<String>>,
    expires: i64,
) -> (crate::store::NewToken, crate::config::Secret) {
    let minted = super::token::mint_token(super::token::Format::Access);
    let new = crate::store::NewToken {
        name: name.to_string(),
        kind: super::token::Format::Access.kind(),
        hash: minted.hash,
        prefix: minted.prefix,
        scopes,
        expires,
        replace_same_name: false,
    };
    (new, minted.secret)
}

/// Scopes as the `scope` of a response: space-separated; `None` for all of the owner's rights.
fn scope_text(scopes: &Option<Vec<String>>) -> Option<String> {
    scopes.as_ref().map(|s| s.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn a_derived_token_keeps_its_parents_scopes_or_narrows_them() {
        let parent = v(&["repo.read", "build.trigger:acme/*"]);
        assert_eq!(
            narrowed(Some(&parent), None).ok(),
            Some(Some(parent.clone()))
        );
        assert_eq!(
            narrowed(Some(&parent), Some(v(&["repo.read:acme/api"]))).ok(),
            Some(Some(v(&["repo.read:acme/api"])))
        );
        assert!(narrowed(Some(&parent), Some(v(&["build.cancel"]))).is_err());
        assert!(narrowed(Some(&parent), Some(v(&["build.trigger"]))).is_err());
        assert_eq!(narrowed(None, None).ok(), Some(None));
        assert!(narrowed(None, Some(v(&["user.manage"]))).is_ok());
    }
}
