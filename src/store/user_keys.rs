//! Public keys users sign commits with (SSH or OpenPGP), and the keys of active users that a
//! verified commit may be signed by.

use super::{Store, audit, db};
use crate::domain::{Actor, AuditAction, AuditEvent, UserId};
use crate::error::{Error, Result};

/// A registered signing key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserKey {
    pub id: i64,
    pub login: String,
    /// `ssh` or `gpg`.
    pub kind: String,
    pub fingerprint: String,
    pub public_key: String,
    pub created: i64,
}

const COLUMNS: &str = "k.id, u.login, k.kind, k.fingerprint, k.public_key, k.created";

type Row = (i64, String, String, String, String, i64);

fn key((id, login, kind, fingerprint, public_key, created): Row) -> UserKey {
    UserKey {
        id,
        login,
        kind,
        fingerprint,
        public_key,
        created,
    }
}

impl Store {
    /// Registers `public_key` to `user`; a key registered already (to anyone) is a conflict.
    pub async fn create_user_key(
        &self,
        user: UserId,
        new: &UserKey,
        actor: &Actor,
        now: i64,
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        let id: i64 = on!(&mut tx, t => sqlx::query_scalar(
            "INSERT INTO user_keys (user_id, kind, fingerprint, public_key, created) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(user.0)
            .bind(&new.kind)
            .bind(&new.fingerprint)
            .bind(&new.public_key)
            .bind(now)
            .fetch_one(&mut **t)
            .await
            .map_err(|e| match db(e) {
                Error::Conflict(_) => Error::conflict(format!("the key {} is registered already", new.fingerprint)),
                other => other,
            })?);
        let e = AuditEvent::new(
            actor,
            AuditAction::UserKeyAdded,
            format!("user:{}", new.login),
        )
        .with_detail(serde_json::json!({"kind": new.kind, "fingerprint": new.fingerprint}));
        audit::append(&mut tx, now, &[e]).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The keys of `login`, oldest first.
    pub async fn list_user_keys(&self, login: &str) -> Result<Vec<UserKey>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM user_keys k JOIN users u ON u.id = k.user_id \
             WHERE u.login = $1 ORDER BY k.id"
        );
        let rows: Vec<Row> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(login)
            .fetch_all(p)
            .await
            .map_err(db)?);
        Ok(rows.into_iter().map(key).collect())
    }

    /// Every key of an active user: what a verified commit may be signed with.
    pub async fn list_active_signing_keys(&self) -> Result<Vec<UserKey>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM user_keys k JOIN users u ON u.id = k.user_id \
             WHERE u.active = TRUE ORDER BY k.id"
        );
        let rows: Vec<Row> = on!(&*self.read, p => sqlx::query_as(&sql)
            .fetch_all(p)
            .await
            .map_err(db)?);
        Ok(rows.into_iter().map(key).collect())
    }

    /// Removes key `id` of `login`; `false` when `login` has no such key.
    pub async fn delete_user_key(
        &self,
        login: &str,
        id: i64,
        actor: &Actor,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let gone = on!(&mut tx, t => sqlx::query(
            "DELETE FROM user_keys WHERE id = $1 AND user_id = (SELECT id FROM users WHERE login = $2)")
            .bind(id)
            .bind(login)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        if gone > 0 {
            let e = AuditEvent::new(actor, AuditAction::UserKeyRemoved, format!("user:{login}"))
                .with_detail(serde_json::json!({"id": id}));
            audit::append(&mut tx, now, &[e]).await?;
        }
        tx.commit().await?;
        Ok(gone > 0)
    }
}
