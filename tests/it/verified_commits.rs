//! Stories of verified commits: with `verify_commits` on, a build runs only when its head
//! commit carries a good SSH or OpenPGP signature by a key registered to an active user
//! (`hangar user key add`); otherwise it is created `blocked` with the reason, and waits for
//! approval.

#![allow(clippy::disallowed_methods)] // tests drive git, ssh-keygen, gpg and the CLI themselves

use crate::support::database::TestDatabase;
use crate::support::{GitRepo, TestApp};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

fn run(dir: &Path, program: &str, args: &[&str], env: &[(&str, &Path)]) -> String {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Ada Lovelace")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada Lovelace")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An SSH signing key pair in `dir`; returns the private key's path.
fn ssh_key(dir: &Path, name: &str) -> std::path::PathBuf {
    let key = dir.join(name);
    let path = key.to_str().expect("path");
    run(
        dir,
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path],
        &[],
    );
    key
}

/// Commits a change to `git`, signed with `sign` (git `-c` settings), and pushes it to main.
fn commit(git: &GitRepo, n: usize, sign: &[&str], env: &[(&str, &Path)]) -> String {
    std::fs::write(git.work.join("change.txt"), n.to_string()).expect("write");
    run(&git.work, "git", &["add", "change.txt"], &[]);
    let mut args: Vec<&str> = sign.to_vec();
    args.extend(["commit", "--quiet", "-m", "change"]);
    if !sign.is_empty() {
        args.push("-S");
    }
    run(&git.work, "git", &args, env);
    git.push("main");
    git.head()
}

fn key_add(app: &TestApp, login: &str, file: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hangar"))
        .args(["user", "key", "add", login, "--file"])
        .arg(file)
        .env("HANGAR_DATA_DIR", app.data.path())
        .env("HANGAR_DATABASE_URL", app.database.url(app.data.path()))
        .output()
        .expect("runs")
}

async fn build_of(app: &TestApp) -> Value {
    let build = app.start_build("acme/api", "main").await;
    let number = build["number"].as_i64().expect("number");
    // A blocked build is ready for approval once its stages are prepared.
    app.wait_until("acme/api", number, |b| {
        let prepared = b["stages"].as_array().is_some_and(|s| !s.is_empty());
        (b["status"] == "blocked" && prepared) || crate::support::is_done(&b["status"])
    })
    .await
}

fn assert_blocked(build: &Value, reason: &str) {
    assert_eq!(build["status"], "blocked", "{build}");
    let given = build["blocked_reason"].as_str().unwrap_or("");
    assert!(given.contains(reason), "{build}");
}

async fn patch(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, answer) = app.call(Method::PATCH, path, Some(body)).await;
    assert_eq!(status, 200, "PATCH {path}: {answer}");
    answer
}

/// A server with `acme/api` (verified commits on) and the user `ada`.
async fn setup(database: TestDatabase) -> (TestApp, GitRepo) {
    let app = TestApp::spawn_with(database, |_| {}).await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nclone:\n  disable: true\nsteps:\n- name: one\n  commands:\n  - echo ran\n",
    );
    app.activate("acme/api", &git).await;
    let repo = patch(&app, "/api/repos/acme/api", json!({"verify_commits": true})).await;
    assert_eq!(repo["verify_commits"], true);
    let (status, user) = app
        .call(
            Method::POST,
            "/api/users",
            Some(json!({"login": "ada", "email": "ada@example.com"})),
        )
        .await;
    assert_eq!(status, 200, "{user}");
    (app, git)
}

async fn only_signed_commits_of_active_users_build_on(database: TestDatabase) {
    let (app, git) = setup(database).await;
    let keys = tempfile::tempdir().expect("tempdir");
    let ada = ssh_key(keys.path(), "ada");
    let eve = ssh_key(keys.path(), "eve");
    let ada_pub = keys.path().join("ada.pub");
    let out = key_add(&app, "ada", &ada_pub);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = key_add(&app, "ada", &keys.path().join("ada"));
    assert!(!out.status.success(), "a private key is refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:1:", keys.path().join("ada").display())),
        "{err}"
    );

    // Unsigned: blocked with the reason.
    commit(&git, 1, &[], &[]);
    let build = build_of(&app).await;
    assert_blocked(&build, "is not signed");
    // Someone allowed to approve lets it run.
    let number = build["number"].as_i64().expect("number");
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/repos/acme/api/builds/{number}/approve/1"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let build = app.wait_for_build("acme/api", number).await;
    assert_eq!(build["status"], "success", "{build}");

    // Signed by Ada's registered key: it runs.
    let ada_signs = ["-c", "gpg.format=ssh", "-c"];
    let with_ada = format!("user.signingkey={}", ada.display());
    let mut sign: Vec<&str> = ada_signs.to_vec();
    sign.push(&with_ada);
    commit(&git, 2, &sign, &[]);
    let build = build_of(&app).await;
    assert_eq!(build["status"], "success", "{build}");

    // Signed by a key nobody registered: blocked.
    let with_eve = format!("user.signingkey={}", eve.display());
    let mut sign_eve: Vec<&str> = ada_signs.to_vec();
    sign_eve.push(&with_eve);
    commit(&git, 3, &sign_eve, &[]);
    let build = build_of(&app).await;
    assert_blocked(&build, "not signed by a key registered to an active user");

    // Ada deactivated: her signature no longer counts.
    commit(&git, 4, &sign, &[]);
    patch(&app, "/api/users/ada", json!({"active": false})).await;
    let build = build_of(&app).await;
    assert_eq!(build["status"], "blocked", "{build}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_commits_signed_by_a_key_of_an_active_user_build() {
    only_signed_commits_of_active_users_build_on(TestDatabase::sqlite()).await;
    if let Some(postgres) = TestDatabase::postgres().await {
        only_signed_commits_of_active_users_build_on(postgres).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_signed_with_a_registered_gpg_key_builds() {
    if Command::new("gpg").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs gpg (apt-get install gnupg)"
        );
        eprintln!("skipped: gpg is not installed here (apt-get install gnupg)");
        return;
    }
    let (app, git) = setup(TestDatabase::sqlite()).await;
    let home = tempfile::tempdir().expect("tempdir");
    let env = [("GNUPGHOME", home.path())];
    run(
        home.path(),
        "gpg",
        &[
            "--batch",
            "--quiet",
            "--passphrase",
            "",
            "--quick-gen-key",
            "Ada <ada@example.com>",
            "ed25519",
            "sign",
            "never",
        ],
        &env,
    );
    let armored = run(
        home.path(),
        "gpg",
        &["--armor", "--export", "ada@example.com"],
        &env,
    );
    let file = home.path().join("ada.asc");
    std::fs::write(&file, armored).expect("write");
    let out = key_add(&app, "ada", &file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("added gpg key"));

    commit(&git, 1, &["-c", "user.signingkey=ada@example.com"], &env);
    let build = build_of(&app).await;
    assert_eq!(build["status"], "success", "{build}");

    // Removed, the key no longer counts.
    let out = Command::new(env!("CARGO_BIN_EXE_hangar"))
        .args(["user", "key", "rm", "ada", "1"])
        .env("HANGAR_DATA_DIR", app.data.path())
        .env("HANGAR_DATABASE_URL", app.database.url(app.data.path()))
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    commit(&git, 2, &["-c", "user.signingkey=ada@example.com"], &env);
    let build = build_of(&app).await;
    assert_eq!(build["status"], "blocked", "{build}");
}
