//! The JSON API under `/api`, with Drone's paths and field names.

pub mod approvals;
pub mod audit;
pub mod builds;
pub mod crons;
pub mod forge;
pub mod identity;
pub mod logs;
pub mod netrc;
pub mod repos;
pub mod runner;
pub mod runners;
pub mod secrets;
pub mod stream;
pub mod system;
pub mod tokens;
pub mod users;

use super::State;
use axum::Router;
use axum::routing::{delete, get, post};

pub fn router() -> Router<State> {
    Router::new()
        .route("/audit", get(audit::list))
        .route(
            "/admin/identity",
            get(identity::show)
                .put(identity::save)
                .delete(identity::disable),
        )
        .route("/admin/identity/test", post(identity::test))
        .route("/admin/identity/enable", post(identity::enable))
        .route("/admin/identity/health", get(identity::health))
        .route(
            "/badges/{owner}/{name}/status.svg",
            get(crate::http::web::badge),
        )
        .route("/user", get(system::user))
        .route("/user/token", post(tokens::drone))
        .route("/user/tokens", get(tokens::list).post(tokens::create))
        .route("/user/tokens/{id}", delete(tokens::revoke))
        .route("/users", get(users::list).post(users::create))
        .route(
            "/users/{login}",
            get(users::show).patch(users::update).delete(users::delete),
        )
        .route("/users/{login}/token/rotate", post(users::rotate))
        .route("/users/{login}/tokens", get(users::tokens))
        .route("/users/{login}/forge_logins", post(users::link_forge_login))
        .route("/runners", get(runners::list).post(runners::register))
        .route("/runners/{name}", delete(runners::revoke))
        .nest("/runner", runner::router())
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
            get(builds::list).post(builds::create).delete(builds::purge),
        )
        .route(
            "/repos/{owner}/{name}/forge",
            get(forge::show).put(forge::set).delete(forge::delete),
        )
        .route("/repos/{owner}/{name}/builds/latest", get(builds::latest))
        .route(
            "/repos/{owner}/{name}/builds/{number}",
            get(builds::show)
                .post(builds::restart)
                .delete(builds::cancel),
        )
        .route(
            "/repos/{owner}/{name}/builds/{number}/promote",
            post(builds::promote),
        )
        .route(
            "/repos/{owner}/{name}/builds/{number}/rollback",
            post(builds::rollback),
        )
        .route(
            "/repos/{owner}/{name}/builds/{number}/approve/{stage}",
            post(approvals::approve),
        )
        .route(
            "/repos/{owner}/{name}/builds/{number}/decline/{stage}",
            post(approvals::decline),
        )
        .route(
            "/repos/{owner}/{name}/builds/{number}/logs/{stage}/{step}",
            get(logs::show),
        )
        .route(
            "/repos/{owner}/{name}/secrets",
            get(secrets::list).post(secrets::create),
        )
        .route(
            "/repos/{owner}/{name}/secrets/{secret}",
            get(secrets::show)
                .patch(secrets::update)
                .delete(secrets::delete),
        )
        .route("/repos/{owner}/{name}/encrypt", post(secrets::encrypt))
        .route(
            "/repos/{owner}/{name}/netrc",
            get(netrc::show).put(netrc::set).delete(netrc::delete),
        )
        .route(
            "/repos/{owner}/{name}/cron",
            get(crons::list).post(crons::create),
        )
        .route(
            "/repos/{owner}/{name}/cron/{cron}",
            get(crons::show)
                .post(crons::exec)
                .patch(crons::update)
                .delete(crons::delete),
        )
        .route(
            "/secrets/{namespace}",
            get(secrets::org_list).post(secrets::org_create),
        )
        .route(
            "/secrets/{namespace}/{secret}",
            get(secrets::org_show)
                .patch(secrets::org_update)
                .delete(secrets::org_delete),
        )
        .route("/stream", get(stream::all))
        .route("/stream/{owner}/{name}", get(stream::repo))
        .route(
            "/stream/{owner}/{name}/{number}/{stage}/{step}",
            get(logs::stream),
        )
        .fallback(system::not_found)
}
