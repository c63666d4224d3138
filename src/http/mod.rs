//! The axum adapter: the route table, the request span (method, route, request id), body limits,
//! and the handlers in `api/` (JSON, one file per resource) and `hook.rs`. Handlers translate
//! between HTTP and the parts below; they hold no business rules. `login.rs` holds the browser's
//! login, callback and logout routes; their failures become HTML pages in `page.rs`. `oauth.rs`
//! serves the `/oauth` grants for API access tokens and the `/device` approval page; `scim/`
//! serves SCIM 2.0 provisioning at `/scim/v2`; `web/` serves the pages people use in a browser.

mod api;
mod auth;
mod error;
mod extract;
mod hook;
mod login;
mod oauth;
mod oidc;
mod page;
mod scim;
mod trace;
mod web;
mod workload;

use crate::auth::Authenticator;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::live::Live;
use crate::scheduler::Scheduler;
use crate::store::Store;
use crate::trigger::Trigger;
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;

/// Largest webhook body accepted (larger: 413).
pub const MAX_HOOK_BYTES: usize = 5 << 20;
/// Largest JSON API body accepted.
pub const MAX_API_BYTES: usize = 1 << 20;

/// Everything handlers need, shared.
pub struct App {
    pub config: Config,
    pub store: Store,
    pub clock: SharedClock,
    pub auth: Arc<Authenticator>,
    /// What principals may do: roles, policies, the decision cache.
    pub authz: Arc<crate::auth::policy::Authz>,
    pub trigger: Arc<Trigger>,
    pub scheduler: Arc<Scheduler>,
    pub live: Arc<Live>,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Seals secrets at rest (refresh tokens, signing keys).
    pub secrets: crate::auth::keys::SecretBox,
    /// Builds' ID tokens and the discovery of their issuer (the server URL).
    pub workload: Arc<crate::auth::workload::Workload>,
    /// The embedded OpenID provider (`/oidc`).
    pub issuer: crate::auth::issuer::Issuer,
    /// Login providers and login transactions.
    pub login: Arc<crate::auth::login::Login>,
    /// Browser sessions.
    pub sessions: Arc<crate::auth::session::Sessions>,
    /// The `/oauth` grants: client credentials, device authorization, refresh.
    pub oauth: crate::auth::oauth::OAuth,
}

pub type State = Arc<App>;

/// The whole route table.
pub fn router(app: State) -> Router {
    let hook = Router::new()
        .route("/hook", post(hook::receive))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_HOOK_BYTES));
    let public = Router::new()
        .route("/healthz", get(api::system::healthz))
        .route("/version", get(api::system::version))
        .route("/metrics", get(api::system::metrics));
    let browser = Router::new()
        .route("/login", get(login::start))
        .route("/auth/callback", get(login::callback))
        .route("/logout", get(login::confirm).post(login::logout))
        .route("/auth/session", get(login::show).delete(login::delete))
        .layer(axum::extract::DefaultBodyLimit::max(64 << 10));
    let routes = Router::new()
        .merge(hook)
        .merge(public)
        .merge(oidc::router())
        .merge(oauth::router())
        .merge(workload::router())
        .merge(browser)
        .nest(
            "/api",
            api::router().layer(axum::extract::DefaultBodyLimit::max(MAX_API_BYTES)),
        )
        .nest("/scim/v2", scim::router())
        .merge(web::router())
        .fallback(api::system::not_found);
    let proxies: Arc<[ipnet::IpNet]> = app.config.trusted_proxies.clone().into();
    trace::wrap(routes.with_state(app), proxies)
}
