//! `/api/repos`: activate, show, change and deactivate repositories.

use crate::auth::policy::{Action, ActionSet, RepoRef};
use crate::auth::principal::Principal;
use crate::domain::{Repo, Slug, TriggerPolicy, Visibility};
use crate::error::{Error, Result};
use crate::http::State;
use crate::http::auth::{repo_for, require};
use crate::http::extract::{Json, Path, Query};
use crate::store::{NewRepo, RepoPatch};
use axum::extract::State as AppState;
use serde::Deserialize;
use serde_json::Value;

/// The body of `POST /api/repos/{owner}/{name}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Activate {
    clone_url: String,
    #[serde(default)]
    default_branch: Option<String>,
    #[serde(default)]
    config_path: Option<String>,
    #[serde(default)]
    visibility: Option<String>,
}

/// The body of `PATCH /api/repos/{owner}/{name}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Update {
    timeout: Option<i64>,
    trusted: Option<bool>,
    protected: Option<bool>,
    config_path: Option<String>,
    visibility: Option<String>,
    default_branch: Option<String>,
    clone_url: Option<String>,
    trigger_policy: Option<String>,
    verify_commits: Option<bool>,
    untrusted_id_tokens: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct Remove {
    #[serde(default)]
    remove: bool,
}

/// What the `permissions` block of the repo JSON reports.
const SHOWN: [Action; 3] = [Action::RepoRead, Action::BuildTrigger, Action::RepoAdmin];

/// The repo as the API shows it: Drone's Repo object, the caller's permissions on it (as the
/// policy decides), and for those allowed `repo.admin` the webhook secret.
pub fn view(repo: &Repo, allowed: ActionSet) -> Value {
    let mut v = serde_json::to_value(repo).unwrap_or_default();
    let admin = allowed.contains(Action::RepoAdmin);
    v["permissions"] = serde_json::json!({
        "read": allowed.contains(Action::RepoRead),
        "write": allowed.contains(Action::BuildTrigger),
        "admin": admin,
    });
    if admin {
        v["webhook_secret"] = Value::String(repo.webhook_secret.0.clone());
    }
    v
}

/// The repo JSON for one repository the caller has been allowed to see.
fn view_for(app: &State, principal: &Principal, repo: &Repo) -> Value {
    let allowed = app
        .authz
        .decide_many(principal, &[RepoRef::from(repo)], &SHOWN)
        .pop()
        .unwrap_or_default();
    view(repo, allowed)
}

fn check_clone_url(url: &str) -> Result<()> {
    let ok_scheme = ["https://", "http://", "ssh://", "git://", "file:///"]
        .iter()
        .any(|s| url.starts_with(s));
    let scp_like = !url.contains("://")
        && url
            .split_once(':')
            .is_some_and(|(host, _)| host.contains('@'));
    if url.starts_with('-')
        || url.contains(char::is_whitespace)
        || !(ok_scheme || url.starts_with('/') || scp_like)
    {
        return Err(Error::invalid(format!(
            "clone_url {url:?} must be an https://, http://, ssh://, git:// or file:/// URL (or an absolute path)"
        )));
    }
    Ok(())
}

fn check_config_path(path: &str) -> Result<()> {
    if path.is_empty()
        || path.starts_with('/')
        || path.split('/').any(|p| p == "..")
        || path.contains('\0')
    {
        return Err(Error::invalid(
            "config_path must be a relative path inside the repository, like .drone.yml",
        ));
    }
    Ok(())
}

fn check_branch(branch: &str) -> Result<()> {
    if branch.is_empty()
        || branch.starts_with('-')
        || branch.contains(char::is_whitespace)
        || branch.contains("..")
    {
        return Err(Error::invalid(format!(
            "{branch:?} is not a valid branch name"
        )));
    }
    Ok(())
}

fn visibility(v: &str) -> Result<Visibility> {
    Visibility::parse(v)
        .ok_or_else(|| Error::invalid("visibility must be public, private or internal"))
}

