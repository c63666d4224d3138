//! `/api/stream` and `/api/stream/{owner}/{name}`: build events as server-sent events, each the
//! repository object with the changed build under `build`, as Drone's UI expects.

use crate::error::Result;
use crate::http::State;
use crate::http::auth::Caller;
use crate::http::extract::Path;
use crate::live::BuildEvent;
use axum::extract::State as AppState;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast;

fn events(rx: broadcast::Receiver<BuildEvent>, repo: Option<String>) -> Response {
    let stream = futures_util::stream::unfold((rx, repo), |(mut rx, repo)| async move {
        loop {
            match rx.recv().await {
                Ok(event) if repo.as_ref().is_none_or(|r| *r == event.repo) => {
                    let e = Event::default().data(event.json.as_ref());
                    return Some((Ok::<Event, Infallible>(e), (rx, repo)));
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

pub async fn all(AppState(app): AppState<State>, _caller: Caller) -> Result<Response> {
    Ok(events(app.live.subscribe_builds(), None))
}

pub async fn repo(
    AppState(app): AppState<State>,
    _caller: Caller,
    Path((owner, name)): Path<(String, String)>,
) -> Result<Response> {
    let repo = super::repos::find(&app, &owner, &name).await?;
    Ok(events(app.live.subscribe_builds(), Some(repo.slug)))
}
