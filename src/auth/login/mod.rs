//! Logging in through a provider: an external OpenID Connect provider (`oidc`) or GitHub
//! (`github`). [`Login::begin`] starts the authorization code flow with PKCE S256, a fresh
//! `state` and `nonce`, and stores the transaction server-side (state hashed, verifier sealed,
//! the issuer it went to, where to return, 10 minutes at most), bound to the browser by a cookie
//! of its own. [`Login::finish`] takes the callback: the cookie and the state, the RFC 9207
//! `iss` parameter, then the code exchange and the checks of the provider's module. Every
//! refused login is audited with its reason.
//!
//! What does not live here: sessions (`auth::session`), HTTP (`http::login`).

pub mod connected;
pub mod discovery;
pub mod failure;
pub mod github;
pub mod groups;
pub mod idtoken;
pub mod jwks;
pub mod oidc;
pub mod outbound;
pub mod return_to;
pub mod secret;

pub use failure::{Failure, Reason};

use crate::auth::keys::SecretBox;
use crate::auth::token;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::store::{ProviderAccount, Store};
use openidconnect::RedirectUrl;
use outbound::{Outbound, Spent};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// How long a login may take, from `/login` to the callback.
pub const TRANSACTION_MS: i64 = 600_000;

/// What the provider granted, kept with the session.
#[derive(Clone, Default)]
pub struct Grant {
    /// OpenID: the refresh token; GitHub: the access token.
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub sid: String,
    pub jti: String,
    pub auth_time: i64,
    /// The ID token's expiry when no refresh token came (the session ends then); else 0.
    pub provider_expires: i64,
    /// The scopes granted: as the token response lists them, else (`scopes_listed` false)
    /// the ones asked.
    pub scopes: Vec<String>,
    pub scopes_listed: bool,
    /// Every claim of the ID token and userinfo (shown by a test login, never stored).
    pub claims: serde_json::Value,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("provider_expires", &self.provider_expires)
            .finish_non_exhaustive()
    }
}

/// How asking the provider again went. (Its `Debug` leaves the refresh token out.)
pub enum Refresh {
    /// The groups now; a rotated refresh token; the new ID token's expiry (0: none).
    Ok {
        groups: Vec<String>,
        refresh_token: Option<String>,
        expires: i64,
    },
    /// The provider says no: the session must end now.
    Revoked(String),
    /// The provider could not be asked: not a revocation (until the grace period ends).
    Unreachable(String),
}

impl std::fmt::Debug for Refresh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refresh::Ok { groups, .. } => f
                .debug_struct("Ok")
                .field("groups", groups)
                .finish_non_exhaustive(),
            Refresh::Revoked(why) => f.debug_tuple("Revoked").field(why).finish(),
            Refresh::Unreachable(why) => f.debug_tuple("Unreachable").field(why).finish(),
        }
    }
}

/// A login started: where to send the browser, and the cookie binding the transaction to it.
pub struct Begun {
    pub location: String,
    pub cookie_name: String,
    pub cookie_value: String,
}

/// The callback's query parameters (no `Debug`: they hold the code and the state).
#[derive(Default, serde::Deserialize)]
pub struct Callback {
    pub state: Option<String>,
    pub code: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
}

/// A finished login.
#[derive(Debug)]
pub struct Finished {
    pub account: ProviderAccount,
    pub grant: Grant,
    pub return_to: String,
    /// The transaction cookie to delete.
    pub cookie_name: String,
    /// A test login of the draft provider's revision: no session comes of it.
    pub test: Option<i64>,
}

