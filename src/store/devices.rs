//! Hangar's own OAuth grants for API access: device authorizations (RFC 8628) and the rotating
//! refresh tokens they lead to. Codes and tokens are stored only as SHA-256 hashes; the access
//! tokens are ordinary API tokens (`tokens`, kind `access`), written here in the same
//! transaction as the grant they come from.
//!
//! Single use is enforced by conditional updates (`WHERE used = 0`, `WHERE revoked = 0`): two
//! polls or two refreshes racing with the same secret cannot both win.

use super::tokens::{NewToken, insert};
use super::{Store, audit, db};
use crate::domain::{Actor, AuditAction, AuditEvent, Token, TokenId, User};
use crate::error::Result;

/// A device authorization as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeviceGrant {
    pub device_code_hash: String,
    pub client_id: String,
    /// JSON list of scopes; `None` = all of the approving user's rights.
    pub scopes: Option<String>,
    pub created: i64,
    pub expires: i64,
    pub interval_ms: i64,
    pub last_poll: i64,
    pub user_id: Option<i64>,
    pub approved: i64,
    pub denied: i64,
    pub used: i64,
}

/// A device authorization to store.
#[derive(Debug, Clone)]
pub struct NewDeviceGrant {
    pub device_code_hash: String,
    pub user_code_hash: String,
    pub client_id: String,
    pub scopes: Option<String>,
    pub expires: i64,
    pub interval_ms: i64,
}

/// An API refresh token as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiRefresh {
    pub hash: String,
    pub family: String,
    pub client_id: String,
    pub user_id: i64,
    pub scopes: Option<String>,
    pub access_token_id: i64,
    pub created: i64,
    pub expires: i64,
    pub revoked: i64,
}

/// A refresh token to store beside the access token it comes with.
#[derive(Debug, Clone)]
pub struct NewRefresh {
    pub hash: String,
    pub family: String,
    pub client_id: String,
    pub scopes: Option<String>,
    pub expires: i64,
}

const GRANT_COLUMNS: &str = "device_code_hash, client_id, scopes, created, expires, interval_ms, \
                             last_poll, user_id, approved, denied, used";
const REFRESH_COLUMNS: &str =
    "hash, family, client_id, user_id, scopes, access_token_id, created, expires, revoked";

