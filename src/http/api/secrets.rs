//! Secrets, with Drone's paths and shapes: repository secrets under
//! `/api/repos/{owner}/{name}/secrets`, organisation secrets under `/api/secrets/{namespace}`.
//! `data` is write-only: no answer ever carries a value. Listing needs `secret.list`, changes
//! `secret.write`; an organisation's secrets are authorized as the repositories `owner/*`.

use crate::auth::policy::{Action, RepoRef};
use crate::auth::principal::Principal;
use crate::domain::secret::check_name;
use crate::domain::{RepoId, Secret, Visibility};
use crate::error::{Error, Result};
use crate::http::State;
use crate::http::auth::{repo_for, require};
use crate::http::extract::{Json, Path};
use crate::store::{NewSecret, SecretPatch, SecretScope};
use axum::extract::State as AppState;
use axum::http::StatusCode;
use serde::Deserialize;
use std::fmt;

/// Largest secret value accepted.
const MAX_VALUE: usize = 64 << 10;

/// A secret as written: every field optional for a change.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Body {
    name: Option<String>,
    data: Option<String>,
    pull_request: Option<bool>,
    pull_request_push: Option<bool>,
    branches: Option<Vec<String>>,
    targets: Option<Vec<String>>,
    // Drone clients send these; they are implied by the path.
    #[serde(default, rename = "id")]
    _id: Option<i64>,
    #[serde(default, rename = "repo_id")]
    _repo_id: Option<i64>,
    #[serde(default, rename = "namespace")]
    _namespace: Option<String>,
    #[serde(default, rename = "type")]
    _type: Option<String>,
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("name", &self.name)
            .field("data", &self.data.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Where a request's secrets live, decided (and authorized) from its path.
struct Place {
    namespace: String,
    repo: RepoId,
    label: String,
}

impl Place {
    fn scope(&self) -> SecretScope<'_> {
        SecretScope {
            namespace: &self.namespace,
            repo: self.repo,
            label: &self.label,
        }
    }
}

async fn repo_place(
    app: &State,
    principal: &Principal,
    owner: &str,
    name: &str,
    action: Action,
) -> Result<Place> {
    let repo = repo_for(app, principal, owner, name, action, None).await?;
    Ok(Place {
        namespace: repo.namespace.clone(),
        repo: repo.id,
        label: repo.slug.clone(),
    })
}

async fn org_place(
    app: &State,
    principal: &Principal,
    namespace: &str,
    action: Action,
) -> Result<Place> {
    check_namespace(namespace)?;
    let every = format!("{namespace}/*");
    let whole = RepoRef {
        slug: &every,
        visibility: Visibility::Private,
    };
    require(app, principal, action, Some(whole), None).await?;
    Ok(Place {
        namespace: namespace.to_string(),
        repo: RepoId(0),
        label: namespace.to_string(),
    })
}

fn check_namespace(namespace: &str) -> Result<()> {
    crate::domain::Slug::new(namespace, "x")
        .map(|_| ())
        .map_err(Error::invalid)
}

fn check_globs(field: &str, globs: &[String]) -> Result<()> {
    for g in globs {
        if g.is_empty() {
            return Err(Error::invalid(format!(
                "{field} may not hold an empty pattern"
            )));
        }
        crate::pipeline::check_pattern(g)
            .map_err(|e| Error::invalid(format!("{field} pattern {g:?}: {e}")))?;
    }
    Ok(())
}

fn check_value(data: &str) -> Result<()> {
    if data.is_empty() {
        return Err(Error::invalid("data (the secret's value) may not be empty"));
    }
    if data.len() > MAX_VALUE {
        return Err(Error::invalid(
            "data (the secret's value) is larger than 64 KiB",
        ));
    }
    Ok(())
}

async fn create_in(
    app: &State,
    principal: &Principal,
    place: Place,
    body: Body,
) -> Result<(StatusCode, axum::Json<Secret>)> {
    let name = body
        .name
        .ok_or_else(|| Error::invalid("name is required"))?;
    check_name(&name).map_err(Error::invalid)?;
    let data = body
        .data
        .ok_or_else(|| Error::invalid("data (the secret's value) is required"))?;
    check_value(&data)?;
    let branches = body.branches.unwrap_or_default();
    let targets = body.targets.unwrap_or_default();
    check_globs("branches", &branches)?;
    check_globs("targets", &targets)?;
    let new = NewSecret {
        namespace: place.namespace.clone(),
        repo_id: place.repo,
        name,
        sealed: app.secrets.seal(data.as_bytes()),
        key_id: app.secrets.key_id().to_string(),
        pull_request: body.pull_request.unwrap_or(false),
        pull_request_push: body.pull_request_push.unwrap_or(false),
        branches,
        targets,
    };
    let secret = app
        .store
        .create_secret(&new, &place.label, &principal.actor(), app.clock.now_ms())
        .await?;
    Ok((StatusCode::OK, axum::Json(secret)))
}

