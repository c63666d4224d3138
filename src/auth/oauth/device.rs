//! The device authorization grant (RFC 8628) behind `hangar login`.
//!
//! 1. `POST /oauth/device/code` (client `hangar-cli`, optional `scope`): a device code (64 hex
//!    digits, for the CLI) and a user code (`WDJB-MJHT`, for a person), both stored hashed, alive
//!    for 10 minutes;
//! 2. the person opens `/device` in a browser where they are signed in, and approves or denies
//!    the user code (a form carrying the session's CSRF token). Wrong codes are counted per
//!    person: after [`WRONG_CODES`] in [`WRONG_CODES_WINDOW_MS`] they must wait;
//! 3. the CLI polls `POST /oauth/token` with the device code: `authorization_pending`, then
//!    tokens once (an `hgr_at_` access token for an hour and a rotating refresh token);
//!    `slow_down` when it polls faster than the interval (which then grows by 5 s),
//!    `access_denied`, `expired_token`. A device code is redeemed once.

use super::{
    CLI_CLIENT_ID, DEVICE_ACCESS_TTL_MS, DEVICE_CODE_TTL_MS, OAuth, TokenAnswer, asked_scopes,
    mint_access, public_client, scope_text,
};
use crate::auth::issuer::{OAuthError, Params};
use crate::auth::token;
use crate::domain::{User, UserId};
use crate::error::{Error, Result};
use crate::store::{NewDeviceGrant, NewRefresh};
use serde::Serialize;
use std::fmt;

/// Device codes that may wait for approval at once: beyond, `POST /oauth/device/code` (which
/// anyone may call) answers 429 until some are approved or expire.
pub const MAX_PENDING: i64 = 10_000;

/// Wrong user codes one person may type in [`WRONG_CODES_WINDOW_MS`].
pub const WRONG_CODES: u32 = 10;
pub const WRONG_CODES_WINDOW_MS: i64 = 600_000;

/// The answer to `POST /oauth/device/code`. `Debug` hides the device code.
#[derive(Serialize)]
pub struct DeviceAnswer {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

impl fmt::Debug for DeviceAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceAnswer")
            .field("user_code", &self.user_code)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// A device authorization waiting for a person's decision, as the approval page shows it.
#[derive(Debug, Clone)]
pub struct Pending {
    /// `WDJB-MJHT`.
    pub user_code: String,
    pub client_id: String,
    /// `None`: all of the approving person's rights.
    pub scopes: Option<Vec<String>>,
    /// Seconds left.
    pub expires_in: i64,
}

/// What became of a decision at `/device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    Approved,
    Denied,
    /// No such code waiting (mistyped, expired, or decided already).
    Unknown,
}

fn shown(plain: &str) -> String {
    format!("{}-{}", &plain[..4], &plain[4..])
}

fn scopes_of(stored: Option<&str>) -> Option<Vec<String>> {
    // A stored list that does not read back grants nothing rather than everything.
    stored.map(|s| serde_json::from_str(s).unwrap_or_default())
}

