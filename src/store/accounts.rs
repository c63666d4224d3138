//! Machine accounts with their groups, tokens for them, the groups of any user, and audit
//! events that stand alone (authorization denials, which change nothing else).

use super::rows::{USER_COLUMNS, UserRow};
use super::{Store, audit, db};
use crate::domain::{Actor, AuditAction, AuditEvent, User, UserId};
use crate::error::{Error, Result};

/// `users.groups` (a JSON list) as a list; anything else is no groups, logged.
pub(super) fn parse_groups(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "users.groups is not a JSON list of strings; treated as none");
        Vec::new()
    })
}

impl Store {
    /// The groups of a user (empty for an unknown one).
    pub async fn find_user_groups(&self, user: UserId) -> Result<Vec<String>> {
        let row: Option<String> = on!(&*self.read, p => sqlx::query_scalar(
            "SELECT groups FROM users WHERE id = $1")
            .bind(user.0)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        Ok(row.as_deref().map(parse_groups).unwrap_or_default())
    }

    /// Creates a machine account (no login of its own; it acts through tokens) in `groups`.
    /// A taken login is a conflict.
    pub async fn create_machine_user(
        &self,
        login: &str,
        groups: &[String],
        actor: &Actor,
        now: i64,
    ) -> Result<User> {
        if login.is_empty() || login.len() > 100 || login.starts_with('@') {
            return Err(Error::invalid(format!(
                "{login:?} is not a valid login (1 to 100 characters, not starting with @)"
            )));
        }
        let groups_json = serde_json::to_string(groups).map_err(Error::internal)?;
        let mut tx = self.begin().await?;
        let sql = format!(
            "INSERT INTO users (login, machine, admin, active, kind, groups, groups_updated, \
             created, updated) VALUES ($1, TRUE, FALSE, TRUE, 'machine', $2, $3, $3, $3) \
             RETURNING {USER_COLUMNS}"
        );
        let row: UserRow = on!(&mut tx, t => sqlx::query_as(&sql)
            .bind(login)
            .bind(&groups_json)
            .bind(now)
            .fetch_one(&mut **t)
            .await
            .map_err(db)?);
        let user = row.into_user();
        let event = AuditEvent::new(actor, AuditAction::UserCreated, format!("user:{login}"))
            .with_detail(serde_json::json!({ "machine": true, "groups": groups }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Appends one audit event on its own: for what changes nothing else, such as an
    /// authorization denial.
    pub async fn record_audit(&self, event: &AuditEvent, now: i64) -> Result<()> {
        self.append_audit(std::slice::from_ref(event), now).await
    }
}
