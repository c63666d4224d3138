//! Health, version, metrics, the caller's own user, and the answer for unknown paths.

use crate::auth::policy::Action;
use crate::auth::principal::Principal;
use crate::domain::User;
use crate::error::{Error, Result};
use crate::http::State;
use crate::http::auth::require;
use axum::extract::State as AppState;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn version() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "source": env!("CARGO_PKG_REPOSITORY"),
        "version": env!("CARGO_PKG_VERSION"),
        "commit": option_env!("HANGAR_COMMIT").unwrap_or(""),
    }))
}

/// Prometheus metrics (administrators only: they show what every repository is doing).
pub async fn metrics(AppState(app): AppState<State>, principal: Principal) -> Result<String> {
    require(&app, &principal, Action::MetricsRead, None, None).await?;
    let queued = app.store.count_pending_stages().await?;
    metrics::gauge!("hangar_queue_depth").set(queued as f64);
    Ok(app.metrics.render())
}

/// The caller's own user, as Drone shows it; `admin` is true for the `admin` role.
pub async fn user(
    AppState(app): AppState<State>,
    principal: Principal,
) -> Result<axum::Json<User>> {
    let mut user = principal.require_user()?.clone();
    user.admin = app.authz.is_admin(&principal);
    Ok(axum::Json(user))
}

pub async fn not_found() -> Error {
    Error::not_found("no such path")
}
