//! Browser sessions: rows keyed by the hash of an opaque random id (the cookie holds the id),
//! with the provider's refresh token and ID token sealed by the caller. Ending a session marks
//! it revoked (with a reason) and audits it; revalidation writes the groups the provider now
//! reports to the user.

use super::logins::{RoleMap, group_events};
use super::rows::{USER_COLUMNS, UserRow};
use super::{Store, Tx, audit, db};
use crate::domain::{Actor, AuditAction, AuditEvent, Outcome, SessionId, User, UserId};
use crate::error::{Error, Result};

/// A session about to be created. Tokens are already sealed.
#[derive(Clone, Default)]
pub struct NewSession {
    pub hash: String,
    pub provider: String,
    pub provider_sid: String,
    pub id_token_jti: String,
    pub auth_time: i64,
    pub refresh_token: Option<Vec<u8>>,
    pub id_token_hint: Option<Vec<u8>>,
    /// When the provider's word runs out (its ID token's expiry, when it gave no refresh
    /// token); 0 = not bounded by the provider.
    pub provider_expires: i64,
    pub csrf_token: String,
    pub absolute_expires: i64,
    pub revalidate_at: i64,
    pub user_agent: String,
    pub source_ip: String,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("provider", &self.provider)
            .field("absolute_expires", &self.absolute_expires)
            .finish_non_exhaustive()
    }
}

/// A stored session with its user, as a request sees it.
#[derive(Clone)]
pub struct SessionRecord {
    pub id: SessionId,
    pub user: User,
    pub groups: Vec<String>,
    pub provider: String,
    pub csrf_token: String,
    pub created: i64,
    pub last_seen: i64,
    pub absolute_expires: i64,
    pub provider_expires: i64,
    /// 0 while live; else when it ended.
    pub revoked: i64,
    /// The provider's session id (`sid`), the login's ID token id (`jti`) and when the person
    /// authenticated there (`auth_time`, Unix seconds), where the provider said: for joining
    /// audit entries with the provider's logs. Empty / 0 when unknown.
    pub provider_sid: String,
    pub id_token_jti: String,
    pub auth_time: i64,
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("id", &self.id)
            .field("user", &self.user.login)
            .field("provider", &self.provider)
            .field("revoked", &self.revoked)
            .finish_non_exhaustive()
    }
}

/// A session whose groups are due to be checked with its provider.
#[derive(Clone)]
pub struct DueSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub login: String,
    pub provider: String,
    /// Sealed: the provider's refresh token (OpenID) or access token (GitHub).
    pub refresh_token: Option<Vec<u8>>,
    pub failing_since: i64,
    pub provider_expires: i64,
    pub sub: String,
}

impl std::fmt::Debug for DueSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DueSession")
            .field("id", &self.id)
            .field("login", &self.login)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

/// What a successful revalidation learnt.
#[derive(Clone, Default)]
pub struct Revalidated {
    pub groups: Vec<String>,
    /// A new sealed refresh token when the provider rotated it; `None` keeps the stored one.
    pub refresh_token: Option<Vec<u8>>,
    pub provider_expires: i64,
    pub next_at: i64,
}

/// A session that ended: what logging out at the provider needs.
#[derive(Clone)]
pub struct EndedSession {
    pub provider: String,
    pub id_token_hint: Option<Vec<u8>>,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    session_id: i64,
    provider: String,
    csrf_token: String,
    session_created: i64,
    last_seen: i64,
    absolute_expires: i64,
    provider_expires: i64,
    revoked: i64,
    provider_sid: String,
    id_token_jti: String,
    auth_time: i64,
    groups: String,
    #[sqlx(flatten)]
    user: UserRow,
}

/// Inserts a session inside `tx` (used by a login's transaction).
/// Ends every live session of `user` (deactivation), with one audit event each.
pub(super) async fn end_all(
    tx: &mut Tx,
    actor: &Actor,
    user: UserId,
    reason: &str,
    now: i64,
) -> Result<Vec<AuditEvent>> {
    let ended: Vec<i64> = on!(&mut *tx, c => sqlx::query_scalar(
        "UPDATE sessions SET revoked = $2, revoked_reason = $3 WHERE user_id = $1 AND revoked = 0 \
         RETURNING id")
        .bind(user.0)
        .bind(now)
        .bind(reason)
        .fetch_all(&mut **c)
        .await
        .map_err(db)?);
    Ok(ended
        .into_iter()
        .map(|id| {
            AuditEvent::new(actor, AuditAction::SessionEnded, format!("session:{id}"))
                .with_detail(serde_json::json!({ "reason": reason }))
        })
        .collect())
}

