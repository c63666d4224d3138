//! The caller's own API tokens: `POST/GET /api/user/tokens`, `DELETE /api/user/tokens/{id}`,
//! and Drone's `POST /api/user/token`. A token's secret is in the answer that makes it, and never
//! again.

use crate::auth::{Issued, TokenRequest};
use crate::domain::{Token, TokenId, User};
use crate::error::{Error, Result};
use crate::http::State;
use crate::http::auth::Caller;
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

/// Tokens made with a token must not outgrow it: only a caller without scopes (a full token or,
/// later, a browser session) makes new ones.
pub fn may_make_tokens(caller: &Caller) -> Result<()> {
    if caller.0.scopes.is_some() {
        return Err(Error::Forbidden(
            "a token with scopes cannot make tokens; use a token without scopes".into(),
        ));
    }
    Ok(())
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
    caller: Caller,
    Json(body): Json<Create>,
) -> Result<axum::Json<Value>> {
    may_make_tokens(&caller)?;
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
        .issue_token(&caller.0.actor(), &caller.0.user, request)
        .await?;
    Ok(axum::Json(issued_view(&issued)))
}

/// `GET /api/user/tokens`: the caller's tokens, newest first, without their secrets.
pub async fn list(
    AppState(app): AppState<State>,
    caller: Caller,
) -> Result<axum::Json<Vec<Token>>> {
    Ok(axum::Json(app.store.list_tokens(caller.0.user.id).await?))
}

/// `DELETE /api/user/tokens/{id}`: revokes one of the caller's tokens (an administrator may
/// revoke anyone's). It fails on this server at once. Revoking twice is not an error.
pub async fn revoke(
    AppState(app): AppState<State>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    let id = TokenId(id);
    let token = app
        .store
        .find_token(id)
        .await?
        .filter(|t| t.user_id == caller.0.user.id || caller.0.user.admin)
        .ok_or_else(|| Error::not_found(format!("no token {id}")))?;
    app.auth.revoke_token(&caller.0.actor(), token.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Drone's `POST /api/user/token`: the caller's User object plus a new `token`. Unlike Drone's,
/// which never expires, this is a personal token with the longest allowed lifetime
/// (`token_max_expiry`) and all of the caller's rights; each call makes a new one, and
/// `?rotate=true` also revokes the ones made here before.
pub async fn drone(
    AppState(app): AppState<State>,
    caller: Caller,
    Query(q): Query<Rotate>,
) -> Result<axum::Json<Value>> {
    may_make_tokens(&caller)?;
    let request = TokenRequest {
        name: crate::auth::DRONE_TOKEN_NAME.into(),
        expires_in: None,
        scopes: None,
        replace_same_name: q.rotate,
    };
    let issued = app
        .auth
        .issue_token(&caller.0.actor(), &caller.0.user, request)
        .await?;
    Ok(axum::Json(user_with_token(&caller.0.user, &issued)))
}
