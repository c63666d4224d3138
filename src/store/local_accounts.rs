//! Local users of the embedded OpenID provider: a `users` row (kind `person`, keyed on the
//! embedded issuer and a stable opaque `sub`) plus a `local_accounts` row holding the Argon2id
//! hash, the groups, and the failed-login counter that locks an account for a while.
//!
//! Hashing and the lock policy live in `auth::issuer`; this file only stores what it decides.

use super::users::BOOTSTRAP_LOGIN;
use super::{Store, Tx, audit, db};
use crate::domain::{Actor, AuditAction, AuditEvent, LoginFailure, UserId};
use crate::error::Result;
use std::fmt;

/// A local user as the provider needs it. `Debug` leaves out the password hash.
#[derive(Clone, PartialEq, Eq)]
pub struct LocalAccount {
    pub user_id: UserId,
    pub login: String,
    pub display_name: String,
    pub email: String,
    /// The stable subject identifier this user has in ID tokens.
    pub sub: String,
    pub groups: Vec<String>,
    /// Argon2id, in the PHC string format.
    pub password_hash: String,
    pub failed_logins: i64,
    /// Sign-in is refused until this time (Unix ms); 0 when not locked.
    pub locked_until: i64,
    pub active: bool,
}

impl fmt::Debug for LocalAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalAccount")
            .field("user_id", &self.user_id)
            .field("login", &self.login)
            .field("sub", &self.sub)
            .field("groups", &self.groups)
            .field("failed_logins", &self.failed_logins)
            .field("locked_until", &self.locked_until)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// A local user to create.
pub struct NewLocalUser<'a> {
    pub login: &'a str,
    pub display_name: &'a str,
    pub email: &'a str,
    pub groups: &'a [String],
    pub password_hash: &'a str,
    /// The embedded provider's issuer URL.
    pub iss: &'a str,
    pub sub: &'a str,
}

const ACCOUNT_COLUMNS: &str = "u.id, u.login, u.display_name, u.email, u.sub, a.groups, \
    a.password_hash, a.failed_logins, a.locked_until, u.active";

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: i64,
    login: String,
    display_name: String,
    email: String,
    sub: Option<String>,
    groups: String,
    password_hash: String,
    failed_logins: i64,
    locked_until: i64,
    active: bool,
}

impl AccountRow {
    fn into_account(self) -> LocalAccount {
        LocalAccount {
            user_id: UserId(self.id),
            login: self.login,
            display_name: self.display_name,
            email: self.email,
            sub: self.sub.unwrap_or_default(),
            groups: serde_json::from_str(&self.groups).unwrap_or_default(),
            password_hash: self.password_hash,
            failed_logins: self.failed_logins,
            locked_until: self.locked_until,
            active: self.active,
        }
    }
}

fn groups_json(groups: &[String]) -> String {
    serde_json::to_string(groups).unwrap_or_else(|_| "[]".into())
}

async fn insert_local_user(tx: &mut Tx, new: &NewLocalUser<'_>, now: i64) -> Result<UserId> {
    let groups = groups_json(new.groups);
    let id: i64 = on!(tx, t => sqlx::query_scalar(
        "INSERT INTO users (login, email, machine, admin, active, created, updated, kind, \
         display_name, iss, sub, groups, groups_updated) \
         VALUES ($1, $2, FALSE, FALSE, TRUE, $3, $3, 'person', $4, $5, $6, $7, $3) RETURNING id")
        .bind(new.login)
        .bind(new.email)
        .bind(now)
        .bind(new.display_name)
        .bind(new.iss)
        .bind(new.sub)
        .bind(&groups)
        .fetch_one(&mut **t)
        .await
        .map_err(db)?);
    on!(tx, t => sqlx::query(
        "INSERT INTO local_accounts (user_id, password_hash, groups, created, updated) \
         VALUES ($1, $2, $3, $4, $4)")
        .bind(id)
        .bind(new.password_hash)
        .bind(&groups)
        .bind(now)
        .execute(&mut **t)
        .await
        .map_err(db)?
        .rows_affected());
    Ok(UserId(id))
}

fn created_event(actor: &Actor, new: &NewLocalUser<'_>) -> AuditEvent {
    AuditEvent::new(
        actor,
        AuditAction::UserCreated,
        format!("user:{}", new.login),
    )
    .with_detail(serde_json::json!({ "local": true, "groups": new.groups, "sub": new.sub }))
}

