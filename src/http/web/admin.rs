//! `/admin`: for those allowed `user.manage` on the server (the `admin` role), the users of
//! this server: active or deactivated, and how each came (SCIM, just in time at a login, a
//! local account, a service account). Everyone else gets a 403 page saying why.

use super::view::{self, Chrome};
use super::{Result, Viewer, page};
use crate::auth::policy::Action;
use crate::domain::UserId;
use crate::http::State;
use crate::http::auth::require;
use crate::store::UserOrigin;
use askama::Template;
use axum::extract::State as AppState;
use axum::response::Response;
use std::collections::HashMap;

pub struct UserRow {
    pub login: String,
    pub email: String,
    pub kind: &'static str,
    pub origin: &'static str,
    pub admin: bool,
    pub active: bool,
    pub last_login: String,
}

#[derive(Template)]
#[template(path = "web/admin.html")]
pub struct Admin {
    pub chrome: Chrome,
    pub users: Vec<UserRow>,
}

/// `GET /admin`.
pub async fn index(AppState(app): AppState<State>, viewer: Viewer) -> Result<Response> {
    require(&app, &viewer.principal, Action::UserManage, None, None).await?;
    let now = app.clock.now_ms();
    let origins: HashMap<UserId, UserOrigin> =
        app.store.list_user_origins().await?.into_iter().collect();
    let users = app
        .store
        .list_users()
        .await?
        .into_iter()
        .map(|u| UserRow {
            kind: if u.machine {
                "service account"
            } else {
                "person"
            },
            origin: origins
                .get(&u.id)
                .copied()
                .unwrap_or(UserOrigin::Created)
                .label(),
            admin: u.admin,
            active: u.active,
            last_login: if u.last_login > 0 {
                view::ago(now, u.last_login)
            } else {
                "never".into()
            },
            login: u.login,
            email: u.email,
        })
        .collect();
    page(&Admin {
        chrome: Chrome::new("Admin", &viewer, true),
        users,
    })
}
