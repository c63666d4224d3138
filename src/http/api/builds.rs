//! `/api/repos/{owner}/{name}/builds`: list, show, start by hand, cancel, restart, promote,
//! roll back; approving and declining blocked builds is in `approvals.rs`.

use crate::auth::policy::{Action, RepoRef};
use crate::auth::principal::Principal;
use crate::domain::{Build, Event};
use crate::error::{Error, Result};
use crate::http::State;
use crate::http::auth::{repo_for, require};
use crate::http::extract::{Path, Query};
use crate::trigger::Deployment;
use axum::extract::State as AppState;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Deserialize)]
pub struct Paging {
    page: Option<i64>,
    per_page: Option<i64>,
    branch: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Latest {
    branch: Option<String>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
}

pub async fn list(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name)): Path<(String, String)>,
    Query(q): Query<Paging>,
) -> Result<axum::Json<Vec<Build>>> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::RepoRead, None).await?;
    let per_page = q.per_page.unwrap_or(25).clamp(1, 100);
    let page = q.page.unwrap_or(1).max(1);
    let builds = app
        .store
        .list_builds(repo.id, q.branch.as_deref(), page, per_page)
        .await?;
    Ok(axum::Json(builds))
}

pub async fn latest(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name)): Path<(String, String)>,
    Query(q): Query<Latest>,
) -> Result<axum::Json<Build>> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::RepoRead, None).await?;
    app.store
        .latest_build(repo.id, q.branch.as_deref(), q.git_ref.as_deref())
        .await?
        .map(axum::Json)
        .ok_or_else(|| Error::not_found("no build matches"))
}

pub async fn show(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name, number)): Path<(String, String, i64)>,
) -> Result<axum::Json<Build>> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::RepoRead, None).await?;
    app.store
        .find_build(repo.id, number)
        .await?
        .map(axum::Json)
        .ok_or_else(|| Error::not_found(format!("build {number} not found")))
}

/// Query parameters that `POST .../builds` reads itself; the others become build parameters.
const OWN_PARAMS: &[&str] = &["branch", "commit", "access_token"];

/// Names a build parameter may not take: they would change how the step's shell or the
/// runner's own variables behave.
fn check_param(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    let upper = name.to_ascii_uppercase();
    let reserved = [
        "PATH", "HOME", "SHELL", "ENV", "BASH_ENV", "IFS", "PS4", "CDPATH",
    ]
    .contains(&upper.as_str())
        || ["LD_", "DYLD_", "DRONE_", "CI_", "GIT_", "HANGAR_"]
            .iter()
            .any(|p| upper.starts_with(p))
        || upper == "CI"
        || upper == "DRONE";
    if !valid {
        return Err(Error::invalid(format!(
            "build parameter {name:?} must be a name of letters, digits and _"
        )));
    }
    if reserved {
        return Err(Error::invalid(format!(
            "build parameter {name:?} is reserved and cannot be set"
        )));
    }
    Ok(())
}

pub async fn create(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Build>> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::BuildTrigger, None).await?;
    let branch = q
        .get("branch")
        .cloned()
        .unwrap_or_else(|| repo.default_branch.clone());
    if branch.is_empty() || branch.starts_with('-') || branch.contains("..") {
        return Err(Error::invalid(format!(
            "{branch:?} is not a valid branch name"
        )));
    }
    let commit = q.get("commit").filter(|c| !c.is_empty());
    if let Some(c) = commit
        && !(c.len() >= 4 && c.len() <= 64 && c.chars().all(|ch| ch.is_ascii_hexdigit()))
    {
        return Err(Error::invalid("commit must be a hexadecimal commit id"));
    }
    let mut params = BTreeMap::new();
    for (k, v) in &q {
        if OWN_PARAMS.contains(&k.as_str()) {
            continue;
        }
        check_param(k)?;
        params.insert(k.clone(), v.clone());
    }
    let starter = app.trigger.starter(&app.authz, &principal, &repo).await?;
    let build = app
        .trigger
        .manual(&repo, &branch, commit.map(String::as_str), params, &starter)
        .await?;
    Ok(axum::Json(build))
}

pub async fn cancel(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name, number)): Path<(String, String, i64)>,
) -> Result<axum::Json<Build>> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::BuildCancel, None).await?;
    let build = app
        .store
        .find_build(repo.id, number)
        .await?
        .ok_or_else(|| Error::not_found(format!("build {number} not found")))?;
    app.scheduler
        .cancel(&build, &repo.slug, &principal.actor())
        .await?
        .ok_or_else(|| {
            Error::conflict(format!(
                "build {number} has already finished ({})",
                build.status
            ))
        })?;
    let build = app
        .store
        .find_build(repo.id, number)
        .await?
        .ok_or_else(|| Error::not_found(format!("build {number} not found")))?;
    Ok(axum::Json(build))
}

