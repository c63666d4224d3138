//! `/`: the repositories the viewer may read (decided for the whole list in one pass, as
//! `GET /api/user/repos` does), each with its newest build; filtered by a part of the name and
//! shown 100 to a page, so the page stays light with thousands of repositories.

use super::builds::param;
use super::view::{self, Chrome};
use super::{Result, Viewer, page};
use crate::auth::policy::Action;
use crate::http::State;
use askama::Template;
use axum::extract::{RawQuery, State as AppState};
use axum::response::Response;

/// One row of the list.
pub struct Row {
    pub slug: String,
    pub visibility: &'static str,
    /// Empty when the repository has no build yet.
    pub status: String,
    pub status_class: String,
    pub number: i64,
    pub branch: String,
    pub message: String,
    pub when: String,
}

#[derive(Template)]
#[template(path = "web/repos.html")]
pub struct Repos {
    pub chrome: Chrome,
    pub rows: Vec<Row>,
    pub filter: String,
    pub total: usize,
    pub page: usize,
    /// Query strings of the previous and next pages; empty when there is none.
    pub prev: String,
    pub next: String,
}

/// Repositories on one page.
pub const PER_PAGE: usize = 100;

fn link(filter: &str, page: usize) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if !filter.is_empty() {
        q.append_pair("q", filter);
    }
    q.append_pair("page", &page.to_string());
    format!("?{}", q.finish())
}

/// The front page's content for `viewer`.
pub async fn render(app: &State, viewer: &Viewer, query: &Option<String>) -> Result<Repos> {
    let filter = param(query, "q").unwrap_or_default();
    let page_number = param(query, "page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let repos = app.store.list_repos_cached().await?;
    let readable: Vec<_> = app
        .authz
        .readable(&viewer.principal, &repos[..])
        .into_iter()
        .filter(|r| filter.is_empty() || r.slug.contains(filter.as_str()))
        .collect();
    let total = readable.len();
    let shown: Vec<_> = readable
        .into_iter()
        .skip((page_number - 1) * PER_PAGE)
        .take(PER_PAGE)
        .collect();
    let ids: Vec<_> = shown.iter().map(|r| r.id).collect();
    let mut latest = app.store.list_latest_builds(&ids).await?;
    let now = app.clock.now_ms();
    let rows = shown
        .into_iter()
        .map(|r| match latest.remove(&r.id) {
            Some(b) => Row {
                slug: r.slug.clone(),
                visibility: r.visibility.as_str(),
                status: b.status.as_str().to_string(),
                status_class: view::status_class(b.status),
                number: b.number,
                branch: b.target.clone(),
                message: view::headline(&b.message),
                when: view::ago(now, b.created),
            },
            None => Row {
                slug: r.slug.clone(),
                visibility: r.visibility.as_str(),
                status: String::new(),
                status_class: String::new(),
                number: 0,
                branch: String::new(),
                message: String::new(),
                when: String::new(),
            },
        })
        .collect();
    let admin = app
        .authz
        .decide(&viewer.principal, Action::UserManage, None, None)
        .allowed;
    Ok(Repos {
        chrome: Chrome::new("Repositories", viewer, admin),
        rows,
        prev: if page_number > 1 {
            link(&filter, page_number - 1)
        } else {
            String::new()
        },
        next: if page_number * PER_PAGE < total {
            link(&filter, page_number + 1)
        } else {
            String::new()
        },
        filter,
        total,
        page: page_number,
    })
}

/// `GET /?q=&page=`.
pub async fn index(
    AppState(app): AppState<State>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    page(&render(&app, &viewer, &query).await?)
}
