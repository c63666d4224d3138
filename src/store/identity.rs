//! What builds act as: forge logins linked to users, the live builds' credentials (read by the
//! credential watch), approving and declining blocked builds, and a user's groups set directly.

use super::accounts::parse_groups;
use super::rows::{BUILD_COLUMNS, BuildRow, USER_COLUMNS, UserRow};
use super::{Store, Tx, audit, db};
use crate::domain::identity::CredentialState;
use crate::domain::{
    Actor, AuditAction, AuditEvent, Build, BuildId, RepoId, Status, User, UserId, Visibility,
};
use crate::error::{Error, Result};

/// A live build whose credential the watch checks.
#[derive(Debug, Clone)]
pub struct LiveCredential {
    pub build: BuildId,
    pub repo: RepoId,
    pub number: i64,
    pub slug: String,
    pub visibility: Visibility,
    /// The acting user's login, groups and admin flag, to ask the policy about `build.trigger`.
    pub user: Option<(String, Vec<String>, bool)>,
    /// Whether losing `build.trigger` ends this build.
    pub entitled: bool,
    pub state: CredentialState,
}

#[derive(sqlx::FromRow)]
struct LiveRow {
    id: i64,
    repo_id: i64,
    number: i64,
    started: i64,
    actor_entitled: bool,
    slug: String,
    visibility: String,
    timeout: i64,
    user_login: Option<String>,
    user_active: Option<bool>,
    user_admin: Option<bool>,
    user_groups: Option<String>,
    token_revoked: Option<i64>,
    token_expires: Option<i64>,
}

/// A user and their groups, in one row.
#[derive(sqlx::FromRow)]
struct UserWithGroups {
    groups: String,
    #[sqlx(flatten)]
    user: UserRow,
}

/// A forge login as stored: `github` and the login in lower case (forges compare them so).
fn forge_key(forge: &str, login: &str) -> Result<(String, String)> {
    let forge = forge.to_ascii_lowercase();
    if !matches!(forge.as_str(), "github" | "gitea") {
        return Err(Error::invalid(format!(
            "forge {forge:?} is not known: use github:LOGIN or gitea:LOGIN"
        )));
    }
    if login.is_empty()
        || login.len() > 100
        || !login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Error::invalid(format!("{login:?} is not a forge login")));
    }
    Ok((forge, login.to_ascii_lowercase()))
}

/// Links `forge:login` to `user` inside a transaction. `None` when it already was; otherwise
/// the user it was linked to before (`Some(None)`: nobody).
pub(super) async fn link_in(
    tx: &mut Tx,
    forge: &str,
    login: &str,
    user: UserId,
    now: i64,
) -> Result<Option<Option<i64>>> {
    let (forge, login) = forge_key(forge, login)?;
    let before: Option<i64> = on!(tx, t => sqlx::query_scalar(
        "SELECT user_id FROM forge_links WHERE forge = $1 AND login = $2")
        .bind(&forge)
        .bind(&login)
        .fetch_optional(&mut **t)
        .await
        .map_err(db)?);
    if before == Some(user.0) {
        return Ok(None);
    }
    on!(tx, t => sqlx::query(
        "INSERT INTO forge_links (forge, login, user_id, created) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (forge, login) DO UPDATE SET user_id = $3, created = $4")
        .bind(&forge)
        .bind(&login)
        .bind(user.0)
        .bind(now)
        .execute(&mut **t)
        .await
        .map_err(db)?
        .rows_affected());
    Ok(Some(before))
}