pub(super) async fn insert_session(
    tx: &mut Tx,
    user: UserId,
    s: &NewSession,
    now: i64,
) -> Result<SessionId> {
    let id: i64 = on!(tx, c => sqlx::query_scalar(
        "INSERT INTO sessions (hash, user_id, provider, provider_sid, id_token_jti, auth_time, \
         refresh_token, id_token_hint, provider_expires, csrf_token, created, last_seen, \
         absolute_expires, revalidate_at, user_agent, source_ip) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13, $14, $15) RETURNING id")
        .bind(&s.hash)
        .bind(user.0)
        .bind(&s.provider)
        .bind(&s.provider_sid)
        .bind(&s.id_token_jti)
        .bind(s.auth_time)
        .bind(&s.refresh_token)
        .bind(&s.id_token_hint)
        .bind(s.provider_expires)
        .bind(&s.csrf_token)
        .bind(now)
        .bind(s.absolute_expires)
        .bind(s.revalidate_at)
        .bind(&s.user_agent)
        .bind(&s.source_ip)
        .fetch_one(&mut **c)
        .await
        .map_err(db)?);
    Ok(SessionId(id))
}

impl Store {
    /// The session whose id hashes to `hash`, with its user and their groups (ended ones too:
    /// the caller decides).
    pub async fn find_session(&self, hash: &str) -> Result<Option<SessionRecord>> {
        let sql = format!(
            "SELECT s.id AS session_id, s.provider, s.csrf_token, s.created AS session_created, \
             s.last_seen, s.absolute_expires, s.provider_expires, s.revoked, s.provider_sid, \
             s.id_token_jti, s.auth_time, u.groups, {} \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = $1",
            USER_COLUMNS
                .split(", ")
                .map(|c| format!("u.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let row: Option<SessionRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(hash)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        Ok(row.map(|r| SessionRecord {
            id: SessionId(r.session_id),
            groups: serde_json::from_str(&r.groups).unwrap_or_default(),
            user: r.user.into_user(),
            provider: r.provider,
            csrf_token: r.csrf_token,
            created: r.session_created,
            last_seen: r.last_seen,
            absolute_expires: r.absolute_expires,
            provider_expires: r.provider_expires,
            revoked: r.revoked,
            provider_sid: r.provider_sid,
            id_token_jti: r.id_token_jti,
            auth_time: r.auth_time,
        }))
    }

    /// Records that a session was used at `now`.
    pub async fn touch_session(&self, id: SessionId, now: i64) -> Result<()> {
        on!(&*self.write, p => sqlx::query("UPDATE sessions SET last_seen = $2 WHERE id = $1")
            .bind(id.0)
            .bind(now)
            .execute(p)
            .await
            .map_err(db)?
            .rows_affected());
        Ok(())
    }

    /// Ends a live session with `action` (`Logout` or `SessionEnded`) and `reason`; `None` if
    /// it had already ended.
    pub async fn end_session(
        &self,
        id: SessionId,
        action: AuditAction,
        reason: &str,
        now: i64,
    ) -> Result<Option<EndedSession>> {
        let mut tx = self.begin().await?;
        let row: Option<(String, Option<Vec<u8>>, i64)> = on!(&mut tx, c => sqlx::query_as(
            "UPDATE sessions SET revoked = $2, revoked_reason = $3 WHERE id = $1 AND revoked = 0 \
             RETURNING provider, id_token_hint, user_id")
            .bind(id.0)
            .bind(now)
            .bind(reason)
            .fetch_optional(&mut **c)
            .await
            .map_err(db)?);
        let Some((provider, id_token_hint, user_id)) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let login = login_of(&mut tx, user_id).await?;
        let actor = match action {
            AuditAction::Logout => Actor::user(UserId(user_id), &login, None),
            _ => Actor::system(),
        };
        let event = AuditEvent::new(&actor, action, format!("session:{}", id.0)).with_detail(
            serde_json::json!({ "user": login, "provider": provider, "reason": reason }),
        );
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(Some(EndedSession {
            provider,
            id_token_hint,
        }))
    }

