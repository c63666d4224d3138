//! Stories of the command line: `hangar lint` on files, `hangar repo` and `hangar build` against
//! a running server.

#![allow(clippy::disallowed_methods)] // these stories run the `hangar` binary itself

use crate::support::{ADMIN_TOKEN, GitRepo, TestApp};
use std::path::Path;
use std::process::{Command, Output};

pub(crate) fn hangar(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hangar"));
    cmd.args(args)
        .env_remove("HANGAR_SERVER")
        .env_remove("HANGAR_TOKEN")
        .env_remove("DRONE_SERVER")
        .env_remove("DRONE_TOKEN")
        // No login kept by `hangar login` on this machine leaks into these stories.
        .env(
            "HANGAR_CONFIG_DIR",
            std::env::temp_dir().join("hangar-it-never-logged-in"),
        );
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("hangar runs")
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/pipelines")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn lint_prints_the_resolved_plan_as_json() {
    let out = hangar(
        &[
            "lint",
            "--format",
            "json",
            &fixture("multi-document-dag.yml"),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let pipelines = plan["pipelines"].as_array().expect("pipelines");
    assert!(!pipelines.is_empty());
    for p in pipelines {
        assert!(p["name"].is_string() && p["type"].is_string() && p["depends_on"].is_array());
        for s in p["steps"].as_array().expect("steps") {
            assert!(s["name"].is_string() && s["depends_on"].is_array());
            assert_ne!(s["name"], "clone", "the clone is not listed");
        }
    }
}

#[test]
fn lint_makes_serial_steps_explicit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join(".drone.yml");
    std::fs::write(&file, "kind: pipeline\ntype: exec\nsteps:\n- name: a\n  commands: [x]\n- name: b\n  commands: [x]\n").expect("write");
    let out = hangar(&["lint", "--format", "json", &file.to_string_lossy()], &[]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        plan,
        serde_json::json!({"pipelines": [{"name": "default", "type": "exec", "depends_on": [],
            "steps": [{"name": "a", "depends_on": []}, {"name": "b", "depends_on": ["a"]}]}]})
    );
}

#[test]
fn lint_reports_errors_with_file_line_and_column_and_fails() {
    let file = fixture("lint-step-cycle.yml");
    let out = hangar(&["lint", &file], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!("{file}:5:9: error: dependency cycle")),
        "{err}"
    );
}

#[test]
fn lint_refuses_privileged_steps_unless_told_the_repository_is_trusted() {
    let file = fixture("lint-privileged.yml");
    assert!(!hangar(&["lint", &file], &[]).status.success());
    assert!(hangar(&["lint", "--trusted", &file], &[]).status.success());
}

#[test]
fn lint_warns_about_unknown_keys_but_passes() {
    let out = hangar(&["lint", &fixture("unknown-keys.yml")], &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: unknown key"));
}

#[tokio::test]
async fn repo_add_prints_the_webhook_secret_and_build_start_runs_a_build() {
    let app = TestApp::spawn().await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nsteps:\n- name: hi\n  commands: [echo hi]\n",
    );
    let (server, url) = (app.url.clone(), git.url());
    let out = tokio::task::spawn_blocking(move || {
        hangar(
            &["repo", "add", "acme/cli", "--clone-url", &url],
            &[("HANGAR_SERVER", &server), ("DRONE_TOKEN", ADMIN_TOKEN)],
        )
    })
    .await
    .expect("joins");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let secret = app.get("/api/repos/acme/cli").await["webhook_secret"]
        .as_str()
        .expect("secret")
        .to_string();
    assert!(
        text.contains(&format!("webhook secret: {secret}")),
        "{text}"
    );
    let server = app.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        hangar(
            &["build", "start", "acme/cli", "--branch", "main"],
            &[
                ("DRONE_SERVER", server.as_str()),
                ("HANGAR_TOKEN", ADMIN_TOKEN),
            ],
        )
    })
    .await
    .expect("joins");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(app.wait_for_build("acme/cli", 1).await["status"], "success");
}

#[test]
fn client_commands_say_which_variables_they_need() {
    let out = hangar(&["repo", "ls"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("HANGAR_SERVER"));
}

#[tokio::test]
async fn repo_forge_set_reads_the_token_from_stdin_and_build_purge_deletes_old_builds() {
    use std::io::Write;
    let app = TestApp::spawn().await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: hi\n  commands: [echo hi]\n",
    );
    app.activate("acme/api", &git).await;
    app.start_build("acme/api", "main").await;
    app.wait_for_build("acme/api", 1).await;
    let server = app.url.clone();
    let (set, show, purge) = tokio::task::spawn_blocking(move || {
        let env = [
            ("HANGAR_SERVER", server.as_str()),
            ("HANGAR_TOKEN", ADMIN_TOKEN),
        ];
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hangar"));
        cmd.args(["repo", "forge", "set", "acme/api", "--kind", "github"])
            .env(
                "HANGAR_CONFIG_DIR",
                std::env::temp_dir().join("hangar-it-never-logged-in"),
            )
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("hangar runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"ghp_fromstdin123\n")
            .expect("write the token");
        let set = child.wait_with_output().expect("hangar ends");
        let show = hangar(&["repo", "forge", "show", "acme/api"], &env);
        let purge = hangar(&["build", "purge", "acme/api", "--before", "2"], &env);
        (set, show, purge)
    })
    .await
    .expect("joins");
    for out in [&set, &show, &purge] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains("ghp_fromstdin123"), "{all}");
    }
    assert!(String::from_utf8_lossy(&show.stdout).contains("\"token_set\": true"));
    assert!(String::from_utf8_lossy(&purge.stdout).contains("1 builds deleted"));
    let (status, _) = app
        .call(reqwest::Method::GET, "/api/repos/acme/api/builds/1", None)
        .await;
    assert_eq!(status, 404);
}
