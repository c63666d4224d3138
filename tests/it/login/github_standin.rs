//! A local stand-in for GitHub, since GitHub cannot be reached from the test machines. It
//! speaks the documented shapes of GitHub's OAuth web flow (`/login/oauth/authorize` redirecting
//! back with `code` and `state`; `/login/oauth/access_token` answering JSON, with errors as 200
//! and an `error` field; PKCE S256) and of the REST API under `/api/v3` as GitHub Enterprise
//! serves it (`GET /user`, `/user/orgs`, `/user/teams`, 401 for a bad token, `Link` pagination,
//! here two items a page to make Hangar follow it).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub const CLIENT_ID: &str = "gh-client";
pub const CLIENT_SECRET: &str = "gh-secret";
const PAGE: usize = 2;

#[derive(Debug, Clone)]
pub struct GhUser {
    pub id: u64,
    pub login: String,
    pub email: String,
    pub orgs: Vec<String>,
    /// (org, team slug)
    pub teams: Vec<(String, String)>,
}

#[derive(Default)]
pub struct Shared {
    pub url: String,
    pub users: Mutex<HashMap<u64, GhUser>>,
    /// Who is "logged in at GitHub" when the browser reaches the authorize page.
    pub current: Mutex<u64>,
    codes: Mutex<HashMap<String, (u64, String, String)>>,
    pub tokens: Mutex<HashMap<String, u64>>,
    /// Answer every API call with 503.
    pub failing: AtomicBool,
}

pub struct GitHub {
    pub url: String,
    pub shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for GitHub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl GitHub {
    pub async fn start() -> GitHub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let shared = Arc::new(Shared {
            url: url.clone(),
            ..Shared::default()
        });
        let app = axum::Router::new()
            .route("/login/oauth/authorize", get(authorize))
            .route("/login/oauth/access_token", post(access_token))
            .route("/api/v3/user", get(user))
            .route("/api/v3/user/orgs", get(orgs))
            .route("/api/v3/user/teams", get(teams))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        GitHub { url, shared, task }
    }

    /// Adds (or replaces) a user and makes them the one logged in at GitHub.
    pub fn sign_in(&self, user: GhUser) {
        *self.shared.current.lock().expect("lock") = user.id;
        self.shared
            .users
            .lock()
            .expect("lock")
            .insert(user.id, user);
    }

    pub fn revoke_tokens(&self) {
        self.shared.tokens.lock().expect("lock").clear();
    }

    pub fn settings(&self) -> hangar::config::GitHubSettings {
        hangar::config::GitHubSettings {
            client_id: CLIENT_ID.into(),
            client_secret: hangar::config::Secret::new(CLIENT_SECRET),
            url: self.url.clone(),
            api_url: format!("{}/api/v3", self.url),
        }
    }
}

async fn authorize(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return (StatusCode::NOT_FOUND, "unknown client").into_response();
    }
    let code = hangar::auth::token::mint();
    let user = *s.current.lock().expect("lock");
    let challenge = q.get("code_challenge").cloned().unwrap_or_default();
    let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
    s.codes
        .lock()
        .expect("lock")
        .insert(code.clone(), (user, challenge, redirect.clone()));
    let mut back = url::Url::parse(&redirect).expect("redirect_uri");
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", q.get("state").map(String::as_str).unwrap_or(""));
    Redirect::to(back.as_str()).into_response()
}

async fn access_token(State(s): State<Arc<Shared>>, body: String) -> axum::Json<Value> {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return axum::Json(json!({ "error": "incorrect_client_credentials" }));
    }
    let Some((user, challenge, redirect)) = s.codes.lock().expect("lock").remove(&field("code"))
    else {
        return axum::Json(json!({ "error": "bad_verification_code" }));
    };
    let verifier_hash = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(field("code_verifier").as_bytes()));
    if redirect != field("redirect_uri") || (!challenge.is_empty() && challenge != verifier_hash) {
        return axum::Json(json!({ "error": "bad_verification_code" }));
    }
    let token = format!("gho_{}", hangar::auth::token::mint());
    s.tokens.lock().expect("lock").insert(token.clone(), user);
    axum::Json(
        json!({ "access_token": token, "token_type": "bearer", "scope": "read:org,read:user,user:email" }),
    )
}

fn caller(s: &Shared, headers: &HeaderMap) -> Result<GhUser, StatusCode> {
    if s.failing.load(Ordering::SeqCst) {
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("token "))
        })
        .unwrap_or("");
    let id = s.tokens.lock().expect("lock").get(token).copied();
    match id.and_then(|id| s.users.lock().expect("lock").get(&id).cloned()) {
        Some(user) => Ok(user),
        None => Err(StatusCode::UNAUTHORIZED),
    }
}

/// GitHub's error body for a refused API call.
fn refusal(status: StatusCode) -> Response {
    let message = if status == StatusCode::UNAUTHORIZED {
        "Bad credentials"
    } else {
        "Service unavailable"
    };
    (status, axum::Json(json!({ "message": message }))).into_response()
}

async fn user(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    match caller(&s, &headers) {
        Ok(u) => axum::Json(json!({
            "login": u.login, "id": u.id, "name": u.login.to_uppercase(), "email": u.email,
            "avatar_url": format!("{}/avatars/{}", s.url, u.id),
        }))
        .into_response(),
        Err(status) => refusal(status),
    }
}

fn paged(s: &Shared, path: &str, items: Vec<Value>, q: &HashMap<String, String>) -> Response {
    let page: usize = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let chunk: Vec<Value> = items
        .iter()
        .skip((page - 1) * PAGE)
        .take(PAGE)
        .cloned()
        .collect();
    let mut response = axum::Json(Value::Array(chunk)).into_response();
    if page * PAGE < items.len() {
        let link = format!(
            "<{}/api/v3{path}?per_page=100&page={}>; rel=\"next\"",
            s.url,
            page + 1
        );
        if let Ok(v) = link.parse() {
            response.headers_mut().insert("link", v);
        }
    }
    response
}

async fn orgs(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match caller(&s, &headers) {
        Ok(u) => {
            let items = u
                .orgs
                .iter()
                .map(|o| json!({ "login": o, "id": 1 }))
                .collect();
            paged(&s, "/user/orgs", items, &q)
        }
        Err(status) => refusal(status),
    }
}

async fn teams(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match caller(&s, &headers) {
        Ok(u) => {
            let items = u
                .teams
                .iter()
                .map(|(o, t)| json!({ "slug": t, "name": t, "organization": { "login": o } }))
                .collect();
            paged(&s, "/user/teams", items, &q)
        }
        Err(status) => refusal(status),
    }
}
