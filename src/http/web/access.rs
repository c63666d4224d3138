//! `/admin/access`: who holds which role where, as the policy version in force has it (the
//! `[[roles]]` grants it compiled, not a copy of the configuration file), the protected deploy
//! targets, and the text of every policy file in force. For those allowed `user.manage`, as
//! `/admin` is; the policy explorer (`/admin/policy`) answers what these give one person.

use super::view::Chrome;
use super::{Result, Viewer, page};
use crate::auth::policy::{Action, GrantInForce};
use crate::http::State;
use crate::http::auth::require;
use askama::Template;
use axum::extract::State as AppState;
use axum::response::Response;

pub struct PolicyFile {
    pub name: String,
    pub text: String,
    pub lines: usize,
}

#[derive(Template)]
#[template(path = "web/access.html")]
pub struct Access {
    pub chrome: Chrome,
    pub version: u64,
    pub grants: Vec<GrantInForce>,
    pub protected_targets: Vec<String>,
    pub files: Vec<PolicyFile>,
}

/// `GET /admin/access`.
pub async fn index(AppState(app): AppState<State>, viewer: Viewer) -> Result<Response> {
    require(&app, &viewer.principal, Action::UserManage, None, None).await?;
    page(&Access {
        chrome: Chrome::new("Access", &viewer, true),
        version: app.authz.version(),
        grants: app.authz.grants(),
        protected_targets: app.authz.protected_targets(),
        files: app
            .authz
            .policy_texts()
            .into_iter()
            .map(|(name, text)| PolicyFile {
                lines: text.lines().count(),
                name,
                text,
            })
            .collect(),
    })
}