pub async fn activate(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name)): Path<(String, String)>,
    Json(body): Json<Activate>,
) -> Result<axum::Json<Value>> {
    let user = principal.require_user()?;
    let slug = Slug::new(&owner, &name).map_err(Error::Invalid)?;
    check_clone_url(&body.clone_url)?;
    let default_branch = body.default_branch.unwrap_or_else(|| "main".into());
    check_branch(&default_branch)?;
    let config_path = body.config_path.unwrap_or_else(|| ".drone.yml".into());
    check_config_path(&config_path)?;
    let visibility = match body.visibility.as_deref() {
        Some(v) => visibility(v)?,
        None => Visibility::Private,
    };
    // The repository does not exist yet: ask about it as it will be.
    let full = slug.to_string();
    let future = RepoRef {
        slug: &full,
        visibility,
    };
    require(&app, &principal, Action::RepoAdmin, Some(future), None).await?;
    let new = NewRepo {
        slug,
        clone_url: body.clone_url,
        default_branch,
        config_path,
        visibility,
        user_id: user.id,
        webhook_secret: crate::auth::token::mint(),
    };
    let repo = app
        .store
        .activate_repo(&new, &principal.actor(), app.clock.now_ms())
        .await?;
    Ok(axum::Json(view_for(&app, &principal, &repo)))
}

pub async fn show(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name)): Path<(String, String)>,
) -> Result<axum::Json<Value>> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::RepoRead, None).await?;
    Ok(axum::Json(view_for(&app, &principal, &repo)))
}

/// `GET /api/repos` and `GET /api/user/repos`: the active repositories the caller may read,
/// decided for the whole list in one pass.
pub async fn list(
    AppState(app): AppState<State>,
    principal: Principal,
) -> Result<axum::Json<Vec<Value>>> {
    principal.require_user()?;
    let repos = app.store.list_repos().await?;
    let readable = app.authz.readable(&principal, &repos);
    let refs: Vec<RepoRef<'_>> = readable.iter().map(|r| RepoRef::from(*r)).collect();
    let allowed = app.authz.decide_many(&principal, &refs, &SHOWN);
    Ok(axum::Json(
        readable
            .into_iter()
            .zip(allowed)
            .map(|(r, a)| view(r, a))
            .collect(),
    ))
}

pub async fn update(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name)): Path<(String, String)>,
    Json(body): Json<Update>,
) -> Result<axum::Json<Value>> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::RepoAdmin, None).await?;
    if let Some(t) = body.timeout
        && !(1..=10_080).contains(&t)
    {
        return Err(Error::invalid(
            "timeout is in minutes, from 1 to 10080 (a week)",
        ));
    }
    if let Some(p) = &body.config_path {
        check_config_path(p)?;
    }
    if let Some(b) = &body.default_branch {
        check_branch(b)?;
    }
    if let Some(u) = &body.clone_url {
        check_clone_url(u)?;
    }
    let patch = RepoPatch {
        timeout: body.timeout,
        trusted: body.trusted,
        protected: body.protected,
        config_path: body.config_path,
        visibility: body.visibility.as_deref().map(visibility).transpose()?,
        default_branch: body.default_branch,
        clone_url: body.clone_url,
        trigger_policy: body
            .trigger_policy
            .as_deref()
            .map(|p| {
                TriggerPolicy::parse(p).ok_or_else(|| {
                    Error::invalid("trigger_policy must be known_senders, any_sender or approval")
                })
            })
            .transpose()?,
        verify_commits: body.verify_commits,
        untrusted_id_tokens: body.untrusted_id_tokens,
    };
    let repo = app
        .store
        .update_repo(repo.id, &patch, &principal.actor(), app.clock.now_ms())
        .await?;
    Ok(axum::Json(view_for(&app, &principal, &repo)))
}

pub async fn deactivate(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name)): Path<(String, String)>,
    Query(q): Query<Remove>,
) -> Result<axum::Json<Value>> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::RepoAdmin, None).await?;
    let repo = app
        .store
        .deactivate_repo(repo.id, q.remove, &principal.actor(), app.clock.now_ms())
        .await?;
    let allowed = [Action::RepoRead, Action::BuildTrigger, Action::RepoAdmin]
        .into_iter()
        .collect();
    Ok(axum::Json(view(&repo, allowed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_urls_that_could_run_commands_are_refused() {
        assert!(check_clone_url("ext::sh -c touch% /tmp/x").is_err());
        assert!(check_clone_url("--upload-pack=touch").is_err());
        assert!(check_clone_url("https://git.example.com/acme/api.git").is_ok());
        assert!(check_clone_url("git@github.com:acme/api.git").is_ok());
        assert!(check_clone_url("/srv/git/api.git").is_ok());
        assert!(check_clone_url("file:///srv/git/api.git").is_ok());
    }

    #[test]
    fn a_config_path_must_stay_inside_the_repository() {
        assert!(check_config_path("../etc/passwd").is_err());
        assert!(check_config_path("/abs").is_err());
        assert!(check_config_path("ci/.drone.yml").is_ok());
    }
}
