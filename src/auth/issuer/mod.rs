//! Hangar's own small OpenID Connect provider, for local users, used when no external provider
//! is configured (and as the break-glass path when one is). Its issuer is `{server_url}/oidc`.
//! Hangar's relying party logs in through it exactly as through an external provider, with the
//! built-in confidential client `hangar` ([`Issuer::hangar_client`]).
//!
//! The map: `authorize.rs` (the authorization request, PKCE S256 required, `prompt`), `login.rs`
//! (the password form, lock after failures), `grant.rs` (the token endpoint: codes used once,
//! refresh tokens rotated, reuse revokes the chain; userinfo), `logout.rs` (end_session),
//! `signing.rs` (ES256 keys, JWKS, rotation), `claims.rs` (ID token and userinfo claims),
//! `pkce.rs`, `redirect.rs` (exact match, loopback port leeway), `password.rs` (Argon2id),
//! `page.rs` (the HTML), `setup.rs` (built-in client, first admin), `cli.rs` (`hangar user`).
//!
//! Storage: codes, access tokens, refresh tokens and cookies are kept only as SHA-256 hashes;
//! access tokens live in `issuer_access_tokens`, apart from Hangar's API `tokens`, so a token
//! minted for some client of this provider is never a Hangar API credential. HTTP lives in
//! `http::oidc`; SQL in `store::{issuer, grants, local_accounts}`.

mod authorize;
mod claims;
pub mod cli;
mod grant;
mod login;
mod logout;
mod page;
mod params;
pub mod password;
pub mod pkce;
pub mod redirect;
mod setup;
pub mod signing;

pub use claims::IdTokenClaims;
pub use grant::TokenResponse;
pub use params::{Params, client_auth};
pub use setup::{ClientCredentials, bootstrap, hangar_client};

use crate::auth::keys::SecretBox;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::error::Error;
use crate::store::Store;
use std::fmt;

/// How long an authorization code may wait for its exchange.
pub const CODE_TTL_MS: i64 = 120_000;
/// Lifetime of an access token (userinfo only).
pub const ACCESS_TTL_MS: i64 = 600_000;
/// Lifetime of an ID token.
pub const ID_TOKEN_TTL_MS: i64 = 600_000;
/// Lifetime of a refresh token (each use replaces it).
pub const REFRESH_TTL_MS: i64 = 30 * 86_400_000;
/// How long one is signed in at the provider (`hangar_oidc_sso`).
pub const SESSION_TTL_MS: i64 = 8 * 3_600_000;
/// How long a login form stays usable.
pub const LOGIN_TTL_MS: i64 = 600_000;
/// Wrong passwords one login form takes before it must be started again.
pub const LOGIN_ATTEMPTS: i64 = 5;

/// The provider-session cookie.
pub const SSO_COOKIE: &str = "hangar_oidc_sso";
/// The cookie binding login forms to the browser that opened them.
pub const LOGIN_COOKIE: &str = "hangar_oidc_login";
/// The built-in client Hangar's relying party uses.
pub const HANGAR_CLIENT_ID: &str = "hangar";
/// Scopes this provider knows; others are ignored.
pub const SCOPES: [&str; 5] = ["openid", "profile", "email", "groups", "offline_access"];

/// The Content-Security-Policy header of the provider's pages.
pub fn page_security_policy() -> &'static str {
    page::content_security_policy()
}

/// The path part of an absolute URL (`/` when it has none).
fn path_of(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or("", |(_, rest)| rest);
    after_scheme.find('/').map_or("/", |i| &after_scheme[i..])
}

/// The embedded provider's issuer URL for a server URL.
pub fn issuer_url(server_url: &str) -> String {
    format!("{}/oidc", server_url.trim_end_matches('/'))
}

/// The embedded provider: its settings, the store, the keys.
pub struct Issuer {
    url: String,
    server_url: String,
    secure_cookies: bool,
    store: Store,
    clock: SharedClock,
    secrets: SecretBox,
    keys: signing::SigningKeys,
    /// Argon2 runs on blocking threads; this bounds how many at once (a flood of login
    /// attempts queues instead of taking every core).
    hashing: tokio::sync::Semaphore,
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer").field("url", &self.url).finish()
    }
}

impl Issuer {
    pub fn new(config: &Config, store: Store, clock: SharedClock, secrets: SecretBox) -> Issuer {
        Issuer {
            url: issuer_url(&config.server_url),
            server_url: config.server_url.trim_end_matches('/').to_string(),
            secure_cookies: config.server_url.starts_with("https://"),
            keys: signing::SigningKeys::new(store.clone(), secrets.clone()),
            store,
            clock,
            secrets,
            hashing: tokio::sync::Semaphore::new(2),
        }
    }

    /// The issuer identifier, `{server_url}/oidc`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether cookies get `Secure` (the server URL is https).
    pub fn secure_cookies(&self) -> bool {
        self.secure_cookies
    }

    /// The path the provider's cookies are scoped to: the issuer URL's path (`/oidc`, or
    /// `/prefix/oidc` behind a proxy that serves Hangar under a prefix).
    pub fn cookie_path(&self) -> &str {
        path_of(&self.url)
    }

