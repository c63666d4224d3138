//! Logins: transactions in progress (state hashed, PKCE verifier sealed by the caller), the
//! account a provider vouches for (keyed on its issuer and subject, never on a name or an email),
//! and failed logins, which only write their audit event.

use super::rows::{USER_COLUMNS, UserRow};
use super::sessions::{NewSession, insert_session};
use super::{Store, Tx, audit, db};
use crate::domain::{Actor, AuditAction, AuditEvent, Outcome, SessionId, User, UserId};
use crate::error::{Error, Result};

/// A login in progress, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginTransaction {
    /// SHA-256 of the `state` sent to the provider.
    pub state_hash: String,
    /// `oidc` or `github`.
    pub provider: String,
    /// The issuer the browser was sent to; the callback must come from it.
    pub issuer: String,
    pub nonce: String,
    /// The PKCE verifier, sealed with the server's key.
    pub pkce_verifier: Vec<u8>,
    pub return_to: String,
    pub created: i64,
    pub expires: i64,
}

impl std::fmt::Debug for LoginTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginTransaction")
            .field("provider", &self.provider)
            .field("issuer", &self.issuer)
            .field("return_to", &self.return_to)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// Who a provider says logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderAccount {
    /// `oidc` or `github`.
    pub provider: String,
    /// The issuer (an OpenID issuer, or GitHub's web URL).
    pub iss: String,
    /// The subject at that issuer (GitHub: the numeric user id).
    pub sub: String,
    /// The name the account would like as its login here (used only for a new account, made
    /// unique with a suffix).
    pub login_hint: String,
    pub display_name: String,
    pub email: String,
    pub avatar: String,
    pub groups: Vec<String>,
    /// The provider vouches for `email` (`email_verified`).
    pub email_verified: bool,
    /// How a first login finds the user provisioned for it over SCIM, if at all.
    pub scim_match: Option<ScimMatch>,
}

/// How a first login finds the user a provider provisioned over SCIM (`scim_match_claim`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScimMatch {
    /// SCIM's `externalId` is this claim's value (`sub` for Okta, `oid` for Entra ID).
    ExternalId(String),
    /// SCIM's `userName`, or the user's email, is this verified email (in any case).
    Email(String),
}

/// What a successful login wrote.
#[derive(Debug, Clone)]
pub struct LoginRecorded {
    pub user: User,
    pub session: SessionId,
    /// The account was new.
    pub created: bool,
}

/// The roles groups grant (from the configuration's `[[roles]]`), for the admin flag and the
/// audit details of a change of groups. Only a grant on all repositories makes an admin.
#[derive(Debug, Clone, Default)]
pub struct RoleMap {
    /// (group, role, limited to some repositories)
    pub grants: Vec<(String, String, bool)>,
}

impl RoleMap {
    /// The roles `groups` are granted anywhere, sorted.
    pub fn roles_of(&self, groups: &[String]) -> Vec<String> {
        let mut roles: Vec<String> = self
            .grants
            .iter()
            .filter(|(g, _, _)| groups.contains(g))
            .map(|(_, r, _)| r.clone())
            .collect();
        roles.sort();
        roles.dedup();
        roles
    }

    /// Whether `groups` make an administrator of everything.
    pub fn is_admin(&self, groups: &[String]) -> bool {
        self.grants
            .iter()
            .any(|(g, r, limited)| r == "admin" && !limited && groups.contains(g))
    }
}

