//! Cron jobs, with Drone's paths and shapes: `/api/repos/{owner}/{name}/cron` (list, create)
//! and `.../cron/{cron}` (show, change, delete; `POST` runs it now). Reading needs `repo.read`,
//! everything else `cron.write`. Whoever creates or changes a job becomes its owner, the user
//! its builds act as. A bad expression or time zone is a 400 that says what is wrong.

use crate::auth::policy::Action;
use crate::auth::principal::Principal;
use crate::domain::cron::check_name;
use crate::domain::{Build, Cron, Repo, Schedule};
use crate::error::{Error, Result};
use crate::http::State;
use crate::http::auth::repo_for;
use crate::http::extract::{Json, Path};
use crate::store::{CronPatch, NewCron};
use axum::extract::State as AppState;
use axum::http::StatusCode;
use serde::Deserialize;

/// A cron job as written: every field optional for a change.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Body {
    name: Option<String>,
    expr: Option<String>,
    zone: Option<String>,
    branch: Option<String>,
    target: Option<String>,
    disabled: Option<bool>,
    // Drone clients send these; they are the server's to set.
    #[serde(default, rename = "id")]
    _id: Option<i64>,
    #[serde(default, rename = "repo_id")]
    _repo_id: Option<i64>,
    #[serde(default, rename = "event")]
    _event: Option<String>,
    #[serde(default, rename = "next")]
    _next: Option<i64>,
    #[serde(default, rename = "prev")]
    _prev: Option<i64>,
    #[serde(default, rename = "created")]
    _created: Option<i64>,
    #[serde(default, rename = "updated")]
    _updated: Option<i64>,
}

/// The schedule `expr` in `zone`, and its first time after `now`; a 400 when either is bad.
fn schedule(expr: &str, zone: &str, now: i64) -> Result<i64> {
    let schedule = Schedule::parse(expr, zone).map_err(Error::Malformed)?;
    schedule
        .next_after(now)
        .ok_or_else(|| Error::Malformed(format!("cron expression {expr:?} never matches again")))
}

fn check_ref(field: &str, value: &str) -> Result<()> {
    let valid = value.len() <= 255
        && !value.starts_with('-')
        && !value.contains("..")
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{field} {value:?} is not a valid name"
        )))
    }
}

fn not_found(name: &str) -> Error {
    Error::not_found(format!("cron job {name} not found"))
}

pub async fn list(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name)): Path<(String, String)>,
) -> Result<axum::Json<Vec<Cron>>> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::RepoRead, None).await?;
    Ok(axum::Json(app.store.list_crons(repo.id).await?))
}

pub async fn show(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name, cron)): Path<(String, String, String)>,
) -> Result<axum::Json<Cron>> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::RepoRead, None).await?;
    app.store
        .find_cron(repo.id, &cron)
        .await?
        .map(axum::Json)
        .ok_or_else(|| not_found(&cron))
}

pub async fn create(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name)): Path<(String, String)>,
    Json(body): Json<Body>,
) -> Result<(StatusCode, axum::Json<Cron>)> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::CronWrite, None).await?;
    let user = principal.require_user()?;
    let name = body
        .name
        .ok_or_else(|| Error::invalid("name is required"))?;
    check_name(&name).map_err(Error::invalid)?;
    let expr = body
        .expr
        .ok_or_else(|| Error::Malformed("expr (the cron expression) is required".into()))?;
    let zone = body.zone.unwrap_or_else(|| "UTC".into());
    let now = app.clock.now_ms();
    let next = schedule(&expr, &zone, now)?;
    let branch = body.branch.unwrap_or_else(|| repo.default_branch.clone());
    if branch.is_empty() {
        return Err(Error::invalid("branch may not be empty"));
    }
    check_ref("branch", &branch)?;
    let target = body.target.unwrap_or_default();
    check_ref("target", &target)?;
    let new = NewCron {
        repo_id: repo.id,
        name,
        expr,
        zone,
        next,
        branch,
        target,
        disabled: body.disabled.unwrap_or(false),
        owner: user.id,
    };
    let cron = app
        .store
        .create_cron(&new, &repo.slug, &principal.actor(), now)
        .await?;
    Ok((StatusCode::OK, axum::Json(cron)))
}

pub async fn update(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name, cron)): Path<(String, String, String)>,
    Json(body): Json<Body>,
) -> Result<axum::Json<Cron>> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::CronWrite, None).await?;
    let user = principal.require_user()?;
    if let Some(n) = &body.name
        && n != &cron
    {
        return Err(Error::invalid(
            "a cron job cannot be renamed; create a new one",
        ));
    }
    let old = app
        .store
        .find_cron(repo.id, &cron)
        .await?
        .ok_or_else(|| not_found(&cron))?;
    let now = app.clock.now_ms();
    // A new schedule, or a job enabled again, counts from now: no run for slots it missed.
    let rescheduled = body.expr.is_some()
        || body.zone.is_some()
        || (old.disabled && body.disabled == Some(false));
    let next = if rescheduled {
        let expr = body.expr.as_deref().unwrap_or(&old.expr);
        let zone = body.zone.as_deref().unwrap_or(&old.zone);
        Some(schedule(expr, zone, now)?)
    } else {
        None
    };
    if let Some(b) = &body.branch {
        if b.is_empty() {
            return Err(Error::invalid("branch may not be empty"));
        }
        check_ref("branch", b)?;
    }
    if let Some(t) = &body.target {
        check_ref("target", t)?;
    }
    let patch = CronPatch {
        expr: body.expr,
        zone: body.zone,
        next,
        branch: body.branch,
        target: body.target,
        disabled: body.disabled,
        owner: user.id,
    };
    app.store
        .update_cron(
            repo.id,
            &cron,
            &patch,
            (&repo.slug, &principal.actor()),
            now,
        )
        .await?
        .map(axum::Json)
        .ok_or_else(|| not_found(&cron))
}

pub async fn delete(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name, cron)): Path<(String, String, String)>,
) -> Result<StatusCode> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::CronWrite, None).await?;
    let now = app.clock.now_ms();
    if app
        .store
        .delete_cron(repo.id, &cron, (&repo.slug, &principal.actor()), now)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&cron))
    }
}

/// `POST .../cron/{cron}`: runs the job now, as its owner (who must still be entitled), outside
/// its schedule; its next scheduled run stays.
pub async fn exec(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name, cron)): Path<(String, String, String)>,
) -> Result<axum::Json<Build>> {
    let repo: Repo = repo_for(&app, &principal, &owner, &name, Action::CronWrite, None).await?;
    let job = app
        .store
        .find_cron(repo.id, &cron)
        .await?
        .ok_or_else(|| not_found(&cron))?;
    let due = crate::cron::with_owner(&app.store, job).await?;
    let owner = crate::cron::entitled_owner(&app.authz, &repo, &due)
        .map_err(|reason| Error::conflict(format!("cron job {cron} cannot run: {reason}")))?;
    let build = app
        .trigger
        .cron_now(&repo, &due.cron, &owner, principal.actor())
        .await?;
    Ok(axum::Json(build))
}