impl OAuth {
    /// `POST /oauth/device/code`.
    pub async fn device_code(
        &self,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<DeviceAnswer, OAuthError> {
        let params = Params::parse(body);
        if let Some(name) = params.repeated() {
            return Err(OAuthError::invalid_request(format!("{name} is repeated")));
        }
        public_client(authorization, &params)?;
        let scopes = asked_scopes(&params)?;
        let stored = scopes
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(Error::internal)?;
        let now = self.now();
        // A clash of user codes among the live ones is rare (34 bits); draw again.
        for _ in 0..5 {
            let device_code = token::mint();
            let user_code = token::mint_user_code();
            let plain = token::normalize_user_code(&user_code).unwrap_or_default();
            let new = NewDeviceGrant {
                device_code_hash: token::hash(&device_code),
                user_code_hash: token::hash(&plain),
                client_id: CLI_CLIENT_ID.to_string(),
                scopes: stored.clone(),
                expires: now + DEVICE_CODE_TTL_MS,
                interval_ms: self.poll_interval_ms,
            };
            match self.store.create_device_grant(&new, MAX_PENDING, now).await {
                Ok(false) => {
                    return Err(OAuthError::new(
                        429,
                        "slow_down",
                        "too many logins wait for approval right now; try again in a few minutes",
                    ));
                }
                Ok(true) => {
                    let uri = format!("{}/device", self.server_url);
                    return Ok(DeviceAnswer {
                        device_code,
                        verification_uri_complete: format!("{uri}?user_code={user_code}"),
                        verification_uri: uri,
                        user_code,
                        expires_in: DEVICE_CODE_TTL_MS / 1000,
                        interval: (self.poll_interval_ms + 999) / 1000,
                    });
                }
                Err(Error::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::internal(anyhow::anyhow!("no free user code after 5 draws")).into())
    }

    /// Refuses `user` while they have typed too many wrong codes lately.
    fn check_guessing(&self, user: UserId, now: i64) -> Result<()> {
        let wrong = self.wrong_codes.lock().map_or(0, |m| {
            m.get(&user)
                .filter(|(_, since)| now - since < WRONG_CODES_WINDOW_MS)
                .map_or(0, |(n, _)| *n)
        });
        if wrong >= WRONG_CODES {
            return Err(Error::Forbidden(
                "too many wrong codes: wait ten minutes, then type the code your terminal shows"
                    .into(),
            ));
        }
        Ok(())
    }

    fn note_wrong_code(&self, user: UserId, now: i64) {
        if let Ok(mut m) = self.wrong_codes.lock() {
            if m.len() > 10_000 {
                m.retain(|_, (_, since)| now - *since < WRONG_CODES_WINDOW_MS);
            }
            let entry = m.entry(user).or_insert((0, now));
            if now - entry.1 >= WRONG_CODES_WINDOW_MS {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
    }

    /// The device authorization waiting under `typed` (as a person typed it), for `user` to
    /// decide on; `None` (and one more wrong code counted) when there is none.
    pub async fn pending(&self, user: &User, typed: &str) -> Result<Option<Pending>> {
        let now = self.now();
        self.check_guessing(user.id, now)?;
        let found = match token::normalize_user_code(typed) {
            Some(plain) => self
                .store
                .find_pending_device_grant(&token::hash(&plain), now)
                .await?
                .map(|g| (plain, g)),
            None => None,
        };
        let Some((plain, grant)) = found else {
            self.note_wrong_code(user.id, now);
            return Ok(None);
        };
        Ok(Some(Pending {
            user_code: shown(&plain),
            client_id: grant.client_id,
            scopes: scopes_of(grant.scopes.as_deref()),
            expires_in: (grant.expires - now).div_euclid(1000),
        }))
    }

    /// `user` approves (or denies) the device authorization waiting under `typed`.
    pub async fn decide(&self, user: &User, typed: &str, approve: bool) -> Result<Approval> {
        let now = self.now();
        self.check_guessing(user.id, now)?;
        let Some(plain) = token::normalize_user_code(typed) else {
            self.note_wrong_code(user.id, now);
            return Ok(Approval::Unknown);
        };
        let done = self
            .store
            .decide_device_grant(&token::hash(&plain), user, approve, now)
            .await?;
        Ok(match (done, approve) {
            (false, _) => {
                self.note_wrong_code(user.id, now);
                Approval::Unknown
            }
            (true, true) => Approval::Approved,
            (true, false) => Approval::Denied,
        })
    }

    /// `POST /oauth/token` with the device-code grant.
    pub(super) async fn redeem_device_code(
        &self,
        authorization: Option<&str>,
        params: &Params,
    ) -> Result<TokenAnswer, OAuthError> {
        public_client(authorization, params)?;
        let code = params
            .one("device_code")
            .ok()
            .flatten()
            .ok_or_else(|| OAuthError::invalid_request("device_code is missing"))?;
        let now = self.now();
        let hash = token::hash(code);
        let Some((grant, on_time)) = self.store.poll_device_grant(&hash, now).await? else {
            return Err(OAuthError::invalid_grant("unknown device code"));
        };
        if grant.client_id != CLI_CLIENT_ID {
            return Err(OAuthError::invalid_grant(
                "the device code was issued to another client",
            ));
        }
        if grant.used != 0 {
            return Err(OAuthError::invalid_grant(
                "the device code was used already",
            ));
        }
        if grant.expires <= now {
            return Err(OAuthError::new(
                400,
                "expired_token",
                "the device code has expired: run hangar login again",
            ));
        }
        if !on_time {
            return Err(OAuthError::new(
                400,
                "slow_down",
                "polling too fast: wait 5 seconds longer between polls",
            ));
        }
        if grant.denied != 0 {
            return Err(OAuthError::new(
                400,
                "access_denied",
                "the sign-in was refused in the browser",
            ));
        }
        let user_id = match grant.user_id {
            Some(id) if grant.approved != 0 => UserId(id),
            _ => {
                return Err(OAuthError::new(
                    400,
                    "authorization_pending",
                    "waiting for the code to be approved in the browser",
                ));
            }
        };
        let user = match self.store.find_user_by_id(user_id).await? {
            Some(u) if u.active => u,
            _ => return Err(OAuthError::invalid_grant("the user can no longer sign in")),
        };
        let scopes = scopes_of(grant.scopes.as_deref());
        let expires = now + DEVICE_ACCESS_TTL_MS;
        let (access, secret) = mint_access("hangar login", scopes.clone(), expires);
        let refresh_secret = token::mint();
        let refresh = NewRefresh {
            hash: token::hash(&refresh_secret),
            family: grant.device_code_hash.clone(),
            client_id: CLI_CLIENT_ID.to_string(),
            scopes: grant.scopes.clone(),
            expires: now.saturating_add(self.max_expiry_ms),
        };
        if self
            .store
            .redeem_device_grant(&hash, &user, &access, &refresh, now)
            .await?
            .is_none()
        {
            return Err(OAuthError::invalid_grant(
                "the device code was used already",
            ));
        }
        Ok(TokenAnswer {
            access_token: secret.expose().to_string(),
            token_type: "Bearer",
            expires_in: DEVICE_ACCESS_TTL_MS / 1000,
            refresh_token: Some(refresh_secret),
            scope: scope_text(&scopes),
        })
    }
}
