//! A local stand-in (a mock) for the commit status APIs of GitHub and Gitea, since neither can
//! be reached from the test machines. It speaks their documented shapes:
//! GitHub (as GitHub Enterprise serves it under `/api/v3`):
//! `POST /api/v3/repos/{owner}/{repo}/statuses/{sha}` with `Authorization: Bearer <token>` (or
//! `token <token>`), states `error|failure|pending|success`, `201 Created` with the status
//! (`state`, `context`, ...), `401 {"message": "Bad credentials"}`, `422 {"message":
//! "Validation Failed"}`; Gitea and Forgejo: `POST /api/v1/repos/{owner}/{repo}/statuses/{sha}`
//! with `Authorization: token <token>`, states `pending|success|error|failure|warning`, `201`
//! with the status (`status`, `context`, ...). It can be told to fail the next N requests
//! (502), and records every request it received. GitHub App installation tokens are in
//! `github_app.rs`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub struct Received {
    pub forge: &'static str,
    pub owner: String,
    pub repo: String,
    pub sha: String,
    pub state: String,
    pub context: String,
    pub target_url: String,
    pub description: String,
    /// What the stand-in answered.
    pub answer: u16,
}

#[derive(Default)]
pub struct Shared {
    pub token: Mutex<String>,
    pub received: Mutex<Vec<Received>>,
    /// Requests still to be failed with 502.
    pub fail_next: AtomicUsize,
    ids: AtomicUsize,
    /// The GitHub App the stand-in knows, with the installation tokens it issued.
    pub app: Mutex<Option<super::github_app::AppStandIn>>,
}

pub struct ForgeStandIn {
    pub url: String,
    pub shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ForgeStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ForgeStandIn {
    /// Starts the stand-in; requests must carry `token`.
    pub async fn start(token: &str) -> ForgeStandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the forge stand-in");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let shared = Arc::new(Shared::default());
        *shared.token.lock().expect("lock") = token.to_string();
        let app = axum::Router::new()
            .route("/api/v3/repos/{owner}/{repo}/statuses/{sha}", post(github))
            .route("/api/v1/repos/{owner}/{repo}/statuses/{sha}", post(gitea))
            .route(
                "/api/v3/repos/{owner}/{repo}/installation",
                get(super::github_app::installation),
            )
            .route(
                "/api/v3/app/installations/{id}/access_tokens",
                post(super::github_app::access_token),
            )
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ForgeStandIn { url, shared, task }
    }

    /// The GitHub API base (GitHub Enterprise style).
    pub fn github_api(&self) -> String {
        format!("{}/api/v3", self.url)
    }

    /// Fails the next `n` requests with 502.
    pub fn fail_next(&self, n: usize) {
        self.shared.fail_next.store(n, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("lock").clone()
    }

    /// The states accepted (201) for `context`, in order.
    pub fn states(&self, context: &str) -> Vec<String> {
        self.received()
            .into_iter()
            .filter(|r| r.context == context && r.answer == 201)
            .map(|r| r.state)
            .collect()
    }

    /// Waits (at most 30 s) until `ready` holds for what was received.
    pub async fn wait_until(&self, what: &str, ready: impl Fn(&[Received]) -> bool) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let got = self.received();
            if ready(&got) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the forge stand-in never saw {what}: {got:#?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

fn message(code: StatusCode, text: &str) -> Response {
    (code, axum::Json(json!({ "message": text }))).into_response()
}

/// What differs between the two APIs.
struct Dialect {
    forge: &'static str,
    /// Accepted `Authorization` schemes.
    schemes: &'static [&'static str],
    /// Whether a JSON `Accept` header is required.
    needs_accept: bool,
    states: &'static [&'static str],
    /// The field the answer names the state in.
    state_field: &'static str,
}

const GITHUB: Dialect = Dialect {
    forge: "github",
    schemes: &["Bearer", "token"],
    needs_accept: true,
    states: &["error", "failure", "pending", "success"],
    state_field: "state",
};

const GITEA: Dialect = Dialect {
    forge: "gitea",
    schemes: &["token"],
    needs_accept: false,
    states: &["pending", "success", "error", "failure", "warning"],
    state_field: "status",
};

async fn github(
    State(shared): State<Arc<Shared>>,
    Path(path): Path<(String, String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    handle(&shared, &GITHUB, path, &headers, &body)
}

async fn gitea(
    State(shared): State<Arc<Shared>>,
    Path(path): Path<(String, String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    handle(&shared, &GITEA, path, &headers, &body)
}

fn handle(
    shared: &Shared,
    dialect: &Dialect,
    (owner, repo, sha): (String, String, String),
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let token = shared.token.lock().expect("lock").clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let auth = header("authorization");
    let app_tokens = shared
        .app
        .lock()
        .expect("lock")
        .as_ref()
        .map(|a| a.live_tokens())
        .unwrap_or_default();
    let authorized = dialect.schemes.iter().any(|scheme| {
        auth == format!("{scheme} {token}")
            || (dialect.forge == "github"
                && app_tokens.iter().any(|t| auth == format!("{scheme} {t}")))
    });
    let accepts = !dialect.needs_accept || header("accept").contains("json");
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let field = |k: &str| parsed[k].as_str().unwrap_or("").to_string();
    let mut received = Received {
        forge: dialect.forge,
        owner,
        repo,
        sha: sha.clone(),
        state: field("state"),
        context: field("context"),
        target_url: field("target_url"),
        description: field("description"),
        answer: 0,
    };
    let answer = if shared
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        message(StatusCode::BAD_GATEWAY, "Server Error")
    } else if !authorized {
        message(StatusCode::UNAUTHORIZED, "Bad credentials")
    } else if !accepts {
        message(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported Accept")
    } else if !dialect.states.contains(&received.state.as_str())
        || received.context.is_empty()
        || !parsed["description"].is_string()
        || !received.target_url.starts_with("http")
        || sha.len() != 40
        || !sha.chars().all(|c| c.is_ascii_hexdigit())
    {
        message(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed")
    } else {
        let id = shared.ids.fetch_add(1, Ordering::SeqCst) + 1;
        let mut status = json!({
            "id": id,
            "url": format!("/repos/{}/{}/statuses/{sha}", received.owner, received.repo),
            "description": received.description,
            "target_url": received.target_url,
            "context": received.context,
            "created_at": "2026-11-26T08:00:00Z",
            "updated_at": "2026-11-26T08:00:00Z",
        });
        status[dialect.state_field] = received.state.clone().into();
        (StatusCode::CREATED, axum::Json(status)).into_response()
    };
    received.answer = answer.status().as_u16();
    shared.received.lock().expect("lock").push(received);
    answer
}
