//! A repository's clone credentials: `GET/PUT/DELETE /api/repos/{owner}/{name}/netrc`. The
//! token is write-only: answers only say whether credentials are set (and for which machine).
//! Reading needs `secret.list`, changes `secret.write`.

use crate::auth::netrc::{CloneCredentials, machine};
use crate::auth::policy::Action;
use crate::auth::principal::Principal;
use crate::config::Secret;
use crate::domain::Repo;
use crate::error::Result;
use crate::http::State;
use crate::http::auth::repo_for;
use crate::http::extract::{Json, Path};
use axum::extract::State as AppState;
use axum::http::StatusCode;
use serde::Deserialize;

/// `{"username", "password"}` (`password` is the token). `Debug` shows no token.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    username: String,
    password: Secret,
}

fn credentials(app: &State) -> CloneCredentials {
    CloneCredentials::new(app.store.clone(), app.secrets.clone())
}

async fn status(app: &State, repo: &Repo) -> Result<axum::Json<serde_json::Value>> {
    let set = credentials(app).is_set(repo).await?;
    Ok(axum::Json(serde_json::json!({
        "set": set,
        "machine": machine(repo.clone_url()),
    })))
}

pub async fn show(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name)): Path<(String, String)>,
) -> Result<axum::Json<serde_json::Value>> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::SecretList, None).await?;
    status(&app, &repo).await
}

pub async fn set(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name)): Path<(String, String)>,
    Json(body): Json<Body>,
) -> Result<axum::Json<serde_json::Value>> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::SecretWrite, None).await?;
    credentials(&app)
        .set(
            &repo,
            &body.username,
            &body.password,
            &principal.actor(),
            app.clock.now_ms(),
        )
        .await?;
    status(&app, &repo).await
}

pub async fn delete(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name)): Path<(String, String)>,
) -> Result<StatusCode> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::SecretWrite, None).await?;
    if credentials(&app)
        .delete(&repo, &principal.actor(), app.clock.now_ms())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(crate::error::Error::not_found(format!(
            "{} has no clone credentials",
            repo.slug
        )))
    }
}
