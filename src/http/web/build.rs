//! `/{owner}/{name}/{number}`: a build's stages and steps (live: `static/web/build.js` follows
//! the repository's build events), one step's log streaming over server-sent events, the
//! buttons the policy allows (each posts to the JSON API), and the build's identity card: who
//! it acts as, through which credential, until when, and why it was stopped.

use super::builds::param;
use super::view::{self, Chrome};
use super::{Result, Viewer, assets, page};
use crate::auth::policy::{Action, RepoRef};
use crate::domain::identity::token_expiry_warning;
use crate::domain::{Build, Status};
use crate::error::Error;
use crate::http::State;
use crate::http::auth::repo_for;
use askama::Template;
use axum::extract::{Path, RawQuery, State as AppState};
use axum::response::Response;

pub struct StepView {
    pub number: i64,
    pub name: String,
    pub status: String,
    pub status_class: String,
    pub duration: String,
    pub selected: bool,
}

pub struct StageView {
    pub number: i64,
    pub name: String,
    pub status: String,
    pub status_class: String,
    pub error: String,
    pub steps: Vec<StepView>,
}

/// Who the build acts as and through what.
pub struct Identity {
    pub who: String,
    pub kind: String,
    pub verified: bool,
    /// "token hgr_pat_AbCd (ci-deploy)", "browser session", "webhook"...
    pub credential: String,
    pub expires: String,
    pub approved_by: String,
    pub blocked_reason: String,
    /// Why the build was stopped (killed, errored), if it was.
    pub stopped: String,
    pub warnings: Vec<String>,
}

/// What the viewer may do to this build now.
#[derive(Default)]
pub struct Actions {
    pub cancel: bool,
    pub restart: bool,
    pub approve: bool,
    pub promote: bool,
}

#[derive(Template)]
#[template(path = "web/build.html")]
pub struct BuildPage {
    pub chrome: Chrome,
    pub script: String,
    pub slug: String,
    pub number: i64,
    pub status: String,
    pub status_class: String,
    pub done: bool,
    pub message: String,
    pub branch: String,
    pub event: String,
    pub commit: String,
    pub author: String,
    pub pusher: String,
    pub duration: String,
    pub created: String,
    pub deploy_to: String,
    pub identity: Identity,
    pub actions: Actions,
    pub blocked_stage: i64,
    pub stages: Vec<StageView>,
    /// The step whose log is shown: (stage, step, name), or none while no step exists.
    pub log: Option<(i64, i64, String)>,
}

/// The step to show: the one asked for, else the first running or failed one, else the last
/// one that started (the end of a finished build), else the first.
fn chosen(build: &Build, query: &Option<String>) -> Option<(i64, i64, String)> {
    let want = param(query, "stage")
        .and_then(|s| s.parse::<i64>().ok())
        .zip(param(query, "step").and_then(|s| s.parse::<i64>().ok()));
    let steps = || {
        build
            .stages
            .iter()
            .flat_map(|st| st.steps.iter().map(move |s| (st.number, s)))
    };
    let found = match want {
        Some((stage, step)) => steps().find(|(st, s)| *st == stage && s.number == step),
        None => steps()
            .find(|(_, s)| s.status == Status::Running)
            .or_else(|| steps().find(|(_, s)| s.status.is_failed()))
            .or_else(|| steps().rfind(|(_, s)| s.started > 0))
            .or_else(|| steps().next()),
    };
    found.map(|(st, s)| (st, s.number, s.name.clone()))
}