/// The configured providers and the login transactions.
pub struct Login {
    store: Store,
    secrets: SecretBox,
    clock: SharedClock,
    http: Outbound,
    secure: bool,
    server_url: String,
    /// The external OpenID provider in force: from the configuration, or connected from the
    /// browser and switched at run time (`connected.rs`).
    oidc: arc_swap::ArcSwapOption<oidc::Oidc>,
    /// The provider connected from the browser while it is being tried, with its revision.
    draft: arc_swap::ArcSwapOption<connected::Draft>,
    /// Whether the configuration sets the provider (then it cannot be changed from a page).
    fixed: bool,
    redirect: RedirectUrl,
    /// The claim first logins are matched by to users provisioned over SCIM.
    match_claim: String,
    /// The scopes last recorded as granted, per issuer (a login writes only a change).
    granted: std::sync::Mutex<std::collections::HashMap<String, (Vec<String>, bool)>>,
    pub github: Option<github::GitHub>,
    /// Hangar's own provider (`{server_url}/oidc`), through the very same relying-party code:
    /// the way in when no external provider is configured, and otherwise a break-glass path
    /// for local administrators (`/login?local=1`).
    pub local: Option<Arc<oidc::Oidc>>,
}

/// The provider name of the embedded provider's logins and sessions.
pub const LOCAL: &str = "local";

impl Login {
    pub fn new(
        config: &Config,
        store: Store,
        secrets: SecretBox,
        clock: SharedClock,
        local: Option<&crate::config::OidcSettings>,
    ) -> anyhow::Result<Arc<Login>> {
        let redirect = RedirectUrl::new(format!("{}/auth/callback", config.server_url))?;
        let claim = config.identity.scim_match_claim.as_str();
        Ok(Arc::new(Login {
            local: local.map(|s| Arc::new(oidc::Oidc::new(s, redirect.clone(), claim))),
            oidc: arc_swap::ArcSwapOption::new(
                config
                    .identity
                    .oidc
                    .as_ref()
                    .map(|s| Arc::new(oidc::Oidc::new(s, redirect.clone(), claim))),
            ),
            draft: arc_swap::ArcSwapOption::empty(),
            fixed: config.identity.oidc.is_some() || config.identity.github.is_some(),
            granted: Default::default(),
            match_claim: claim.to_string(),
            github: config
                .identity
                .github
                .as_ref()
                .map(|s| github::GitHub::new(s, redirect.clone(), claim)),
            redirect,
            http: Outbound::new()?,
            secure: config.server_url.starts_with("https://"),
            server_url: config.server_url.clone(),
            store,
            secrets,
            clock,
        }))
    }

    /// Whether any external provider is configured.
    pub fn enabled(&self) -> bool {
        self.external().is_some() || self.github.is_some()
    }

    /// The external OpenID provider in force, if any.
    pub fn external(&self) -> Option<Arc<oidc::Oidc>> {
        self.oidc.load_full()
    }

    /// Whether anyone can log in at all (an external provider, or the embedded one).
    pub fn available(&self) -> bool {
        self.enabled() || self.local.is_some()
    }

    /// Reads client secrets again (SIGHUP).
    pub fn reload_secrets(&self) {
        if let Some(o) = self.external() {
            o.reload_secret();
        }
    }

    /// The name of the transaction cookie for `state`: one per transaction, so logins in two
    /// tabs do not clash.
    pub fn cookie_name(&self, state: &str) -> String {
        let prefix = if self.secure { "__Host-" } else { "" };
        format!("{prefix}hangar_login_{}", &token::hash(state)[..16])
    }

    /// Whether cookies are `Secure` (the server URL is https).
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Starts a login with `provider` (`oidc`, `github`, or the only one configured).
    pub async fn begin(
        &self,
        provider: Option<&str>,
        return_to: Option<&str>,
        spent: &Spent,
    ) -> Result<Begun, Failure> {
        let now = self.clock.now_ms();
        let result = self.start(provider, return_to, spent, now).await;
        if let Err(f) = &result {
            self.refuse(provider.unwrap_or(""), f, now).await;
        }
        result
    }