impl Store {
    /// Stores a login in progress, dropping transactions that have expired meanwhile.
    pub async fn create_login_transaction(&self, t: &LoginTransaction, now: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        on!(&mut tx, c => sqlx::query("DELETE FROM login_transactions WHERE expires < $1")
            .bind(now)
            .execute(&mut **c)
            .await
            .map_err(db)?
            .rows_affected());
        on!(&mut tx, c => sqlx::query(
            "INSERT INTO login_transactions (state_hash, provider, issuer, nonce, pkce_verifier, \
             return_to, created, expires) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(&t.state_hash)
            .bind(&t.provider)
            .bind(&t.issuer)
            .bind(&t.nonce)
            .bind(&t.pkce_verifier)
            .bind(&t.return_to)
            .bind(t.created)
            .bind(t.expires)
            .execute(&mut **c)
            .await
            .map_err(db)?
            .rows_affected());
        tx.commit().await
    }

    /// Removes and returns the login in progress whose state hashes to `state_hash`: a
    /// transaction can be finished once only.
    pub async fn take_login_transaction(
        &self,
        state_hash: &str,
    ) -> Result<Option<LoginTransaction>> {
        type Row = (String, String, String, String, Vec<u8>, String, i64, i64);
        let row: Option<Row> = on!(&*self.write, p => sqlx::query_as(
            "DELETE FROM login_transactions WHERE state_hash = $1 RETURNING state_hash, provider, \
             issuer, nonce, pkce_verifier, return_to, created, expires")
            .bind(state_hash)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        Ok(row.map(
            |(state_hash, provider, issuer, nonce, pkce_verifier, return_to, created, expires)| {
                LoginTransaction {
                    state_hash,
                    provider,
                    issuer,
                    nonce,
                    pkce_verifier,
                    return_to,
                    created,
                    expires,
                }
            },
        ))
    }

    /// Writes the audit event of a refused login: `reason` is a fixed word, `detail` never holds
    /// a token or a secret.
    pub async fn record_login_failure(
        &self,
        provider: &str,
        reason: &str,
        detail: &str,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let event = AuditEvent::new(
            &Actor::anonymous(),
            AuditAction::LoginFailed,
            format!("provider:{provider}"),
        )
        .with_outcome(Outcome::Failure)
        .with_detail(serde_json::json!({ "reason": reason, "detail": detail }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await
    }

    /// Finishes a login in one transaction: finds the account by issuer and subject (or creates
    /// it with a login made unique), writes its groups, ends the session this browser had (if
    /// any, `replaces` is its hash), and creates the new session. A disabled account is
    /// refused (`Forbidden`) and nothing is written.
    pub async fn complete_login(
        &self,
        account: &ProviderAccount,
        session: &NewSession,
        replaces: Option<&str>,
        roles: &RoleMap,
        now: i64,
    ) -> Result<LoginRecorded> {
        let mut tx = self.begin().await?;
        let groups = serde_json::to_string(&account.groups).map_err(Error::internal)?;
        let admin = roles.is_admin(&account.groups);
        let found: Option<(i64, bool, String, i64)> = on!(&mut tx, c => sqlx::query_as(
            "SELECT id, active, groups, (SELECT COUNT(*) FROM scim_users s WHERE s.user_id = users.id) \
             FROM users WHERE iss = $1 AND sub = $2")
            .bind(&account.iss)
            .bind(&account.sub)
            .fetch_optional(&mut **c)
            .await
            .map_err(db)?);
        let (found, linked) = match (found, &account.scim_match) {
            (Some(f), _) => (Some(f), false),
            (None, Some(m)) => {
                let f = provisioned(&mut tx, m).await?;
                let linked = f.is_some();
                (f, linked)
            }
            (None, None) => (None, false),
        };
        let mut events = Vec::new();
        let (user_id, created) = match found {
            Some((_, false, _, _)) => {
                tx.rollback().await?;
                return Err(Error::Forbidden("this account is disabled".into()));
            }
            Some((id, true, before, managed)) => {
                // A user provisioned over SCIM has the groups SCIM gives them; the provider's
                // login names the person, not their groups.
                let (groups, admin, new_groups) = if managed > 0 {
                    let keep: Vec<String> = serde_json::from_str(&before).unwrap_or_default();
                    (before.clone(), roles.is_admin(&keep), keep)
                } else {
                    (groups.clone(), admin, account.groups.clone())
                };
                if linked {
                    on!(&mut tx, c => sqlx::query("UPDATE users SET iss = $2, sub = $3 WHERE id = $1")
                        .bind(id)
                        .bind(&account.iss)
                        .bind(&account.sub)
                        .execute(&mut **c)
                        .await
                        .map_err(db)?
                        .rows_affected());
                }
                on!(&mut tx, c => sqlx::query(
                    "UPDATE users SET email = $2, display_name = $3, avatar = $4, groups = $5, \
                     groups_updated = $6, admin = $7, last_login = $6, updated = $6, \
                     email_verified = $8 WHERE id = $1")
                    .bind(id)
                    .bind(&account.email)
                    .bind(&account.display_name)
                    .bind(&account.avatar)
                    .bind(&groups)
                    .bind(now)
                    .bind(admin)
                    .bind(account.email_verified)
                    .execute(&mut **c)
                    .await
                    .map_err(db)?
                    .rows_affected());
                let before: Vec<String> = serde_json::from_str(&before).unwrap_or_default();
                let login: String = on!(&mut tx, c => sqlx::query_scalar(
                    "SELECT login FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut **c)
                    .await
                    .map_err(db)?);
                let actor = Actor::user(UserId(id), &login, None);
                events.extend(group_events(&actor, &login, &before, &new_groups, roles));
                if linked {
                    events.push(
                        AuditEvent::new(&actor, AuditAction::UserUpdated, format!("user:{login}"))
                            .with_detail(serde_json::json!({
                                "linked_to_provider": { "iss": account.iss, "sub": account.sub },
                                "provisioned": "scim",
                            })),
                    );
                }
                (id, false)
            }
            None => {
                let login = free_login(&mut tx, &account.login_hint, &account.sub).await?;
                let id: i64 = on!(&mut tx, c => sqlx::query_scalar(
                    "INSERT INTO users (login, email, admin, active, avatar, created, updated, \
                     last_login, kind, display_name, iss, sub, groups, groups_updated, \
                     email_verified) \
                     VALUES ($1, $2, $3, TRUE, $4, $5, $5, $5, 'person', $6, $7, $8, $9, $5, $10) \
                     RETURNING id")
                    .bind(&login)
                    .bind(&account.email)
                    .bind(admin)
                    .bind(&account.avatar)
                    .bind(now)
                    .bind(&account.display_name)
                    .bind(&account.iss)
                    .bind(&account.sub)
                    .bind(&groups)
                    .bind(account.email_verified)
                    .fetch_one(&mut **c)
                    .await
                    .map_err(db)?);
                events.push(
                    AuditEvent::new(
                        &Actor::user(UserId(id), &login, None),
                        AuditAction::UserCreated,
                        format!("user:{login}"),
                    )
                    .with_detail(serde_json::json!({
                        "provider": account.provider, "iss": account.iss, "sub": account.sub,
                        "groups": account.groups, "roles": roles.roles_of(&account.groups),
                    })),
                );
                (id, true)
            }
        };
        let user: UserRow = on!(&mut tx, c => sqlx::query_as(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(user_id)
            .fetch_one(&mut **c)
            .await
            .map_err(db)?);
        let user = user.into_user();
        let actor = Actor::user(user.id, &user.login, None);
        if let Some(old) = replaces {
            let ended: Option<i64> = on!(&mut tx, c => sqlx::query_scalar(
                "UPDATE sessions SET revoked = $2, revoked_reason = 'replaced by a new login' \
                 WHERE hash = $1 AND revoked = 0 RETURNING id")
                .bind(old)
                .bind(now)
                .fetch_optional(&mut **c)
                .await
                .map_err(db)?);
            if let Some(old_id) = ended {
                events.push(
                    AuditEvent::new(
                        &actor,
                        AuditAction::SessionEnded,
                        format!("session:{old_id}"),
                    )
                    .with_detail(serde_json::json!({ "reason": "replaced by a new login" })),
                );
            }
        }
        // A GitHub login links the GitHub account, so its pushes build as this user.
        if account.provider == "github"
            && let Some(previous) =
                super::identity::link_in(&mut tx, "github", &account.login_hint, user.id, now)
                    .await?
        {
            events.push(
                AuditEvent::new(
                    &actor,
                    AuditAction::ForgeLoginLinked,
                    format!("user:{}", user.login),
                )
                .with_detail(serde_json::json!({
                    "forge_login": format!("github:{}", account.login_hint.to_ascii_lowercase()),
                    "previous_user_id": previous,
                })),
            );
        }
        let session_id = insert_session(&mut tx, user.id, session, now).await?;
        events.push(
            AuditEvent::new(
                &actor,
                AuditAction::LoginSucceeded,
                format!("user:{}", user.login),
            )
            .with_detail(serde_json::json!({
                "provider": account.provider, "iss": account.iss, "sub": account.sub,
                "session": session_id.0, "new_account": created,
                "sid": session.provider_sid, "jti": session.id_token_jti,
                "auth_time": session.auth_time,
            })),
        );
        audit::append(&mut tx, now, &events).await?;
        tx.commit().await?;
        Ok(LoginRecorded {
            user,
            session: session_id,
            created,
        })
    }
}

/// The user provisioned over SCIM that `m` names and no provider login has claimed yet (a
/// deleted one too, so that its login is refused): (id, active, groups, 1).
async fn provisioned(tx: &mut Tx, m: &ScimMatch) -> Result<Option<(i64, bool, String, i64)>> {
    let (cond, value) = match m {
        ScimMatch::ExternalId(v) => ("s.external_id = $1", v.clone()),
        ScimMatch::Email(e) => (
            "(s.user_name_key = $1 OR LOWER(u.email) = $1)",
            e.to_lowercase(),
        ),
    };
    let sql = format!(
        "SELECT u.id, u.active, u.groups, 1 FROM scim_users s JOIN users u ON u.id = s.user_id \
         WHERE {cond} AND u.iss IS NULL ORDER BY s.deleted, s.user_id LIMIT 1"
    );
    let found: Option<(i64, bool, String, i64)> = on!(&mut *tx, c => sqlx::query_as(&sql)
        .bind(&value)
        .fetch_optional(&mut **c)
        .await
        .map_err(db)?);
    Ok(found)
}

/// Audit events for a change of groups (and of the roles they map to); none when equal.
pub(super) fn group_events(
    actor: &Actor,
    login: &str,
    before: &[String],
    after: &[String],
    roles: &RoleMap,
) -> Vec<AuditEvent> {
    let mut events = Vec::new();
    let (mut b, mut a) = (before.to_vec(), after.to_vec());
    b.sort();
    a.sort();
    if a == b {
        return events;
    }
    let removed: Vec<&String> = b.iter().filter(|g| !a.contains(g)).collect();
    let added: Vec<&String> = a.iter().filter(|g| !b.contains(g)).collect();
    events.push(
        AuditEvent::new(
            actor,
            AuditAction::UserGroupsChanged,
            format!("user:{login}"),
        )
        .with_detail(serde_json::json!({ "added": added, "removed": removed })),
    );
    let (rb, ra) = (roles.roles_of(&b), roles.roles_of(&a));
    if rb != ra {
        events.push(
            AuditEvent::new(actor, AuditAction::RoleChanged, format!("user:{login}"))
                .with_detail(serde_json::json!({ "before": rb, "after": ra })),
        );
    }
    events
}

/// A login nobody has yet: the hint made safe (letters, digits, `.`, `_`, `-`), then with `-2`,
/// `-3`... appended; two people with the same name at a provider get two accounts.
pub(super) async fn free_login(tx: &mut Tx, hint: &str, sub: &str) -> Result<String> {
    let mut base: String = hint
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(48)
        .collect();
    if base.is_empty() || base.starts_with(['.', '-']) {
        let digest = crate::auth::token::hash(sub);
        base = format!("user-{}", &digest[..8]);
    }
    for n in 1..=50 {
        let candidate = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let taken: Option<i64> = on!(&mut *tx, c => sqlx::query_scalar(
            "SELECT id FROM users WHERE login = $1")
            .bind(&candidate)
            .fetch_optional(&mut **c)
            .await
            .map_err(db)?);
        if taken.is_none() {
            return Ok(candidate);
        }
    }
    Ok(format!("{base}-{}", &crate::auth::token::mint()[..8]))
}