async fn identity(app: &State, build: &Build, timeout: i64, now: i64) -> Result<Identity> {
    let actor = build.actor.as_ref();
    let (credential, expires) = match actor {
        Some(a) if a.token_id.is_some() => {
            let token = match a.token_id {
                Some(id) => app.store.find_token(id).await?,
                None => None,
            };
            match token {
                Some(t) if t.prefix.is_empty() => {
                    (format!("API token {}", t.name), view::date(t.expires))
                }
                Some(t) => (
                    format!("API token {}… ({})", t.prefix, t.name),
                    view::date(t.expires),
                ),
                None => ("an API token".to_string(), view::date(a.token_expires)),
            }
        }
        Some(a) if a.session_id.is_some() => ("a browser session".into(), String::new()),
        Some(a) if a.verified => ("a linked forge login (webhook)".into(), String::new()),
        Some(_) => (
            "the forge's word only (webhook, unverified)".into(),
            String::new(),
        ),
        None => ("not recorded".into(), String::new()),
    };
    let mut warnings = build.warnings.clone();
    if warnings.is_empty()
        && !build.status.is_done()
        && let Some(w) = actor
            .and_then(|a| token_expiry_warning(a.token_expires, now.max(build.created), timeout))
    {
        warnings.push(w);
    }
    let stopped = if matches!(
        build.status,
        Status::Killed | Status::Error | Status::Declined
    ) {
        if build.error.is_empty() && build.status == Status::Killed {
            "cancelled".to_string()
        } else if build.error.is_empty() {
            format!("the build ended {}", build.status)
        } else {
            build.error.clone()
        }
    } else {
        String::new()
    };
    Ok(Identity {
        who: actor.map_or_else(|| build.trigger.clone(), |a| a.login.clone()),
        kind: actor.map_or("", |a| a.kind.as_str()).to_string(),
        verified: actor.is_some_and(|a| a.verified),
        credential,
        expires,
        approved_by: build.approved_by.clone(),
        blocked_reason: build.blocked_reason.clone(),
        stopped,
        warnings,
    })
}

/// `GET /{owner}/{name}/{number}?stage=&step=`.
pub async fn show(
    AppState(app): AppState<State>,
    viewer: Viewer,
    Path((owner, name, number)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let number: i64 = number
        .parse()
        .map_err(|_| Error::not_found(format!("no page {owner}/{name}/{number}")))?;
    let repo = repo_for(
        &app,
        &viewer.principal,
        &owner,
        &name,
        Action::RepoRead,
        None,
    )
    .await?;
    let build = app
        .store
        .find_build(repo.id, number)
        .await?
        .ok_or_else(|| Error::not_found(format!("build {number} not found")))?;
    let now = app.clock.now_ms();
    let allowed = app
        .authz
        .decide_many(
            &viewer.principal,
            &[RepoRef::from(&repo)],
            &[
                Action::BuildCancel,
                Action::BuildRestart,
                Action::BuildApprove,
                Action::BuildPromote,
            ],
        )
        .pop()
        .unwrap_or_default();
    let done = build.status.is_done();
    let blocked = build.status == Status::Blocked;
    let actions = Actions {
        cancel: !done && allowed.contains(Action::BuildCancel),
        restart: done && allowed.contains(Action::BuildRestart),
        approve: blocked && allowed.contains(Action::BuildApprove),
        promote: build.status == Status::Success && allowed.contains(Action::BuildPromote),
    };
    let log = chosen(&build, &query);
    let stages = build
        .stages
        .iter()
        .map(|st| StageView {
            number: st.number,
            name: st.name.clone(),
            status: st.status.as_str().into(),
            status_class: view::status_class(st.status),
            error: st.error.clone(),
            steps: st
                .steps
                .iter()
                .map(|s| StepView {
                    number: s.number,
                    name: s.name.clone(),
                    status: s.status.as_str().into(),
                    status_class: view::status_class(s.status),
                    duration: view::duration(s.started, s.stopped, now),
                    selected: log
                        .as_ref()
                        .is_some_and(|(a, b, _)| *a == st.number && *b == s.number),
                })
                .collect(),
        })
        .collect();
    let blocked_stage = build
        .stages
        .iter()
        .find(|s| s.status == Status::Blocked)
        .map_or(1, |s| s.number);
    let server_admin = app
        .authz
        .decide(&viewer.principal, Action::UserManage, None, None)
        .allowed;
    let template = BuildPage {
        chrome: Chrome::new(format!("{} #{number}", repo.slug), &viewer, server_admin),
        script: assets::url("build.js"),
        slug: repo.slug.clone(),
        number,
        status: build.status.as_str().into(),
        status_class: view::status_class(build.status),
        done,
        message: build.message.clone(),
        branch: build.target.clone(),
        event: build.event.as_str().into(),
        commit: build.after.chars().take(10).collect(),
        author: build.author_login.clone(),
        pusher: build.sender.clone(),
        duration: view::duration(build.started, build.finished, now),
        created: view::date(build.created),
        deploy_to: build.deploy_to.clone(),
        identity: identity(&app, &build, repo.timeout, now).await?,
        actions,
        blocked_stage,
        stages,
        log,
    };
    page(&template)
}
