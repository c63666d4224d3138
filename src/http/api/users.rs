//! Drone's user administration: `GET/POST /api/users`, `GET/PATCH/DELETE /api/users/{login}`,
//! `POST /api/users/{login}/token/rotate`, and `GET /api/users/{login}/tokens`. Administrators
//! only. A machine user is a service account: it signs in with tokens alone.

use super::tokens::user_with_token;
use crate::auth::policy::Action;
use crate::auth::principal::Principal;
use crate::auth::{DRONE_TOKEN_NAME, TokenRequest};
use crate::domain::{Token, User};
use crate::error::{Error, Result};
use crate::http::State;
use crate::http::auth::require;
use crate::http::extract::{Json, Path};
use crate::store::{NewUser, UserPatch};
use axum::extract::State as AppState;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

/// The body of `POST /api/users`. Drone's CLI sends a whole User object; its other fields (id,
/// avatar, timestamps...) are not the caller's to set and are ignored.
#[derive(Debug, Deserialize)]
pub struct Create {
    login: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    machine: bool,
    #[serde(default)]
    admin: bool,
    /// Drone lets a caller choose a machine user's token; Hangar makes it (see below).
    #[serde(default)]
    token: Option<String>,
}

/// The body of `PATCH /api/users/{login}`. As with Drone, other fields are ignored.
#[derive(Debug, Deserialize)]
pub struct Update {
    admin: Option<bool>,
    active: Option<bool>,
    email: Option<String>,
}

async fn find(app: &State, login: &str) -> Result<User> {
    app.store
        .find_user(login)
        .await?
        .ok_or_else(|| Error::not_found(format!("no user {login}")))
}

/// `GET /api/users`: every user, by login.
pub async fn list(
    AppState(app): AppState<State>,
    principal: Principal,
) -> Result<axum::Json<Vec<User>>> {
    require(&app, &principal, Action::UserManage, None, None).await?;
    Ok(axum::Json(app.store.list_users().await?))
}

/// `POST /api/users`: creates a user. A machine user (a service account) comes back with its
/// first token (`hgr_sa_...`, the longest allowed lifetime), shown once; unlike Drone, the
/// token cannot be chosen by the caller.
pub async fn create(
    AppState(app): AppState<State>,
    principal: Principal,
    Json(body): Json<Create>,
) -> Result<axum::Json<Value>> {
    require(&app, &principal, Action::UserManage, None, None).await?;
    if body.token.as_deref().is_some_and(|t| !t.is_empty()) {
        return Err(Error::invalid(
            "token cannot be chosen: Hangar makes a machine user's token and answers it once",
        ));
    }
    let new = NewUser {
        login: body.login,
        email: body.email,
        machine: body.machine,
        admin: body.admin,
    };
    let (user, issued) = app.auth.create_user(&principal.actor(), new).await?;
    Ok(axum::Json(match issued {
        Some(issued) => user_with_token(&user, &issued),
        None => serde_json::to_value(&user).unwrap_or_default(),
    }))
}

/// `GET /api/users/{login}`.
pub async fn show(
    AppState(app): AppState<State>,
    principal: Principal,
    Path(login): Path<String>,
) -> Result<axum::Json<User>> {
    require(&app, &principal, Action::UserManage, None, None).await?;
    Ok(axum::Json(find(&app, &login).await?))
}

fn not_yourself(principal: &Principal, login: &str, what: &str) -> Result<()> {
    if principal.login() == login {
        return Err(Error::invalid(format!(
            "you cannot {what} yourself; ask another administrator"
        )));
    }
    Ok(())
}

/// `PATCH /api/users/{login}`: `{admin, active, email}`. Deactivating revokes every token of the
/// user at once; reactivating does not bring them back.
pub async fn update(
    AppState(app): AppState<State>,
    principal: Principal,
    Path(login): Path<String>,
    Json(body): Json<Update>,
) -> Result<axum::Json<User>> {
    require(&app, &principal, Action::UserManage, None, None).await?;
    if body.active == Some(false) {
        not_yourself(&principal, &login, "deactivate")?;
    }
    if body.admin == Some(false) {
        not_yourself(&principal, &login, "remove the admin flag from")?;
    }
    let patch = UserPatch {
        admin: body.admin,
        active: body.active,
        email: body.email,
    };
    app.auth
        .update_user(&principal.actor(), &login, patch)
        .await?
        .map(axum::Json)
        .ok_or_else(|| Error::not_found(format!("no user {login}")))
}

/// `DELETE /api/users/{login}`: deactivates the user and revokes their tokens. The account stays
/// (audit events and builds name it), so its login stays taken.
pub async fn delete(
    AppState(app): AppState<State>,
    principal: Principal,
    Path(login): Path<String>,
) -> Result<StatusCode> {
    require(&app, &principal, Action::UserManage, None, None).await?;
    not_yourself(&principal, &login, "delete")?;
    let patch = UserPatch {
        active: Some(false),
        ..UserPatch::default()
    };
    app.auth
        .update_user(&principal.actor(), &login, patch)
        .await?
        .ok_or_else(|| Error::not_found(format!("no user {login}")))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/users/{login}/token/rotate`: a new token for that user (the longest allowed
/// lifetime, all of their rights), answered once beside their User object; the tokens made
/// this way before are revoked.
pub async fn rotate(
    AppState(app): AppState<State>,
    principal: Principal,
    Path(login): Path<String>,
) -> Result<axum::Json<Value>> {
    require(&app, &principal, Action::TokenManage, None, None).await?;
    super::tokens::may_make_tokens(&principal)?;
    let user = find(&app, &login).await?;
    if !user.active {
        return Err(Error::conflict(format!(
            "{login} is deactivated; activate the user first"
        )));
    }
    let request = TokenRequest {
        name: DRONE_TOKEN_NAME.into(),
        expires_in: None,
        scopes: None,
        replace_same_name: true,
    };
    let issued = app
        .auth
        .issue_token(&principal.actor(), &user, request)
        .await?;
    Ok(axum::Json(user_with_token(&user, &issued)))
}

/// The body of `POST /api/users/{login}/forge_logins`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgeLogin {
    /// `github:LOGIN` or `gitea:LOGIN`.
    forge_login: String,
}

/// `POST /api/users/{login}/forge_logins`: links a forge login to the user, so webhooks that
/// forge account sends act as them (`hangar user link` does the same from the server's
/// machine).
pub async fn link_forge_login(
    AppState(app): AppState<State>,
    principal: Principal,
    Path(login): Path<String>,
    Json(body): Json<ForgeLogin>,
) -> Result<axum::Json<User>> {
    require(&app, &principal, Action::UserManage, None, None).await?;
    let (forge, forge_login) = body
        .forge_login
        .split_once(':')
        .ok_or_else(|| Error::invalid("forge_login must be github:LOGIN or gitea:LOGIN"))?;
    let user = app
        .store
        .link_forge_login(
            &login,
            forge,
            forge_login,
            &principal.actor(),
            app.clock.now_ms(),
        )
        .await?;
    Ok(axum::Json(user))
}

/// `GET /api/users/{login}/tokens`: a user's tokens, without their secrets.
pub async fn tokens(
    AppState(app): AppState<State>,
    principal: Principal,
    Path(login): Path<String>,
) -> Result<axum::Json<Vec<Token>>> {
    require(&app, &principal, Action::TokenManage, None, None).await?;
    let user = find(&app, &login).await?;
    Ok(axum::Json(app.store.list_tokens(user.id).await?))
}
