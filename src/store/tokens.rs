//! API tokens: create, list, revoke, record use, and find who a token hash belongs to. Only the
//! SHA-256 hash of a secret is ever stored, beside a short display prefix.

use super::rows::UserRow;
use super::{Store, Tx, audit, db, list};
use crate::domain::{Actor, AuditAction, AuditEvent, Token, TokenId, TokenKind, User, UserId};
use crate::error::Result;

/// Who a valid token belongs to, and what the token allows.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: User,
    pub token: TokenId,
    pub kind: TokenKind,
    /// The token's scopes; `None` = all of the owner's rights.
    pub scopes: Option<Vec<String>>,
    /// The user's groups, as their provider last said.
    pub groups: Vec<String>,
    /// When the token expires (Unix ms); 0 = never.
    pub expires: i64,
}

impl Identity {
    pub fn actor(&self) -> Actor {
        Actor::user(self.user.id, &self.user.login, Some(self.token))
    }
}

/// A token to store. The secret itself never comes here, only its hash.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub kind: TokenKind,
    pub hash: String,
    pub prefix: String,
    pub scopes: Option<Vec<String>>,
    /// Unix ms; 0 = never.
    pub expires: i64,
    /// Revoke the owner's other live tokens of the same name in the same transaction
    /// (rotation).
    pub replace_same_name: bool,
}

/// One use of a token, to be recorded as its `last_used`.
#[derive(Debug, Clone)]
pub struct TokenUse {
    pub token: TokenId,
    /// The token's owner, acting through it (for the `token.first_used` audit event).
    pub actor: Actor,
    pub at: i64,
}

const TOKEN_COLUMNS: &str =
    "id, user_id, name, kind, prefix, scopes, created, expires, last_used, revoked, created_by";

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    user_id: i64,
    name: String,
    kind: String,
    prefix: String,
    scopes: Option<String>,
    created: i64,
    expires: i64,
    last_used: i64,
    revoked: i64,
    created_by: Option<i64>,
}

fn scopes_from(text: Option<String>) -> Option<Vec<String>> {
    // A value that does not read as a list grants nothing rather than everything.
    text.map(|t| serde_json::from_str(&t).unwrap_or_default())
}

fn kind_from(text: &str) -> TokenKind {
    // Rows are written by this module only; an unknown kind would be a newer binary's and is
    // treated as the narrowest kind that exists.
    TokenKind::parse(text).unwrap_or(TokenKind::Access)
}

impl TokenRow {
    fn into_token(self) -> Token {
        Token {
            id: TokenId(self.id),
            user_id: UserId(self.user_id),
            name: self.name,
            kind: kind_from(&self.kind),
            prefix: self.prefix,
            scopes: scopes_from(self.scopes),
            created: self.created,
            expires: self.expires,
            last_used: self.last_used,
            revoked: self.revoked,
            created_by: self.created_by.map(UserId),
        }
    }
}

#[derive(sqlx::FromRow)]
struct IdentityRow {
    token_id: i64,
    token_kind: String,
    scopes: Option<String>,
    expires: i64,
    last_used: i64,
    groups: String,
    #[sqlx(flatten)]
    user: UserRow,
}

/// Writes `new` for `user` inside `tx`; returns the stored token and the audit events to append.
pub(super) async fn insert(
    tx: &mut Tx,
    actor: &Actor,
    user: &User,
    new: &NewToken,
    now: i64,
) -> Result<(Token, Vec<AuditEvent>)> {
    let mut events = Vec::new();
    if new.replace_same_name {
        let replaced: Vec<i64> = on!(tx, t => sqlx::query_scalar(
            "UPDATE tokens SET revoked = $3 WHERE user_id = $1 AND name = $2 AND revoked = 0 \
             RETURNING id")
            .bind(user.id.0)
            .bind(&new.name)
            .bind(now)
            .fetch_all(&mut **t)
            .await
            .map_err(db)?);
        for id in replaced {
            events.push(
                AuditEvent::new(actor, AuditAction::TokenRevoked, format!("token:{id}"))
                    .with_detail(serde_json::json!({
                        "user": user.login, "name": new.name, "reason": "rotated",
                    })),
            );
        }
    }
    let scopes = new
        .scopes
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(crate::error::Error::internal)?;
    let sql = format!(
        "INSERT INTO tokens (user_id, name, hash, kind, prefix, scopes, expires, created, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {TOKEN_COLUMNS}"
    );
    let row: TokenRow = on!(tx, t => sqlx::query_as(&sql)
        .bind(user.id.0)
        .bind(&new.name)
        .bind(&new.hash)
        .bind(new.kind.as_str())
        .bind(&new.prefix)
        .bind(scopes)
        .bind(new.expires)
        .bind(now)
        .bind(actor.user_id.map(|u| u.0))
        .fetch_one(&mut **t)
        .await
        .map_err(db)?);
    let token = row.into_token();
    events.push(
        AuditEvent::new(
            actor,
            AuditAction::TokenCreated,
            format!("token:{}", token.id),
        )
        .with_detail(serde_json::json!({
            "user": user.login,
            "name": token.name,
            "kind": token.kind.as_str(),
            "prefix": token.prefix,
            "scopes": token.scopes,
            "expires": token.expires,
        })),
    );
    Ok((token, events))
}

/// Revokes every live token of `user` inside `tx`; returns their ids and audit events.
pub(super) async fn revoke_all(
    tx: &mut Tx,
    actor: &Actor,
    user: &User,
    reason: &str,
    now: i64,
) -> Result<(Vec<TokenId>, Vec<AuditEvent>)> {
    let ids: Vec<i64> = on!(tx, t => sqlx::query_scalar(
        "UPDATE tokens SET revoked = $2 WHERE user_id = $1 AND revoked = 0 RETURNING id")
        .bind(user.id.0)
        .bind(now)
        .fetch_all(&mut **t)
        .await
        .map_err(db)?);
    let events = ids
        .iter()
        .map(|id| {
            AuditEvent::new(actor, AuditAction::TokenRevoked, format!("token:{id}"))
                .with_detail(serde_json::json!({ "user": user.login, "reason": reason }))
        })
        .collect();
    Ok((ids.into_iter().map(TokenId).collect(), events))
}

