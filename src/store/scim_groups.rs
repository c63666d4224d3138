//! SCIM groups and their members. A group's displayName is the group name `[[roles]]` grants
//! to; every change of membership (or a rename) rewrites its members' `users.groups` in the same
//! transaction, audited, so the access it grants follows at once. The callers drop the caches.

use super::logins::RoleMap;
use super::scim::{ScimPage, sync_groups};
use super::scim_filter::{Bind, where_sql};
use super::{Store, Tx, audit, db};
use crate::domain::{Actor, AuditAction, AuditEvent, UserId};
use crate::error::{Error, Result};
use crate::scim::filter::{Filter, Resource};
use crate::scim::patch::GroupOp;
use crate::scim::resource::GroupInput;

/// A SCIM group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimGroup {
    pub scim_id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    /// (SCIM id, userName) of each member; empty when not asked for.
    pub members: Vec<(String, String)>,
    pub created: i64,
    pub updated: i64,
}

/// A group after a change, and the users whose groups changed.
#[derive(Debug, Clone)]
pub struct GroupChange {
    pub group: ScimGroup,
    pub affected: Vec<UserId>,
}

type GroupRow = (i64, String, String, Option<String>, i64, i64);
const GROUP_COLUMNS: &str = "g.id, g.scim_id, g.display_name, g.external_id, g.created, g.updated";

fn group(row: GroupRow) -> ScimGroup {
    let (_, scim_id, display_name, external_id, created, updated) = row;
    ScimGroup {
        scim_id,
        display_name,
        external_id,
        members: Vec::new(),
        created,
        updated,
    }
}

/// The group SCIM knows as `scim_id`, read inside `tx`.
async fn group_by_scim_id(tx: &mut Tx, scim_id: &str) -> Result<Option<GroupRow>> {
    let sql = format!("SELECT {GROUP_COLUMNS} FROM scim_groups g WHERE g.scim_id = $1");
    Ok(on!(tx, c => sqlx::query_as(&sql)
        .bind(scim_id)
        .fetch_optional(&mut **c)
        .await
        .map_err(db)?))
}

async fn members(tx: &mut Tx, group: i64) -> Result<Vec<(String, String)>> {
    let rows: Vec<(String, String)> = on!(&mut *tx, c => sqlx::query_as(
        "SELECT su.scim_id, su.user_name FROM scim_members m \
         JOIN scim_users su ON su.user_id = m.user_id WHERE m.group_id = $1 ORDER BY su.user_id")
        .bind(group)
        .fetch_all(&mut **c)
        .await
        .map_err(db)?);
    Ok(rows)
}

async fn member_ids(tx: &mut Tx, group: i64) -> Result<Vec<i64>> {
    let ids: Vec<i64> = on!(&mut *tx, c => sqlx::query_scalar(
        "SELECT user_id FROM scim_members WHERE group_id = $1")
        .bind(group)
        .fetch_all(&mut **c)
        .await
        .map_err(db)?);
    Ok(ids)
}

/// The users behind SCIM ids; an unknown id is invalid.
async fn users_of(tx: &mut Tx, scim_ids: &[String]) -> Result<Vec<i64>> {
    let mut out = Vec::with_capacity(scim_ids.len());
    for id in scim_ids {
        let user: Option<i64> = on!(&mut *tx, c => sqlx::query_scalar(
            "SELECT user_id FROM scim_users WHERE scim_id = $1 AND deleted = 0")
            .bind(id)
            .fetch_optional(&mut **c)
            .await
            .map_err(db)?);
        match user {
            Some(u) => out.push(u),
            None => return Err(Error::invalid(format!("there is no user with id {id:?}"))),
        }
    }
    Ok(out)
}

