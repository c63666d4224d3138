//! Browser sessions, kept server-side. The cookie (`__Host-hangar_session`: `Secure; HttpOnly;
//! SameSite=Lax; Path=/`, no `Domain`; `hangar_session` without `Secure` when the server URL is
//! plain http) holds only an opaque random id of 256 bits; the store keeps its hash, the user,
//! the provider's tokens (sealed), a CSRF token and the timeouts. A login always mints a new id.
//!
//! [`Sessions::resolve`] is what the HTTP layer asks on each request that carries the cookie: it
//! refuses ended, idle, too old or provider-expired sessions, and says whether a state-changing
//! request passed the CSRF check (the session's token in `X-CSRF-Token` and a same-origin
//! `Origin`/`Referer`). Lookups are cached for [`CACHE_MS`]; ending a session here drops the
//! cache at once (another server on the same database sees it within that time).
//!
//! Revalidation (asking the provider again for the groups) lives in `session/revalidate.rs`.

mod revalidate;

use crate::auth::login::{Failure, Finished, Login, Reason};
use crate::auth::token;
use crate::clock::SharedClock;
use crate::config::{Config, RoleGrant};
use crate::domain::{AuditAction, SessionId, User};
use crate::error::{Error, Result};
use crate::store::{EndedSession, NewSession, RoleMap, SessionRecord, Store};
use http::{HeaderMap, Method};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use subtle::ConstantTimeEq;

pub use revalidate::spawn;

/// How long a session lookup is trusted before the store is asked again.
pub const CACHE_MS: i64 = 2_000;
const CACHE_MAX: usize = 10_000;
/// `last_seen` is written at most this often per session.
const TOUCH_MS: i64 = 60_000;
/// The header carrying the CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Who a session belongs to, as the HTTP layer needs it.
#[derive(Debug, Clone)]
pub struct SessionPrincipal {
    pub user: User,
    pub groups: Vec<String>,
    pub session_id: SessionId,
    /// A safe method, or a state-changing one that carried the session's CSRF token from this
    /// origin. A request with `csrf_ok == false` must be refused (403).
    pub csrf_ok: bool,
    /// The provider's `sid`, the login's ID token `jti` and `auth_time` (for the audit trail).
    pub provider_sid: String,
    pub id_token_jti: String,
    pub auth_time: i64,
}

/// A session just made by a login (no `Debug`: the cookie holds the session id).
#[derive(Clone)]
pub struct Started {
    pub user: User,
    pub session: SessionId,
    /// The `Set-Cookie` value carrying the new session id.
    pub set_cookie: String,
}

/// Timeouts, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub idle: i64,
    pub absolute: i64,
    pub revalidate: i64,
    pub grace: i64,
}

impl Timeouts {
    /// How often the revalidation loop looks for due sessions: a quarter of the interval, at
    /// most a second (one indexed query a tick when nothing is due).
    pub fn tick(&self) -> i64 {
        (self.revalidate / 4).clamp(100, 1_000)
    }

    /// When a session checked at `now` is due again: one tick early, so that with the loop's
    /// tick it is checked at least every `revalidate`.
    pub fn next_check(&self, now: i64) -> i64 {
        now + (self.revalidate - self.tick()).max(1)
    }
}

/// The sessions of this server.
pub struct Sessions {
    store: Store,
    login: Arc<Login>,
    clock: SharedClock,
    timeouts: Timeouts,
    cookie: String,
    secure: bool,
    origin: String,
    roles: RoleMap,
    allow: Allowlist,
    cache: RwLock<HashMap<String, (SessionRecord, i64)>>,
}

/// Who may log in through a provider when the allowlist is set (`allowed_groups`,
/// `allowed_email_domains`): a member of one of the groups, or someone whose verified email is
/// in one of the domains. Empty lists let everyone in. Hangar's own provider is not filtered:
/// its users are made by administrators.
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    pub groups: Vec<String>,
    pub email_domains: Vec<String>,
}

