//! The embedded OpenID provider's state, part one: signing keys, registered clients, login
//! transactions waiting for the password form, and provider sessions. Codes and tokens are in
//! `grants.rs`.
//!
//! Secrets are never stored in the clear: signing keys and the built-in client's secret are
//! sealed with the server key by the caller; cookies, codes and tokens are stored as hashes.

use super::{Store, audit, db};
use crate::domain::{Actor, AuditAction, AuditEvent, UserId};
use crate::error::Result;
use std::fmt;

/// One signing key as stored: the private part sealed (PKCS#8 DER inside), the public JWK.
#[derive(Clone, sqlx::FromRow)]
pub struct StoredSigningKey {
    pub kid: String,
    pub alg: String,
    /// Sealed with the server key (`auth::keys::SecretBox`).
    pub private_key: Vec<u8>,
    pub public_jwk: String,
    pub created: i64,
    /// When the key stops being published (Unix ms); 0 while it is the signing key or has not
    /// been scheduled to retire.
    pub retired: i64,
}

impl fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created", &self.created)
            .field("retired", &self.retired)
            .finish_non_exhaustive()
    }
}

/// A registered client of the embedded provider.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub client_id: String,
    /// SHA-256 of the secret, hex; empty for a public client (PKCE, no secret).
    pub secret_hash: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// The built-in client's secret, sealed; `None` for other clients.
    pub secret_sealed: Option<Vec<u8>>,
    pub created: i64,
    pub revoked: i64,
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("public", &self.secret_hash.is_empty())
            .field("redirect_uris", &self.redirect_uris)
            .field("post_logout_redirect_uris", &self.post_logout_redirect_uris)
            .field("revoked", &self.revoked)
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    client_id: String,
    secret_hash: String,
    name: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grant_types: String,
    secret_sealed: Option<Vec<u8>>,
    created: i64,
    revoked: i64,
}

fn strings(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

impl ClientRow {
    fn into_client(self) -> OAuthClient {
        OAuthClient {
            client_id: self.client_id,
            secret_hash: self.secret_hash,
            name: self.name,
            redirect_uris: strings(&self.redirect_uris),
            post_logout_redirect_uris: strings(&self.post_logout_redirect_uris),
            grant_types: strings(&self.grant_types),
            secret_sealed: self.secret_sealed,
            created: self.created,
            revoked: self.revoked,
        }
    }
}

/// An authorization request waiting for the login form.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PendingLogin {
    /// Hash of the transaction token the form carries.
    pub id_hash: String,
    /// Hash of the browser-binding cookie.
    pub browser_hash: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: String,
    pub nonce: String,
    pub code_challenge: String,
    pub failures: i64,
    pub created: i64,
    pub expires: i64,
}

/// Signed in at the provider (the `hangar_oidc_sso` cookie).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ProviderSession {
    /// Public session id, the `sid` claim.
    pub sid: String,
    pub user_id: i64,
    pub auth_time: i64,
    pub expires: i64,
}

/// A new provider session: `cookie_hash` is the hash of the cookie's random value.
pub struct NewProviderSession<'a> {
    pub sid: &'a str,
    pub cookie_hash: &'a str,
    pub user_id: UserId,
    pub auth_time: i64,
    pub expires: i64,
}

const CLIENT_COLUMNS: &str = "client_id, secret_hash, name, redirect_uris, \
    post_logout_redirect_uris, grant_types, secret_sealed, created, revoked";

impl Store {
    /// Every signing key still published at `now` (retired = 0 or later than now), newest first.
    pub async fn list_signing_keys(&self, now: i64) -> Result<Vec<StoredSigningKey>> {
        Ok(on!(&*self.read, p => sqlx::query_as::<_, StoredSigningKey>(
            "SELECT kid, alg, private_key, public_jwk, created, retired FROM signing_keys \
             WHERE retired = 0 OR retired > $1 ORDER BY created DESC, kid")
            .bind(now)
            .fetch_all(p)
            .await
            .map_err(db)?))
    }