async fn add_member(tx: &mut Tx, group: i64, user: i64) -> Result<bool> {
    let n = on!(&mut *tx, c => sqlx::query(
        "INSERT INTO scim_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(group)
        .bind(user)
        .execute(&mut **c)
        .await
        .map_err(db)?
        .rows_affected());
    Ok(n > 0)
}

async fn remove_member(tx: &mut Tx, group: i64, user: i64) -> Result<bool> {
    let n = on!(&mut *tx, c => sqlx::query(
        "DELETE FROM scim_members WHERE group_id = $1 AND user_id = $2")
        .bind(group)
        .bind(user)
        .execute(&mut **c)
        .await
        .map_err(db)?
        .rows_affected());
    Ok(n > 0)
}

async fn name_taken(tx: &mut Tx, name: &str, except: i64) -> Result<bool> {
    let found: Option<i64> = on!(&mut *tx, c => sqlx::query_scalar(
        "SELECT id FROM scim_groups WHERE display_name = $1 AND id <> $2")
        .bind(name)
        .bind(except)
        .fetch_optional(&mut **c)
        .await
        .map_err(db)?);
    Ok(found.is_some())
}

/// Rewrites the groups of `users` and collects the audit events.
async fn sync_all(
    tx: &mut Tx,
    actor: &Actor,
    users: &[i64],
    roles: &RoleMap,
    now: i64,
) -> Result<Vec<AuditEvent>> {
    let mut events = Vec::new();
    for u in users {
        events.extend(sync_groups(tx, actor, *u, roles, now).await?);
    }
    Ok(events)
}

impl Store {
    /// A group by SCIM id, with its members when `with_members`.
    pub async fn find_scim_group(
        &self,
        scim_id: &str,
        with_members: bool,
    ) -> Result<Option<ScimGroup>> {
        let mut tx = self.begin().await?;
        let Some(row) = group_by_scim_id(&mut tx, scim_id).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        let id = row.0;
        let mut g = group(row);
        if with_members {
            g.members = members(&mut tx, id).await?;
        }
        tx.rollback().await?;
        Ok(Some(g))
    }

    /// Groups matching `filter`, a page of them (0-based `start`), in the order they were made.
    pub async fn list_scim_groups(
        &self,
        filter: Option<&Filter>,
        start: i64,
        count: i64,
        with_members: bool,
    ) -> Result<ScimPage<ScimGroup>> {
        let mut binds = Vec::new();
        let cond = filter
            .map(|f| where_sql(f, Resource::Group, &mut binds))
            .unwrap_or_else(|| "TRUE".into());
        let mut tx = self.begin().await?;
        let total: i64 = on!(&mut tx, c => {
            let sql = format!("SELECT COUNT(*) FROM scim_groups g WHERE {cond}");
            let mut q = sqlx::query_scalar(&sql);
            for b in &binds {
                q = match b { Bind::Text(t) => q.bind(t.clone()), Bind::Bool(v) => q.bind(*v) };
            }
            q.fetch_one(&mut **c).await.map_err(db)?
        });
        let mut items = Vec::new();
        if count > 0 && start < total {
            let sql = format!(
                "SELECT {GROUP_COLUMNS} FROM scim_groups g WHERE {cond} ORDER BY g.id \
                 LIMIT {count} OFFSET {start}"
            );
            let rows: Vec<GroupRow> = on!(&mut tx, c => {
                let mut q = sqlx::query_as(&sql);
                for b in &binds {
                    q = match b { Bind::Text(t) => q.bind(t.clone()), Bind::Bool(v) => q.bind(*v) };
                }
                q.fetch_all(&mut **c).await.map_err(db)?
            });
            for row in rows {
                let id = row.0;
                let mut g = group(row);
                if with_members {
                    g.members = members(&mut tx, id).await?;
                }
                items.push(g);
            }
        }
        tx.rollback().await?;
        Ok(ScimPage { total, items })
    }

    /// Creates a group with its first members; a displayName in use is a conflict.
    pub async fn create_scim_group(
        &self,
        actor: &Actor,
        scim_id: &str,
        new: &GroupInput,
        roles: &RoleMap,
        now: i64,
    ) -> Result<GroupChange> {
        let (display_name, external_id, member_scim_ids) = (
            new.display_name.as_str(),
            new.external_id.as_deref(),
            &new.members,
        );
        let mut tx = self.begin().await?;
        if name_taken(&mut tx, display_name, 0).await? {
            tx.rollback().await?;
            return Err(Error::conflict(format!(
                "a group named {display_name:?} exists already"
            )));
        }
        let users = users_of(&mut tx, member_scim_ids).await?;
        let id: i64 = on!(&mut tx, c => sqlx::query_scalar(
            "INSERT INTO scim_groups (scim_id, display_name, external_id, created, updated) \
             VALUES ($1, $2, $3, $4, $4) RETURNING id")
            .bind(scim_id)
            .bind(display_name)
            .bind(external_id)
            .bind(now)
            .fetch_one(&mut **c)
            .await
            .map_err(db)?);
        for u in &users {
            add_member(&mut tx, id, *u).await?;
        }
        let mut events = vec![
            AuditEvent::new(
                actor,
                AuditAction::ScimGroupChanged,
                format!("group:{display_name}"),
            )
            .with_detail(serde_json::json!({
                "change": "created", "scim_id": scim_id, "externalId": external_id,
                "added": member_scim_ids,
            })),
        ];
        events.extend(sync_all(&mut tx, actor, &users, roles, now).await?);
        audit::append(&mut tx, now, &events).await?;
        let mut g = ScimGroup {
            scim_id: scim_id.into(),
            display_name: display_name.into(),
            external_id: external_id.map(str::to_string),
            members: Vec::new(),
            created: now,
            updated: now,
        };
        g.members = members(&mut tx, id).await?;
        tx.commit().await?;
        Ok(GroupChange {
            group: g,
            affected: users.into_iter().map(UserId).collect(),
        })
    }

    /// Applies `ops` to a group in order, in one transaction. `None` when there is no such
    /// group.
    pub async fn change_scim_group(
        &self,
        actor: &Actor,
        scim_id: &str,
        ops: &[GroupOp],
        roles: &RoleMap,
        now: i64,
    ) -> Result<Option<GroupChange>> {
        let mut tx = self.begin().await?;
        let Some(row) = group_by_scim_id(&mut tx, scim_id).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        let id = row.0;
        let mut g = group(row);
        let before_name = g.display_name.clone();
        let mut touched: Vec<i64> = Vec::new();
        let (mut added, mut removed) = (Vec::<String>::new(), Vec::<String>::new());
        let mut renamed = false;
        let mut external_changed = false;
        for op in ops {
            match op {
                GroupOp::Rename(name) if *name != g.display_name => {
                    if name_taken(&mut tx, name, id).await? {
                        tx.rollback().await?;
                        return Err(Error::conflict(format!(
                            "a group named {name:?} exists already"
                        )));
                    }
                    g.display_name = name.clone();
                    renamed = true;
                }
                GroupOp::Rename(_) => {}
                GroupOp::ExternalId(e) => {
                    external_changed |= *e != g.external_id;
                    g.external_id = e.clone();
                }
                GroupOp::AddMembers(ids) => {
                    for (sid, u) in ids.iter().zip(users_of(&mut tx, ids).await?) {
                        if add_member(&mut tx, id, u).await? {
                            touched.push(u);
                            added.push(sid.clone());
                        }
                    }
                }
                GroupOp::RemoveMembers(ids) => {
                    // Removing someone who is not a member (or unknown) changes nothing.
                    for sid in ids {
                        let user: Option<i64> = on!(&mut tx, c => sqlx::query_scalar(
                            "SELECT user_id FROM scim_users WHERE scim_id = $1")
                            .bind(sid)
                            .fetch_optional(&mut **c)
                            .await
                            .map_err(db)?);
                        if let Some(u) = user
                            && remove_member(&mut tx, id, u).await?
                        {
                            touched.push(u);
                            removed.push(sid.clone());
                        }
                    }
                }
                GroupOp::ReplaceMembers(ids) => {
                    let wanted = users_of(&mut tx, ids).await?;
                    for u in member_ids(&mut tx, id).await? {
                        if !wanted.contains(&u) && remove_member(&mut tx, id, u).await? {
                            touched.push(u);
                        }
                    }
                    for u in &wanted {
                        if add_member(&mut tx, id, *u).await? {
                            touched.push(*u);
                        }
                    }
                    added.push("(replaced)".into());
                }
            }
        }
        if renamed {
            touched.extend(member_ids(&mut tx, id).await?);
        }
        touched.sort_unstable();
        touched.dedup();
        if touched.is_empty() && !renamed && !external_changed {
            g.members = members(&mut tx, id).await?;
            tx.rollback().await?;
            return Ok(Some(GroupChange {
                group: g,
                affected: Vec::new(),
            }));
        }
        on!(&mut tx, c => sqlx::query(
            "UPDATE scim_groups SET display_name = $2, external_id = $3, updated = $4 WHERE id = $1")
            .bind(id)
            .bind(&g.display_name)
            .bind(&g.external_id)
            .bind(now)
            .execute(&mut **c)
            .await
            .map_err(db)?
            .rows_affected());
        g.updated = now;
        let mut events = vec![
            AuditEvent::new(
                actor,
                AuditAction::ScimGroupChanged,
                format!("group:{}", g.display_name),
            )
            .with_detail(serde_json::json!({
                "change": "updated", "scim_id": scim_id, "renamed_from":
                renamed.then_some(&before_name), "externalId": g.external_id,
                "added": added, "removed": removed,
            })),
        ];
        events.extend(sync_all(&mut tx, actor, &touched, roles, now).await?);
        audit::append(&mut tx, now, &events).await?;
        g.members = members(&mut tx, id).await?;
        tx.commit().await?;
        Ok(Some(GroupChange {
            group: g,
            affected: touched.into_iter().map(UserId).collect(),
        }))
    }

    /// Deletes a group; its members lose what it granted. `None` when there is no such group.
    pub async fn delete_scim_group(
        &self,
        actor: &Actor,
        scim_id: &str,
        roles: &RoleMap,
        now: i64,
    ) -> Result<Option<Vec<UserId>>> {
        let mut tx = self.begin().await?;
        let row: Option<(i64, String)> = on!(&mut tx, c => sqlx::query_as(
            "SELECT id, display_name FROM scim_groups WHERE scim_id = $1")
            .bind(scim_id)
            .fetch_optional(&mut **c)
            .await
            .map_err(db)?);
        let Some((id, name)) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let users = member_ids(&mut tx, id).await?;
        on!(&mut tx, c => sqlx::query("DELETE FROM scim_members WHERE group_id = $1")
            .bind(id)
            .execute(&mut **c)
            .await
            .map_err(db)?
            .rows_affected());
        on!(&mut tx, c => sqlx::query("DELETE FROM scim_groups WHERE id = $1")
            .bind(id)
            .execute(&mut **c)
            .await
            .map_err(db)?
            .rows_affected());
        let mut events = vec![
            AuditEvent::new(
                actor,
                AuditAction::ScimGroupChanged,
                format!("group:{name}"),
            )
            .with_detail(serde_json::json!({ "change": "deleted", "scim_id": scim_id })),
        ];
        events.extend(sync_all(&mut tx, actor, &users, roles, now).await?);
        audit::append(&mut tx, now, &events).await?;
        tx.commit().await?;
        Ok(Some(users.into_iter().map(UserId).collect()))
    }
}
