//! The test harness: a server on 127.0.0.1:0 with a temporary data folder, a real git
//! repository to push to, and helpers that read as the steps of a story.

#![allow(dead_code)] // each test file uses a different part of the harness

pub mod database;
pub mod forge;
pub mod git;
pub mod git_http;
pub mod github_app;
pub mod hooks;
pub mod people;
pub mod scim;

use hangar::clock::SharedClock;
use hangar::config::{Config, LogFormat, SandboxMode, Secret};
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;

pub use git::GitRepo;

/// The bootstrap admin token every test server starts with.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";

/// A running server and a client for it.
pub struct TestApp {
    pub url: String,
    pub http: reqwest::Client,
    pub data: tempfile::TempDir,
    running: Option<hangar::server::Running>,
    pub database: database::TestDatabase,
}

/// A test's config: everything under `data`, listening on a free port.
pub fn config(data: &std::path::Path, database_url: &str) -> Config {
    Config {
        addr: "127.0.0.1:0".parse().expect("address"),
        server_url: "http://127.0.0.1:8080".into(),
        data_dir: data.to_path_buf(),
        database_url: database_url.into(),
        admin_token: Some(Secret::new(ADMIN_TOKEN)),
        runner_capacity: 8,
        runner_timeout: Duration::from_secs(60),
        log_limit: 1 << 30,
        cancel_grace: Duration::from_secs(2),
        sandbox: SandboxMode::Off,
        trusted_proxies: Vec::new(),
        config_file: None,
        log: "warn".into(),
        log_format: LogFormat::Text,
        identity: hangar::config::IdentityConfig::defaults(data),
        statuses: hangar::config::StatusSettings::default(),
        retention: hangar::config::Retention::default(),
    }
}