async fn update_in(
    app: &State,
    principal: &Principal,
    place: Place,
    name: &str,
    body: Body,
) -> Result<axum::Json<Secret>> {
    if let Some(n) = &body.name
        && n != name
    {
        return Err(Error::invalid(
            "a secret cannot be renamed; create a new one",
        ));
    }
    if let Some(d) = &body.data {
        check_value(d)?;
    }
    if let Some(b) = &body.branches {
        check_globs("branches", b)?;
    }
    if let Some(t) = &body.targets {
        check_globs("targets", t)?;
    }
    let patch = SecretPatch {
        sealed: body.data.map(|d| {
            (
                app.secrets.seal(d.as_bytes()),
                app.secrets.key_id().to_string(),
            )
        }),
        pull_request: body.pull_request,
        pull_request_push: body.pull_request_push,
        branches: body.branches,
        targets: body.targets,
    };
    app.store
        .update_secret(
            &place.scope(),
            name,
            &patch,
            &principal.actor(),
            app.clock.now_ms(),
        )
        .await?
        .map(axum::Json)
        .ok_or_else(|| Error::not_found(format!("secret {name} not found")))
}

async fn delete_in(
    app: &State,
    principal: &Principal,
    place: Place,
    name: &str,
) -> Result<StatusCode> {
    if app
        .store
        .delete_secret(&place.scope(), name, &principal.actor(), app.clock.now_ms())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found(format!("secret {name} not found")))
    }
}

async fn show_in(app: &State, place: Place, name: &str) -> Result<axum::Json<Secret>> {
    app.store
        .find_secret(&place.scope(), name)
        .await?
        .map(axum::Json)
        .ok_or_else(|| Error::not_found(format!("secret {name} not found")))
}

pub async fn list(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name)): Path<(String, String)>,
) -> Result<axum::Json<Vec<Secret>>> {
    let place = repo_place(&app, &principal, &owner, &name, Action::SecretList).await?;
    Ok(axum::Json(app.store.list_secrets(&place.scope()).await?))
}

pub async fn create(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name)): Path<(String, String)>,
    Json(body): Json<Body>,
) -> Result<(StatusCode, axum::Json<Secret>)> {
    let place = repo_place(&app, &principal, &owner, &name, Action::SecretWrite).await?;
    create_in(&app, &principal, place, body).await
}

pub async fn show(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name, secret)): Path<(String, String, String)>,
) -> Result<axum::Json<Secret>> {
    let place = repo_place(&app, &principal, &owner, &name, Action::SecretList).await?;
    show_in(&app, place, &secret).await
}

pub async fn update(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name, secret)): Path<(String, String, String)>,
    Json(body): Json<Body>,
) -> Result<axum::Json<Secret>> {
    let place = repo_place(&app, &principal, &owner, &name, Action::SecretWrite).await?;
    update_in(&app, &principal, place, &secret, body).await
}

pub async fn delete(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name, secret)): Path<(String, String, String)>,
) -> Result<StatusCode> {
    let place = repo_place(&app, &principal, &owner, &name, Action::SecretWrite).await?;
    delete_in(&app, &principal, place, &secret).await
}

/// `POST .../encrypt`: `{"data", "allow_pull_request"}` -> `{"data"}`, text for a `kind:
/// secret` document of this repository's `.drone.yml`.
#[derive(Deserialize)]
pub struct Plain {
    data: String,
    #[serde(default, alias = "pull_request")]
    allow_pull_request: bool,
}

impl fmt::Debug for Plain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Plain(<redacted>)")
    }
}

pub async fn encrypt(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name)): Path<(String, String)>,
    Json(body): Json<Plain>,
) -> Result<axum::Json<serde_json::Value>> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::SecretWrite, None).await?;
    check_value(&body.data)?;
    let text =
        crate::auth::encrypted::encrypt(&app.secrets, repo.id, &body.data, body.allow_pull_request);
    Ok(axum::Json(serde_json::json!({ "data": text })))
}

pub async fn org_list(
    AppState(app): AppState<State>,
    principal: Principal,
    Path(namespace): Path<String>,
) -> Result<axum::Json<Vec<Secret>>> {
    let place = org_place(&app, &principal, &namespace, Action::SecretList).await?;
    Ok(axum::Json(app.store.list_secrets(&place.scope()).await?))
}

pub async fn org_create(
    AppState(app): AppState<State>,
    principal: Principal,
    Path(namespace): Path<String>,
    Json(body): Json<Body>,
) -> Result<(StatusCode, axum::Json<Secret>)> {
    let place = org_place(&app, &principal, &namespace, Action::SecretWrite).await?;
    create_in(&app, &principal, place, body).await
}

pub async fn org_show(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((namespace, secret)): Path<(String, String)>,
) -> Result<axum::Json<Secret>> {
    let place = org_place(&app, &principal, &namespace, Action::SecretList).await?;
    show_in(&app, place, &secret).await
}

pub async fn org_update(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((namespace, secret)): Path<(String, String)>,
    Json(body): Json<Body>,
) -> Result<axum::Json<Secret>> {
    let place = org_place(&app, &principal, &namespace, Action::SecretWrite).await?;
    update_in(&app, &principal, place, &secret, body).await
}

pub async fn org_delete(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((namespace, secret)): Path<(String, String)>,
) -> Result<StatusCode> {
    let place = org_place(&app, &principal, &namespace, Action::SecretWrite).await?;
    delete_in(&app, &principal, place, &secret).await
}
