//! `/{owner}/{name}/settings`: for those allowed `repo.admin`, the repository's timeout, trust,
//! protection, verified commits and ID tokens for untrusted builds, its secrets by name (added,
//! replaced, deleted; a value is never shown), its cron jobs (added, disabled or enabled, run
//! now, deleted), and the webhook to set up at the forge. Changes go to the JSON API.

use super::view::{self, Chrome};
use super::{Result, Viewer, page};
use crate::auth::policy::{Action, RepoRef};
use crate::http::State;
use crate::http::auth::repo_for;
use crate::store::SecretScope;
use askama::Template;
use axum::extract::{Path, State as AppState};
use axum::response::Response;

pub struct CronRow {
    pub name: String,
    pub expr: String,
    pub zone: String,
    pub branch: String,
    pub target: String,
    pub next: String,
    pub disabled: bool,
    pub owner: String,
    pub error: String,
}

pub struct SecretRow {
    pub name: String,
    pub pull_request: bool,
    pub branches: String,
    pub updated: String,
}

#[derive(Template)]
#[template(path = "web/settings.html")]
pub struct Settings {
    pub chrome: Chrome,
    pub slug: String,
    pub timeout: i64,
    pub trusted: bool,
    pub protected: bool,
    pub verify_commits: bool,
    pub untrusted_id_tokens: bool,
    pub trigger_policy: &'static str,
    pub hook_url: String,
    pub hook_secret: String,
    /// `None`: the viewer may not list secrets.
    pub secrets: Option<Vec<SecretRow>>,
    pub secret_write: bool,
    pub crons: Vec<CronRow>,
    pub cron_write: bool,
}

/// `GET /{owner}/{name}/settings`.
pub async fn show(
    AppState(app): AppState<State>,
    viewer: Viewer,
    Path((owner, name)): Path<(String, String)>,
) -> Result<Response> {
    let repo = repo_for(
        &app,
        &viewer.principal,
        &owner,
        &name,
        Action::RepoAdmin,
        None,
    )
    .await?;
    let allowed = app
        .authz
        .decide_many(
            &viewer.principal,
            &[RepoRef::from(&repo)],
            &[Action::SecretList, Action::SecretWrite, Action::CronWrite],
        )
        .pop()
        .unwrap_or_default();
    let now = app.clock.now_ms();
    let secrets = if allowed.contains(Action::SecretList) {
        let scope = SecretScope {
            namespace: &repo.namespace,
            repo: repo.id,
            label: &repo.slug,
        };
        let list = app.store.list_secrets(&scope).await?;
        Some(
            list.into_iter()
                .map(|s| SecretRow {
                    name: s.name,
                    pull_request: s.pull_request,
                    branches: s.branches.join(", "),
                    updated: view::ago(now, s.updated),
                })
                .collect(),
        )
    } else {
        None
    };
    let crons = app
        .store
        .list_crons(repo.id)
        .await?
        .into_iter()
        .map(|c| CronRow {
            next: if c.disabled {
                "not while disabled".into()
            } else {
                view::date(c.next)
            },
            name: c.name,
            expr: c.expr,
            zone: c.zone,
            branch: c.branch,
            target: c.target,
            disabled: c.disabled,
            owner: c.owner,
            error: c.error,
        })
        .collect();
    let server_admin = app
        .authz
        .decide(&viewer.principal, Action::UserManage, None, None)
        .allowed;
    let template = Settings {
        chrome: Chrome::new(format!("{} settings", repo.slug), &viewer, server_admin),
        slug: repo.slug.clone(),
        timeout: repo.timeout,
        trusted: repo.trusted,
        protected: repo.protected,
        verify_commits: repo.verify_commits,
        untrusted_id_tokens: repo.untrusted_id_tokens,
        trigger_policy: repo.trigger_policy.as_str(),
        hook_url: format!("{}/hook", app.config.server_url.trim_end_matches('/')),
        hook_secret: repo.webhook_secret.0.clone(),
        secrets,
        secret_write: allowed.contains(Action::SecretWrite),
        crons,
        cron_write: allowed.contains(Action::CronWrite),
    };
    page(&template)
}
