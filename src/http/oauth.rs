//! Hangar's `/oauth` endpoints (API access tokens) and the `/device` page where a signed-in
//! person approves `hangar login`. Handlers move bytes, headers and cookies between HTTP and
//! `auth::oauth`, which makes every decision. OAuth errors answer as the provider's do
//! (`{"error", "error_description", "message"}`, `no-store`); the page answers HTML that no
//! other site may frame, and its form carries the session's CSRF token.

use super::State;
use super::oidc::{authorization, no_store};
use super::page::{Page, escape, html};
use crate::auth::issuer::OAuthError;
use crate::auth::oauth::{Approval, Pending};
use crate::auth::session;
use crate::error::Error;
use crate::store::SessionRecord;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State as AppState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

/// The routes, merged at the root.
pub fn router() -> Router<State> {
    Router::new()
        .route("/oauth/token", post(token))
        .route("/oauth/device/code", post(device_code))
        .route("/oauth/revoke", post(revoke))
        .route("/device", get(show).post(decide))
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .layer(axum::extract::DefaultBodyLimit::max(64 << 10))
}

async fn metadata(AppState(app): AppState<State>) -> Response {
    let mut r = axum::Json(app.oauth.metadata()).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

async fn token(
    AppState(app): AppState<State>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let answer = app
        .oauth
        .token(&app.auth, authorization(&headers), &body)
        .await
        .map_err(OAuthError::with_message)?;
    let mut r = axum::Json(answer).into_response();
    no_store(r.headers_mut());
    Ok(r)
}

async fn device_code(
    AppState(app): AppState<State>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let answer = app
        .oauth
        .device_code(authorization(&headers), &body)
        .await
        .map_err(OAuthError::with_message)?;
    let mut r = axum::Json(answer).into_response();
    no_store(r.headers_mut());
    Ok(r)
}

async fn revoke(
    AppState(app): AppState<State>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    app.oauth
        .revoke(&app.auth, authorization(&headers), &body)
        .await
        .map_err(OAuthError::with_message)?;
    let mut r = StatusCode::OK.into_response();
    no_store(r.headers_mut());
    Ok(r)
}

fn param(text: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(text)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

/// An HTML page of the device flow: never cached, never framed (a framed approve button is a
/// clickjacking target).
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let mut r = (status, html(title, body)).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// To the login, coming back to this page (with the code the person followed, if any).
fn to_login(user_code: Option<&str>) -> Response {
    let back = match user_code {
        Some(code) => format!(
            "/device?user_code={}",
            url::form_urlencoded::byte_serialize(code.as_bytes()).collect::<String>()
        ),
        None => "/device".into(),
    };
    let location = format!(
        "/login?return_to={}",
        url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
    );
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn enter_code(message: &str) -> String {
    format!(
        "<p>{}</p><form method=\"get\" action=\"/device\">\
         <label>Code <input name=\"user_code\" autocomplete=\"off\" autofocus \
         placeholder=\"WDJB-MJHT\"></label> <button type=\"submit\">Continue</button></form>",
        escape(message)
    )
}

fn confirm(record: &SessionRecord, pending: &Pending) -> String {
    let rights = match &pending.scopes {
        None => "all of your rights".to_string(),
        Some(s) => s
            .iter()
            .map(|x| format!("<code>{}</code>", escape(x)))
            .collect::<Vec<_>>()
            .join(", "),
    };
    format!(
        "<p>A device asks to act as <strong>{login}</strong> through Hangar's API, with \
         {rights}, as <code>{client}</code>.</p>\
         <p>Approve only if you started <code>hangar login</code> yourself just now and your \
         terminal shows the code <strong>{code}</strong>. The code expires in {minutes} \
         min.</p>\
         <form method=\"post\" action=\"/device\">\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"user_code\" value=\"{code}\">\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        login = escape(&record.user.login),
        client = escape(&pending.client_id),
        code = escape(&pending.user_code),
        csrf = escape(&record.csrf_token),
        minutes = (pending.expires_in + 59) / 60,
    )
}

/// `GET /device[?user_code=...]`: the code form, or the approval of the code given.
async fn show(
    AppState(app): AppState<State>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let user_code = param(query.as_deref().unwrap_or("").as_bytes(), "user_code");
    let now = app.clock.now_ms();
    let record = match app.sessions.current(&headers, now).await {
        Ok(Some(r)) => r,
        Ok(None) => return to_login(user_code.as_deref()),
        Err(e) => return Page::from_error(&e, &headers).into_response(),
    };
    let Some(code) = user_code else {
        return page(
            StatusCode::OK,
            "Sign in a device",
            &enter_code("Type the code your terminal shows."),
        );
    };
    match app.oauth.pending(&record.user, &code).await {
        Ok(Some(pending)) => page(
            StatusCode::OK,
            "Sign in a device",
            &confirm(&record, &pending),
        ),
        Ok(None) => page(
            StatusCode::NOT_FOUND,
            "Sign in a device",
            &enter_code(
                "No sign-in waits under that code: it may be mistyped, expired or used. Type it again.",
            ),
        ),
        Err(e) => Page::from_error(&e, &headers).into_response(),
    }
}

/// `POST /device` (`csrf_token`, `user_code`, `decision=approve|deny`), from this origin.
async fn decide(AppState(app): AppState<State>, headers: HeaderMap, body: Bytes) -> Response {
    let now = app.clock.now_ms();
    let code = param(&body, "user_code");
    let record = match app.sessions.current(&headers, now).await {
        Ok(Some(r)) => r,
        Ok(None) => return to_login(code.as_deref()),
        Err(e) => return Page::from_error(&e, &headers).into_response(),
    };
    let provided = headers
        .get(session::CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| param(&body, "csrf_token"));
    if !app.sessions.csrf_ok(
        &headers,
        &Method::POST,
        &record.csrf_token,
        provided.as_deref(),
    ) {
        return Page::from_error(
            &Error::Forbidden("this request did not come from a Hangar page".into()),
            &headers,
        )
        .into_response();
    }
    let approve = match param(&body, "decision").as_deref() {
        Some("approve") => true,
        Some("deny") => false,
        _ => {
            return Page::from_error(
                &Error::invalid("decision must be approve or deny"),
                &headers,
            )
            .into_response();
        }
    };
    match app
        .oauth
        .decide(&record.user, code.as_deref().unwrap_or(""), approve)
        .await
    {
        Ok(Approval::Approved) => page(
            StatusCode::OK,
            "Device signed in",
            "<p>Done: go back to your terminal.</p>",
        ),
        Ok(Approval::Denied) => page(
            StatusCode::OK,
            "Sign-in refused",
            "<p>The device was refused; it gets no access.</p>",
        ),
        Ok(Approval::Unknown) => page(
            StatusCode::NOT_FOUND,
            "Sign in a device",
            &enter_code(
                "No sign-in waits under that code: it may be mistyped, expired or used already.",
            ),
        ),
        Err(e) => Page::from_error(&e, &headers).into_response(),
    }
}
