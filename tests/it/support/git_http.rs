//! A git server over smart HTTP that wants basic auth, on 127.0.0.1: `git http-backend` (CGI)
//! behind a small axum handler. For stories about private repositories.

#![allow(clippy::disallowed_methods)] // tests drive git themselves

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response, StatusCode, Uri};
use base64::Engine;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;

/// What the server saw: requests with the right credentials, and refused ones.
#[derive(Default)]
pub struct Seen {
    pub authorized: usize,
    pub refused: usize,
}

struct Shared {
    root: PathBuf,
    authorization: String,
    seen: Mutex<Seen>,
}

/// A running git HTTP server serving the repositories under a folder.
pub struct GitHttp {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl GitHttp {
    /// Serves the repositories under `root` to `user` with `password` only.
    pub async fn serve(root: &std::path::Path, user: &str, password: &str) -> GitHttp {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let shared = Arc::new(Shared {
            root: root.to_path_buf(),
            authorization: format!("Basic {encoded}"),
            seen: Mutex::new(Seen::default()),
        });
        let app = axum::Router::new()
            .fallback(backend)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let addr = listener.local_addr().expect("address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        GitHttp {
            url: format!("http://{addr}"),
            shared,
            task,
        }
    }

    /// Requests with the right credentials so far, and refused ones.
    pub fn seen(&self) -> (usize, usize) {
        let seen = self.shared.seen.lock().expect("lock");
        (seen.authorized, seen.refused)
    }
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn backend(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if given != shared.authorization {
        shared.seen.lock().expect("lock").refused += 1;
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("WWW-Authenticate", "Basic realm=\"git\"")
            .body(Body::empty())
            .expect("a response");
    }
    shared.seen.lock().expect("lock").authorized += 1;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", &shared.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_USER", "git")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("git http-backend starts");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&body).await.expect("writes the request");
    }
    let out = child.wait_with_output().await.expect("git http-backend");
    // CGI: headers, a blank line, the body.
    let text = &out.stdout;
    let split = text
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| {
            text.windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, i + 2))
        })
        .unwrap_or((text.len(), text.len()));
    let mut response = Response::builder();
    let mut status = StatusCode::OK;
    for line in String::from_utf8_lossy(&text[..split.0]).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or("200");
            status = code.parse().unwrap_or(StatusCode::OK);
        } else {
            response = response.header(name, value);
        }
    }
    response
        .status(status)
        .body(Body::from(text[split.1..].to_vec()))
        .expect("a response")
}
