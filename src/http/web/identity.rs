//! `/admin/identity`: the identity control room, for those allowed `user.manage` (the same
//! check `/api/admin/identity` makes). It shows the provider in force and where it comes from,
//! the redirect URI to register, the scopes asked and granted, the client secret's age, and the
//! health of discovery and keys (fetched by the page's script from the API); and, unless the
//! configuration sets the provider, the form to connect one: save a draft, run a test login in
//! a new window, switch it on. `/admin/identity/test` is where that window lands: what came back.

use super::view::Chrome;
use super::{Result, Viewer, page};
use crate::auth::policy::Action;
use crate::http::State;
use crate::http::api::identity::{Overview, overview};
use crate::http::auth::require;
use askama::Template;
use axum::extract::State as AppState;
use axum::response::Response;
use serde_json::Value;

#[derive(Template)]
#[template(path = "web/identity.html")]
pub struct Identity {
    pub chrome: Chrome,
    pub o: Overview,
    pub scopes_asked: String,
    pub scopes_granted: String,
    pub draft_scopes: String,
    pub result: TestShown,
}

/// A test login's result, ready to show.
pub struct TestShown {
    pub subject: String,
    pub login: String,
    pub email: String,
    pub groups: String,
    pub roles: String,
    pub claims: String,
}

impl TestShown {
    fn of(result: &Value) -> TestShown {
        let text = |k: &str| result[k].as_str().unwrap_or("").to_string();
        let list = |k: &str| {
            result[k]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        TestShown {
            subject: text("subject"),
            login: text("login"),
            email: text("email"),
            groups: list("groups"),
            roles: list("roles"),
            claims: serde_json::to_string_pretty(&result["claims"]).unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "web/identity_test.html")]
pub struct Tested {
    pub chrome: Chrome,
    pub tested: bool,
    pub issuer: String,
    pub result: TestShown,
}

/// `GET /admin/identity`.
pub async fn index(AppState(app): AppState<State>, viewer: Viewer) -> Result<Response> {
    require(&app, &viewer.principal, Action::UserManage, None, None).await?;
    let o = overview(&app).await?;
    let none = Value::Null;
    let result = TestShown::of(o.draft.as_ref().map_or(&none, |d| &d.test_result));
    page(&Identity {
        chrome: Chrome::new("Identity provider", &viewer, true),
        scopes_asked: o.in_force.scopes_asked.as_ref().map_or_else(
            || {
                "the default set (openid profile email offline_access, and groups when offered)"
                    .into()
            },
            |s| s.join(" "),
        ),
        scopes_granted: o
            .in_force
            .scopes_granted
            .as_ref()
            .map_or_else(|| "no login recorded yet".into(), |s| s.join(" ")),
        draft_scopes: o
            .draft
            .as_ref()
            .map(|d| d.scopes.join(" "))
            .unwrap_or_default(),
        result,
        o,
    })
}

/// `GET /admin/identity/test`: what the last test login of the draft brought back.
pub async fn test_result(AppState(app): AppState<State>, viewer: Viewer) -> Result<Response> {
    require(&app, &viewer.principal, Action::UserManage, None, None).await?;
    let o = overview(&app).await?;
    let (tested, issuer, result) = match &o.draft {
        Some(d) => (d.tested, d.issuer.clone(), TestShown::of(&d.test_result)),
        None => (false, String::new(), TestShown::of(&Value::Null)),
    };
    page(&Tested {
        chrome: Chrome::new("Test login", &viewer, true),
        tested,
        issuer,
        result,
    })
}