impl TestApp {
    /// A server on SQLite.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(database::TestDatabase::sqlite(), |_| {}).await
    }

    /// A server on the given database, its config adjusted by `adjust`.
    pub async fn spawn_with(
        database: database::TestDatabase,
        adjust: impl FnOnce(&mut Config),
    ) -> TestApp {
        TestApp::spawn_with_clock(database, adjust, hangar::clock::system()).await
    }

    /// A server whose clock is `clock` (a `FixedClock` lets a story move time by hand).
    pub async fn spawn_with_clock(
        database: database::TestDatabase,
        adjust: impl FnOnce(&mut Config),
        clock: SharedClock,
    ) -> TestApp {
        // Server errors show in a failing test's output (HANGAR_TEST_LOG=debug for more).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(std::env::var("HANGAR_TEST_LOG").unwrap_or_else(|_| "error".into()))
            .with_test_writer()
            .try_init();
        let data = tempfile::tempdir().expect("temporary folder");
        let url = database.url(data.path());
        let mut config = config(data.path(), &url);
        adjust(&mut config);
        let running = hangar::server::start(config, clock)
            .await
            .expect("the server starts");
        TestApp {
            url: format!("http://{}", running.addr),
            http: reqwest::Client::new(),
            data,
            running: Some(running),
            database,
        }
    }

    /// Stops the server and waits until it has.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown.cancel();
            let _ = running.done.await;
        }
    }

    /// The config of another server on this one's database, with its own data folder `data`
    /// and this one's server key (servers sharing a database share the key).
    pub fn config_beside(&self, data: &std::path::Path) -> Config {
        let mut config = config(data, &self.database.url(self.data.path()));
        config.identity.secret_key_file =
            hangar::config::IdentityConfig::defaults(self.data.path()).secret_key_file;
        config
    }

    /// Starts the server again on the same data folder and database (after [`TestApp::stop`]),
    /// its config adjusted by `adjust`; it listens on a new port.
    pub async fn start_again(&mut self, adjust: impl FnOnce(&mut Config)) {
        self.stop().await;
        let mut config = config(self.data.path(), &self.database.url(self.data.path()));
        adjust(&mut config);
        let running = hangar::server::start(config, hangar::clock::system())
            .await
            .expect("the server starts again");
        self.url = format!("http://{}", running.addr);
        self.running = Some(running);
    }

    /// Runs the server's cron scheduler once, now (it also ticks by itself each second).
    pub async fn tick_crons(&self) -> hangar::cron::Tick {
        let running = self.running.as_ref().expect("the server runs");
        running.crons.tick().await.expect("a cron tick")
    }

    /// Calls the API as the admin; returns status and JSON body (Null if none).
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(Some(ADMIN_TOKEN), method, path, body).await
    }

    pub async fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("the server answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("a body");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Activates `slug` building `repo`; returns the repo JSON (with `webhook_secret`). The
    /// GitHub account `ada`, who sends the test webhooks, is linked to the admin account, so
    /// her pushes build under the default trigger policy.
    pub async fn activate(&self, slug: &str, repo: &GitRepo) -> Value {
        let body = serde_json::json!({ "clone_url": repo.url(), "default_branch": "main" });
        let (status, json) = self
            .call(Method::POST, &format!("/api/repos/{slug}"), Some(body))
            .await;
        assert_eq!(status, 200, "activating {slug}: {json}");
        self.link_forge_login("bootstrap-admin", "github:ada").await;
        json
    }

    /// Links a forge login (`github:LOGIN`) to a user, as an administrator.
    pub async fn link_forge_login(&self, user: &str, forge_login: &str) {
        let (status, json) = self
            .call(
                Method::POST,
                &format!("/api/users/{user}/forge_logins"),
                Some(serde_json::json!({ "forge_login": forge_login })),
            )
            .await;
        assert_eq!(status, 200, "linking {forge_login} to {user}: {json}");
    }

    /// Waits until build `number` of `slug` has finished, and returns it.
    pub async fn wait_for_build(&self, slug: &str, number: i64) -> Value {
        self.wait_until(slug, number, |b| is_done(&b["status"]))
            .await
    }

    /// Waits until build `number` of `slug` satisfies `ready` (at most 60 s).
    pub async fn wait_until(
        &self,
        slug: &str,
        number: i64,
        ready: impl Fn(&Value) -> bool,
    ) -> Value {
        self.wait_within(slug, number, 60, ready).await
    }

    /// Waits until build `number` of `slug` satisfies `ready`, at most `seconds`.
    pub async fn wait_within(
        &self,
        slug: &str,
        number: i64,
        seconds: u64,
        ready: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        let path = format!("/api/repos/{slug}/builds/{number}");
        loop {
            let (status, build) = self.call(Method::GET, &path, None).await;
            if status == 200 && ready(&build) {
                return build;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "build {number} of {slug} never got there: {build}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The whole log of a step, as text.
    pub async fn log_text(&self, slug: &str, number: i64, stage: i64, step: i64) -> String {
        let lines = self
            .get(&format!(
                "/api/repos/{slug}/builds/{number}/logs/{stage}/{step}"
            ))
            .await;
        lines
            .as_array()
            .expect("a JSON array")
            .iter()
            .map(|l| l["out"].as_str().unwrap_or("").to_string())
            .collect()
    }

    /// Starts a build of `branch` by hand.
    pub async fn start_build(&self, slug: &str, branch: &str) -> Value {
        let (status, build) = self
            .call(
                Method::POST,
                &format!("/api/repos/{slug}/builds?branch={branch}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "starting a build: {build}");
        build
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown.cancel();
        }
    }
}

pub fn is_done(status: &Value) -> bool {
    matches!(
        status.as_str(),
        Some("success" | "failure" | "killed" | "error" | "skipped" | "declined")
    )
}

/// The step named `name` of stage `stage` (1-based) of a build.
pub fn step<'a>(build: &'a Value, stage: usize, name: &str) -> &'a Value {
    build["stages"][stage - 1]["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no step {name} in stage {stage}: {build}"))
}
