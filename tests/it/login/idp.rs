//! The real OpenID provider of the login stories: `tests/idp/server.js`, the certified npm
//! package `oidc-provider`, run by Node on 127.0.0.1 (a fresh one per test). The harness fails
//! loudly when `node` or `tests/idp/node_modules` is missing (`npm ci` in `tests/idp` installs
//! it; `.ci/run` does).

#![allow(clippy::disallowed_methods)] // the harness starts the provider process itself

use super::browser::{Browser, Page};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

pub struct Idp {
    pub issuer: String,
    http: reqwest::Client,
    child: Option<tokio::process::Child>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn idp_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/idp")
}

impl Idp {
    pub async fn start() -> Idp {
        Idp::start_with(json!({})).await
    }

    /// Starts a provider with `options` (see `server.js`: `{"idTokenClaims": true}`).
    pub async fn start_with(options: Value) -> Idp {
        let dir = idp_dir();
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "the test OpenID provider is not installed: run `npm ci` in {} (Node 20+ and npm needed)",
            dir.display()
        );
        let tmp = tempfile::tempdir().expect("tempdir");
        let log = tmp.path().join("idp.log");
        let stderr = std::fs::File::create(&log).expect("log file");
        let mut child = tokio::process::Command::new("node")
            .arg(dir.join("server.js"))
            .arg("0")
            .arg(options.to_string())
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting the test OpenID provider needs `node` (Node 20+) on PATH: {e}")
            });
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .ok()
            .and_then(|l| l.ok().flatten())
            .unwrap_or_else(|| {
                panic!(
                    "the test OpenID provider did not start: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
        let ready: Value =
            serde_json::from_str(&first).expect("the provider prints JSON when ready");
        Idp {
            issuer: ready["issuer"].as_str().expect("issuer").to_string(),
            http: reqwest::Client::new(),
            child: Some(child),
            log,
            _dir: tmp,
        }
    }

    /// What the provider wrote on stderr (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn admin(&self, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .post(format!("{}{path}", self.issuer))
            .json(&body)
            .send()
            .await
            .expect("the provider answers");
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {value}");
        value
    }

    /// Registers a confidential client.
    pub async fn client(&self, id: &str, secret: &str, server_url: &str) {
        self.admin(
            "/admin/clients",
            json!({
                "client_id": id,
                "client_secret": secret,
                "redirect_uris": [format!("{server_url}/auth/callback")],
                "post_logout_redirect_uris": [format!("{server_url}/")],
            }),
        )
        .await;
    }

    /// Adds a user (password `password`); returns their subject.
    pub async fn user(&self, username: &str, groups: &[&str]) -> String {
        self.user_with(json!({ "username": username, "groups": groups }))
            .await
    }

    /// Adds a user with any of `server.js`'s fields.
    pub async fn user_with(&self, mut fields: Value) -> String {
        if fields.get("password").is_none() {
            fields["password"] = json!("password");
        }
        self.admin("/admin/users", fields).await["sub"]
            .as_str()
            .expect("sub")
            .to_string()
    }

    pub async fn set_groups(&self, username: &str, groups: &[&str]) {
        self.admin(
            &format!("/admin/users/{username}/groups"),
            json!({ "groups": groups }),
        )
        .await;
    }

    /// Ends the user's sessions and grants at the provider: their refresh tokens die.
    pub async fn revoke(&self, username: &str) {
        self.admin(&format!("/admin/users/{username}/revoke"), json!({}))
            .await;
    }

    /// A new signing key; returns its key id.
    pub async fn rotate_keys(&self) -> String {
        self.admin("/admin/rotate-keys", json!({})).await["kid"]
            .as_str()
            .expect("kid")
            .to_string()
    }

    /// Requests seen, by path.
    pub async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/admin/stats", self.issuer))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json")
    }

    /// Stops the provider (it becomes unreachable).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Walks `browser` through the provider from the authorization URL, logging in as
    /// `username` when asked, until the provider redirects to a URL starting with `back_to`;
    /// returns that URL (not yet visited).
    pub async fn authorize(
        &self,
        browser: &Browser,
        auth_url: &str,
        username: &str,
        back_to: &str,
    ) -> String {
        let mut url = auth_url.to_string();
        for _ in 0..20 {
            if url.starts_with(back_to) {
                return url;
            }
            let page: Page = browser.get(&url).await;
            url = match page.status {
                302 | 303 => page.location().to_string(),
                200 if url.contains("/interaction/") => {
                    let login = format!("{}/login", url.trim_end_matches('/'));
                    let done = browser
                        .post_form(&login, &[("username", username), ("password", "password")])
                        .await;
                    assert_eq!(
                        done.status, 303,
                        "logging in at the provider: {}",
                        done.body
                    );
                    done.location().to_string()
                }
                _ => panic!(
                    "the provider answered {} at {url}: {}\n{}",
                    page.status,
                    page.body,
                    self.log()
                ),
            };
        }
        panic!("the provider never sent the browser back to {back_to}")
    }
}
