//! The login form's answer (`POST /oidc/login`). The form carries its transaction token, which
//! only counts together with the browser-binding cookie the form was shown with: a form posted
//! from another site (the cookie is `SameSite=Lax`, so it does not come) or from another
//! browser is refused. That is the form's CSRF protection.
//!
//! A wrong user, a wrong password, a locked or a disabled account all get the same message;
//! the audit trail records which it was. Five wrong passwords lock an account for a minute,
//! doubling with each further one (`password::locked_until`).

use super::{
    BrowserCookies, Issuer, LOGIN_ATTEMPTS, Reply, SESSION_TTL_MS, SSO_COOKIE, SetCookie,
    authorize::Request, page, password,
};
use crate::auth::token;
use crate::domain::LoginFailure;
use crate::error::{Error, Result};
use crate::store::{LocalAccount, NewProviderSession, PendingLogin};
use subtle::ConstantTimeEq;

/// The one message every refused sign-in gets.
pub const WRONG: &str = "Wrong user name or password.";

fn expired() -> Reply {
    Reply::page(
        400,
        page::message(
            "This sign-in has expired",
            "Go back to the application and start signing in again.",
        ),
    )
}

impl Issuer {
    /// Checks a password on a blocking thread, at most two at once.
    async fn check_password(&self, account: Option<&LocalAccount>, password: &str) -> Result<bool> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| Error::internal(anyhow::anyhow!("password check queue: {e}")))?;
        let hash = account.map(|a| a.password_hash.clone());
        let password = password.to_string();
        tokio::task::spawn_blocking(move || match hash {
            Some(hash) => password::verify(&hash, &password),
            None => {
                password::verify_dummy(&password);
                false
            }
        })
        .await
        .map_err(|e| Error::internal(anyhow::anyhow!("password check: {e}")))
    }

    /// `POST /oidc/login`.
    pub async fn login(&self, body: &[u8], cookies: &BrowserCookies) -> Result<Reply> {
        let form = super::Params::parse(body);
        let field = |name| form.one(name).ok().flatten().unwrap_or("");
        let (login, username, given) = (field("login"), field("username"), field("password"));
        let now = self.now();
        let Some(pending) = self
            .store
            .find_pending_login(&token::hash(login), now)
            .await?
        else {
            return Ok(expired());
        };
        let bound = cookies.login.as_deref().is_some_and(|b| {
            bool::from(
                token::hash(b)
                    .as_bytes()
                    .ct_eq(pending.browser_hash.as_bytes()),
            )
        });
        if !bound {
            return Ok(Reply::page(
                403,
                page::message(
                    "This sign-in cannot continue",
                    "The form was not opened in this browser. Start signing in again from the application.",
                ),
            ));
        }
        let Some(request) = self.request_of(&pending).await? else {
            return Ok(expired());
        };
        let account = if username.len() <= 256 {
            self.store.find_local_account(username).await?
        } else {
            None
        };
        let matches = given.len() <= password::MAX_LENGTH
            && self.check_password(account.as_ref(), given).await?;
        let failure = match &account {
            None => Some(LoginFailure::UnknownUser),
            Some(a) if a.locked_until > now => Some(LoginFailure::Locked),
            Some(a) if !a.active => Some(LoginFailure::Disabled),
            Some(_) if !matches => Some(LoginFailure::WrongPassword),
            Some(_) => None,
        };
        match (failure, account) {
            (None, Some(account)) => self.signed_in(&pending, &request, &account).await,
            (Some(reason), account) => {
                let name: String = username.chars().take(64).collect();
                self.store
                    .record_local_login_failure(
                        &name,
                        account.map(|a| a.user_id),
                        reason,
                        |count| password::locked_until(count, now),
                        now,
                    )
                    .await?;
                if !self
                    .store
                    .update_pending_login_failures(&pending.id_hash, LOGIN_ATTEMPTS)
                    .await?
                {
                    return Ok(Reply::page(
                        400,
                        page::message(
                            "Too many attempts",
                            "Go back to the application and start signing in again.",
                        ),
                    ));
                }
                let html = page::login(
                    &format!("{}/login", self.url),
                    &request.client.name,
                    login,
                    &name,
                    Some(WRONG),
                );
                Ok(Reply::page(200, html))
            }
            (None, None) => Ok(expired()),
        }
    }

    /// The authorization request a login transaction stands for, if its client still accepts
    /// its redirect URI.
    async fn request_of(&self, pending: &PendingLogin) -> Result<Option<Request>> {
        let Some(client) = self.store.find_oauth_client(&pending.client_id).await? else {
            return Ok(None);
        };
        if client.revoked != 0
            || !super::redirect::is_registered(&client.redirect_uris, &pending.redirect_uri)
        {
            return Ok(None);
        }
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Ok(Some(Request {
            client,
            redirect_uri: pending.redirect_uri.clone(),
            state: some(&pending.state),
            nonce: some(&pending.nonce),
            scope: pending.scope.clone(),
            challenge: pending.code_challenge.clone(),
            prompt_none: false,
            prompt_login: false,
            max_age_secs: None,
        }))
    }

    /// Opens a provider session, stores a code and sends the browser back to the client.
    async fn signed_in(
        &self,
        pending: &PendingLogin,
        request: &Request,
        account: &LocalAccount,
    ) -> Result<Reply> {
        let now = self.now();
        let cookie = token::mint();
        let sid = token::mint()[..32].to_string();
        let (code, row) = self.new_code(request, account.user_id.0, &sid, now);
        let session = NewProviderSession {
            sid: &sid,
            cookie_hash: &token::hash(&cookie),
            user_id: account.user_id,
            auth_time: now,
            expires: now + SESSION_TTL_MS,
        };
        if !self
            .store
            .complete_local_login(&pending.id_hash, &session, &row, &account.login, now)
            .await?
        {
            return Ok(expired());
        }
        Ok(Reply::Redirect {
            to: self.code_redirect(request, &code),
            cookies: vec![SetCookie {
                name: SSO_COOKIE,
                value: cookie,
                max_age_secs: SESSION_TTL_MS / 1000,
            }],
        })
    }
}