pub async fn restart(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name, number)): Path<(String, String, i64)>,
) -> Result<axum::Json<Build>> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::BuildRestart, None).await?;
    let old = app
        .store
        .find_build(repo.id, number)
        .await?
        .ok_or_else(|| Error::not_found(format!("build {number} not found")))?;
    if matches!(old.event, Event::Promote | Event::Rollback) {
        if old.deploy_to.is_empty() {
            return Err(Error::invalid("this build cannot be restarted"));
        }
        // Restarting a deployment deploys again: the caller must be allowed to promote there.
        require(
            &app,
            &principal,
            Action::BuildPromote,
            Some(RepoRef::from(&repo)),
            Some(&old.deploy_to),
        )
        .await?;
    }
    let starter = app.trigger.starter(&app.authz, &principal, &repo).await?;
    let build = app.trigger.restart(&repo, &old, &starter).await?;
    Ok(axum::Json(build))
}

/// Query parameters of `POST .../builds/{number}/promote`: `target`, the rest are parameters.
fn promote_params(q: &HashMap<String, String>) -> Result<(String, BTreeMap<String, String>)> {
    let target = q
        .get("target")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::invalid("promote needs a target: ?target=production"))?;
    if target.len() > 100
        || !target
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Error::invalid(format!(
            "target {target:?} may hold only letters, digits, '-', '_' and '.'"
        )));
    }
    let mut params = BTreeMap::new();
    for (k, v) in q {
        if k == "target" || k == "access_token" {
            continue;
        }
        check_param(k)?;
        params.insert(k.clone(), v.clone());
    }
    Ok((target.clone(), params))
}

/// Deploys build `number` to `?target=`, as a new `promote` build whose parent it is.
pub async fn promote(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name, number)): Path<(String, String, i64)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Build>> {
    deploy(app, principal, (owner, name, number), q, Event::Promote).await
}

/// Deploys build `number` to `?target=` again, as a new `rollback` build whose parent it is.
/// The policy decides it as a promotion to that target.
pub async fn rollback(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name, number)): Path<(String, String, i64)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Build>> {
    deploy(app, principal, (owner, name, number), q, Event::Rollback).await
}

async fn deploy(
    app: State,
    principal: Principal,
    (owner, name, number): (String, String, i64),
    q: HashMap<String, String>,
    event: Event,
) -> Result<axum::Json<Build>> {
    let (target, params) = promote_params(&q)?;
    let repo = repo_for(
        &app,
        &principal,
        &owner,
        &name,
        Action::BuildPromote,
        Some(&target),
    )
    .await?;
    let old = app
        .store
        .find_build(repo.id, number)
        .await?
        .ok_or_else(|| Error::not_found(format!("build {number} not found")))?;
    let starter = app.trigger.starter(&app.authz, &principal, &repo).await?;
    let deployment = Deployment {
        event,
        target: &target,
    };
    let build = app
        .trigger
        .promote(&repo, &old, deployment, params, &starter)
        .await?;
    Ok(axum::Json(build))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_parameters_may_not_change_the_shell_or_drone_variables() {
        assert!(check_param("VERSION").is_ok());
        assert!(check_param("deploy_region").is_ok());
        for bad in [
            "PATH",
            "LD_PRELOAD",
            "DRONE_BRANCH",
            "BASH_ENV",
            "1X",
            "A-B",
            "",
        ] {
            assert!(check_param(bad).is_err(), "{bad}");
        }
    }
}

/// `?before=N` of Drone's purge.
#[derive(Debug, Deserialize)]
pub struct Purge {
    before: Option<String>,
}

/// Builds deleted per transaction by the purge.
const PURGE_BATCH: u32 = 200;

/// `DELETE /api/repos/{owner}/{name}/builds?before=N` (Drone's purge, `repo.admin`): deletes
/// the finished builds numbered below N with their stages, steps and logs, a batch per
/// transaction; unfinished builds stay. Answers `{"deleted": count}`.
pub async fn purge(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name)): Path<(String, String)>,
    Query(q): Query<Purge>,
) -> Result<axum::Json<serde_json::Value>> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::RepoAdmin, None).await?;
    let before = q
        .before
        .as_deref()
        .ok_or_else(|| Error::Malformed("before (a build number) is required: ?before=N".into()))?;
    let before: i64 = before
        .trim()
        .parse()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            Error::Malformed(format!(
                "before must be a build number of 1 or more, not {before:?}"
            ))
        })?;
    let actor = principal.actor();
    let mut deleted = 0;
    loop {
        let n = app
            .store
            .purge_builds_before(
                repo.id,
                &repo.slug,
                before,
                PURGE_BATCH,
                &actor,
                app.clock.now_ms(),
            )
            .await?;
        deleted += n;
        if n < u64::from(PURGE_BATCH) {
            break;
        }
    }
    Ok(axum::Json(serde_json::json!({ "deleted": deleted })))
}
