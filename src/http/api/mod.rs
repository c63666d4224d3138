//! The JSON API under `/api`, with Drone's paths and field names.

pub mod builds;
pub mod logs;
pub mod repos;
pub mod stream;
pub mod system;

use super::State;
use axum::Router;
use axum::routing::get;

pub fn router() -> Router<State> {
    Router::new()
        .route("/user", get(system::user))
        .route("/repos", get(repos::list))
        .route("/user/repos", get(repos::list))
        .route(
            "/repos/{owner}/{name}",
            get(repos::show)
                .post(repos::activate)
                .patch(repos::update)
                .delete(repos::deactivate),
        )
        .route(
            "/repos/{owner}/{name}/builds",
            get(builds::list).post(builds::create),
        )
        .route("/repos/{owner}/{name}/builds/latest", get(builds::latest))
        .route(
            "/repos/{owner}/{name}/builds/{number}",
            get(builds::show)
                .post(builds::restart)
                .delete(builds::cancel),
        )
        .route(
            "/repos/{owner}/{name}/builds/{number}/logs/{stage}/{step}",
            get(logs::show),
        )
        .route("/stream", get(stream::all))
        .route("/stream/{owner}/{name}", get(stream::repo))
        .route(
            "/stream/{owner}/{name}/{number}/{stage}/{step}",
            get(logs::stream),
        )
        .fallback(system::not_found)
}