    /// The signing keys (JWKS, rotation).
    pub fn keys(&self) -> &signing::SigningKeys {
        &self.keys
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Whether an `Origin` header names this server (a missing one is accepted: browsers send
    /// it with every form post, other clients need not).
    pub fn same_origin(&self, origin: Option<&str>) -> bool {
        let ours = url::Url::parse(&self.server_url).map(|u| u.origin().ascii_serialization());
        match (origin, ours) {
            (None, _) => true,
            (Some(o), Ok(ours)) => o == ours,
            (Some(_), Err(_)) => false,
        }
    }

    /// The discovery document (`/.well-known/openid-configuration`).
    pub fn discovery(&self) -> serde_json::Value {
        let url = &self.url;
        serde_json::json!({
            "issuer": url,
            "authorization_endpoint": format!("{url}/authorize"),
            "token_endpoint": format!("{url}/token"),
            "userinfo_endpoint": format!("{url}/userinfo"),
            "jwks_uri": format!("{url}/jwks"),
            "end_session_endpoint": format!("{url}/end_session"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "code_challenge_methods_supported": [pkce::METHOD],
            "scopes_supported": SCOPES,
            "claims_supported": [
                "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid",
                "jti", "name", "preferred_username", "email", "email_verified", "groups"
            ],
            "token_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post", "none"],
            "prompt_values_supported": ["none", "login"],
            "authorization_response_iss_parameter_supported": true,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "claims_parameter_supported": false,
            "frontchannel_logout_supported": false,
            "backchannel_logout_supported": false,
        })
    }

    /// The built-in client's credentials, for Hangar's relying party. `None` before
    /// [`bootstrap`] has registered it.
    pub async fn hangar_client(&self) -> crate::Result<Option<ClientCredentials>> {
        setup::hangar_client(&self.store, &self.secrets, &self.server_url).await
    }
}

#[cfg(test)]
mod tests {
    use super::{issuer_url, path_of};

    #[test]
    fn cookies_are_scoped_to_the_issuer_path() {
        assert_eq!(path_of(&issuer_url("https://ci.example.com/")), "/oidc");
        assert_eq!(
            path_of(&issuer_url("https://ci.example.com/ci")),
            "/ci/oidc"
        );
        assert_eq!(path_of("no-scheme"), "/");
    }
}

/// The cookies the provider reads. `Debug` never shows their values.
#[derive(Default, Clone)]
pub struct BrowserCookies {
    pub sso: Option<String>,
    pub login: Option<String>,
}

impl fmt::Debug for BrowserCookies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrowserCookies")
            .field("sso", &self.sso.is_some())
            .field("login", &self.login.is_some())
            .finish()
    }
}

/// A cookie to set; `max_age_secs` 0 removes it. `Debug` never shows the value.
pub struct SetCookie {
    pub name: &'static str,
    pub value: String,
    pub max_age_secs: i64,
}

impl fmt::Debug for SetCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SetCookie({}, max_age {})", self.name, self.max_age_secs)
    }
}

impl SetCookie {
    fn clear(name: &'static str) -> SetCookie {
        SetCookie {
            name,
            value: String::new(),
            max_age_secs: 0,
        }
    }
}

/// What a browser-facing endpoint answers: a redirect or a page, with cookies.
#[derive(Debug)]
pub enum Reply {
    Redirect {
        to: String,
        cookies: Vec<SetCookie>,
    },
    Page {
        status: u16,
        html: String,
        cookies: Vec<SetCookie>,
    },
}

impl Reply {
    fn page(status: u16, html: String) -> Reply {
        Reply::Page {
            status,
            html,
            cookies: Vec::new(),
        }
    }
}

/// An OAuth error (RFC 6749 §5.2): answered as `{"error", "error_description"}`, never through
/// the API's `{"message"}` shape. An internal cause is kept for the log only.
#[derive(Debug)]
pub struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
    pub cause: Option<Error>,
    /// Also answer the description as `message`, the shape of Hangar's API errors (the `/oauth`
    /// endpoints, whose callers are Hangar's own clients); the provider's answer is OAuth's alone.
    pub with_message: bool,
}

impl OAuthError {
    pub fn new(status: u16, error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            status,
            error,
            description: description.into(),
            cause: None,
            with_message: false,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> OAuthError {
        OAuthError::new(400, "invalid_request", description)
    }

    pub fn invalid_client(description: impl Into<String>) -> OAuthError {
        OAuthError::new(401, "invalid_client", description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> OAuthError {
        OAuthError::new(400, "invalid_grant", description)
    }

    /// The same error, answered with `message` too.
    pub fn with_message(self) -> OAuthError {
        OAuthError {
            with_message: true,
            ..self
        }
    }

    pub fn invalid_token(description: impl Into<String>) -> OAuthError {
        OAuthError::new(401, "invalid_token", description)
    }
}

impl From<Error> for OAuthError {
    fn from(err: Error) -> OAuthError {
        OAuthError {
            status: 500,
            error: "server_error",
            description: "internal error".into(),
            cause: Some(err),
            with_message: false,
        }
    }
}
