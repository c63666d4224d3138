//! `/{owner}/{name}`: a repository's builds, newest first, filtered by branch and event, 25 to a
//! page; each with who wrote the commit, who pushed it and who the build acts as.

use super::view::{self, Chrome};
use super::{Result, Viewer, page};
use crate::auth::policy::{Action, RepoRef};
use crate::domain::{Build, Event};
use crate::error::Error;
use crate::http::State;
use crate::http::auth::repo_for;
use crate::store::BuildFilter;
use askama::Template;
use axum::extract::{Path, RawQuery, State as AppState};
use axum::response::Response;

const PER_PAGE: i64 = 25;

pub struct Row {
    pub number: i64,
    pub status: String,
    pub status_class: String,
    pub branch: String,
    pub event: String,
    pub message: String,
    pub author: String,
    pub pusher: String,
    pub acting: String,
    pub duration: String,
    pub when: String,
}

impl Row {
    pub fn of(build: &Build, now: i64) -> Row {
        Row {
            number: build.number,
            status: build.status.as_str().to_string(),
            status_class: view::status_class(build.status),
            branch: build.target.clone(),
            event: build.event.as_str().to_string(),
            message: view::headline(&build.message),
            author: if build.author_login.is_empty() {
                build.author_name.clone()
            } else {
                build.author_login.clone()
            },
            pusher: build.sender.clone(),
            acting: build.actor.as_ref().map_or_else(
                || build.trigger.clone(),
                |a| format!("{} ({})", a.login, a.kind.as_str()),
            ),
            duration: view::duration(build.started, build.finished, now),
            when: view::ago(now, build.created),
        }
    }
}

#[derive(Template)]
#[template(path = "web/builds.html")]
pub struct Builds {
    pub chrome: Chrome,
    pub slug: String,
    pub admin: bool,
    pub rows: Vec<Row>,
    pub branch: String,
    pub event: String,
    pub events: Vec<&'static str>,
    pub page: i64,
    /// Query strings of the previous and next pages; empty when there is none.
    pub prev: String,
    pub next: String,
}

/// The first value of query parameter `name`, if not empty.
pub fn param(query: &Option<String>, name: &str) -> Option<String> {
    let query = query.as_deref()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

fn link(branch: &str, event: &str, page: i64) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if !branch.is_empty() {
        q.append_pair("branch", branch);
    }
    if !event.is_empty() {
        q.append_pair("event", event);
    }
    q.append_pair("page", &page.to_string());
    format!("?{}", q.finish())
}

/// `GET /{owner}/{name}?branch=&event=&page=`.
pub async fn index(
    AppState(app): AppState<State>,
    viewer: Viewer,
    Path((owner, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let repo = repo_for(
        &app,
        &viewer.principal,
        &owner,
        &name,
        Action::RepoRead,
        None,
    )
    .await?;
    let event = match param(&query, "event") {
        Some(e) => Some(Event::parse(&e).ok_or_else(|| {
            Error::invalid(format!(
                "event {e:?} is not one of {}",
                Event::ALL.map(Event::as_str).join(", ")
            ))
        })?),
        None => None,
    };
    let branch = param(&query, "branch");
    let page_number = param(&query, "page")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, 100_000);
    let filter = BuildFilter {
        branch: branch.clone(),
        event,
    };
    // One more than a page tells whether there is a next one.
    let mut builds = app
        .store
        .list_builds_matching(repo.id, &filter, page_number, PER_PAGE + 1)
        .await?;
    let more = builds.len() as i64 > PER_PAGE;
    builds.truncate(PER_PAGE as usize);
    let now = app.clock.now_ms();
    let allowed = app
        .authz
        .decide_many(
            &viewer.principal,
            &[RepoRef::from(&repo)],
            &[Action::RepoAdmin],
        )
        .pop()
        .unwrap_or_default();
    let server_admin = app
        .authz
        .decide(&viewer.principal, Action::UserManage, None, None)
        .allowed;
    let branch = branch.unwrap_or_default();
    let event = event.map_or("", Event::as_str).to_string();
    let template = Builds {
        chrome: Chrome::new(repo.slug.clone(), &viewer, server_admin),
        slug: repo.slug.clone(),
        admin: allowed.contains(Action::RepoAdmin),
        rows: builds.iter().map(|b| Row::of(b, now)).collect(),
        prev: if page_number > 1 {
            link(&branch, &event, page_number - 1)
        } else {
            String::new()
        },
        next: if more {
            link(&branch, &event, page_number + 1)
        } else {
            String::new()
        },
        branch,
        event,
        events: Event::ALL.map(Event::as_str).to_vec(),
        page: page_number,
    };
    page(&template)
}
