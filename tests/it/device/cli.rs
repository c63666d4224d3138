//! `hangar login` for real: the binary prints a code, a browser signed in through Hangar's own
//! provider approves it, the binary keeps the login (mode 0600) and the client commands use it,
//! refresh it when it is about to expire, and `hangar logout` revokes it.

#![allow(clippy::disallowed_methods)] // these stories run the `hangar` binary itself

use super::{decide, refresh, server, signed_in, who};
use crate::support::{GitRepo, TestApp, database::TestDatabase};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn hangar(config_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hangar"));
    cmd.env_remove("HANGAR_SERVER")
        .env_remove("HANGAR_TOKEN")
        .env_remove("DRONE_SERVER")
        .env_remove("DRONE_TOKEN")
        .env("HANGAR_CONFIG_DIR", config_dir);
    cmd
}

/// Runs `hangar args...` to its end; (success, stdout, stderr).
async fn run(config_dir: &Path, args: &[&str]) -> (bool, String, String) {
    let mut cmd = hangar(config_dir);
    cmd.args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("hangar runs"))
        .await
        .expect("joins");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `hangar login --server URL`, approves the code it prints in `browser`, and waits for
/// it to finish; returns its stdout.
async fn login(app: &TestApp, config_dir: &Path) -> String {
    let mut child = hangar(config_dir)
        .args(["login", "--server", &app.url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hangar login starts");
    let stderr = child.stderr.take().expect("stderr");
    // Read until the code shows, then keep the rest for a failure's message.
    let (code, rest) = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = String::new();
        for line in lines.by_ref() {
            let line = line.expect("a line");
            seen.push_str(&line);
            seen.push('\n');
            if let Some((_, code)) = line.split_once("enter the code ") {
                return (code.trim().to_string(), lines);
            }
        }
        panic!("hangar login printed no code: {seen}");
    })
    .await
    .expect("joins");
    let browser = signed_in(app).await;
    let done = decide(app, &browser, &code, "approve").await;
    assert_eq!(done.status, 200, "{}", done.body);
    let out = tokio::task::spawn_blocking(move || {
        let rest: Vec<String> = rest.map_while(Result::ok).collect();
        (child.wait_with_output().expect("hangar login ends"), rest)
    })
    .await
    .expect("joins");
    let (output, rest) = out;
    assert!(output.status.success(), "hangar login failed: {rest:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn kept(config_dir: &Path) -> (PathBuf, Value) {
    let path = config_dir.join("credentials.json");
    let text = std::fs::read_to_string(&path).expect("the login is kept");
    (path, serde_json::from_str(&text).expect("JSON"))
}

async fn cli_story(app: &TestApp) {
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nsteps:\n- name: hi\n  commands: [echo hi]\n",
    );
    app.activate("acme/api", &git).await;
    let home = tempfile::tempdir().expect("a config folder");
    let dir = home.path().join("hangar");

    let (ok, _, err) = run(&dir, &["repo", "ls"]).await;
    assert!(!ok && err.contains("not logged in"), "{err}");

    let said = login(app, &dir).await;
    assert_eq!(said.trim(), format!("Logged in to {} as admin", app.url));
    let (path, first) = kept(&dir);
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "readable by its owner only");
    let first_access = first["access_token"].as_str().expect("access").to_string();
    assert!(first_access.starts_with("hgr_at_"));
    assert_eq!(first["server"], app.url.as_str());

    let (ok, out, err) = run(&dir, &["repo", "ls"]).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "acme/api");

    // The kept login is for this server only.
    let mut elsewhere = hangar(&dir);
    elsewhere
        .args(["repo", "ls"])
        .env("HANGAR_SERVER", "http://127.0.0.1:1");
    let out = tokio::task::spawn_blocking(move || elsewhere.output().expect("runs"))
        .await
        .expect("joins");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("the kept login is for"));

    // Near its expiry, the access token is renewed on the next command.
    let mut aged = first.clone();
    aged["access_expires"] = Value::from(0);
    std::fs::write(&path, aged.to_string()).expect("write");
    let (ok, out, err) = run(&dir, &["repo", "ls"]).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "acme/api");
    let (_, renewed) = kept(&dir);
    let renewed_access = renewed["access_token"]
        .as_str()
        .expect("access")
        .to_string();
    assert_ne!(renewed_access, first_access);
    assert_ne!(renewed["refresh_token"], first["refresh_token"], "rotated");
    assert!(renewed["access_expires"].as_i64().expect("expires") > 0);
    assert_eq!(who(app, &renewed_access).await.as_deref(), Some("admin"));

    // Two commands at once, both finding the token about to expire: one refreshes, the other
    // waits for it and uses what it kept (a refresh token sent twice would end the login).
    let mut aged = renewed.clone();
    aged["access_expires"] = Value::from(0);
    std::fs::write(&path, aged.to_string()).expect("write");
    let (a, b) = tokio::join!(run(&dir, &["repo", "ls"]), run(&dir, &["repo", "ls"]));
    assert!(a.0 && b.0, "{} / {}", a.2, b.2);
    let (_, renewed) = kept(&dir);
    let renewed_access = renewed["access_token"]
        .as_str()
        .expect("access")
        .to_string();
    assert_eq!(who(app, &renewed_access).await.as_deref(), Some("admin"));

    let (ok, out, err) = run(&dir, &["logout"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("Logged out"), "{out}");
    assert!(!path.exists(), "forgotten");
    assert_eq!(
        who(app, &renewed_access).await,
        None,
        "revoked at the server"
    );
    let spent = refresh(app, renewed["refresh_token"].as_str().expect("refresh")).await;
    assert_eq!(spent.0, 400, "{}", spent.1);
    let (ok, _, err) = run(&dir, &["repo", "ls"]).await;
    assert!(!ok && err.contains("not logged in"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hangar_login_is_approved_in_a_browser_and_the_client_commands_use_it() {
    let app = server(TestDatabase::sqlite(), hangar::clock::system()).await;
    cli_story(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_login_story_holds_on_postgres() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let app = server(db, hangar::clock::system()).await;
    cli_story(&app).await;
}