async fn insert_refresh(
    tx: &mut super::Tx,
    user: &User,
    refresh: &NewRefresh,
    access: TokenId,
    now: i64,
) -> Result<()> {
    on!(tx, t => sqlx::query(
        "INSERT INTO api_refresh_tokens (hash, family, client_id, user_id, scopes, \
         access_token_id, created, expires) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(&refresh.hash)
        .bind(&refresh.family)
        .bind(&refresh.client_id)
        .bind(user.id.0)
        .bind(&refresh.scopes)
        .bind(access.0)
        .bind(now)
        .bind(refresh.expires)
        .execute(&mut **t)
        .await
        .map_err(db)?
        .rows_affected());
    Ok(())
}

impl Store {
    /// Stores a new device authorization; `Conflict` when its user code is taken, `false`
    /// (nothing stored) when `max_pending` codes already wait for approval. Drops what has been
    /// over for a day: device codes past their expiry, refresh chains past theirs (until then a
    /// spent code or token is kept, so its replay is recognised).
    pub async fn create_device_grant(
        &self,
        new: &NewDeviceGrant,
        max_pending: i64,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        for sql in [
            "DELETE FROM device_grants WHERE expires < $1 - 86400000",
            "DELETE FROM api_refresh_tokens WHERE expires < $1 - 86400000",
        ] {
            on!(&mut tx, t => sqlx::query(sql)
                .bind(now)
                .execute(&mut **t)
                .await
                .map_err(db)?
                .rows_affected());
        }
        let pending: i64 = on!(&mut tx, t => sqlx::query_scalar(
            "SELECT COUNT(*) FROM device_grants WHERE expires > $1 AND approved = 0 \
             AND denied = 0")
            .bind(now)
            .fetch_one(&mut **t)
            .await
            .map_err(db)?);
        if pending >= max_pending {
            tx.rollback().await?;
            return Ok(false);
        }
        on!(&mut tx, t => sqlx::query(
            "INSERT INTO device_grants (device_code_hash, user_code_hash, client_id, scopes, \
             created, expires, interval_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&new.device_code_hash)
            .bind(&new.user_code_hash)
            .bind(&new.client_id)
            .bind(&new.scopes)
            .bind(now)
            .bind(new.expires)
            .bind(new.interval_ms)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        tx.commit().await?;
        Ok(true)
    }

    /// The device authorization waiting for a decision under a user code (neither decided nor
    /// expired).
    pub async fn find_pending_device_grant(
        &self,
        user_code_hash: &str,
        now: i64,
    ) -> Result<Option<DeviceGrant>> {
        let sql = format!(
            "SELECT {GRANT_COLUMNS} FROM device_grants WHERE user_code_hash = $1 \
             AND approved = 0 AND denied = 0 AND expires > $2"
        );
        Ok(
            on!(&*self.write, p => sqlx::query_as::<_, DeviceGrant>(&sql)
            .bind(user_code_hash)
            .bind(now)
            .fetch_optional(p)
            .await
            .map_err(db)?),
        )
    }

    /// Records `user`'s decision on a pending device authorization, with its audit event.
    /// `false` when it was no longer pending (decided meanwhile, or expired).
    pub async fn decide_device_grant(
        &self,
        user_code_hash: &str,
        user: &User,
        approve: bool,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let sql = if approve {
            "UPDATE device_grants SET approved = $3, user_id = $2 WHERE user_code_hash = $1 \
             AND approved = 0 AND denied = 0 AND expires > $3 RETURNING client_id"
        } else {
            "UPDATE device_grants SET denied = $3, user_id = $2 WHERE user_code_hash = $1 \
             AND approved = 0 AND denied = 0 AND expires > $3 RETURNING client_id"
        };
        let client: Option<String> = on!(&mut tx, t => sqlx::query_scalar(sql)
            .bind(user_code_hash)
            .bind(user.id.0)
            .bind(now)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        let Some(client) = client else {
            tx.rollback().await?;
            return Ok(false);
        };
        let action = if approve {
            AuditAction::DeviceApproved
        } else {
            AuditAction::DeviceDenied
        };
        let event = AuditEvent::new(
            &Actor::user(user.id, &user.login, None),
            action,
            format!("oauth_client:{client}"),
        );
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A poll of a device code: the grant as it stands, and whether this poll came soon enough
    /// after the last (`false`: too soon; the interval grew by 5 s). `None`: unknown code.
    pub async fn poll_device_grant(
        &self,
        device_code_hash: &str,
        now: i64,
    ) -> Result<Option<(DeviceGrant, bool)>> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "UPDATE device_grants SET last_poll = $2 WHERE device_code_hash = $1 \
             AND last_poll + interval_ms <= $2 RETURNING {GRANT_COLUMNS}"
        );
        let on_time: Option<DeviceGrant> = on!(&mut tx, t => sqlx::query_as(&sql)
            .bind(device_code_hash)
            .bind(now)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        if let Some(grant) = on_time {
            tx.commit().await?;
            return Ok(Some((grant, true)));
        }
        let sql = format!(
            "UPDATE device_grants SET last_poll = $2, interval_ms = interval_ms + 5000 \
             WHERE device_code_hash = $1 RETURNING {GRANT_COLUMNS}"
        );
        let early: Option<DeviceGrant> = on!(&mut tx, t => sqlx::query_as(&sql)
            .bind(device_code_hash)
            .bind(now)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        tx.commit().await?;
        Ok(early.map(|g| (g, false)))
    }

    /// Redeems an approved device authorization: it is used up, and the access token and first
    /// refresh token are stored. `None` when it was redeemed already (a replay won the race).
    pub async fn redeem_device_grant(
        &self,
        device_code_hash: &str,
        user: &User,
        access: &NewToken,
        refresh: &NewRefresh,
        now: i64,
    ) -> Result<Option<Token>> {
        let mut tx = self.begin().await?;
        let won = on!(&mut tx, t => sqlx::query(
            "UPDATE device_grants SET used = $2 WHERE device_code_hash = $1 AND used = 0 \
             AND approved > 0")
            .bind(device_code_hash)
            .bind(now)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        if won == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let actor = Actor::user(user.id, &user.login, None);
        let (token, events) = insert(&mut tx, &actor, user, access, now).await?;
        insert_refresh(&mut tx, user, refresh, token.id, now).await?;
        audit::append(&mut tx, now, &events).await?;
        tx.commit().await?;
        Ok(Some(token))
    }

    /// An API refresh token by its hash, revoked or not.
    pub async fn find_api_refresh(&self, hash: &str) -> Result<Option<ApiRefresh>> {
        let sql = format!("SELECT {REFRESH_COLUMNS} FROM api_refresh_tokens WHERE hash = $1");
        Ok(on!(&*self.read, p => sqlx::query_as::<_, ApiRefresh>(&sql)
            .bind(hash)
            .fetch_optional(p)
            .await
            .map_err(db)?))
    }

    /// Rotates a refresh token: the old one is revoked (pointing at its successor), a new
    /// access token and the successor are stored. `None` when the old one was revoked meanwhile
    /// (a reuse won the race).
    pub async fn rotate_api_refresh(
        &self,
        old_hash: &str,
        user: &User,
        access: &NewToken,
        successor: &NewRefresh,
        now: i64,
    ) -> Result<Option<Token>> {
        let mut tx = self.begin().await?;
        let won = on!(&mut tx, t => sqlx::query(
            "UPDATE api_refresh_tokens SET revoked = $2, replaced_by = $3 \
             WHERE hash = $1 AND revoked = 0")
            .bind(old_hash)
            .bind(now)
            .bind(&successor.hash)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        if won == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let actor = Actor::user(user.id, &user.login, None);
        let (token, events) = insert(&mut tx, &actor, user, access, now).await?;
        insert_refresh(&mut tx, user, successor, token.id, now).await?;
        audit::append(&mut tx, now, &events).await?;
        tx.commit().await?;
        Ok(Some(token))
    }

    /// Revokes a whole refresh chain and every access token issued from it, with one audit
    /// event (`RefreshReused` after a reuse, `RefreshRevoked` at the holder's request). Returns
    /// the access tokens revoked now, so caches can drop them.
    pub async fn revoke_api_refresh_family(
        &self,
        family: &str,
        client_id: &str,
        action: AuditAction,
        actor: &Actor,
        now: i64,
    ) -> Result<Vec<TokenId>> {
        let mut tx = self.begin().await?;
        let refreshes = on!(&mut tx, t => sqlx::query(
            "UPDATE api_refresh_tokens SET revoked = $2 WHERE family = $1 AND revoked = 0")
            .bind(family)
            .bind(now)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        let ids: Vec<i64> = on!(&mut tx, t => sqlx::query_scalar(
            "UPDATE tokens SET revoked = $2 WHERE revoked = 0 AND id IN \
             (SELECT access_token_id FROM api_refresh_tokens WHERE family = $1) RETURNING id")
            .bind(family)
            .bind(now)
            .fetch_all(&mut **t)
            .await
            .map_err(db)?);
        let event = AuditEvent::new(actor, action, format!("oauth_client:{client_id}"))
            .with_detail(serde_json::json!({
                "revoked_refresh_tokens": refreshes,
                "revoked_access_tokens": ids,
            }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(ids.into_iter().map(TokenId).collect())
    }
}
