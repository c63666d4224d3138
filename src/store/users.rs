//! Users: people and service accounts, the bootstrap admin account, and the changes that
//! touch their tokens (deactivating a user revokes every token of theirs in the same
//! transaction). Tokens themselves are in `tokens.rs`.

use super::rows::{USER_COLUMNS, UserRow};
use super::tokens::{self, NewToken};
use super::{Store, audit, db};
use crate::domain::{Actor, AuditAction, AuditEvent, Token, TokenId, User, UserId};
use crate::error::{Error, Result};

/// The login of the machine account behind `HANGAR_ADMIN_TOKEN`.
pub const BOOTSTRAP_LOGIN: &str = "bootstrap-admin";

/// A user an administrator creates. With `machine`, a service account (kind `service`), which
/// signs in only with tokens.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub login: String,
    pub email: String,
    pub machine: bool,
    pub admin: bool,
}

/// What `PATCH /api/users/{login}` may change; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub admin: Option<bool>,
    pub active: Option<bool>,
    pub email: Option<String>,
}

/// How a user came to this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserOrigin {
    /// Provisioned by an identity provider over SCIM (still, or deleted there since).
    Scim { deleted: bool },
    /// A local account of the embedded OpenID provider.
    Local,
    /// Created just in time, at their first login through an OpenID provider.
    JustInTime,
    /// A service account (tokens only); the bootstrap admin account among them.
    Service,
    /// A person an administrator created, who has not signed in yet.
    Created,
}

impl UserOrigin {
    fn of(origin: &str, deleted: bool) -> UserOrigin {
        match origin {
            "scim" => UserOrigin::Scim { deleted },
            "local" => UserOrigin::Local,
            "login" => UserOrigin::JustInTime,
            "service" => UserOrigin::Service,
            _ => UserOrigin::Created,
        }
    }

    /// What the admin pages call it.
    pub fn label(self) -> &'static str {
        match self {
            UserOrigin::Scim { deleted: false } => "SCIM",
            UserOrigin::Scim { deleted: true } => "SCIM (deleted at the provider)",
            UserOrigin::Local => "local account",
            UserOrigin::JustInTime => "just in time at login",
            UserOrigin::Service => "service account",
            UserOrigin::Created => "created by an administrator",
        }
    }
}

/// A user after a change, and the tokens the change revoked.
#[derive(Debug, Clone)]
pub struct UserChange {
    pub user: User,
    pub revoked: Vec<TokenId>,
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

    /// The ids of users changed (`updated`) at or after `since` (Unix ms), with the newest
    /// change time: how a server learns of changes another process made (`hangar user
    /// disable`, another server).
    pub async fn users_changed_since(&self, since: i64) -> Result<(Vec<UserId>, i64)> {
        let rows: Vec<(i64, i64)> = on!(&*self.read, p => sqlx::query_as(
            "SELECT id, updated FROM users WHERE updated >= $1")
            .bind(since)
            .fetch_all(p)
            .await
            .map_err(db)?);
        let newest = rows.iter().map(|r| r.1).max().unwrap_or(since);
        Ok((rows.into_iter().map(|r| UserId(r.0)).collect(), newest))
    }

