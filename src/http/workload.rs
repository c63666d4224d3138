//! Builds' OpenID issuer over HTTP: discovery and JWKS at the root of the server URL
//! (`/.well-known/openid-configuration`, `/.well-known/jwks.json`), and the endpoint a running
//! step asks for ID tokens at (`GET /workload/id-token?audience=X` with its grant as bearer),
//! answering `{"value": "<jwt>"}` while the build's credential holds. The grant is not an API
//! credential, so this route is outside `/api` and has no `Principal`.

use super::State;
use crate::auth::workload::REQUEST_PATH;
use crate::error::{Error, Result};
use crate::http::extract::Query;
use axum::Router;
use axum::extract::State as AppState;
use axum::http::{HeaderMap, header};
use axum::routing::get;
use serde::Deserialize;

pub fn router() -> Router<State> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/jwks.json", get(jwks))
        .route(REQUEST_PATH, get(id_token))
}

async fn discovery(AppState(app): AppState<State>) -> axum::Json<serde_json::Value> {
    axum::Json(app.workload.discovery())
}

async fn jwks(AppState(app): AppState<State>) -> Result<axum::Json<serde_json::Value>> {
    Ok(axum::Json(app.workload.jwks(app.clock.now_ms()).await?))
}

#[derive(Deserialize)]
struct Audience {
    audience: Option<String>,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

async fn id_token(
    AppState(app): AppState<State>,
    headers: HeaderMap,
    Query(q): Query<Audience>,
) -> Result<axum::Json<serde_json::Value>> {
    let refused = || {
        Error::Unauthenticated(
            "a step's ID-token grant is required (HANGAR_ID_TOKEN_REQUEST_TOKEN)".into(),
        )
    };
    let token = bearer(&headers).ok_or_else(refused)?;
    let granted = app.workload.grant(token).await?.ok_or_else(refused)?;
    if !app
        .scheduler
        .build_credential_valid(granted.build())
        .await?
    {
        return Err(Error::Unauthenticated(
            "the build has ended: its steps receive no more ID tokens".into(),
        ));
    }
    let audience = q.audience.unwrap_or_default();
    let value = app
        .workload
        .issue(&granted, &audience, app.clock.now_ms())
        .await?;
    Ok(axum::Json(serde_json::json!({ "value": value })))
}
