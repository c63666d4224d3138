//! `/api/stream` and `/api/stream/{owner}/{name}`: build events as server-sent events, each the
//! repository object with the changed build under `build`, as Drone's UI expects. A watcher
//! gets only the events of repositories it may read.

use crate::auth::policy::{Action, RepoRef};
use crate::auth::principal::Principal;
use crate::error::Result;
use crate::http::State;
use crate::http::auth::repo_for;
use crate::http::extract::Path;
use crate::live::BuildEvent;
use axum::extract::State as AppState;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast;

/// Whether `principal` may read the repository `slug` now (its visibility may have changed).
async fn may_read(app: &State, principal: &Principal, slug: &str) -> bool {
    match app.store.cached_repo_by_slug(slug).await {
        Ok(Some(repo)) => {
            app.authz
                .decide(
                    principal,
                    Action::RepoRead,
                    Some(RepoRef::from(&repo)),
                    None,
                )
                .allowed
        }
        _ => false,
    }
}

fn events(
    app: State,
    principal: Principal,
    rx: broadcast::Receiver<BuildEvent>,
    repo: Option<String>,
) -> Response {
    let state = (rx, repo, app, principal);
    let stream = futures_util::stream::unfold(state, |(mut rx, repo, app, principal)| async move {
        loop {
            match rx.recv().await {
                Ok(event)
                    if repo.as_ref().is_none_or(|r| *r == event.repo)
                        && may_read(&app, &principal, &event.repo).await =>
                {
                    let e = Event::default().data(event.json.as_ref());
                    return Some((Ok::<Event, Infallible>(e), (rx, repo, app, principal)));
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream)
        .keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(30))
                .text("ping"),
        )
        .into_response()
}

pub async fn all(AppState(app): AppState<State>, principal: Principal) -> Result<Response> {
    let rx = app.live.subscribe_builds();
    Ok(events(app, principal, rx, None))
}

pub async fn repo(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name)): Path<(String, String)>,
) -> Result<Response> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::RepoRead, None).await?;
    let rx = app.live.subscribe_builds();
    Ok(events(app, principal, rx, Some(repo.slug)))
}
