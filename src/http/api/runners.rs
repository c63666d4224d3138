//! Remote runners, for administrators (`user.manage` on the server): `GET /api/runners` (each
//! with its last heartbeat and running stages), `POST /api/runners` (register one: its token is
//! in the answer, once), `DELETE /api/runners/{name}` (revoke it: its leases end at once).

use crate::auth::policy::Action;
use crate::auth::principal::Principal;
use crate::auth::token;
use crate::domain::Runner;
use crate::domain::runner::{check_name, check_repo_scope, parse_labels};
use crate::error::{Error, Result};
use crate::http::State;
use crate::http::auth::require;
use crate::http::extract::{Json, Path};
use crate::store::NewRunner;
use axum::extract::State as AppState;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The body of `POST /api/runners`.
#[derive(Debug, Deserialize)]
pub struct Register {
    name: String,
    /// `key=value,key=value`.
    #[serde(default)]
    labels: String,
    /// `owner/name` of each repository the runner may run stages of, `*` standing for any run
    /// of characters within a part (`acme/*`); none: any.
    #[serde(default)]
    repos: Vec<String>,
}

/// A runner as listed: its record (with its last heartbeat, as any server saw it), its stages.
#[derive(Debug, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub runner: Runner,
    /// `owner/name#number/stage` of each stage it runs now.
    pub running: Vec<String>,
}

/// Every live remote runner with what it runs now.
pub async fn listing(app: &State) -> Result<Vec<Listed>> {
    let running = app.scheduler.remote_running().await?;
    Ok(app
        .store
        .list_runners()
        .await?
        .into_iter()
        .map(|runner| {
            let stages = running
                .iter()
                .filter(|r| r.runner == runner.id)
                .map(|r| r.stage.clone())
                .collect();
            Listed {
                runner,
                running: stages,
            }
        })
        .collect())
}

/// `GET /api/runners`.
pub async fn list(
    AppState(app): AppState<State>,
    principal: Principal,
) -> Result<axum::Json<Vec<Listed>>> {
    require(&app, &principal, Action::UserManage, None, None).await?;
    Ok(axum::Json(listing(&app).await?))
}

/// `POST /api/runners`: registers a runner and answers its token (shown only now).
pub async fn register(
    AppState(app): AppState<State>,
    principal: Principal,
    Json(body): Json<Register>,
) -> Result<(StatusCode, axum::Json<serde_json::Value>)> {
    require(&app, &principal, Action::UserManage, None, None).await?;
    check_name(&body.name).map_err(Error::Invalid)?;
    let labels: BTreeMap<String, String> =
        parse_labels(&body.labels).map_err(|e| Error::Invalid(format!("labels: {e}")))?;
    for pattern in &body.repos {
        check_repo_scope(pattern)
            .map_err(|e| Error::Invalid(format!("repos: {pattern:?}: {e}")))?;
    }
    let minted = token::mint_runner_token();
    let new = NewRunner {
        name: body.name,
        labels,
        repos: body.repos,
        hash: minted.hash,
        prefix: minted.prefix,
    };
    let runner = app
        .store
        .create_runner(&principal.actor(), &new, app.clock.now_ms())
        .await?;
    let mut answer = serde_json::to_value(&runner).unwrap_or_default();
    answer["token"] = serde_json::Value::String(minted.secret.expose().to_string());
    Ok((StatusCode::CREATED, axum::Json(answer)))
}

/// `DELETE /api/runners/{name}`: revokes the runner; its stages end `error` ("runner revoked").
pub async fn revoke(
    AppState(app): AppState<State>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<StatusCode> {
    require(&app, &principal, Action::UserManage, None, None).await?;
    match app
        .scheduler
        .revoke_runner(&principal.actor(), &name)
        .await?
    {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(Error::not_found(format!("no runner {name}"))),
    }
}