    async fn start(
        &self,
        provider: Option<&str>,
        return_to: Option<&str>,
        spent: &Spent,
        now: i64,
    ) -> Result<Begun, Failure> {
        let external = self.external();
        let (name, issuer, authorize) = match (provider, &external, &self.github) {
            (Some(LOCAL), _, _) | (None, None, None) if self.local.is_some() => {
                let Some(o) = &self.local else {
                    return Err(Failure::new(Reason::UnknownProvider, "no local provider"));
                };
                let d = o.discover(&self.http, spent, now).await?;
                (LOCAL, o.settings.issuer.clone(), o.authorize(&d)?)
            }
            (None | Some("oidc"), Some(o), _) => {
                let d = o.discover(&self.http, spent, now).await?;
                ("oidc", o.settings.issuer.clone(), o.authorize(&d)?)
            }
            (None | Some("github"), None, Some(g)) | (Some("github"), _, Some(g)) => {
                let (url, state, pkce_verifier) = g.authorize()?;
                let a = oidc::Authorize {
                    url,
                    state,
                    nonce: String::new(),
                    pkce_verifier,
                };
                ("github", g.issuer().to_string(), a)
            }
            _ => {
                return Err(Failure::new(
                    Reason::UnknownProvider,
                    "no such login provider is configured",
                ));
            }
        };
        self.remember(name.into(), issuer, authorize, return_to, now)
            .await
    }

    /// Finishes a login from the provider's callback. `cookie` reads a cookie of the request.
    pub async fn finish(
        &self,
        callback: &Callback,
        cookie: &(dyn Fn(&str) -> Option<String> + Sync),
        spent: &Spent,
    ) -> Result<Finished, (Failure, Option<String>)> {
        let now = self.clock.now_ms();
        let mut provider = String::new();
        let result = self
            .callback(callback, cookie, spent, now, &mut provider)
            .await;
        if let Err((f, _)) = &result {
            self.refuse(&provider, f, now).await;
        }
        result
    }

    async fn callback(
        &self,
        callback: &Callback,
        cookie: &(dyn Fn(&str) -> Option<String> + Sync),
        spent: &Spent,
        now: i64,
        provider: &mut String,
    ) -> Result<Finished, (Failure, Option<String>)> {
        let state = callback.state.as_deref().filter(|s| !s.is_empty()).ok_or((
            Failure::new(Reason::MissingState, "the callback has no state"),
            None,
        ))?;
        let cookie_name = self.cookie_name(state);
        let fail = |reason, detail: &str| (Failure::new(reason, detail), Some(cookie_name.clone()));
        // The browser must hold this transaction's cookie: a state from someone else's login
        // (login CSRF) finds none. Checked before the transaction is touched.
        let held = cookie(&cookie_name).unwrap_or_default();
        if !bool::from(held.as_bytes().ct_eq(state.as_bytes())) {
            return Err(fail(
                Reason::StateMismatch,
                "this browser did not start that login",
            ));
        }
        let Some(t) = self
            .store
            .take_login_transaction(&token::hash(state))
            .await
            .map_err(|e| fail(Reason::Unavailable, &e.detail()))?
        else {
            return Err(fail(
                Reason::UnknownTransaction,
                "no such login in progress (already finished?)",
            ));
        };
        provider.clone_from(&t.provider);
        if t.expires < now {
            return Err(fail(
                Reason::TransactionExpired,
                "the login took longer than 10 minutes",
            ));
        }
        let verifier = self
            .secrets
            .open(&t.pkce_verifier)
            .and_then(|v| String::from_utf8(v).ok())
            .ok_or_else(|| {
                fail(
                    Reason::Misconfigured,
                    "the login's verifier cannot be opened",
                )
            })?;
        let test = connected::test_revision(&t.provider);
        let done = |(account, grant)| Finished {
            account,
            grant,
            return_to: t.return_to.clone(),
            cookie_name: cookie_name.clone(),
            test,
        };
        if let Some(iss) = &callback.iss
            && *iss != t.issuer
        {
            return Err(fail(
                Reason::IssuerMismatch,
                "the response comes from another issuer than the login went to",
            ));
        }
        let openid = match (t.provider.as_str(), test) {
            ("oidc", _) => self.external(),
            (LOCAL, _) => self.local.clone(),
            (_, Some(revision)) => self.draft_oidc(revision),
            _ => None,
        };
        let kind = if test.is_some() {
            "test"
        } else {
            t.provider.as_str()
        };
        match (kind, openid, &self.github) {
            ("oidc" | LOCAL | "test", Some(o), _) if o.settings.issuer == t.issuer => {
                let d = o
                    .discover(&self.http, spent, now)
                    .await
                    .map_err(|f| (f, Some(cookie_name.clone())))?;
                if callback.iss.is_none() && d.sends_iss() {
                    return Err(fail(
                        Reason::MissingIssuer,
                        "the provider promises an iss parameter and sent none",
                    ));
                }
                if let Some(e) = &callback.error {
                    return Err(fail(
                        Reason::ProviderError,
                        &format!("the provider answered {}", short(e)),
                    ));
                }
                let code = callback
                    .code
                    .as_deref()
                    .ok_or_else(|| fail(Reason::MissingCode, "the callback has no code"))?;
                let returned = oidc::Returned {
                    code,
                    verifier,
                    nonce: &t.nonce,
                };
                o.finish(&d, returned, &self.http, spent, now)
                    .await
                    .map(|(mut account, grant)| {
                        account.provider.clone_from(&t.provider);
                        (account, grant)
                    })
                    .map(done)
                    .map_err(|f| (f, Some(cookie_name.clone())))
            }
            ("github", _, Some(g)) if g.issuer() == t.issuer => {
                if let Some(e) = &callback.error {
                    return Err(fail(
                        Reason::ProviderError,
                        &format!("GitHub answered {}", short(e)),
                    ));
                }
                let code = callback
                    .code
                    .as_deref()
                    .ok_or_else(|| fail(Reason::MissingCode, "the callback has no code"))?;
                g.finish(code, verifier, &self.http, spent)
                    .await
                    .map(done)
                    .map_err(|f| (f, Some(cookie_name.clone())))
            }
            _ => Err(fail(
                Reason::UnknownProvider,
                "the login's provider is no longer configured",
            )),
        }
    }

