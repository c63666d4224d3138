//! SCIM provisioning: the provisioning clients' tokens, and users as a provider provisioned them
//! (each the SCIM side of a row of `users`). Filters become SQL here (`scim::filter` parses
//! them, `scim_filter.rs` turns them into SQL). Deactivation is not done here: it goes through `update_user`, which revokes tokens and
//! ends sessions; the SCIM write that follows records it. Groups are in `scim_groups.rs`.

use super::logins::{RoleMap, free_login, group_events};
use super::rows::UserRow;
use super::scim_filter::{Bind, where_sql};
use super::{Store, Tx, audit, db, list};
use crate::domain::{Actor, AuditAction, AuditEvent, User, UserId};
use crate::error::{Error, Result};
use crate::scim::filter::{Filter, Resource};
use serde_json::Value;

/// A provisioned user.
#[derive(Debug, Clone)]
pub struct ScimUser {
    pub user: User,
    pub scim_id: String,
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: String,
    /// The attributes as the provider sent them.
    pub resource: Value,
    /// The groups they are a member of: (SCIM id, displayName).
    pub groups: Vec<(String, String)>,
    pub created: i64,
    pub updated: i64,
}

/// What a POST or PUT says about a user (the `active` flag is applied through `update_user`).
#[derive(Debug, Clone)]
pub struct ScimUserWrite {
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: String,
    pub email: String,
    pub active: bool,
    /// The attributes as sent (never a password), JSON.
    pub resource: String,
}

/// One page of a list, and how many match in all.
#[derive(Debug, Clone)]
pub struct ScimPage<T> {
    pub total: i64,
    pub items: Vec<T>,
}

/// A provisioning client, as its token names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimClient {
    pub token_id: i64,
    pub name: String,
}

const SCIM_USER_COLUMNS: &str = "u.id, u.login, u.email, u.machine, u.admin, u.active, u.avatar, \
     u.created, u.updated, u.last_login, s.scim_id, s.user_name, s.external_id, \
     s.display_name AS scim_display_name, s.resource, s.created AS scim_created, \
     s.updated AS scim_updated";

#[derive(sqlx::FromRow)]
struct ScimUserRow {
    #[sqlx(flatten)]
    user: UserRow,
    scim_id: String,
    user_name: String,
    external_id: Option<String>,
    scim_display_name: String,
    resource: String,
    scim_created: i64,
    scim_updated: i64,
}

impl ScimUserRow {
    fn into_scim(self) -> ScimUser {
        ScimUser {
            user: self.user.into_user(),
            scim_id: self.scim_id,
            user_name: self.user_name,
            external_id: self.external_id,
            display_name: self.scim_display_name,
            resource: serde_json::from_str(&self.resource).unwrap_or(Value::Null),
            groups: Vec::new(),
            created: self.scim_created,
            updated: self.scim_updated,
        }
    }
}

fn lower_key(user_name: &str) -> String {
    user_name.to_lowercase()
}

/// The login a provisioned user gets: the userName's part before any `@`, made unique.
fn login_hint(user_name: &str) -> &str {
    user_name.split('@').next().unwrap_or(user_name)
}

/// Re-reads a user's groups from their memberships and writes them (and the admin flag they
/// imply) to `users`, with the audit events of the change.
pub(super) async fn sync_groups(
    tx: &mut Tx,
    actor: &Actor,
    user: i64,
    roles: &RoleMap,
    now: i64,
) -> Result<Vec<AuditEvent>> {
    let names: Vec<String> = on!(&mut *tx, c => sqlx::query_scalar(
        "SELECT g.display_name FROM scim_members m JOIN scim_groups g ON g.id = m.group_id \
         WHERE m.user_id = $1 ORDER BY g.display_name")
        .bind(user)
        .fetch_all(&mut **c)
        .await
        .map_err(db)?);
    let (login, before): (String, String) = on!(&mut *tx, c => sqlx::query_as(
        "SELECT login, groups FROM users WHERE id = $1")
        .bind(user)
        .fetch_one(&mut **c)
        .await
        .map_err(db)?);
    let before: Vec<String> = serde_json::from_str(&before).unwrap_or_default();
    let events = group_events(actor, &login, &before, &names, roles);
    if !events.is_empty() {
        let json = serde_json::to_string(&names).map_err(Error::internal)?;
        on!(&mut *tx, c => sqlx::query(
            "UPDATE users SET groups = $2, groups_updated = $3, admin = $4, updated = $3 \
             WHERE id = $1")
            .bind(user)
            .bind(&json)
            .bind(now)
            .bind(roles.is_admin(&names))
            .execute(&mut **c)
            .await
            .map_err(db)?
            .rows_affected());
    }
    Ok(events)
}

