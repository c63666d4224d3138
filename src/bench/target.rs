//! The system under test: a `hangar server` child process on a temporary data folder, a git
//! repository for it to build, and the calls the benchmarks make.

#![allow(clippy::disallowed_methods)] // the benchmark harness starts the server and git itself

use anyhow::{Context, bail};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const TOKEN: &str = "bench-admin-token-0123456789abcdef";

pub struct Server {
    pub child: Child,
    pub url: String,
    pub http: reqwest::Client,
    /// Holds the data folder until the server is dropped.
    _dir: tempfile::TempDir,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Server {
    /// Starts `hangar server` with the given extra environment and waits until it answers.
    pub async fn start(extra: &[(&str, String)]) -> anyhow::Result<Server> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg("server")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("HANGAR_ADDR", format!("127.0.0.1:{port}"))
            .env("HANGAR_SERVER_URL", format!("http://127.0.0.1:{port}"))
            .env("HANGAR_DATA_DIR", dir.path().join("data"))
            .env("HANGAR_ADMIN_TOKEN", TOKEN)
            .env("HANGAR_LOG", "error")
            // The engine's figures are measured without the sandbox; a scenario may ask for it.
            .env("HANGAR_SANDBOX", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd.spawn().context("starting hangar server")?;
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..500 {
            if http.get(format!("{url}/healthz")).send().await.is_ok() {
                return Ok(Server {
                    child,
                    url,
                    http,
                    _dir: dir,
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        bail!("the server did not answer within 5 s")
    }

    /// Makes a SCIM token with `hangar scim token create` on the server's database.
    pub fn scim_token(&self) -> anyhow::Result<String> {
        let out = Command::new(std::env::current_exe()?)
            .args(["scim", "token", "create", "--name", "bench"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HANGAR_DATA_DIR", self._dir.path().join("data"))
            .env("HANGAR_LOG", "error")
            .stderr(Stdio::null())
            .output()
            .context("running hangar scim token create")?;
        if !out.status.success() {
            bail!("hangar scim token create failed");
        }
        Ok(String::from_utf8(out.stdout)?.trim().to_string())
    }

    /// The server's data folder (its SQLite database lives there).
    pub fn data_dir(&self) -> PathBuf {
        self._dir.path().join("data")
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap_or(0)
    }

    /// A line of `/proc/PID/status` in kB (`VmRSS`, `VmHWM`).
    pub fn memory_kb(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(field))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or(0)
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("{path}: {status}: {text}");
        }
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }

    /// Activates `acme/bench` on `repo` and links the pushes' sender to the admin; returns the
    /// webhook secret.
    pub async fn activate(&self, repo: &Repo) -> anyhow::Result<String> {
        let r = self
            .call(
                reqwest::Method::POST,
                "/api/repos/acme/bench",
                Some(serde_json::json!({ "clone_url": repo.bare.to_string_lossy() })),
            )
            .await?;
        // The benchmark's pushes come from the GitHub account `bench`: it builds as the admin.
        self.call(
            reqwest::Method::POST,
            "/api/users/bootstrap-admin/forge_logins",
            Some(serde_json::json!({ "forge_login": "github:bench" })),
        )
        .await?;
        Ok(r["webhook_secret"].as_str().unwrap_or_default().to_string())
    }

    /// Delivers one signed push webhook of `sha` per delivery id, all at once; fails if any is
    /// refused.
    pub async fn push_hooks(
        &self,
        secret: &str,
        sha: &str,
        deliveries: impl IntoIterator<Item = String>,
    ) -> anyhow::Result<()> {
        let mut sends = Vec::new();
        for delivery in deliveries {
            let (body, headers) = push_hook(secret, sha, &delivery);
            let mut req = self.http.post(format!("{}/hook", self.url)).body(body);
            for (k, v) in &headers {
                req = req.header(k, v);
            }
            sends.push(tokio::spawn(req.send()));
        }
        for s in sends {
            s.await??.error_for_status()?;
        }
        Ok(())
    }

    pub async fn wait_build(&self, number: i64, timeout: Duration) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let b = self
                .call(
                    reqwest::Method::GET,
                    &format!("/api/repos/acme/bench/builds/{number}"),
                    None,
                )
                .await?;
            if matches!(
                b["status"].as_str(),
                Some("success" | "failure" | "error" | "killed" | "skipped")
            ) {
                return Ok(b);
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "build {number} did not finish in {timeout:?}: {}",
                    b["status"]
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn stop(mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid()),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

/// A bare repository and a working copy to commit from.
pub struct Repo {
    _dir: tempfile::TempDir,
    pub bare: PathBuf,
    pub work: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .output()?;
    if !out.status.success() {
        bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

impl Repo {
    pub fn new(pipeline: &str) -> anyhow::Result<Repo> {
        let dir = tempfile::tempdir()?;
        let bare = dir.path().join("origin.git");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&bare)?;
        git(&bare, &["init", "-q", "--bare", "--initial-branch=main"])?;
        git(
            dir.path(),
            &["clone", "-q", &bare.to_string_lossy(), "work"],
        )?;
        git(&work, &["checkout", "-q", "-B", "main"])?;
        let repo = Repo {
            _dir: dir,
            bare,
            work,
        };
        std::fs::write(repo.work.join(".drone.yml"), pipeline)?;
        std::fs::write(repo.work.join("README"), "bench\n")?;
        git(&repo.work, &["add", "."])?;
        git(&repo.work, &["commit", "-q", "-m", "pipeline"])?;
        git(
            &repo.work,
            &["push", "-q", "origin", "HEAD:refs/heads/main"],
        )?;
        Ok(repo)
    }

    /// Commits a change and pushes it; returns the new sha.
    pub fn push_change(&self, n: usize) -> anyhow::Result<String> {
        std::fs::write(self.work.join("README"), format!("change {n}\n"))?;
        git(&self.work, &["commit", "-q", "-am", &format!("change {n}")])?;
        git(
            &self.work,
            &["push", "-q", "origin", "HEAD:refs/heads/main"],
        )?;
        git(&self.work, &["rev-parse", "HEAD"])
    }
}

/// A signed GitHub push webhook as raw bytes and headers.
pub fn push_hook(secret: &str, sha: &str, delivery: &str) -> (Vec<u8>, Vec<(String, String)>) {
    use hmac::Mac;
    let body = serde_json::to_vec(&serde_json::json!({
        "ref": "refs/heads/main", "before": "0000000000000000000000000000000000000001", "after": sha,
        "compare": "https://example.com/compare", "deleted": false,
        "head_commit": { "id": sha, "message": "change", "timestamp": "2026-11-25T10:00:00Z",
            "author": { "name": "Bench", "email": "bench@example.com", "username": "bench" } },
        "commits": [],
        "repository": { "full_name": "acme/bench", "name": "bench", "owner": { "login": "acme" } },
        "sender": { "login": "bench" }
    }))
    .unwrap_or_default();
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(&body);
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let headers = vec![
        ("X-GitHub-Event".to_string(), "push".to_string()),
        ("X-GitHub-Delivery".to_string(), delivery.to_string()),
        ("X-Hub-Signature-256".to_string(), sig),
        ("Content-Type".to_string(), "application/json".to_string()),
    ];
    (body, headers)
}

/// Runs `hangar lint` on a file once; returns its wall time in milliseconds.
pub fn time_lint(file: &Path) -> anyhow::Result<f64> {
    let started = std::time::Instant::now();
    let out = Command::new(std::env::current_exe()?)
        .args(["lint", &file.to_string_lossy()])
        .output()?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if !out.status.success() {
        bail!(
            "hangar lint failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(ms)
}

/// Makes a FIFO at `path`.
pub fn mkfifo(path: &Path) -> anyhow::Result<()> {
    let st = Command::new("mkfifo").arg(path).status()?;
    if !st.success() {
        bail!("mkfifo failed");
    }
    Ok(())
}