    /// Asks `provider` again about a session (its sealed refresh or access token).
    pub async fn refresh(
        &self,
        provider: &str,
        sealed: Option<&[u8]>,
        sub: &str,
        spent: &Spent,
    ) -> Refresh {
        let now = self.clock.now_ms();
        let Some(token) = sealed
            .and_then(|s| self.secrets.open(s))
            .and_then(|t| String::from_utf8(t).ok())
        else {
            return Refresh::Revoked("the session holds no usable provider token".into());
        };
        match (provider, &self.external(), &self.github) {
            (LOCAL, _, _) if self.local.is_some() => match &self.local {
                Some(o) => o.refresh(&token, sub, &self.http, spent, now).await,
                None => Refresh::Revoked("no local provider".into()),
            },
            ("oidc", Some(o), _) => o.refresh(&token, sub, &self.http, spent, now).await,
            ("github", _, Some(g)) => g.refresh(&token, sub, &self.http, spent).await,
            _ => Refresh::Revoked(format!("the provider {provider:?} is no longer configured")),
        }
    }

    /// Where the browser goes to log out at `provider` (RP-initiated logout), if it can.
    pub fn logout_url(&self, provider: &str, id_token_hint: Option<&[u8]>) -> Option<String> {
        let hint = id_token_hint
            .and_then(|s| self.secrets.open(s))
            .and_then(|t| String::from_utf8(t).ok());
        let openid = match provider {
            "oidc" => self.external(),
            LOCAL => self.local.clone(),
            _ => None,
        };
        openid.and_then(|o| o.logout_url(hint.as_deref(), &format!("{}/", self.server_url)))
    }

    /// Seals a provider token for storage.
    pub fn seal(&self, secret: &str) -> Vec<u8> {
        self.secrets.seal(secret.as_bytes())
    }

    /// Audits (and logs) a refused login.
    pub async fn refuse(&self, provider: &str, f: &Failure, now: i64) {
        tracing::info!(provider, reason = f.reason.as_str(), detail = %f.detail, "login refused");
        if let Err(e) = self
            .store
            .record_login_failure(provider, f.reason.as_str(), &f.detail, now)
            .await
        {
            tracing::error!(error = e.detail(), "auditing a refused login failed");
        }
    }
}

/// A provider's error code, cut short and limited to safe characters.
fn short(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}
