//! The embedded OpenID provider's HTTP side (`/oidc/...`): discovery, JWKS, authorize and the
//! login form, token, userinfo, end_session. Handlers only move bytes, headers and cookies
//! between HTTP and `auth::issuer`; every decision is made there.
//!
//! OAuth errors answer in their own JSON shape (`{"error", "error_description"}`, RFC 6749
//! §5.2), not the API's `{"message"}`; pages answer HTML with a strict Content-Security-Policy.

use super::State;
use crate::auth::issuer::{
    BrowserCookies, LOGIN_COOKIE, OAuthError, Params, Reply, SSO_COOKIE, SetCookie,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State as AppState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

/// Largest form body the provider reads.
const MAX_FORM_BYTES: usize = 64 << 10;

/// The provider's routes, to be merged at the root (they carry their `/oidc` prefix).
pub fn router() -> Router<State> {
    Router::new()
        .route("/oidc/.well-known/openid-configuration", get(discovery))
        .route("/oidc/jwks", get(jwks))
        .route("/oidc/authorize", get(authorize))
        .route("/oidc/login", post(login))
        .route("/oidc/token", post(token))
        .route("/oidc/userinfo", get(userinfo).post(userinfo))
        .route(
            "/oidc/end_session",
            get(end_session).post(end_session_confirmed),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_FORM_BYTES))
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            tracing::error!(error = cause.detail(), "OpenID provider request failed");
        }
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut body = serde_json::json!({
            "error": self.error,
            "error_description": self.description,
        });
        if self.with_message {
            // The shape every other Hangar error has, beside OAuth's.
            body["message"] = serde_json::Value::String(self.description.clone());
        }
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        no_store(headers);
        if status == StatusCode::UNAUTHORIZED {
            let challenge = if self.error == "invalid_token" {
                "Bearer error=\"invalid_token\""
            } else {
                "Basic realm=\"hangar\""
            };
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

pub(super) fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// The provider's cookies from the request's `Cookie` headers.
fn cookies(headers: &HeaderMap) -> BrowserCookies {
    let mut found = BrowserCookies::default();
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            let Some((name, value)) = pair.trim().split_once('=') else {
                continue;
            };
            match name {
                SSO_COOKIE => found.sso = Some(value.to_string()),
                LOGIN_COOKIE => found.login = Some(value.to_string()),
                _ => {}
            }
        }
    }
    found
}

fn set_cookie(cookie: &SetCookie, path: &str, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={}; Path={path}; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        cookie.name, cookie.value, cookie.max_age_secs
    ))
    .ok()
}

fn reply(app: &State, reply: Reply) -> Response {
    let secure = app.issuer.secure_cookies();
    let (mut response, cookies) = match reply {
        Reply::Redirect { to, cookies } => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(location) = HeaderValue::from_str(&to) {
                r.headers_mut().insert(header::LOCATION, location);
            }
            (r, cookies)
        }
        Reply::Page {
            status,
            html,
            cookies,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut r = (status, axum::response::Html(html)).into_response();
            let h = r.headers_mut();
            if let Ok(csp) = HeaderValue::from_str(crate::auth::issuer::page_security_policy()) {
                h.insert(header::CONTENT_SECURITY_POLICY, csp);
            }
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            (r, cookies)
        }
    };
    let headers = response.headers_mut();
    no_store(headers);
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    for cookie in &cookies {
        if let Some(v) = set_cookie(cookie, app.issuer.cookie_path(), secure) {
            headers.append(header::SET_COOKIE, v);
        }
    }
    response
}

async fn discovery(AppState(app): AppState<State>) -> Response {
    let mut r = axum::Json(app.issuer.discovery()).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

async fn jwks(AppState(app): AppState<State>) -> crate::Result<Response> {
    let now = app.clock.now_ms();
    let mut r = axum::Json(app.issuer.keys().jwks(now).await?).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    Ok(r)
}

async fn authorize(
    AppState(app): AppState<State>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> crate::Result<Response> {
    let answer = app
        .issuer
        .authorize(query.as_deref().unwrap_or(""), &cookies(&headers))
        .await?;
    Ok(reply(&app, answer))
}

async fn login(
    AppState(app): AppState<State>,
    headers: HeaderMap,
    body: Bytes,
) -> crate::Result<Response> {
    let answer = app.issuer.login(&body, &cookies(&headers)).await?;
    Ok(reply(&app, answer))
}

pub(super) fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

async fn token(
    AppState(app): AppState<State>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let answer = app.issuer.token(authorization(&headers), &body).await?;
    let mut r = axum::Json(answer).into_response();
    no_store(r.headers_mut());
    Ok(r)
}

async fn userinfo(
    AppState(app): AppState<State>,
    headers: HeaderMap,
) -> Result<Response, OAuthError> {
    let claims = app.issuer.userinfo(authorization(&headers)).await?;
    let mut r = axum::Json(claims).into_response();
    no_store(r.headers_mut());
    Ok(r)
}

async fn end_session(
    AppState(app): AppState<State>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> crate::Result<Response> {
    let params = Params::parse(query.as_deref().unwrap_or("").as_bytes());
    let answer = app
        .issuer
        .end_session(&params, &cookies(&headers), false)
        .await?;
    Ok(reply(&app, answer))
}

async fn end_session_confirmed(
    AppState(app): AppState<State>,
    headers: HeaderMap,
    body: Bytes,
) -> crate::Result<Response> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if !app.issuer.same_origin(origin) {
        return Ok((StatusCode::FORBIDDEN, "cross-site sign-out refused").into_response());
    }
    let answer = app
        .issuer
        .end_session(&Params::parse(&body), &cookies(&headers), true)
        .await?;
    Ok(reply(&app, answer))
}
