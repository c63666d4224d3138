//! The caller's own API tokens: `POST/GET /api/user/tokens`, `DELETE /api/user/tokens/{id}`,
//! and Drone's `POST /api/user/token`. A token's secret is in the answer that makes it, and never
//! again.

use crate::auth::policy::Action;
use crate::auth::principal::Principal;
use crate::auth::{Issued, TokenRequest};
use crate::domain::{Token, TokenId, User};
use crate::error::{Error, Result};
use crate::http::State;
use crate::http::extract::{Json, Path, Query};
use axum::extract::State as AppState;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

/// The body of `POST /api/user/tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Create {
    name: String,
    /// Seconds; required, at most `token_max_expiry`.
    expires_in: Option<i64>,
    /// Omitted: all of the owner's rights.
    scopes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
pub struct Rotate {
    #[serde(default)]
    rotate: bool,
}

/// Tokens made with a token must not outgrow it: only a caller without scopes (a full token or a
/// browser session) makes new ones.
pub fn may_make_tokens(principal: &Principal) -> Result<&User> {
    let user = principal.require_user()?;
    if principal.scopes().is_some() {
        return Err(Error::Forbidden(
            "a token with scopes cannot make tokens; use a token without scopes".into(),
        ));
    }
    Ok(user)
}

/// A new token as answered once: its record plus the secret.
pub fn issued_view(issued: &Issued) -> Value {
    let mut v = serde_json::to_value(&issued.token).unwrap_or_default();
    v["token"] = Value::String(issued.secret.expose().to_string());
    v
}

/// Drone's User object with a token beside it (`token`, and when it expires in Unix seconds).
pub fn user_with_token(user: &User, issued: &Issued) -> Value {
    let mut v = serde_json::to_value(user).unwrap_or_default();
    v["token"] = Value::String(issued.secret.expose().to_string());
    v["token_expires"] = Value::from(issued.token.expires.div_euclid(1000));
    v
}

/// `POST /api/user/tokens`: `{"name", "expires_in", "scopes"}` -> the token, shown once.
pub async fn create(
    AppState(app): AppState<State>,
    principal: Principal,
    Json(body): Json<Create>,
) -> Result<axum::Json<Value>> {
    let user = may_make_tokens(&principal)?;
    let Some(expires_in) = body.expires_in else {
        return Err(Error::invalid(format!(
            "expires_in is required: the token's lifetime in seconds, at most {}",
            app.auth.max_expiry().as_secs()
        )));
    };
    let request = TokenRequest {
        name: body.name,
        expires_in: Some(expires_in),
        scopes: body.scopes,
        replace_same_name: false,
    };
    let issued = app
        .auth
        .issue_token(&principal.actor(), user, request)
        .await?;
    Ok(axum::Json(issued_view(&issued)))
}

/// `GET /api/user/tokens`: the caller's tokens, newest first, without their secrets.
pub async fn list(
    AppState(app): AppState<State>,
    principal: Principal,
) -> Result<axum::Json<Vec<Token>>> {
    let user = principal.require_user()?;
    Ok(axum::Json(app.store.list_tokens(user.id).await?))
}

/// `DELETE /api/user/tokens/{id}`: revokes one of the caller's tokens (whoever may
/// `token.manage` may revoke anyone's). It fails on this server at once. Revoking twice is not
/// an error; someone else's token, for a caller who may not manage tokens, is "not found".
pub async fn revoke(
    AppState(app): AppState<State>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    let user = principal.require_user()?;
    let id = TokenId(id);
    let manager = app
        .authz
        .check(&principal, Action::TokenManage, None, None)
        .is_ok();
    let token = app
        .store
        .find_token(id)
        .await?
        .filter(|t| t.user_id == user.id || manager)
        .ok_or_else(|| Error::not_found(format!("no token {id}")))?;
    app.auth.revoke_token(&principal.actor(), token.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Drone's `POST /api/user/token`: the caller's User object plus a new `token`. Unlike Drone's,
/// which never expires, this is a personal token with the longest allowed lifetime
/// (`token_max_expiry`) and all of the caller's rights; each call makes a new one, and
/// `?rotate=true` also revokes the ones made here before.
pub async fn drone(
    AppState(app): AppState<State>,
    principal: Principal,
    Query(q): Query<Rotate>,
) -> Result<axum::Json<Value>> {
    let user = may_make_tokens(&principal)?;
    let request = TokenRequest {
        name: crate::auth::DRONE_TOKEN_NAME.into(),
        expires_in: None,
        scopes: None,
        replace_same_name: q.rotate,
    };
    let issued = app
        .auth
        .issue_token(&principal.actor(), user, request)
        .await?;
    Ok(axum::Json(user_with_token(user, &issued)))
}
