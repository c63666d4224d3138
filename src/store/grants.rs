//! The embedded OpenID provider's state, part two: authorization codes, access tokens and
//! refresh tokens, all stored as SHA-256 hashes. A grant is what one authorization code starts:
//! its id is the code's hash, and every token issued from it (and from its refresh chain)
//! carries that id, so a replayed code or a reused refresh token revokes the whole grant.
//!
//! Single use is enforced here, by conditional updates (`WHERE used = 0`, `WHERE revoked = 0`):
//! two requests racing with the same code or refresh token cannot both win.

use super::issuer::NewProviderSession;
use super::{Store, Tx, audit, db};
use crate::domain::{Actor, AuditAction, AuditEvent, UserId};
use crate::error::Result;

/// An authorization code as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuthorizationCode {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: i64,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: String,
    /// The S256 challenge; empty only for rows made without one (always refused).
    pub code_challenge: String,
    pub auth_time: i64,
    pub provider_sid: String,
    pub created: i64,
    pub expires: i64,
    /// When it was exchanged; 0 while unused.
    pub used: i64,
}

/// A refresh token as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RefreshGrant {
    pub hash: String,
    pub client_id: String,
    pub user_id: i64,
    pub scope: String,
    pub provider_sid: String,
    pub grant_id: String,
    pub auth_time: i64,
    pub created: i64,
    pub expires: i64,
    pub revoked: i64,
}

/// A live access token of the provider.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessGrant {
    pub client_id: String,
    pub user_id: i64,
    pub scope: String,
    pub expires: i64,
}

/// Tokens to store for one grant: an access token, and a refresh token when asked for.
pub struct NewTokens<'a> {
    pub client_id: &'a str,
    pub user_id: i64,
    pub scope: &'a str,
    pub grant_id: &'a str,
    pub provider_sid: &'a str,
    pub auth_time: i64,
    pub access_hash: &'a str,
    pub access_expires: i64,
    /// Hash and expiry of the refresh token, if one is issued.
    pub refresh: Option<(&'a str, i64)>,
}

