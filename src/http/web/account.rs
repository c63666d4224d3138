//! `/account/tokens`: the viewer's API tokens with their scopes, expiry and last use; a form to
//! make one (its secret is shown once, in the page, from the API's answer) and a button to
//! revoke each. Both go to `/api/user/tokens`.

use super::view::{self, Chrome};
use super::{Result, Viewer, page};
use crate::auth::policy::Action;
use crate::http::State;
use askama::Template;
use axum::extract::State as AppState;
use axum::response::Response;

pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub kind: &'static str,
    pub prefix: String,
    pub scopes: String,
    pub created: String,
    pub expires: String,
    pub last_used: String,
    pub live: bool,
    pub state: String,
}

#[derive(Template)]
#[template(path = "web/tokens.html")]
pub struct Tokens {
    pub chrome: Chrome,
    pub tokens: Vec<TokenRow>,
    pub max_days: u64,
    pub actions: Vec<&'static str>,
}

/// `GET /account/tokens`.
pub async fn tokens(AppState(app): AppState<State>, viewer: Viewer) -> Result<Response> {
    let user = viewer.principal.require_user()?;
    let now = app.clock.now_ms();
    let tokens = app
        .store
        .list_tokens(user.id)
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id.0,
            live: t.is_live(now),
            state: if t.revoked > 0 {
                format!("revoked {}", view::ago(now, t.revoked))
            } else if t.is_live(now) {
                "live".into()
            } else {
                "expired".into()
            },
            name: t.name,
            kind: t.kind.as_str(),
            prefix: t.prefix,
            scopes: t
                .scopes
                .map_or_else(|| "all of your rights".into(), |s| s.join(" ")),
            created: view::ago(now, t.created),
            expires: view::until(now, t.expires),
            last_used: if t.last_used > 0 {
                view::ago(now, t.last_used)
            } else {
                "never".into()
            },
        })
        .collect();
    let admin = app
        .authz
        .decide(&viewer.principal, Action::UserManage, None, None)
        .allowed;
    let template = Tokens {
        chrome: Chrome::new("Your tokens", &viewer, admin),
        tokens,
        max_days: (app.auth.max_expiry().as_secs() / 86_400).max(1),
        actions: Action::ALL.map(Action::as_str).to_vec(),
    };
    page(&template)
}