    /// Live sessions whose revalidation is due at `now`, oldest first.
    pub async fn list_due_sessions(&self, now: i64, limit: i64) -> Result<Vec<DueSession>> {
        type Row = (
            i64,
            i64,
            String,
            String,
            Option<Vec<u8>>,
            i64,
            i64,
            Option<String>,
        );
        let rows: Vec<Row> = on!(&*self.read, p => sqlx::query_as(
            "SELECT s.id, s.user_id, u.login, s.provider, s.refresh_token, s.failing_since, \
             s.provider_expires, u.sub FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.revoked = 0 AND s.revalidate_at <= $1 ORDER BY s.revalidate_at LIMIT $2")
            .bind(now)
            .bind(limit)
            .fetch_all(p)
            .await
            .map_err(db)?);
        Ok(rows
            .into_iter()
            .map(
                |(
                    id,
                    user_id,
                    login,
                    provider,
                    refresh_token,
                    failing_since,
                    provider_expires,
                    sub,
                )| {
                    DueSession {
                        id: SessionId(id),
                        user_id: UserId(user_id),
                        login,
                        provider,
                        refresh_token,
                        failing_since,
                        provider_expires,
                        sub: sub.unwrap_or_default(),
                    }
                },
            )
            .collect())
    }

    /// Writes a successful revalidation: the session's next check and tokens, the user's groups
    /// (and admin flag), audited with any change of groups or roles.
    pub async fn record_revalidation(
        &self,
        session: &DueSession,
        outcome: &Revalidated,
        roles: &RoleMap,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let updated = on!(&mut tx, c => sqlx::query(
            "UPDATE sessions SET refresh_token = COALESCE($2, refresh_token), provider_expires = $3, \
             revalidate_at = $4, failing_since = 0 WHERE id = $1 AND revoked = 0")
            .bind(session.id.0)
            .bind(&outcome.refresh_token)
            .bind(outcome.provider_expires)
            .bind(outcome.next_at)
            .execute(&mut **c)
            .await
            .map_err(db)?
            .rows_affected());
        if updated == 0 {
            // Ended meanwhile (a logout raced the check): nothing to record.
            tx.rollback().await?;
            return Ok(());
        }
        let (before, managed): (String, i64) = on!(&mut tx, c => sqlx::query_as(
            "SELECT groups, (SELECT COUNT(*) FROM scim_users s WHERE s.user_id = users.id) \
             FROM users WHERE id = $1")
            .bind(session.user_id.0)
            .fetch_one(&mut **c)
            .await
            .map_err(db)?);
        let before: Vec<String> = serde_json::from_str(&before).unwrap_or_default();
        // A user provisioned over SCIM keeps the groups SCIM gives them.
        let now_groups = if managed > 0 {
            before.clone()
        } else {
            outcome.groups.clone()
        };
        let groups = serde_json::to_string(&now_groups).map_err(Error::internal)?;
        let admin = roles.is_admin(&now_groups);
        on!(&mut tx, c => sqlx::query(
            "UPDATE users SET groups = $2, groups_updated = $3, admin = $4, updated = $3 WHERE id = $1")
            .bind(session.user_id.0)
            .bind(&groups)
            .bind(now)
            .bind(admin)
            .execute(&mut **c)
            .await
            .map_err(db)?
            .rows_affected());
        let system = Actor::system();
        let mut events = vec![
            AuditEvent::new(
                &system,
                AuditAction::SessionRevalidated,
                format!("session:{}", session.id.0),
            )
            .with_detail(
                serde_json::json!({ "user": session.login, "provider": session.provider }),
            ),
        ];
        events.extend(group_events(
            &system,
            &session.login,
            &before,
            &now_groups,
            roles,
        ));
        audit::append(&mut tx, now, &events).await?;
        tx.commit().await
    }

    /// Writes a revalidation that could not reach the provider: the session stays, failing
    /// since `failing_since`, and is tried again at `next_at`.
    pub async fn record_revalidation_failure(
        &self,
        session: &DueSession,
        failing_since: i64,
        next_at: i64,
        detail: &str,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        on!(&mut tx, c => sqlx::query(
            "UPDATE sessions SET failing_since = $2, revalidate_at = $3 WHERE id = $1 AND revoked = 0")
            .bind(session.id.0)
            .bind(failing_since)
            .bind(next_at)
            .execute(&mut **c)
            .await
            .map_err(db)?
            .rows_affected());
        let event = AuditEvent::new(
            &Actor::system(),
            AuditAction::SessionRevalidated,
            format!("session:{}", session.id.0),
        )
        .with_outcome(Outcome::Failure)
        .with_detail(serde_json::json!({
            "user": session.login, "provider": session.provider,
            "reason": "provider unreachable", "detail": detail, "failing_since": failing_since,
        }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await
    }
}

async fn login_of(tx: &mut Tx, user_id: i64) -> Result<String> {
    Ok(
        on!(tx, c => sqlx::query_scalar("SELECT login FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&mut **c)
        .await
        .map_err(db)?),
    )
}