async fn insert_code(tx: &mut Tx, code: &AuthorizationCode) -> Result<()> {
    on!(tx, t => sqlx::query(
        "INSERT INTO authorization_codes (code_hash, client_id, user_id, redirect_uri, scope, \
         nonce, code_challenge, auth_time, provider_sid, created, expires) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
        .bind(&code.code_hash)
        .bind(&code.client_id)
        .bind(code.user_id)
        .bind(&code.redirect_uri)
        .bind(&code.scope)
        .bind(&code.nonce)
        .bind(&code.code_challenge)
        .bind(code.auth_time)
        .bind(&code.provider_sid)
        .bind(code.created)
        .bind(code.expires)
        .execute(&mut **t)
        .await
        .map_err(db)?
        .rows_affected());
    Ok(())
}

async fn insert_tokens(tx: &mut Tx, new: &NewTokens<'_>, now: i64) -> Result<()> {
    on!(tx, t => sqlx::query(
        "INSERT INTO issuer_access_tokens (hash, client_id, user_id, scope, grant_id, \
         provider_sid, created, expires) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(new.access_hash)
        .bind(new.client_id)
        .bind(new.user_id)
        .bind(new.scope)
        .bind(new.grant_id)
        .bind(new.provider_sid)
        .bind(now)
        .bind(new.access_expires)
        .execute(&mut **t)
        .await
        .map_err(db)?
        .rows_affected());
    if let Some((hash, expires)) = new.refresh {
        on!(tx, t => sqlx::query(
            "INSERT INTO refresh_tokens (hash, client_id, user_id, scope, provider_sid, created, \
             expires, grant_id, auth_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(hash)
            .bind(new.client_id)
            .bind(new.user_id)
            .bind(new.scope)
            .bind(new.provider_sid)
            .bind(now)
            .bind(expires)
            .bind(new.grant_id)
            .bind(new.auth_time)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
    }
    Ok(())
}

/// Revokes every token of a grant inside `tx`; returns how many.
async fn revoke_grant_tokens(tx: &mut Tx, grant_id: &str, now: i64) -> Result<u64> {
    let mut revoked = 0;
    for sql in [
        "UPDATE refresh_tokens SET revoked = $2 WHERE grant_id = $1 AND revoked = 0",
        "UPDATE issuer_access_tokens SET revoked = $2 WHERE grant_id = $1 AND revoked = 0",
    ] {
        revoked += on!(tx, t => sqlx::query(sql)
            .bind(grant_id)
            .bind(now)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
    }
    Ok(revoked)
}

impl Store {
    /// A successful sign-in at the login form, in one transaction: the login transaction is
    /// used up, the failed-login counter reset, a provider session opened and a code stored.
    pub async fn complete_local_login(
        &self,
        pending_id_hash: &str,
        session: &NewProviderSession<'_>,
        code: &AuthorizationCode,
        login: &str,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let consumed = on!(&mut tx, t => sqlx::query(
            "DELETE FROM issuer_logins WHERE id_hash = $1")
            .bind(pending_id_hash)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        if consumed == 0 {
            // Another request finished this login first.
            tx.rollback().await?;
            return Ok(false);
        }
        on!(&mut tx, t => sqlx::query(
            "UPDATE local_accounts SET failed_logins = 0, locked_until = 0 WHERE user_id = $1")
            .bind(session.user_id.0)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        on!(&mut tx, t => sqlx::query("UPDATE users SET last_login = $2 WHERE id = $1")
            .bind(session.user_id.0)
            .bind(now)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        on!(&mut tx, t => sqlx::query(
            "INSERT INTO issuer_sessions (sid, cookie_hash, user_id, auth_time, created, expires) \
             VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(session.sid)
            .bind(session.cookie_hash)
            .bind(session.user_id.0)
            .bind(session.auth_time)
            .bind(now)
            .bind(session.expires)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        insert_code(&mut tx, code).await?;
        let event = AuditEvent::new(
            &Actor::user(session.user_id, login, None),
            AuditAction::LocalLoginSucceeded,
            format!("user:{login}"),
        )
        .with_detail(serde_json::json!({ "client_id": code.client_id, "sid": session.sid }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Stores a code issued from an existing provider session (no password asked).
    pub async fn create_authorization_code(&self, code: &AuthorizationCode) -> Result<()> {
        let mut tx = self.begin().await?;
        insert_code(&mut tx, code).await?;
        tx.commit().await
    }

    /// A code by its hash, used or not.
    pub async fn find_authorization_code(
        &self,
        code_hash: &str,
    ) -> Result<Option<AuthorizationCode>> {
        Ok(
            on!(&*self.read, p => sqlx::query_as::<_, AuthorizationCode>(
            "SELECT code_hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge, \
             auth_time, provider_sid, created, expires, used FROM authorization_codes \
             WHERE code_hash = $1")
            .bind(code_hash)
            .fetch_optional(p)
            .await
            .map_err(db)?),
        )
    }

    /// Marks a code used and stores the tokens issued for it. `false` when the code was used
    /// already (a replay won the race): nothing is stored then.
    pub async fn redeem_authorization_code(
        &self,
        tokens: &NewTokens<'_>,
        login: &str,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let won = on!(&mut tx, t => sqlx::query(
            "UPDATE authorization_codes SET used = $2 WHERE code_hash = $1 AND used = 0")
            .bind(tokens.grant_id)
            .bind(now)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        if won == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_tokens(&mut tx, tokens, now).await?;
        let event = AuditEvent::new(
            &Actor::user(UserId(tokens.user_id), login, None),
            AuditAction::OidcTokensIssued,
            format!("oauth_client:{}", tokens.client_id),
        )
        .with_detail(serde_json::json!({
            "scope": tokens.scope,
            "refresh_token": tokens.refresh.is_some(),
            "sid": tokens.provider_sid,
        }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Revokes every token issued from a grant, after a replayed code (`OidcCodeReplayed`) or a
    /// reused refresh token (`OidcRefreshReused`).
    pub async fn revoke_grant(
        &self,
        grant_id: &str,
        action: AuditAction,
        client_id: &str,
        now: i64,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let revoked = revoke_grant_tokens(&mut tx, grant_id, now).await?;
        let event = AuditEvent::new(
            &Actor::system(),
            action,
            format!("oauth_client:{client_id}"),
        )
        .with_detail(serde_json::json!({ "revoked_tokens": revoked }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    /// A refresh token by its hash, revoked or not.
    pub async fn find_refresh_token(&self, hash: &str) -> Result<Option<RefreshGrant>> {
        Ok(on!(&*self.read, p => sqlx::query_as::<_, RefreshGrant>(
            "SELECT hash, client_id, user_id, scope, provider_sid, grant_id, auth_time, created, \
             expires, revoked FROM refresh_tokens WHERE hash = $1")
            .bind(hash)
            .fetch_optional(p)
            .await
            .map_err(db)?))
    }

    /// Rotates a refresh token: the old one is revoked (pointing at its successor) and the new
    /// tokens stored. `false` when the old one was revoked meanwhile (a reuse won the race).
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        tokens: &NewTokens<'_>,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let successor = tokens.refresh.map(|(h, _)| h).unwrap_or_default();
        let won = on!(&mut tx, t => sqlx::query(
            "UPDATE refresh_tokens SET revoked = $2, replaced_by = $3 \
             WHERE hash = $1 AND revoked = 0")
            .bind(old_hash)
            .bind(now)
            .bind(successor)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        if won == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_tokens(&mut tx, tokens, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The live access token behind a hash.
    pub async fn find_access_token(&self, hash: &str, now: i64) -> Result<Option<AccessGrant>> {
        Ok(on!(&*self.read, p => sqlx::query_as::<_, AccessGrant>(
            "SELECT client_id, user_id, scope, expires FROM issuer_access_tokens \
             WHERE hash = $1 AND revoked = 0 AND expires > $2")
            .bind(hash)
            .bind(now)
            .fetch_optional(p)
            .await
            .map_err(db)?))
    }
}