impl Allowlist {
    /// Whether `account` may log in.
    pub fn admits(&self, account: &crate::store::ProviderAccount) -> bool {
        if self.groups.is_empty() && self.email_domains.is_empty() {
            return true;
        }
        let in_group = account.groups.iter().any(|g| self.groups.contains(g));
        let domain = account
            .email
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase());
        let in_domain =
            account.email_verified && domain.is_some_and(|d| self.email_domains.contains(&d));
        in_group || in_domain
    }
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Sessions {
    pub fn new(
        config: &Config,
        store: Store,
        login: Arc<Login>,
        clock: SharedClock,
    ) -> Arc<Sessions> {
        let id = &config.identity;
        let secure = config.server_url.starts_with("https://");
        let origin = url::Url::parse(&config.server_url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        Arc::new(Sessions {
            store,
            login,
            clock,
            timeouts: Timeouts {
                idle: ms(id.session_idle_timeout),
                absolute: ms(id.session_absolute_timeout),
                revalidate: ms(id.session_revalidate).max(1),
                grace: ms(id.session_revalidate_grace),
            },
            cookie: if secure {
                "__Host-hangar_session"
            } else {
                "hangar_session"
            }
            .into(),
            secure,
            origin,
            roles: RoleMap {
                grants: id
                    .roles
                    .iter()
                    .map(|g: &RoleGrant| (g.group.clone(), g.role.clone(), !g.repos.is_empty()))
                    .collect(),
            },
            allow: Allowlist {
                groups: id.allowed_groups.clone(),
                email_domains: id.allowed_email_domains.clone(),
            },
            cache: RwLock::new(HashMap::new()),
        })
    }

    /// The session cookie's name.
    pub fn cookie_name(&self) -> &str {
        &self.cookie
    }

    /// The roles `groups` are granted by the configuration (for audit details and the admin
    /// flag).
    pub fn roles_of(&self, groups: &[String]) -> Vec<String> {
        self.roles.roles_of(groups)
    }

    /// `Set-Cookie` for a session id.
    pub fn set_cookie(&self, id: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}={id}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
            self.cookie,
            self.timeouts.absolute / 1000
        )
    }

    /// `Set-Cookie` that deletes the session cookie.
    pub fn clear_cookie(&self) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}",
            self.cookie
        )
    }

    /// Starts the session of a finished login: a new random id (whatever cookie the browser
    /// had; its old session, if any, ends), the provider's tokens sealed.
    pub async fn start(
        &self,
        finished: &Finished,
        headers: &HeaderMap,
        source_ip: &str,
    ) -> std::result::Result<Started, Failure> {
        let now = self.clock.now_ms();
        if finished.account.provider != crate::auth::login::LOCAL
            && !self.allow.admits(&finished.account)
        {
            let f = Failure::new(
                Reason::NotAllowed,
                "neither a group nor a verified email domain of this account is on the allowlist",
            );
            self.login.refuse(&finished.account.provider, &f, now).await;
            return Err(f);
        }
        let id = token::mint();
        let grant = &finished.grant;
        let revalidate_at = if grant.refresh_token.is_none() && grant.provider_expires > 0 {
            grant.provider_expires
        } else {
            self.timeouts.next_check(now)
        };
        let session = NewSession {
            hash: token::hash(&id),
            provider: finished.account.provider.clone(),
            provider_sid: grant.sid.clone(),
            id_token_jti: grant.jti.clone(),
            auth_time: grant.auth_time,
            refresh_token: grant.refresh_token.as_deref().map(|t| self.login.seal(t)),
            id_token_hint: grant.id_token.as_deref().map(|t| self.login.seal(t)),
            provider_expires: grant.provider_expires,
            csrf_token: token::mint(),
            absolute_expires: now + self.timeouts.absolute,
            revalidate_at,
            user_agent: header(headers, "user-agent").chars().take(256).collect(),
            source_ip: source_ip.to_string(),
        };
        let previous = cookie(headers, &self.cookie).map(|c| token::hash(&c));
        match self
            .store
            .complete_login(
                &finished.account,
                &session,
                previous.as_deref(),
                &self.roles,
                now,
            )
            .await
        {
            Ok(done) => {
                self.forget();
                Ok(Started {
                    user: done.user,
                    session: done.session,
                    set_cookie: self.set_cookie(&id),
                })
            }
            Err(Error::Forbidden(m)) => {
                let f = Failure::new(Reason::AccountDisabled, m);
                self.login.refuse(&finished.account.provider, &f, now).await;
                Err(f)
            }
            Err(e) => Err(Failure::new(Reason::Unavailable, e.detail())),
        }
    }

    /// The live session of the request's cookie, if any, and whether the request passed the
    /// CSRF check. `Ok(None)`: no cookie, or a session that is unknown or has ended.
    pub async fn resolve(
        &self,
        headers: &HeaderMap,
        method: &Method,
        now: i64,
    ) -> Result<Option<SessionPrincipal>> {
        let Some(id) = cookie(headers, &self.cookie) else {
            return Ok(None);
        };
        let hash = token::hash(&id);
        let Some(record) = self.lookup(&hash, now).await? else {
            return Ok(None);
        };
        if let Some(why) = self.expired(&record, now) {
            self.end(record.id, AuditAction::SessionEnded, why, now)
                .await?;
            return Ok(None);
        }
        if now - record.last_seen >= TOUCH_MS {
            self.store.touch_session(record.id, now).await?;
            if let Ok(mut cache) = self.cache.write()
                && let Some((r, _)) = cache.get_mut(&hash)
            {
                r.last_seen = now;
            }
        }
        let provided = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        let csrf_ok = self.csrf_ok(headers, method, &record.csrf_token, provided);
        Ok(Some(SessionPrincipal {
            user: record.user,
            groups: record.groups,
            session_id: record.id,
            csrf_ok,
            provider_sid: record.provider_sid,
            id_token_jti: record.id_token_jti,
            auth_time: record.auth_time,
        }))
    }

    /// The session record of the request's cookie (live sessions only), for the session's own
    /// routes (its CSRF token, logout).
    pub async fn current(&self, headers: &HeaderMap, now: i64) -> Result<Option<SessionRecord>> {
        let Some(id) = cookie(headers, &self.cookie) else {
            return Ok(None);
        };
        let record = self.lookup(&token::hash(&id), now).await?;
        Ok(record.filter(|r| self.expired(r, now).is_none()))
    }

    /// Why `record` may no longer be used, if so.
    fn expired(&self, record: &SessionRecord, now: i64) -> Option<&'static str> {
        if now >= record.absolute_expires {
            Some("absolute timeout")
        } else if now - record.last_seen > self.timeouts.idle {
            Some("idle timeout")
        } else if record.provider_expires > 0 && now >= record.provider_expires {
            Some("the provider's ID token expired")
        } else {
            None
        }
    }

    async fn lookup(&self, hash: &str, now: i64) -> Result<Option<SessionRecord>> {
        if let Ok(cache) = self.cache.read()
            && let Some((record, until)) = cache.get(hash)
            && *until > now
        {
            return Ok(Some(record.clone()));
        }
        let found = self.store.find_session(hash).await?;
        let live = found.filter(|r| r.revoked == 0 && r.user.active);
        if let (Some(record), Ok(mut cache)) = (&live, self.cache.write()) {
            if cache.len() >= CACHE_MAX {
                cache.retain(|_, (_, until)| *until > now);
            }
            cache.insert(hash.to_string(), (record.clone(), now + CACHE_MS));
        }
        Ok(live)
    }

    /// Whether a request passes the CSRF check: safe methods always; others need `provided` to
    /// be the session's token and the request to come from this origin (`Origin`, else
    /// `Referer`; `Sec-Fetch-Site`, when sent, must not say another site).
    pub fn csrf_ok(
        &self,
        headers: &HeaderMap,
        method: &Method,
        expected: &str,
        provided: Option<&str>,
    ) -> bool {
        if matches!(
            *method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        ) {
            return true;
        }
        let token_ok = provided.is_some_and(|p| {
            !expected.is_empty() && bool::from(p.as_bytes().ct_eq(expected.as_bytes()))
        });
        token_ok && self.same_origin(headers, false)
    }

    /// Whether the request comes from a page of this server. With `strict`, a request that
    /// says nothing about where it comes from does not count (a top-level GET from an unknown
    /// place); a typed-in address (`Sec-Fetch-Site: none`) does.
    pub fn same_origin(&self, headers: &HeaderMap, strict: bool) -> bool {
        match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            Some("same-origin") => return true,
            Some("none") if strict => return true,
            Some("none") | None => {}
            Some(_) => return false,
        }
        if let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) {
            return origin == self.origin;
        }
        match headers.get("referer").and_then(|v| v.to_str().ok()) {
            Some(referer) => url::Url::parse(referer)
                .is_ok_and(|u| u.origin().ascii_serialization() == self.origin),
            None => !strict,
        }
    }

    /// Ends a session; returns what logging out at its provider needs, or `None` if it had
    /// already ended.
    pub async fn end(
        &self,
        id: SessionId,
        action: AuditAction,
        reason: &str,
        now: i64,
    ) -> Result<Option<EndedSession>> {
        let ended = self.store.end_session(id, action, reason, now).await?;
        self.forget();
        Ok(ended)
    }

    /// Where the browser goes to log out at the provider after `ended`.
    pub fn provider_logout(&self, ended: &EndedSession) -> Option<String> {
        self.login
            .logout_url(&ended.provider, ended.id_token_hint.as_deref())
    }

    /// Drops every cached lookup (after a change to users' groups or state made elsewhere, such
    /// as over SCIM, so the next request sees it), here and on every other server.
    pub fn forget(&self) {
        self.forget_here();
        self.store.announce(crate::store::Notice::Forget);
    }

    /// Drops every cached lookup on this server only.
    pub fn forget_here(&self) {
        if let Ok(mut cache) = self.cache.write() {
            cache.clear();
        }
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests;