    /// Adds `key` as the signing key; keys that were signing get `retire_at` (they stay
    /// published until then, so tokens they signed still verify).
    pub async fn create_signing_key(
        &self,
        key: &StoredSigningKey,
        retire_at: i64,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let retired = on!(&mut tx, t => sqlx::query(
            "UPDATE signing_keys SET retired = $1 WHERE retired = 0")
            .bind(retire_at)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        on!(&mut tx, t => sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_key, public_jwk, created, retired) \
             VALUES ($1, $2, $3, $4, $5, 0)")
            .bind(&key.kid)
            .bind(&key.alg)
            .bind(&key.private_key)
            .bind(&key.public_jwk)
            .bind(key.created)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        let event = AuditEvent::new(
            &Actor::system(),
            AuditAction::SigningKeyRotated,
            format!("signing_key:{}", key.kid),
        )
        .with_detail(serde_json::json!({
            "alg": key.alg, "previous_keys_retire_at": retire_at, "previous_keys": retired
        }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await
    }

    /// A registered client, revoked or not.
    pub async fn find_oauth_client(&self, client_id: &str) -> Result<Option<OAuthClient>> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE client_id = $1");
        let row: Option<ClientRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(client_id)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        Ok(row.map(ClientRow::into_client))
    }

    /// Registers a client; `Conflict` when the id is taken.
    pub async fn create_oauth_client(
        &self,
        client: &OAuthClient,
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        on!(&mut tx, t => sqlx::query(
            "INSERT INTO oauth_clients (client_id, secret_hash, name, redirect_uris, \
             post_logout_redirect_uris, grant_types, secret_sealed, created) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(&client.client_id)
            .bind(&client.secret_hash)
            .bind(&client.name)
            .bind(to_json(&client.redirect_uris))
            .bind(to_json(&client.post_logout_redirect_uris))
            .bind(to_json(&client.grant_types))
            .bind(&client.secret_sealed)
            .bind(now)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        let event = AuditEvent::new(
            actor,
            AuditAction::OidcClientCreated,
            format!("oauth_client:{}", client.client_id),
        )
        .with_detail(serde_json::json!({
            "name": client.name,
            "public": client.secret_hash.is_empty(),
            "redirect_uris": client.redirect_uris,
            "post_logout_redirect_uris": client.post_logout_redirect_uris,
        }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await
    }

    /// Replaces a client's redirect URIs (the built-in client follows `server_url`).
    pub async fn update_oauth_client_uris(
        &self,
        client_id: &str,
        redirect_uris: &[String],
        post_logout_redirect_uris: &[String],
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        on!(&mut tx, t => sqlx::query(
            "UPDATE oauth_clients SET redirect_uris = $2, post_logout_redirect_uris = $3 \
             WHERE client_id = $1")
            .bind(client_id)
            .bind(to_json(redirect_uris))
            .bind(to_json(post_logout_redirect_uris))
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        let event = AuditEvent::new(
            actor,
            AuditAction::OidcClientUpdated,
            format!("oauth_client:{client_id}"),
        )
        .with_detail(serde_json::json!({
            "redirect_uris": redirect_uris,
            "post_logout_redirect_uris": post_logout_redirect_uris,
        }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await
    }

    /// Stores a login transaction, and drops expired ones (and long-expired codes and access
    /// tokens) on the way: sign-ins are rare enough to pay for the clean-up.
    pub async fn create_pending_login(&self, login: &PendingLogin, now: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        for sql in [
            "DELETE FROM issuer_logins WHERE expires < $1",
            "DELETE FROM issuer_access_tokens WHERE expires < $1",
            // Used codes stay a day past expiry so a late replay is still recognised.
            "DELETE FROM authorization_codes WHERE expires < $1 - 86400000",
            "DELETE FROM refresh_tokens WHERE expires < $1 - 86400000",
            "DELETE FROM issuer_sessions WHERE expires < $1",
        ] {
            on!(&mut tx, t => sqlx::query(sql)
                .bind(now)
                .execute(&mut **t)
                .await
                .map_err(db)?
                .rows_affected());
        }
        on!(&mut tx, t => sqlx::query(
            "INSERT INTO issuer_logins (id_hash, browser_hash, client_id, redirect_uri, scope, \
             state, nonce, code_challenge, failures, created, expires) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10)")
            .bind(&login.id_hash)
            .bind(&login.browser_hash)
            .bind(&login.client_id)
            .bind(&login.redirect_uri)
            .bind(&login.scope)
            .bind(&login.state)
            .bind(&login.nonce)
            .bind(&login.code_challenge)
            .bind(login.created)
            .bind(login.expires)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        tx.commit().await
    }

    /// A login transaction that has not expired.
    pub async fn find_pending_login(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<PendingLogin>> {
        Ok(on!(&*self.read, p => sqlx::query_as::<_, PendingLogin>(
            "SELECT id_hash, browser_hash, client_id, redirect_uri, scope, state, nonce, \
             code_challenge, failures, created, expires FROM issuer_logins \
             WHERE id_hash = $1 AND expires > $2")
            .bind(id_hash)
            .bind(now)
            .fetch_optional(p)
            .await
            .map_err(db)?))
    }

    /// Counts a wrong password against a login transaction; drops it after `max` failures.
    /// Returns whether it is still usable.
    pub async fn update_pending_login_failures(&self, id_hash: &str, max: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let failures: Option<i64> = on!(&mut tx, t => sqlx::query_scalar(
            "UPDATE issuer_logins SET failures = failures + 1 WHERE id_hash = $1 \
             RETURNING failures")
            .bind(id_hash)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        let usable = failures.is_some_and(|f| f < max);
        if !usable {
            on!(&mut tx, t => sqlx::query("DELETE FROM issuer_logins WHERE id_hash = $1")
                .bind(id_hash)
                .execute(&mut **t)
                .await
                .map_err(db)?
                .rows_affected());
        }
        tx.commit().await?;
        Ok(usable)
    }

    /// The live provider session behind a cookie hash.
    pub async fn find_provider_session(
        &self,
        cookie_hash: &str,
        now: i64,
    ) -> Result<Option<ProviderSession>> {
        Ok(on!(&*self.read, p => sqlx::query_as::<_, ProviderSession>(
            "SELECT s.sid, s.user_id, s.auth_time, s.expires FROM issuer_sessions s \
             JOIN users u ON u.id = s.user_id \
             WHERE s.cookie_hash = $1 AND s.revoked = 0 AND s.expires > $2 AND u.active = TRUE")
            .bind(cookie_hash)
            .bind(now)
            .fetch_optional(p)
            .await
            .map_err(db)?))
    }

    /// A provider session by its public id, live or not (`end_session` with an ID token hint).
    pub async fn find_provider_session_by_sid(&self, sid: &str) -> Result<Option<ProviderSession>> {
        Ok(on!(&*self.read, p => sqlx::query_as::<_, ProviderSession>(
            "SELECT sid, user_id, auth_time, expires FROM issuer_sessions WHERE sid = $1")
            .bind(sid)
            .fetch_optional(p)
            .await
            .map_err(db)?))
    }

    /// Ends a provider session: the session, its refresh tokens and its access tokens are
    /// revoked, in one transaction with the audit event.
    pub async fn end_provider_session(&self, sid: &str, actor: &Actor, now: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        let mut revoked = 0;
        for sql in [
            "UPDATE issuer_sessions SET revoked = $2 WHERE sid = $1 AND revoked = 0",
            "UPDATE refresh_tokens SET revoked = $2 WHERE provider_sid = $1 AND revoked = 0",
            "UPDATE issuer_access_tokens SET revoked = $2 WHERE provider_sid = $1 AND revoked = 0",
        ] {
            revoked += on!(&mut tx, t => sqlx::query(sql)
                .bind(sid)
                .bind(now)
                .execute(&mut **t)
                .await
                .map_err(db)?
                .rows_affected());
        }
        let event = AuditEvent::new(
            actor,
            AuditAction::OidcLoggedOut,
            format!("provider_session:{sid}"),
        )
        .with_detail(serde_json::json!({ "revoked": revoked }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await
    }
}