impl Store {
    /// Creates a local user; `Conflict` when the login is taken.
    pub async fn create_local_user(
        &self,
        new: &NewLocalUser<'_>,
        actor: &Actor,
        now: i64,
    ) -> Result<UserId> {
        let mut tx = self.begin().await?;
        let id = insert_local_user(&mut tx, new, now).await?;
        audit::append(&mut tx, now, &[created_event(actor, new)]).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Creates the first local user when no person exists yet (the bootstrap machine account
    /// does not count); `false` when someone already does. Checked inside the transaction, so two
    /// servers starting at once create one.
    pub async fn create_first_local_user(&self, new: &NewLocalUser<'_>, now: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let people: i64 = on!(&mut tx, t => sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE login <> $1")
            .bind(BOOTSTRAP_LOGIN)
            .fetch_one(&mut **t)
            .await
            .map_err(db)?);
        if people > 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_local_user(&mut tx, new, now).await?;
        audit::append(&mut tx, now, &[created_event(&Actor::system(), new)]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// How many people (users other than the bootstrap machine account) exist.
    pub async fn count_people(&self) -> Result<i64> {
        Ok(on!(&*self.read, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE login <> $1")
            .bind(BOOTSTRAP_LOGIN)
            .fetch_one(p)
            .await
            .map_err(db)?))
    }

    /// Sets a local user's password hash and unlocks the account, ending their provider
    /// sessions and refresh tokens; `false` if there is no local user by that login.
    pub async fn update_local_password(
        &self,
        login: &str,
        password_hash: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let changed = on!(&mut tx, t => sqlx::query(
            "UPDATE local_accounts SET password_hash = $2, failed_logins = 0, locked_until = 0, \
             updated = $3 WHERE user_id = (SELECT id FROM users WHERE login = $1)")
            .bind(login)
            .bind(password_hash)
            .bind(now)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        if changed == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        // A new password signs the user out of the provider everywhere.
        let mut revoked = 0;
        for sql in [
            "UPDATE issuer_sessions SET revoked = $2 WHERE revoked = 0 \
             AND user_id = (SELECT id FROM users WHERE login = $1)",
            "UPDATE refresh_tokens SET revoked = $2 WHERE revoked = 0 \
             AND user_id = (SELECT id FROM users WHERE login = $1)",
        ] {
            revoked += on!(&mut tx, t => sqlx::query(sql)
                .bind(login)
                .bind(now)
                .execute(&mut **t)
                .await
                .map_err(db)?
                .rows_affected());
        }
        let event = AuditEvent::new(
            actor,
            AuditAction::LocalPasswordChanged,
            format!("user:{login}"),
        )
        .with_detail(serde_json::json!({ "revoked": revoked }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Every local user, by login.
    pub async fn list_local_accounts(&self) -> Result<Vec<LocalAccount>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM local_accounts a JOIN users u ON u.id = a.user_id \
             ORDER BY u.login"
        );
        let rows: Vec<AccountRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .fetch_all(p)
            .await
            .map_err(db)?);
        Ok(rows.into_iter().map(AccountRow::into_account).collect())
    }

    /// A local user by login.
    pub async fn find_local_account(&self, login: &str) -> Result<Option<LocalAccount>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM local_accounts a JOIN users u ON u.id = a.user_id \
             WHERE u.login = $1"
        );
        let row: Option<AccountRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(login)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        Ok(row.map(AccountRow::into_account))
    }

    /// A local user by user id.
    pub async fn find_local_account_by_id(&self, id: UserId) -> Result<Option<LocalAccount>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM local_accounts a JOIN users u ON u.id = a.user_id \
             WHERE u.id = $1"
        );
        let row: Option<AccountRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(id.0)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        Ok(row.map(AccountRow::into_account))
    }

    /// Records a refused sign-in. For a known account the counter goes up and, when
    /// `lock_until(new count)` is in the future, the account is locked until then. Returns the
    /// new count (0 for an unknown login).
    pub async fn record_local_login_failure(
        &self,
        login: &str,
        account: Option<UserId>,
        reason: LoginFailure,
        lock_until: impl Fn(i64) -> i64,
        now: i64,
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        let mut count = 0;
        let mut detail = serde_json::json!({});
        if let Some(id) = account
            && reason == LoginFailure::WrongPassword
        {
            count = on!(&mut tx, t => sqlx::query_scalar(
                "UPDATE local_accounts SET failed_logins = failed_logins + 1, updated = $2 \
                 WHERE user_id = $1 RETURNING failed_logins")
                .bind(id.0)
                .bind(now)
                .fetch_optional(&mut **t)
                .await
                .map_err(db)?)
            .unwrap_or(0);
            let until = lock_until(count);
            if until > now {
                on!(&mut tx, t => sqlx::query(
                    "UPDATE local_accounts SET locked_until = $2 WHERE user_id = $1")
                    .bind(id.0)
                    .bind(until)
                    .execute(&mut **t)
                    .await
                    .map_err(db)?
                    .rows_affected());
                detail = serde_json::json!({ "failed_logins": count, "locked_until": until });
            } else {
                detail = serde_json::json!({ "failed_logins": count });
            }
        }
        let actor = match account {
            Some(id) => Actor::user(id, login, None),
            None => Actor::system(),
        };
        let event = AuditEvent::new(
            &actor,
            AuditAction::LocalLoginFailed { reason },
            format!("user:{login}"),
        )
        .with_detail(detail);
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(count)
    }

    /// Points every local user at the embedded provider's current issuer URL (after
    /// `server_url` changed). Returns how many changed.
    pub async fn update_local_issuer(&self, iss: &str, now: i64) -> Result<u64> {
        let mut tx = self.begin().await?;
        let changed = on!(&mut tx, t => sqlx::query(
            "UPDATE users SET iss = $1, updated = $2 WHERE (iss IS NULL OR iss <> $1) \
             AND id IN (SELECT user_id FROM local_accounts)")
            .bind(iss)
            .bind(now)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        if changed > 0 {
            let event = AuditEvent::new(&Actor::system(), AuditAction::UserUpdated, "users:local")
                .with_detail(serde_json::json!({ "iss": iss, "users": changed }));
            audit::append(&mut tx, now, &[event]).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }
}
