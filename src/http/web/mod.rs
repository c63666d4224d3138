//! The web interface: server-rendered pages at Drone's UI paths (`/`, `/{owner}/{name}`,
//! `/{owner}/{name}/{number}`, `/{owner}/{name}/settings`), `/account/tokens` and `/admin` (with
//! `/admin/identity`, the identity control room), with
//! templates compiled in (askama, `templates/web/`) and one style sheet and two small scripts
//! (`static/web/`) served from the binary.
//!
//! Pages read through the same calls the API makes (`http::auth::repo_for`, `require`,
//! `Authz::decide_many`), so a page never shows what the API would refuse; every change a page
//! offers is a `fetch` to the JSON API with the session's CSRF token (`static/web/hangar.js`).
//! Every answer carries a strict Content-Security-Policy: scripts and styles only from this
//! origin, nothing inline. Failures become pages here and only here: not signed in, a redirect
//! to `/login` that comes back; anything else, a page with the reason and the request id.

mod access;
mod account;
mod admin;
mod assets;
mod audit;
mod badge;
mod build;
mod builds;
mod explorer;
mod identity;
mod repos;
mod runners;
mod settings;
mod sprawl;
mod view;

use super::State;
use super::page::Page;
use crate::auth::principal::Principal;
use crate::error::Error;
use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use badge::status as badge;

/// The Content-Security-Policy of every page: this origin's scripts, styles, images and
/// connections (the API, server-sent events), nothing inline, no frames, no plugins.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'";

/// The pages' routes. Fixed paths (`/api`, `/login`, `/oauth`, `/.well-known`, `/scim`,
/// `/hook`, `/assets`, `/account`, `/admin`...) take precedence over `/{owner}/{name}`.
pub fn router() -> Router<State> {
    Router::new()
        .route("/", get(repos::index))
        .route("/account/tokens", get(account::tokens))
        .route("/admin", get(admin::index))
        .route("/admin/tokens", get(sprawl::index))
        .route("/admin/policy", get(explorer::index))
        .route("/admin/access", get(access::index))
        .route("/admin/audit", get(audit::index))
        .route("/admin/identity", get(identity::index))
        .route("/admin/identity/test", get(identity::test_result))
        .route("/admin/runners", get(runners::index))
        .route("/assets/{file}", get(assets::serve))
        .merge(
            Router::new()
                .route("/{owner}/{name}", get(builds::index))
                .route("/{owner}/{name}/settings", get(settings::show))
                .route("/{owner}/{name}/{number}", get(build::show))
                .route_layer(axum::middleware::from_fn(not_reserved)),
        )
        .layer(axum::middleware::from_fn(finish))
}

/// The first path segments of the server's own routes: never an owner, so an unknown path
/// under them answers as their own part of the server does (the API's or SCIM's 404).
const RESERVED: [&str; 17] = [
    "api",
    "scim",
    "oauth",
    "oidc",
    ".well-known",
    "login",
    "logout",
    "auth",
    "hook",
    "assets",
    "account",
    "admin",
    "device",
    "workload",
    "healthz",
    "version",
    "metrics",
];

async fn not_reserved(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    if !RESERVED.contains(&first) {
        return next.run(request).await;
    }
    if path.starts_with("/scim/v2/") {
        return super::scim::not_found().await.into_response();
    }
    super::api::system::not_found().await.into_response()
}

/// Who is looking at a page: a browser session (API tokens are for the API). Holds the session's
/// CSRF token, which the page hands to its script for the changes it sends to the API.
pub struct Viewer {
    pub principal: Principal,
    pub login: String,
    pub csrf: String,
}

impl FromRequestParts<State> for Viewer {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, app: &State) -> Result<Self> {
        let now = app.clock.now_ms();
        let resolved = app
            .sessions
            .resolve(&parts.headers, &Method::GET, now)
            .await?;
        let record = app.sessions.current(&parts.headers, now).await?;
        match (resolved, record) {
            (Some(s), Some(record)) => Ok(Viewer {
                login: s.user.login.clone(),
                principal: Principal::from_session(s.user, s.groups, s.session_id),
                csrf: record.csrf_token,
            }),
            _ => Err(Failure(Error::Unauthenticated(
                "sign in to see this page".into(),
            ))),
        }
    }
}

/// A page's failure; rendered by [`finish`], which knows the request.
#[derive(Debug)]
pub struct Failure(pub Error);

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure(e)
    }
}

impl From<askama::Error> for Failure {
    fn from(e: askama::Error) -> Failure {
        Failure(Error::internal(anyhow::anyhow!("template: {e}")))
    }
}

/// What [`finish`] turns into a page.
#[derive(Clone)]
struct Failed(std::sync::Arc<Error>);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
        response
            .extensions_mut()
            .insert(Failed(std::sync::Arc::new(self.0)));
        response
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

/// A rendered page as an answer.
pub fn page(template: &impl Template) -> Result<Response> {
    let body = template.render()?;
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Ok(response)
}

#[derive(Template)]
#[template(path = "web/error.html")]
struct ErrorPage<'a> {
    chrome: view::Chrome,
    page: &'a Page,
}

/// Every page's answer passes here: failures become a redirect to sign-in or an error page, and
/// the security headers are set.
async fn finish(request: Request, next: Next) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let headers = request.headers().clone();
    let mut response = next.run(request).await;
    if let Some(Failed(error)) = response.extensions_mut().remove::<Failed>() {
        response = match &*error {
            Error::Unauthenticated(_) => {
                let query: String = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("return_to", &path)
                    .finish();
                let mut r = StatusCode::SEE_OTHER.into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("/login?{query}")) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                r
            }
            other => {
                let failure = Page::from_error(other, &headers);
                let template = ErrorPage {
                    chrome: view::Chrome::bare(&failure.title),
                    page: &failure,
                };
                let body = template
                    .render()
                    .unwrap_or_else(|_| failure.message.clone());
                let mut r = (failure.status, body).into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                r
            }
        };
    }
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
