//! `/admin/runners`: the in-process runner and every live remote runner (name, labels,
//! platform, capacity, last heartbeat, running stages), for those allowed `user.manage` on the
//! server. Revoking goes to `DELETE /api/runners/{name}` with the session's CSRF token.

use super::view::{self, Chrome};
use super::{Result, Viewer, page};
use crate::auth::policy::Action;
use crate::domain::runner::labels_text;
use crate::http::State;
use crate::http::auth::require;
use askama::Template;
use axum::extract::State as AppState;
use axum::response::Response;

pub struct Row {
    pub name: String,
    /// Remote runners can be revoked; the in-process one cannot.
    pub remote: bool,
    pub labels: String,
    pub platform: String,
    pub capacity: String,
    pub last_seen: String,
    pub running: Vec<String>,
}

#[derive(Template)]
#[template(path = "web/admin_runners.html")]
pub struct Runners {
    pub chrome: Chrome,
    pub rows: Vec<Row>,
}

/// `GET /admin/runners`.
pub async fn index(AppState(app): AppState<State>, viewer: Viewer) -> Result<Response> {
    require(&app, &viewer.principal, Action::UserManage, None, None).await?;
    let now = app.clock.now_ms();
    let mut rows = Vec::new();
    if let Some((name, capacity)) = app.scheduler.remote.local() {
        rows.push(Row {
            running: app.store.list_local_running(&name).await?,
            name,
            remote: false,
            labels: "-".into(),
            platform: format!(
                "{}/{}",
                crate::runner::platform_os(),
                crate::runner::platform_arch()
            ),
            capacity: if capacity == 0 {
                "off".into()
            } else {
                capacity.to_string()
            },
            last_seen: "in-process".into(),
        });
    }
    for listed in crate::http::api::runners::listing(&app).await? {
        let r = listed.runner;
        rows.push(Row {
            name: r.name,
            remote: true,
            labels: if r.labels.is_empty() {
                "-".into()
            } else {
                labels_text(&r.labels)
            },
            platform: if r.os.is_empty() {
                "-".into()
            } else {
                format!("{}/{}", r.os, r.arch)
            },
            capacity: if r.last_seen > 0 {
                r.capacity.to_string()
            } else {
                "-".into()
            },
            last_seen: if r.last_seen > 0 {
                view::ago(now, r.last_seen)
            } else {
                "never".into()
            },
            running: listed.running,
        });
    }
    page(&Runners {
        chrome: Chrome::new("Runners", &viewer, true),
        rows,
    })
}
