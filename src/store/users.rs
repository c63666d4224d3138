//! Users and their API tokens. Tokens are stored only as SHA-256 hashes.

use super::rows::{USER_COLUMNS, UserRow};
use super::{Store, audit, db};
use crate::domain::{Actor, AuditAction, AuditEvent, TokenId, User, UserId};
use crate::error::Result;

/// The login of the machine account behind `HANGAR_ADMIN_TOKEN`.
pub const BOOTSTRAP_LOGIN: &str = "bootstrap-admin";

/// What kind of credential a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// The `HANGAR_ADMIN_TOKEN` of first set-up.
    Bootstrap,
    /// A token a user made for themselves or for a machine account.
    Personal,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Bootstrap => "bootstrap",
            TokenKind::Personal => "personal",
        }
    }

    fn parse(s: &str) -> TokenKind {
        match s {
            "bootstrap" => TokenKind::Bootstrap,
            _ => TokenKind::Personal,
        }
    }
}

/// Who a valid token belongs to.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: User,
    pub token: TokenId,
    pub kind: TokenKind,
}

impl Identity {
    pub fn actor(&self) -> Actor {
        Actor::user(self.user.id, &self.user.login, Some(self.token))
    }
}

impl Store {
    /// Makes the bootstrap admin account's only live token the one hashed as `hash`, or, with
    /// `None`, revokes it. Changes nothing when it already is so.
    pub async fn set_bootstrap_token(&self, hash: Option<&str>, now: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        let system = Actor::system();
        let mut events = Vec::new();
        let live: Vec<(i64, String)> = on!(&mut tx, t => sqlx::query_as(
            "SELECT id, hash FROM tokens WHERE kind = 'bootstrap' AND revoked = 0")
            .fetch_all(&mut **t)
            .await
            .map_err(db)?);
        if let Some(hash) = hash
            && live.len() == 1
            && live[0].1 == hash
        {
            return Ok(());
        }
        for (id, _) in &live {
            on!(&mut tx, t => sqlx::query("UPDATE tokens SET revoked = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(&mut **t)
                .await
                .map_err(db)?
                .rows_affected());
            events.push(AuditEvent::new(&system, AuditAction::TokenRevoked, format!("token:{id}"))
                .with_detail(serde_json::json!({ "kind": "bootstrap", "reason": "HANGAR_ADMIN_TOKEN changed or unset" })));
        }
        if let Some(hash) = hash {
            let user_id: Option<i64> = on!(&mut tx, t => sqlx::query_scalar(
                "SELECT id FROM users WHERE login = $1")
                .bind(BOOTSTRAP_LOGIN)
                .fetch_optional(&mut **t)
                .await
                .map_err(db)?);
            let user_id = match user_id {
                Some(id) => id,
                None => {
                    let id: i64 = on!(&mut tx, t => sqlx::query_scalar(
                        "INSERT INTO users (login, machine, admin, active, created, updated) \
                         VALUES ($1, TRUE, TRUE, TRUE, $2, $2) RETURNING id")
                        .bind(BOOTSTRAP_LOGIN)
                        .bind(now)
                        .fetch_one(&mut **t)
                        .await
                        .map_err(db)?);
                    events.push(
                        AuditEvent::new(
                            &system,
                            AuditAction::UserCreated,
                            format!("user:{BOOTSTRAP_LOGIN}"),
                        )
                        .with_detail(serde_json::json!({ "machine": true, "admin": true })),
                    );
                    id
                }
            };
            let token_id: i64 = on!(&mut tx, t => sqlx::query_scalar(
                "INSERT INTO tokens (user_id, name, hash, kind, created) VALUES ($1, $2, $3, 'bootstrap', $4) \
                 ON CONFLICT (hash) DO UPDATE SET revoked = 0 RETURNING id")
                .bind(user_id)
                .bind("HANGAR_ADMIN_TOKEN")
                .bind(hash)
                .bind(now)
                .fetch_one(&mut **t)
                .await
                .map_err(db)?);
            events.push(
                AuditEvent::new(
                    &system,
                    AuditAction::TokenCreated,
                    format!("token:{token_id}"),
                )
                .with_detail(serde_json::json!({ "kind": "bootstrap", "user": BOOTSTRAP_LOGIN })),
            );
        }
        audit::append(&mut tx, now, &events).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The identity behind a token hash, if the token is live and its user active.
    pub async fn find_identity(&self, hash: &str, now: i64) -> Result<Option<Identity>> {
        let row: Option<(i64, String)> = on!(&*self.read, p => sqlx::query_as(
            "SELECT t.id, t.kind FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = $1 \
             AND t.revoked = 0 AND (t.expires = 0 OR t.expires > $2) AND u.active = TRUE")
            .bind(hash)
            .bind(now)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        let Some((token_id, kind)) = row else {
            return Ok(None);
        };
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id = (SELECT user_id FROM tokens WHERE id = $1)"
        );
        let user: UserRow = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(token_id)
            .fetch_one(p)
            .await
            .map_err(db)?);
        Ok(Some(Identity {
            user: user.into_user(),
            token: TokenId(token_id),
            kind: TokenKind::parse(&kind),
        }))
    }

    /// A user by login.
    pub async fn find_user(&self, login: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE login = $1");
        let row: Option<UserRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(login)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        Ok(row.map(UserRow::into_user))
    }

    /// A user by id.
    pub async fn find_user_by_id(&self, id: UserId) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row: Option<UserRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(id.0)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        Ok(row.map(UserRow::into_user))
    }
}