impl Store {
    /// Stores a SCIM token (hashed) and audits it.
    pub async fn create_scim_token(
        &self,
        actor: &Actor,
        name: &str,
        hash: &str,
        prefix: &str,
        now: i64,
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        let id: i64 = on!(&mut tx, c => sqlx::query_scalar(
            "INSERT INTO scim_tokens (name, hash, prefix, created) VALUES ($1, $2, $3, $4) \
             RETURNING id")
            .bind(name)
            .bind(hash)
            .bind(prefix)
            .bind(now)
            .fetch_one(&mut **c)
            .await
            .map_err(db)?);
        let event = AuditEvent::new(
            actor,
            AuditAction::ScimTokenCreated,
            format!("scim_token:{id}"),
        )
        .with_detail(serde_json::json!({ "name": name, "prefix": prefix }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Every SCIM token: (id, name, display prefix, created, revoked or 0), oldest first.
    pub async fn list_scim_tokens(&self) -> Result<Vec<(i64, String, String, i64, i64)>> {
        let rows = on!(&*self.read, p => sqlx::query_as(
            "SELECT id, name, prefix, created, revoked FROM scim_tokens ORDER BY id")
            .fetch_all(p)
            .await
            .map_err(db)?);
        Ok(rows)
    }

    /// Revokes a SCIM token, audited; `false` when there is no such live token.
    pub async fn revoke_scim_token(&self, actor: &Actor, id: i64, now: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let name: Option<String> = on!(&mut tx, c => sqlx::query_scalar(
            "UPDATE scim_tokens SET revoked = $2 WHERE id = $1 AND revoked = 0 RETURNING name")
            .bind(id)
            .bind(now)
            .fetch_optional(&mut **c)
            .await
            .map_err(db)?);
        let Some(name) = name else {
            tx.rollback().await?;
            return Ok(false);
        };
        let event = AuditEvent::new(
            actor,
            AuditAction::ScimTokenRevoked,
            format!("scim_token:{id}"),
        )
        .with_detail(serde_json::json!({ "name": name }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The live SCIM token hashed as `hash`.
    pub async fn find_scim_token(&self, hash: &str) -> Result<Option<ScimClient>> {
        let row: Option<(i64, String)> = on!(&*self.read, p => sqlx::query_as(
            "SELECT id, name FROM scim_tokens WHERE hash = $1 AND revoked = 0")
            .bind(hash)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        Ok(row.map(|(token_id, name)| ScimClient { token_id, name }))
    }

    /// A provisioned user by SCIM id (deleted ones are gone), with their groups.
    pub async fn find_scim_user(&self, scim_id: &str) -> Result<Option<ScimUser>> {
        let sql = format!(
            "SELECT {SCIM_USER_COLUMNS} FROM scim_users s JOIN users u ON u.id = s.user_id \
             WHERE s.scim_id = $1 AND s.deleted = 0"
        );
        let row: Option<ScimUserRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(scim_id)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        let Some(mut user) = row.map(ScimUserRow::into_scim) else {
            return Ok(None);
        };
        user.groups = self.scim_groups_of(user.user.id).await?;
        Ok(Some(user))
    }

    async fn scim_groups_of(&self, user: UserId) -> Result<Vec<(String, String)>> {
        let groups: Vec<(String, String)> = on!(&*self.read, p => sqlx::query_as(
            "SELECT g.scim_id, g.display_name FROM scim_members m \
             JOIN scim_groups g ON g.id = m.group_id WHERE m.user_id = $1 ORDER BY g.display_name")
            .bind(user.0)
            .fetch_all(p)
            .await
            .map_err(db)?);
        Ok(groups)
    }

    /// Provisioned users matching `filter`, `count` of them from `start` (0-based), in the order
    /// they were made, and how many match in all.
    pub async fn list_scim_users(
        &self,
        filter: Option<&Filter>,
        start: i64,
        count: i64,
    ) -> Result<ScimPage<ScimUser>> {
        let mut binds = Vec::new();
        let cond = filter
            .map(|f| where_sql(f, Resource::User, &mut binds))
            .unwrap_or_else(|| "TRUE".into());
        let from = format!(
            "FROM scim_users s JOIN users u ON u.id = s.user_id WHERE s.deleted = 0 AND {cond}"
        );
        let total: i64 = on!(&*self.read, p => {
            let sql = format!("SELECT COUNT(*) {from}");
            let mut q = sqlx::query_scalar(&sql);
            for b in &binds {
                q = match b { Bind::Text(t) => q.bind(t.clone()), Bind::Bool(v) => q.bind(*v) };
            }
            q.fetch_one(p).await.map_err(db)?
        });
        if count == 0 || start >= total {
            return Ok(ScimPage {
                total,
                items: Vec::new(),
            });
        }
        let sql = format!(
            "SELECT {SCIM_USER_COLUMNS} {from} ORDER BY s.user_id LIMIT {count} OFFSET {start}"
        );
        let rows: Vec<ScimUserRow> = on!(&*self.read, p => {
            let mut q = sqlx::query_as(&sql);
            for b in &binds {
                q = match b { Bind::Text(t) => q.bind(t.clone()), Bind::Bool(v) => q.bind(*v) };
            }
            q.fetch_all(p).await.map_err(db)?
        });
        let mut items: Vec<ScimUser> = rows.into_iter().map(ScimUserRow::into_scim).collect();
        if !items.is_empty() {
            let ids: Vec<i64> = items.iter().map(|u| u.user.id.0).collect();
            let sql = format!(
                "SELECT m.user_id, g.scim_id, g.display_name FROM scim_members m \
                 JOIN scim_groups g ON g.id = m.group_id WHERE m.user_id IN ({}) \
                 ORDER BY g.display_name",
                list(ids.len(), 1)
            );
            let memberships: Vec<(i64, String, String)> = on!(&*self.read, p => {
                let mut q = sqlx::query_as(&sql);
                for id in &ids {
                    q = q.bind(*id);
                }
                q.fetch_all(p).await.map_err(db)?
            });
            for (user, gid, name) in memberships {
                if let Some(u) = items.iter_mut().find(|u| u.user.id.0 == user) {
                    u.groups.push((gid, name));
                }
            }
        }
        Ok(ScimPage { total, items })
    }

    /// Provisions a user: a person account (login from the userName, made unique) and its SCIM
    /// side, audited. A userName already provisioned is a conflict.
    pub async fn create_scim_user(
        &self,
        actor: &Actor,
        scim_id: &str,
        new: &ScimUserWrite,
        now: i64,
    ) -> Result<ScimUser> {
        let mut tx = self.begin().await?;
        let key = lower_key(&new.user_name);
        let taken: Option<i64> = on!(&mut tx, c => sqlx::query_scalar(
            "SELECT user_id FROM scim_users WHERE user_name_key = $1 AND deleted = 0")
            .bind(&key)
            .fetch_optional(&mut **c)
            .await
            .map_err(db)?);
        if taken.is_some() {
            tx.rollback().await?;
            return Err(Error::conflict(format!(
                "a user with userName {:?} exists already",
                new.user_name
            )));
        }
        let login = free_login(&mut tx, login_hint(&new.user_name), scim_id).await?;
        let user_id: i64 = on!(&mut tx, c => sqlx::query_scalar(
            "INSERT INTO users (login, email, admin, active, kind, display_name, groups, created, \
             updated) VALUES ($1, $2, FALSE, $3, 'person', $4, '[]', $5, $5) RETURNING id")
            .bind(&login)
            .bind(&new.email)
            .bind(new.active)
            .bind(&new.display_name)
            .bind(now)
            .fetch_one(&mut **c)
            .await
            .map_err(db)?);
        on!(&mut tx, c => sqlx::query(
            "INSERT INTO scim_users (user_id, scim_id, user_name, user_name_key, external_id, \
             display_name, resource, created, updated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)")
            .bind(user_id)
            .bind(scim_id)
            .bind(&new.user_name)
            .bind(&key)
            .bind(&new.external_id)
            .bind(&new.display_name)
            .bind(&new.resource)
            .bind(now)
            .execute(&mut **c)
            .await
            .map_err(db)?
            .rows_affected());
        let event = AuditEvent::new(actor, AuditAction::ScimUserCreated, format!("user:{login}"))
            .with_detail(serde_json::json!({
                "scim_id": scim_id, "userName": new.user_name, "externalId": new.external_id,
                "active": new.active,
            }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        self.find_scim_user(scim_id)
            .await?
            .ok_or_else(|| Error::internal(anyhow::anyhow!("a provisioned user vanished")))
    }

    /// Writes a user's SCIM attributes (not `active`: `update_user` changes that, before this).
    /// `activity` is the change of `active` already made, recorded here: `Some(false)` a
    /// deactivation, `Some(true)` a reactivation. `None` when there is no such user.
    pub async fn update_scim_user(
        &self,
        actor: &Actor,
        scim_id: &str,
        new: &ScimUserWrite,
        activity: Option<bool>,
        now: i64,
    ) -> Result<Option<ScimUser>> {
        let Some(before) = self.find_scim_user(scim_id).await? else {
            return Ok(None);
        };
        let mut changed = serde_json::Map::new();
        if before.user_name != new.user_name {
            changed.insert("userName".into(), new.user_name.clone().into());
        }
        if before.external_id != new.external_id {
            changed.insert("externalId".into(), new.external_id.clone().into());
        }
        if before.display_name != new.display_name {
            changed.insert("displayName".into(), new.display_name.clone().into());
        }
        if before.user.email != new.email {
            changed.insert("email".into(), new.email.clone().into());
        }
        let resource_same =
            serde_json::from_str::<Value>(&new.resource).ok().as_ref() == Some(&before.resource);
        if changed.is_empty() && resource_same && activity.is_none() {
            return Ok(Some(before));
        }
        let mut tx = self.begin().await?;
        let key = lower_key(&new.user_name);
        if changed.contains_key("userName") {
            let taken: Option<i64> = on!(&mut tx, c => sqlx::query_scalar(
                "SELECT user_id FROM scim_users WHERE user_name_key = $1 AND deleted = 0 \
                 AND scim_id <> $2")
                .bind(&key)
                .bind(scim_id)
                .fetch_optional(&mut **c)
                .await
                .map_err(db)?);
            if taken.is_some() {
                tx.rollback().await?;
                return Err(Error::conflict(format!(
                    "a user with userName {:?} exists already",
                    new.user_name
                )));
            }
        }
        on!(&mut tx, c => sqlx::query(
            "UPDATE scim_users SET user_name = $2, user_name_key = $3, external_id = $4, \
             display_name = $5, resource = $6, updated = $7 WHERE scim_id = $1")
            .bind(scim_id)
            .bind(&new.user_name)
            .bind(&key)
            .bind(&new.external_id)
            .bind(&new.display_name)
            .bind(&new.resource)
            .bind(now)
            .execute(&mut **c)
            .await
            .map_err(db)?
            .rows_affected());
        on!(&mut tx, c => sqlx::query(
            "UPDATE users SET email = $2, display_name = $3, updated = $4 WHERE id = $1")
            .bind(before.user.id.0)
            .bind(&new.email)
            .bind(&new.display_name)
            .bind(now)
            .execute(&mut **c)
            .await
            .map_err(db)?
            .rows_affected());
        let target = format!("user:{}", before.user.login);
        let mut events = Vec::new();
        if activity == Some(false) {
            events.push(
                AuditEvent::new(actor, AuditAction::ScimUserDeactivated, target.clone())
                    .with_detail(serde_json::json!({ "scim_id": scim_id })),
            );
        }
        if activity == Some(true) {
            changed.insert("active".into(), true.into());
        }
        if !changed.is_empty() || !resource_same {
            changed.insert("scim_id".into(), scim_id.into());
            events.push(
                AuditEvent::new(actor, AuditAction::ScimUserUpdated, target)
                    .with_detail(Value::Object(changed)),
            );
        }
        audit::append(&mut tx, now, &events).await?;
        tx.commit().await?;
        self.find_scim_user(scim_id).await
    }

    /// Deletes a provisioned user (after `update_user` deactivated them): they leave their
    /// groups and disappear from SCIM, but the account stays, disabled, so the provider's login
    /// is still refused and build history keeps its author. `None` when there is no such user.
    pub async fn delete_scim_user(
        &self,
        actor: &Actor,
        scim_id: &str,
        roles: &RoleMap,
        now: i64,
    ) -> Result<Option<UserId>> {
        let mut tx = self.begin().await?;
        let found: Option<(i64, String)> = on!(&mut tx, c => sqlx::query_as(
            "UPDATE scim_users SET deleted = 1, updated = $2 WHERE scim_id = $1 AND deleted = 0 \
             RETURNING user_id, (SELECT login FROM users WHERE id = user_id)")
            .bind(scim_id)
            .bind(now)
            .fetch_optional(&mut **c)
            .await
            .map_err(db)?);
        let Some((user, login)) = found else {
            tx.rollback().await?;
            return Ok(None);
        };
        // The account no longer answers to the provider's identity: a later login finds the
        // deleted SCIM user (and is refused), or a re-provisioned one with a fresh account.
        on!(&mut tx, c => sqlx::query("UPDATE users SET iss = NULL, sub = NULL WHERE id = $1")
            .bind(user)
            .execute(&mut **c)
            .await
            .map_err(db)?
            .rows_affected());
        on!(&mut tx, c => sqlx::query("DELETE FROM scim_members WHERE user_id = $1")
            .bind(user)
            .execute(&mut **c)
            .await
            .map_err(db)?
            .rows_affected());
        let mut events = vec![
            AuditEvent::new(
                actor,
                AuditAction::ScimUserDeactivated,
                format!("user:{login}"),
            )
            .with_detail(serde_json::json!({ "scim_id": scim_id, "deleted": true })),
        ];
        events.extend(sync_groups(&mut tx, actor, user, roles, now).await?);
        audit::append(&mut tx, now, &events).await?;
        tx.commit().await?;
        Ok(Some(UserId(user)))
    }
}