impl Store {
    /// Stores a new token for `user`, with its `token.created` event.
    pub async fn create_token(
        &self,
        actor: &Actor,
        user: &User,
        new: &NewToken,
        now: i64,
    ) -> Result<Token> {
        let mut tx = self.begin().await?;
        let (token, events) = insert(&mut tx, actor, user, new, now).await?;
        audit::append(&mut tx, now, &events).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// A user's tokens, newest first, revoked and expired ones included.
    pub async fn list_tokens(&self, user: UserId) -> Result<Vec<Token>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE user_id = $1 ORDER BY id DESC");
        let rows: Vec<TokenRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(user.0)
            .fetch_all(p)
            .await
            .map_err(db)?);
        Ok(rows.into_iter().map(TokenRow::into_token).collect())
    }

    /// Every live API token of every user, oldest first (the administrators' view of token
    /// sprawl).
    pub async fn list_live_tokens(&self, now: i64) -> Result<Vec<Token>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE revoked = 0 AND (expires = 0 OR expires > $1) \
             ORDER BY created"
        );
        let rows: Vec<TokenRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(now)
            .fetch_all(p)
            .await
            .map_err(db)?);
        Ok(rows.into_iter().map(TokenRow::into_token).collect())
    }

    /// A token by id.
    pub async fn find_token(&self, id: TokenId) -> Result<Option<Token>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1");
        let row: Option<TokenRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(id.0)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        Ok(row.map(TokenRow::into_token))
    }

    /// Revokes a token; `false` when it was already revoked (nothing written).
    pub async fn revoke_token(&self, actor: &Actor, id: TokenId, now: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let row: Option<(i64, String)> = on!(&mut tx, t => sqlx::query_as(
            "UPDATE tokens SET revoked = $2 WHERE id = $1 AND revoked = 0 RETURNING user_id, name")
            .bind(id.0)
            .bind(now)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        let Some((user_id, name)) = row else {
            tx.rollback().await?;
            return Ok(false);
        };
        let event = AuditEvent::new(actor, AuditAction::TokenRevoked, format!("token:{id}"))
            .with_detail(serde_json::json!({ "user_id": user_id, "name": name }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The identity behind a token hash, if the token is live and its user active.
    pub async fn find_identity(&self, hash: &str, now: i64) -> Result<Option<Identity>> {
        Ok(self.find_token_use(hash, now).await?.map(|(i, _)| i))
    }

    /// The identity behind a token hash and when the token was last used, in one statement.
    pub async fn find_token_use(&self, hash: &str, now: i64) -> Result<Option<(Identity, i64)>> {
        let sql = "SELECT t.id AS token_id, t.kind AS token_kind, t.scopes, t.expires, \
                   t.last_used, u.groups, u.id, u.login, u.email, u.machine, u.admin, u.active, \
                   u.avatar, u.created, u.updated, u.last_login \
                   FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = $1 \
                   AND t.revoked = 0 AND (t.expires = 0 OR t.expires > $2) AND u.active = TRUE";
        let row: Option<IdentityRow> = on!(&*self.read, p => sqlx::query_as(sql)
            .bind(hash)
            .bind(now)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        Ok(row.map(|r| {
            let identity = Identity {
                user: r.user.into_user(),
                token: TokenId(r.token_id),
                kind: kind_from(&r.token_kind),
                scopes: scopes_from(r.scopes),
                groups: serde_json::from_str(&r.groups).unwrap_or_default(),
                expires: r.expires,
            };
            (identity, r.last_used)
        }))
    }

    /// Records uses of tokens in one transaction: `last_used` moves forward, and a token used
    /// for the first time gets its `token.first_used` audit event (claimed in the database, so
    /// two servers never both write it).
    pub async fn record_token_uses(&self, uses: &[TokenUse]) -> Result<()> {
        let Some(at) = uses.iter().map(|u| u.at).max() else {
            return Ok(());
        };
        let mut ids: Vec<i64> = uses.iter().map(|u| u.token.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut tx = self.begin().await?;
        let first_sql = format!(
            "UPDATE tokens SET last_used = $1 WHERE last_used = 0 AND id IN ({}) RETURNING id",
            list(ids.len(), 2)
        );
        let firsts: Vec<i64> = on!(&mut tx, t => {
            let mut q = sqlx::query_scalar(&first_sql).bind(at);
            for id in &ids {
                q = q.bind(id);
            }
            q.fetch_all(&mut **t).await.map_err(db)?
        });
        let later_sql = format!(
            "UPDATE tokens SET last_used = $1 WHERE last_used < $1 AND id IN ({})",
            list(ids.len(), 2)
        );
        on!(&mut tx, t => {
            let mut q = sqlx::query(&later_sql).bind(at);
            for id in &ids {
                q = q.bind(id);
            }
            q.execute(&mut **t).await.map_err(db)?.rows_affected()
        });
        let events: Vec<AuditEvent> = firsts
            .iter()
            .filter_map(|id| uses.iter().find(|u| u.token.0 == *id))
            .map(|u| {
                AuditEvent::new(
                    &u.actor,
                    AuditAction::TokenFirstUsed,
                    format!("token:{}", u.token),
                )
            })
            .collect();
        audit::append(&mut tx, at, &events).await?;
        tx.commit().await?;
        Ok(())
    }
}
