//! `/admin/tokens`: every live API token on the server, oldest first, with its owner, scopes,
//! age and last use, so administrators can find forgotten ones and revoke them (through
//! `DELETE /api/user/tokens/{id}`, which `token.manage` allows for anyone's token).

use super::view::{self, Chrome};
use super::{Result, Viewer, page};
use crate::auth::policy::Action;
use crate::http::State;
use crate::http::auth::require;
use askama::Template;
use axum::extract::State as AppState;
use axum::response::Response;
use std::collections::HashMap;

pub struct Row {
    pub id: i64,
    pub owner: String,
    pub name: String,
    pub kind: &'static str,
    pub scopes: String,
    pub age: String,
    pub expires: String,
    pub last_used: String,
    /// Never used, or not for 30 days.
    pub stale: bool,
}

#[derive(Template)]
#[template(path = "web/admin_tokens.html")]
pub struct Tokens {
    pub chrome: Chrome,
    pub rows: Vec<Row>,
}

const STALE_MS: i64 = 30 * 86_400_000;

/// `GET /admin/tokens`.
pub async fn index(AppState(app): AppState<State>, viewer: Viewer) -> Result<Response> {
    require(&app, &viewer.principal, Action::TokenManage, None, None).await?;
    let now = app.clock.now_ms();
    let owners: HashMap<_, _> = app
        .store
        .list_users()
        .await?
        .into_iter()
        .map(|u| (u.id, u.login))
        .collect();
    let rows = app
        .store
        .list_live_tokens(now)
        .await?
        .into_iter()
        .map(|t| Row {
            id: t.id.0,
            owner: owners.get(&t.user_id).cloned().unwrap_or_default(),
            stale: t.last_used == 0 || now - t.last_used > STALE_MS,
            kind: t.kind.as_str(),
            scopes: t
                .scopes
                .map_or_else(|| "all of the owner's rights".into(), |s| s.join(" ")),
            age: view::ago(now, t.created),
            expires: view::until(now, t.expires),
            last_used: if t.last_used > 0 {
                view::ago(now, t.last_used)
            } else {
                "never".into()
            },
            name: t.name,
        })
        .collect();
    page(&Tokens {
        chrome: Chrome::new("Tokens on this server", &viewer, true),
        rows,
    })
}
