//! `POST /api/repos/{owner}/{name}/builds/{number}/approve/{stage}` and `/decline/{stage}`, as
//! in Drone: a blocked build runs once someone allowed `build.approve` approves it (it keeps
//! its own identity; the approver is recorded), or ends `declined`. Approving any blocked stage
//! approves the build's blocked stages together.

use crate::auth::policy::Action;
use crate::auth::principal::Principal;
use crate::domain::Build;
use crate::error::{Error, Result};
use crate::http::State;
use crate::http::auth::repo_for;
use crate::http::extract::Path;
use axum::extract::State as AppState;

async fn blocked(
    app: &State,
    principal: &Principal,
    (owner, name, number): (&str, &str, i64),
) -> Result<(crate::domain::Repo, Build)> {
    let repo = repo_for(app, principal, owner, name, Action::BuildApprove, None).await?;
    let build = app
        .store
        .find_build(repo.id, number)
        .await?
        .ok_or_else(|| Error::not_found(format!("build {number} not found")))?;
    Ok((repo, build))
}

pub async fn approve(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name, number, stage)): Path<(String, String, i64, i64)>,
) -> Result<axum::Json<Build>> {
    let (repo, build) = blocked(&app, &principal, (&owner, &name, number)).await?;
    app.store
        .approve_build(
            &build,
            &repo.slug,
            stage,
            &principal.actor(),
            app.clock.now_ms(),
        )
        .await?;
    app.scheduler.wake();
    app.scheduler.announce(&repo, build.id).await;
    let build = app
        .store
        .find_build(repo.id, number)
        .await?
        .ok_or_else(|| Error::not_found(format!("build {number} not found")))?;
    Ok(axum::Json(build))
}

pub async fn decline(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name, number, stage)): Path<(String, String, i64, i64)>,
) -> Result<axum::Json<Build>> {
    let (repo, build) = blocked(&app, &principal, (&owner, &name, number)).await?;
    app.store
        .decline_build(
            &build,
            &repo.slug,
            stage,
            &principal.actor(),
            app.clock.now_ms(),
        )
        .await?;
    app.scheduler.announce(&repo, build.id).await;
    let build = app
        .store
        .find_build(repo.id, number)
        .await?
        .ok_or_else(|| Error::not_found(format!("build {number} not found")))?;
    Ok(axum::Json(build))
}