impl Store {
    /// Links `forge:login` to the user `user` (replacing a link to someone else), audited.
    pub async fn link_forge_login(
        &self,
        user: &str,
        forge: &str,
        login: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<User> {
        let (forge, login) = forge_key(forge, login)?;
        let mut tx = self.begin().await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE login = $1");
        let row: Option<UserRow> = on!(&mut tx, t => sqlx::query_as(&sql)
            .bind(user)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        let Some(found) = row.map(UserRow::into_user) else {
            tx.rollback().await?;
            return Err(Error::not_found(format!("no user {user}")));
        };
        let Some(before) = link_in(&mut tx, &forge, &login, found.id, now).await? else {
            tx.rollback().await?;
            return Ok(found);
        };
        let event = AuditEvent::new(
            actor,
            AuditAction::ForgeLoginLinked,
            format!("user:{}", found.login),
        )
        .with_detail(serde_json::json!({
            "forge_login": format!("{forge}:{login}"),
            "previous_user_id": before,
        }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(found)
    }

    /// The user a forge login is linked to, with their groups.
    pub async fn find_user_by_forge_login(
        &self,
        forge: &str,
        login: &str,
    ) -> Result<Option<(User, Vec<String>)>> {
        let Ok((forge, login)) = forge_key(forge, login) else {
            return Ok(None);
        };
        let sql = format!(
            "SELECT {USER_COLUMNS}, groups FROM users WHERE id = (SELECT user_id FROM \
             forge_links WHERE forge = $1 AND login = $2)"
        );
        let row: Option<UserWithGroups> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(&forge)
            .bind(&login)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        Ok(row.map(|r| (r.user.into_user(), parse_groups(&r.groups))))
    }

    /// The one user whose email, as their identity provider vouched for it at their last
    /// login, is `email`; `None` when none or several have it.
    pub async fn find_user_by_verified_email(
        &self,
        email: &str,
    ) -> Result<Option<(User, Vec<String>)>> {
        if email.is_empty() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1) AND email_verified \
             = TRUE LIMIT 2"
        );
        let rows: Vec<UserRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(email)
            .fetch_all(p)
            .await
            .map_err(db)?);
        if rows.len() != 1 {
            return Ok(None);
        }
        let Some(user) = rows.into_iter().next().map(UserRow::into_user) else {
            return Ok(None);
        };
        let groups = self.find_user_groups(user.id).await?;
        Ok(Some((user, groups)))
    }

    /// Sets a user's groups (as a provider or a directory says them), audited.
    pub async fn set_user_groups(
        &self,
        user: UserId,
        groups: &[String],
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        let text = serde_json::to_string(groups).map_err(Error::internal)?;
        let mut tx = self.begin().await?;
        let before: Option<(String, String)> = on!(&mut tx, t => sqlx::query_as(
            "UPDATE users SET groups = $2, groups_updated = $3, updated = $3 WHERE id = $1 \
             RETURNING login, groups")
            .bind(user.0)
            .bind(&text)
            .bind(now)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        let Some((login, _)) = before else {
            tx.rollback().await?;
            return Err(Error::not_found("no such user"));
        };
        let event = AuditEvent::new(
            actor,
            AuditAction::UserGroupsChanged,
            format!("user:{login}"),
        )
        .with_detail(serde_json::json!({ "groups": groups }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every unfinished build acting as someone, with what its credential hangs on, in one
    /// statement.
    pub async fn list_live_credentials(&self) -> Result<Vec<LiveCredential>> {
        let sql = "SELECT b.id, b.repo_id, b.number, b.started, b.actor_entitled, r.slug, \
                   r.visibility, r.timeout, u.login AS user_login, u.active AS user_active, \
                   u.admin AS user_admin, u.groups AS user_groups, t.revoked AS token_revoked, \
                   t.expires AS token_expires FROM builds b JOIN repos r ON r.id = b.repo_id \
                   LEFT JOIN users u ON u.id = b.actor_user_id \
                   LEFT JOIN tokens t ON t.id = b.actor_token_id \
                   WHERE b.status IN ('pending', 'running', 'blocked') AND b.actor_kind <> ''";
        let rows: Vec<LiveRow> = on!(&*self.read, p => sqlx::query_as(sql)
            .fetch_all(p)
            .await
            .map_err(db)?);
        Ok(rows
            .into_iter()
            .map(|r| LiveCredential {
                build: BuildId(r.id),
                repo: RepoId(r.repo_id),
                number: r.number,
                slug: r.slug,
                visibility: Visibility::parse(&r.visibility).unwrap_or_default(),
                user: r.user_login.map(|login| {
                    (
                        login,
                        r.user_groups
                            .as_deref()
                            .map(parse_groups)
                            .unwrap_or_default(),
                        r.user_admin.unwrap_or(false),
                    )
                }),
                entitled: r.actor_entitled,
                state: CredentialState {
                    started: r.started,
                    timeout_minutes: r.timeout,
                    user_active: r.user_active,
                    token_revoked: r.token_revoked.map(|at| at != 0),
                    token_expires: r.token_expires.unwrap_or(0),
                },
            })
            .collect())
    }

    /// Approves a blocked build: its blocked stages are queued (or wait on their
    /// dependencies) and the approver is recorded; the build keeps its own identity.
    /// `Conflict` when it is not waiting for approval.
    pub async fn approve_build(
        &self,
        build: &Build,
        slug: &str,
        stage: i64,
        approver: &Actor,
        now: i64,
    ) -> Result<Build> {
        self.decide_blocked(build, slug, stage, approver, true, now)
            .await
    }

    /// Declines a blocked build: it ends `declined`, and so do its stages.
    pub async fn decline_build(
        &self,
        build: &Build,
        slug: &str,
        stage: i64,
        decider: &Actor,
        now: i64,
    ) -> Result<Build> {
        self.decide_blocked(build, slug, stage, decider, false, now)
            .await
    }

    async fn decide_blocked(
        &self,
        build: &Build,
        slug: &str,
        stage: i64,
        who: &Actor,
        approve: bool,
        now: i64,
    ) -> Result<Build> {
        let mut tx = self.begin().await?;
        let sql = if approve {
            format!(
                "UPDATE builds SET status = 'pending', approved_by = $2, updated = $3, \
                 version = version + 1 WHERE id = $1 AND status = 'blocked' AND config_id IS NOT \
                 NULL RETURNING {BUILD_COLUMNS}"
            )
        } else {
            format!(
                "UPDATE builds SET status = 'declined', approved_by = $2, finished = $3, \
                 updated = $3, version = version + 1 WHERE id = $1 AND status = 'blocked' AND \
                 config_id IS NOT NULL RETURNING {BUILD_COLUMNS}"
            )
        };
        let row: Option<BuildRow> = on!(&mut tx, t => sqlx::query_as(&sql)
            .bind(build.id.0)
            .bind(&who.name)
            .bind(now)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(Error::conflict(format!(
                "build {} is not waiting for approval ({})",
                build.number, build.status
            )));
        };
        let updated = row.into_build()?;
        let found: Option<String> = on!(&mut tx, t => sqlx::query_scalar(
            "SELECT status FROM stages WHERE build_id = $1 AND number = $2")
            .bind(build.id.0)
            .bind(stage)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        if found.as_deref() != Some(Status::Blocked.as_str()) {
            tx.rollback().await?;
            return Err(Error::not_found(format!(
                "build {} has no blocked stage {stage}",
                build.number
            )));
        }
        let stages = if approve {
            "UPDATE stages SET status = CASE WHEN depends_on = '[]' THEN 'pending' ELSE \
             'waiting_on_dependencies' END, updated = $2, version = version + 1 \
             WHERE build_id = $1 AND status = 'blocked'"
        } else {
            "UPDATE stages SET status = 'declined', stopped = $2, updated = $2, \
             version = version + 1 WHERE build_id = $1 AND status = 'blocked'"
        };
        on!(&mut tx, t => sqlx::query(stages)
            .bind(build.id.0)
            .bind(now)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        let action = if approve {
            AuditAction::BuildApproved
        } else {
            AuditAction::BuildDeclined
        };
        let event = AuditEvent::new(who, action, format!("build:{slug}#{}", build.number))
            .with_detail(serde_json::json!({
                "stage": stage,
                "blocked_reason": build.blocked_reason,
                "actor": build.actor.as_ref().map(|a| a.login.as_str()),
            }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(updated)
    }
}
