//! Drone's status badge, `GET /api/badges/{owner}/{name}/status.svg?branch=&ref=`: the newest
//! build's status as an SVG image. Readable by whoever may read the repository (anyone, for a
//! public one); otherwise the API's usual 404 or 401.

use crate::auth::policy::Action;
use crate::auth::principal::Principal;
use crate::domain::Status;
use crate::error::Result;
use crate::http::State;
use crate::http::auth::repo_for;
use crate::http::extract::Path;
use axum::extract::{RawQuery, State as AppState};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::builds::param;

/// The word and colour a status shows as.
fn look(status: Option<Status>) -> (&'static str, &'static str) {
    match status {
        Some(Status::Success) => ("passing", "#2e7d32"),
        Some(Status::Failure) => ("failing", "#c62828"),
        Some(Status::Error) => ("error", "#c62828"),
        Some(Status::Killed | Status::Declined) => ("killed", "#6d4c41"),
        Some(Status::Running) => ("running", "#f9a825"),
        Some(Status::Pending | Status::WaitingOnDependencies | Status::Blocked) => {
            ("pending", "#9e9e9e")
        }
        Some(Status::Skipped) => ("skipped", "#9e9e9e"),
        None => ("none", "#9e9e9e"),
    }
}

/// The SVG of a badge saying `build | word`.
pub fn svg(status: Option<Status>) -> String {
    let (word, colour) = look(status);
    let right = 8 + 7 * word.len();
    let width = 37 + right;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"20\" role=\"img\" \
         aria-label=\"build: {word}\"><title>build: {word}</title>\
         <rect width=\"37\" height=\"20\" fill=\"#555\"/>\
         <rect x=\"37\" width=\"{right}\" height=\"20\" fill=\"{colour}\"/>\
         <g fill=\"#fff\" font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"11\">\
         <text x=\"5\" y=\"14\">build</text><text x=\"41\" y=\"14\">{word}</text></g></svg>"
    )
}

/// `GET /api/badges/{owner}/{name}/status.svg`.
pub async fn status(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::RepoRead, None).await?;
    let branch = param(&query, "branch");
    let git_ref = param(&query, "ref");
    let latest = app
        .store
        .latest_build(repo.id, branch.as_deref(), git_ref.as_deref())
        .await?;
    let mut response = svg(latest.map(|b| b.status)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_badge_names_the_status_in_words() {
        assert!(svg(Some(Status::Success)).contains(">passing<"));
        assert!(svg(Some(Status::Failure)).contains(">failing<"));
        assert!(svg(None).contains(">none<"));
    }
}