    /// Every user, by login.
    pub async fn list_users(&self) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY login");
        let rows: Vec<UserRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .fetch_all(p)
            .await
            .map_err(db)?);
        Ok(rows.into_iter().map(UserRow::into_user).collect())
    }

    /// How each user came to this server, by id.
    pub async fn list_user_origins(&self) -> Result<Vec<(UserId, UserOrigin)>> {
        let sql = "SELECT u.id, \
                   CASE WHEN s.user_id IS NOT NULL THEN 'scim' \
                        WHEN l.user_id IS NOT NULL THEN 'local' \
                        WHEN u.machine THEN 'service' \
                        WHEN u.iss IS NOT NULL THEN 'login' \
                        ELSE 'created' END AS origin, \
                   COALESCE(s.deleted, 0) <> 0 AS deleted \
                   FROM users u \
                   LEFT JOIN scim_users s ON s.user_id = u.id \
                   LEFT JOIN local_accounts l ON l.user_id = u.id";
        let rows: Vec<(i64, String, bool)> = on!(&*self.read, p => sqlx::query_as(sql)
            .fetch_all(p)
            .await
            .map_err(db)?);
        Ok(rows
            .into_iter()
            .map(|(id, origin, deleted)| (UserId(id), UserOrigin::of(&origin, deleted)))
            .collect())
    }

    /// Creates a user, and with `first_token` their first token, in one transaction. A taken
    /// login is a conflict.
    pub async fn create_user(
        &self,
        actor: &Actor,
        new: &NewUser,
        first_token: Option<&NewToken>,
        now: i64,
    ) -> Result<(User, Option<Token>)> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "INSERT INTO users (login, email, machine, admin, active, kind, created, updated) \
             VALUES ($1, $2, $3, $4, TRUE, $5, $6, $6) ON CONFLICT (login) DO NOTHING \
             RETURNING {USER_COLUMNS}"
        );
        let row: Option<UserRow> = on!(&mut tx, t => sqlx::query_as(&sql)
            .bind(&new.login)
            .bind(&new.email)
            .bind(new.machine)
            .bind(new.admin)
            .bind(if new.machine { "service" } else { "person" })
            .bind(now)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(Error::conflict(format!(
                "the login {} is already taken",
                new.login
            )));
        };
        let user = row.into_user();
        let action = if new.machine {
            AuditAction::ServiceAccountCreated
        } else {
            AuditAction::UserCreated
        };
        let mut events = vec![
            AuditEvent::new(actor, action, format!("user:{}", user.login)).with_detail(
                serde_json::json!({ "machine": user.machine, "admin": user.admin, "email": user.email }),
            ),
        ];
        let token = match first_token {
            Some(t) => {
                let (token, more) = tokens::insert(&mut tx, actor, &user, t, now).await?;
                events.extend(more);
                Some(token)
            }
            None => None,
        };
        audit::append(&mut tx, now, &events).await?;
        tx.commit().await?;
        Ok((user, token))
    }

    /// Changes a user. Deactivating one revokes all their tokens and ends their sessions in the
    /// same transaction
    /// (reactivating does not bring them back). `None` when there is no such login; nothing is
    /// written when nothing changes.
    pub async fn update_user(
        &self,
        actor: &Actor,
        login: &str,
        patch: &UserPatch,
        now: i64,
    ) -> Result<Option<UserChange>> {
        let mut tx = self.begin().await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE login = $1");
        let row: Option<UserRow> = on!(&mut tx, t => sqlx::query_as(&sql)
            .bind(login)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        let Some(before) = row.map(UserRow::into_user) else {
            tx.rollback().await?;
            return Ok(None);
        };
        let admin = patch.admin.unwrap_or(before.admin);
        let active = patch.active.unwrap_or(before.active);
        let email = patch.email.clone().unwrap_or_else(|| before.email.clone());
        let mut changed = serde_json::Map::new();
        if admin != before.admin {
            changed.insert("admin".into(), admin.into());
        }
        if email != before.email {
            changed.insert("email".into(), email.clone().into());
        }
        if active && !before.active {
            changed.insert("active".into(), true.into());
        }
        let deactivated = !active && before.active;
        if changed.is_empty() && !deactivated {
            tx.rollback().await?;
            return Ok(Some(UserChange {
                user: before,
                revoked: Vec::new(),
            }));
        }
        let sql = format!(
            "UPDATE users SET admin = $2, active = $3, email = $4, updated = $5 WHERE id = $1 \
             RETURNING {USER_COLUMNS}"
        );
        let row: UserRow = on!(&mut tx, t => sqlx::query_as(&sql)
            .bind(before.id.0)
            .bind(admin)
            .bind(active)
            .bind(&email)
            .bind(now)
            .fetch_one(&mut **t)
            .await
            .map_err(db)?);
        let user = row.into_user();
        let target = format!("user:{}", user.login);
        let mut events = Vec::new();
        if !changed.is_empty() {
            events.push(
                AuditEvent::new(actor, AuditAction::UserUpdated, target.clone())
                    .with_detail(serde_json::Value::Object(changed)),
            );
        }
        let mut revoked = Vec::new();
        if deactivated {
            events.push(AuditEvent::new(actor, AuditAction::UserDeactivated, target));
            let (ids, more) =
                tokens::revoke_all(&mut tx, actor, &user, "user deactivated", now).await?;
            revoked = ids;
            events.extend(more);
            events.extend(
                super::sessions::end_all(&mut tx, actor, user.id, "user deactivated", now).await?,
            );
        }
        audit::append(&mut tx, now, &events).await?;
        tx.commit().await?;
        Ok(Some(UserChange { user, revoked }))
    }
}
