//! The browser's login routes: `GET /login` (to the provider), `GET /auth/callback` (back from
//! it: a new session), `GET`/`POST /logout` (the session ends here and at the provider), and
//! `GET`/`DELETE /auth/session` (the current session as JSON with its CSRF token, for pages;
//! ending it from a page). Failures answer with an HTML page (`page.rs`); each refused login is
//! audited by `auth::login`. Responses carry `Server-Timing` with Hangar's own time and the
//! time spent waiting on the provider.

use super::State;
use super::page::{Page, escape, html};
use crate::auth::login::outbound::Spent;
use crate::auth::login::{Callback, Failure, Reason};
use crate::auth::session;
use crate::domain::AuditAction;
use crate::error::Error;
use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::Instant;

/// Query parameters as a list of pairs (the first of a repeated name wins).
fn param(query: &Option<String>, name: &str) -> Option<String> {
    let query = query.as_deref()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn add_cookie(response: &mut Response, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn timing(response: &mut Response, started: Instant, spent: &Spent) {
    let total = started.elapsed();
    let provider = spent.get();
    let own = total.saturating_sub(provider);
    let value = format!(
        "hangar;dur={:.3}, provider;dur={:.3}",
        own.as_secs_f64() * 1000.0,
        provider.as_secs_f64() * 1000.0
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().insert("server-timing", v);
    }
}

fn failure_page(f: &Failure, headers: &HeaderMap) -> Response {
    let status = StatusCode::from_u16(f.reason.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let message = match f.reason {
        Reason::Misconfigured | Reason::Unavailable => {
            "The login provider cannot be used right now. If this lasts, tell an administrator."
        }
        Reason::AccountDisabled => "This account is disabled.",
        Reason::TransactionExpired => "The login took too long. Please log in again.",
        Reason::UnknownProvider => "No such login provider is configured.",
        _ => "The login could not be completed. Please log in again.",
    };
    Page::new(
        status,
        "Login failed",
        format!("{message} ({}: {})", f.reason.as_str(), f.detail),
        headers,
    )
    .into_response()
}

/// The transaction cookie: per login, 10 minutes, sent back on the provider's top-level
/// redirect (`SameSite=Lax`), never to scripts.
pub(crate) fn transaction_cookie(app: &State, name: &str, value: &str, max_age: i64) -> String {
    let secure = if app.login.secure() { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

/// `GET /login?return_to=/path&provider=oidc|github`: off to the provider. `local=1` (or
/// `provider=local`) uses Hangar's own provider: the way in when no external provider is
/// configured, and otherwise a break-glass path that admits only local administrators.
pub async fn start(
    axum::extract::State(app): axum::extract::State<State>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let started = Instant::now();
    let spent = Spent::default();
    if !app.login.available() {
        return Page::new(
            StatusCode::NOT_FOUND,
            "No login provider",
            "No login provider is configured on this server.",
            &headers,
        )
        .into_response();
    }
    let provider = match param(&query, "local").as_deref() {
        Some("1" | "true") => Some(crate::auth::login::LOCAL.to_string()),
        _ => param(&query, "provider"),
    };
    let return_to = param(&query, "return_to");
    let mut response = match app
        .login
        .begin(provider.as_deref(), return_to.as_deref(), &spent)
        .await
    {
        Ok(begun) => {
            let mut r = redirect(&begun.location);
            let max_age = crate::auth::login::TRANSACTION_MS / 1000;
            add_cookie(
                &mut r,
                &transaction_cookie(&app, &begun.cookie_name, &begun.cookie_value, max_age),
            );
            r
        }
        Err(f) => failure_page(&f, &headers),
    };
    timing(&mut response, started, &spent);
    response
}

/// `GET /auth/callback`: the provider's answer; a new session and back to `return_to`.
pub async fn callback(
    axum::extract::State(app): axum::extract::State<State>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let started = Instant::now();
    let spent = Spent::default();
    let cb = Callback {
        state: param(&query, "state"),
        code: param(&query, "code"),
        iss: param(&query, "iss"),
        error: param(&query, "error"),
    };
    let cookie = |name: &str| session::cookie(&headers, name);
    let mut response = match app.login.finish(&cb, &cookie, &spent).await {
        Ok(finished) if finished.test.is_some() => {
            let mut r = match super::api::identity::tested(&app, &finished, &headers).await {
                Ok(to) => redirect(&to),
                Err(e) => Page::from_error(&e, &headers).into_response(),
            };
            add_cookie(
                &mut r,
                &transaction_cookie(&app, &finished.cookie_name, "", 0),
            );
            r
        }
        Ok(finished) if !break_glass_allowed(&app, &finished) => {
            let f = crate::auth::login::Failure::new(
                crate::auth::login::Reason::NotAllowed,
                "local sign-in is only for administrators while an external provider is configured",
            );
            app.login
                .refuse(crate::auth::login::LOCAL, &f, app.clock.now_ms())
                .await;
            let mut r = failure_page(&f, &headers);
            add_cookie(
                &mut r,
                &transaction_cookie(&app, &finished.cookie_name, "", 0),
            );
            r
        }
        Ok(finished) => match app.sessions.start(&finished, &headers, "").await {
            Ok(s) => {
                if matches!(
                    finished.account.provider.as_str(),
                    "oidc" | crate::auth::login::LOCAL
                ) {
                    let now = app.clock.now_ms();
                    app.login
                        .note_granted(&finished.account.iss, &finished.grant, now)
                        .await;
                }
                let mut r = redirect(&finished.return_to);
                add_cookie(&mut r, &s.set_cookie);
                add_cookie(
                    &mut r,
                    &transaction_cookie(&app, &finished.cookie_name, "", 0),
                );
                r
            }
            Err(f) => {
                let mut r = failure_page(&f, &headers);
                add_cookie(
                    &mut r,
                    &transaction_cookie(&app, &finished.cookie_name, "", 0),
                );
                r
            }
        },
        Err((f, cookie_name)) => {
            let mut r = failure_page(&f, &headers);
            if let Some(name) = cookie_name {
                add_cookie(&mut r, &transaction_cookie(&app, &name, "", 0));
            }
            r
        }
    };
    timing(&mut response, started, &spent);
    response
}

/// With an external provider configured, a login through Hangar's own provider is a break-glass
/// path: only for accounts whose groups make them administrators.
fn break_glass_allowed(app: &State, finished: &crate::auth::login::Finished) -> bool {
    finished.account.provider != crate::auth::login::LOCAL
        || !app.login.enabled()
        || app
            .sessions
            .roles_of(&finished.account.groups)
            .iter()
            .any(|r| r == "admin")
}

/// `GET /logout`: from a page of this server (or a typed-in address) the session ends at once;
/// from anywhere else a confirmation form is shown, so another site cannot log anyone out.
pub async fn confirm(
    axum::extract::State(app): axum::extract::State<State>,
    headers: HeaderMap,
) -> Response {
    let now = app.clock.now_ms();
    let record = match app.sessions.current(&headers, now).await {
        Ok(Some(r)) => r,
        Ok(None) => return logged_out(&app, None),
        Err(e) => return Page::from_error(&e, &headers).into_response(),
    };
    if app.sessions.same_origin(&headers, true) {
        return end(&app, record.id, &headers, now).await;
    }
    let body = format!(
        "<p>Log out of Hangar?</p><form method=\"post\" action=\"/logout\">\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{}\">\
         <button type=\"submit\">Log out</button></form>",
        escape(&record.csrf_token)
    );
    let mut response = (StatusCode::OK, html("Log out", &body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /logout` (form field `csrf_token` or header `X-CSRF-Token`, from this origin).
pub async fn logout(
    axum::extract::State(app): axum::extract::State<State>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = app.clock.now_ms();
    let record = match app.sessions.current(&headers, now).await {
        Ok(Some(r)) => r,
        Ok(None) => return logged_out(&app, None),
        Err(e) => return Page::from_error(&e, &headers).into_response(),
    };
    let from_form = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "csrf_token")
        .map(|(_, v)| v.into_owned());
    let provided = headers
        .get(session::CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(from_form);
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
    end(&app, record.id, &headers, now).await
}

async fn end(app: &State, id: crate::domain::SessionId, headers: &HeaderMap, now: i64) -> Response {
    match app
        .sessions
        .end(id, AuditAction::Logout, "logout", now)
        .await
    {
        Ok(ended) => logged_out(app, ended.and_then(|e| app.sessions.provider_logout(&e))),
        Err(e) => Page::from_error(&e, headers).into_response(),
    }
}

/// Back to the provider's logout (when it has one) or the front page, without the cookie.
fn logged_out(app: &State, provider_logout: Option<String>) -> Response {
    let mut r = redirect(provider_logout.as_deref().unwrap_or("/"));
    add_cookie(&mut r, &app.sessions.clear_cookie());
    r
}

/// `GET /auth/session`: who is logged in, their groups and the CSRF token pages send with
/// state-changing requests.
pub async fn show(
    axum::extract::State(app): axum::extract::State<State>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let now = app.clock.now_ms();
    let principal = app
        .sessions
        .resolve(&headers, &Method::GET, now)
        .await?
        .ok_or_else(|| Error::Unauthenticated("no session: log in at /login".into()))?;
    let record = app
        .sessions
        .current(&headers, now)
        .await?
        .ok_or_else(|| Error::Unauthenticated("no session: log in at /login".into()))?;
    let body = serde_json::json!({
        "login": principal.user.login,
        "email": principal.user.email,
        "admin": principal.user.admin,
        "groups": principal.groups,
        "roles": app.sessions.roles_of(&principal.groups),
        "provider": record.provider,
        "csrf_token": record.csrf_token,
        "expires": record.absolute_expires / 1000,
    });
    let mut response = axum::Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `DELETE /auth/session`: ends the session (a page's logout), through the same CSRF check
/// every cookie-authenticated state change passes.
pub async fn delete(
    axum::extract::State(app): axum::extract::State<State>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let now = app.clock.now_ms();
    let principal = app
        .sessions
        .resolve(&headers, &Method::DELETE, now)
        .await?
        .ok_or_else(|| Error::Unauthenticated("no session: log in at /login".into()))?;
    if !principal.csrf_ok {
        return Err(Error::Forbidden(
            "send the session's CSRF token in X-CSRF-Token, from a Hangar page".into(),
        ));
    }
    let ended = app
        .sessions
        .end(principal.session_id, AuditAction::Logout, "logout", now)
        .await?;
    let logout_url = ended.and_then(|e| app.sessions.provider_logout(&e));
    let mut response = axum::Json(serde_json::json!({ "logout_url": logout_url })).into_response();
    add_cookie(&mut response, &app.sessions.clear_cookie());
    Ok(response)
}
