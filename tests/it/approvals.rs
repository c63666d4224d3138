//! Stories of webhook identities: a push acts as the Hangar user its sender's forge login is
//! linked to; under the default trigger policy an unknown sender, a sender without
//! `build.trigger` and a pull request from a fork wait for someone allowed `build.approve`.

use crate::support::database::TestDatabase;
use crate::support::hooks::github_push;
use crate::support::people::person;
use crate::support::{GitRepo, TestApp};
use hangar::config::{Config, RoleGrant};
use reqwest::Method;
use serde_json::{Value, json};

fn roles(config: &mut Config) {
    config.identity.roles = ["developer", "maintainer", "viewer"]
        .into_iter()
        .map(|role| RoleGrant {
            group: format!("{role}s"),
            role: role.into(),
            repos: vec!["acme/*".into()],
        })
        .collect();
}

async fn spawn() -> (TestApp, GitRepo, String) {
    spawn_on(TestDatabase::sqlite()).await
}

async fn spawn_on(database: TestDatabase) -> (TestApp, GitRepo, String) {
    let app = TestApp::spawn_with(database, roles).await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: hello\n  commands: [echo hello]\n",
    );
    let repo = app.activate("acme/api", &git).await;
    let secret = repo["webhook_secret"].as_str().expect("secret").to_string();
    (app, git, secret)
}

/// A push of main delivered as if the GitHub account `sender` made it.
async fn push_as(
    app: &TestApp,
    git: &GitRepo,
    secret: &str,
    sender: &str,
    delivery: &str,
) -> Value {
    let mut payload = github_push("acme/api", "main", &"1".repeat(40), &git.head(), "a change");
    payload["sender"]["login"] = json!(sender);
    payload["pusher"]["name"] = json!(sender);
    let (status, build) = app.deliver_github("push", delivery, secret, &payload).await;
    assert_eq!(status, 200, "{build}");
    build
}

async fn set_policy(app: &TestApp, policy: &str) -> Value {
    let (status, repo) = app
        .call(
            Method::PATCH,
            "/api/repos/acme/api",
            Some(json!({ "trigger_policy": policy })),
        )
        .await;
    assert_eq!(status, 200, "{repo}");
    repo
}

async fn wait_blocked(app: &TestApp, number: i64) -> Value {
    app.wait_until("acme/api", number, |b| {
        b["stages"][0]["status"] == "blocked"
    })
    .await
}

#[tokio::test]
async fn a_linked_sender_builds_as_their_hangar_user_beside_author_and_pusher() {
    let (app, git, secret) = spawn().await;
    let repo = app.get("/api/repos/acme/api").await;
    assert_eq!(repo["trigger_policy"], "known_senders");
    person(&app, "grace", &["developers"], 0).await;
    app.link_forge_login("grace", "github:Grace-H").await;

    let build = push_as(&app, &git, &secret, "grace-h", "d1").await;
    assert_eq!(build["status"], "pending", "{build}");
    assert_eq!(build["author_login"], "ada");
    assert_eq!(build["sender"], "grace-h");
    assert_eq!(build["actor"]["kind"], "user");
    assert_eq!(build["actor"]["login"], "grace");
    assert_eq!(build["actor"]["verified"], true);
    let build = app.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "success", "{build}");
}

#[tokio::test]
async fn an_unknown_sender_waits_for_an_approver_and_keeps_its_identity_once_approved() {
    approval_story(TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn an_unknown_sender_waits_for_an_approver_on_postgresql_too() {
    let Some(database) = TestDatabase::postgres().await else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must set HANGAR_TEST_DATABASE_URL"
        );
        eprintln!("skipped: HANGAR_TEST_DATABASE_URL is not set");
        return;
    };
    approval_story(database).await;
}

async fn approval_story(database: TestDatabase) {
    let (app, git, secret) = spawn_on(database).await;
    let dev = person(&app, "dev", &["developers"], 0).await;
    let lead = person(&app, "lead", &["maintainers"], 0).await;

    let build = push_as(&app, &git, &secret, "mallory", "d1").await;
    assert_eq!(build["status"], "blocked", "{build}");
    assert!(
        build["blocked_reason"]
            .as_str()
            .is_some_and(|r| r.contains("github:mallory is not linked")),
        "{build}"
    );
    assert_eq!(build["actor"]["login"], "github:mallory");
    assert_eq!(build["actor"]["verified"], false);
    wait_blocked(&app, 1).await;

    let (status, body) = app
        .call_as(
            Some(&dev.token),
            Method::POST,
            "/api/repos/acme/api/builds/1/approve/1",
            None,
        )
        .await;
    assert_eq!(status, 403, "a developer may not approve: {body}");
    assert_eq!(wait_blocked(&app, 1).await["status"], "blocked");

    let (status, approved) = app
        .call_as(
            Some(&lead.token),
            Method::POST,
            "/api/repos/acme/api/builds/1/approve/1",
            None,
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["approved_by"], "lead");
    let build = app.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "success", "{build}");
    assert_eq!(build["actor"]["login"], "github:mallory", "{build}");

    let (status, _) = app
        .call_as(
            Some(&lead.token),
            Method::POST,
            "/api/repos/acme/api/builds/1/approve/1",
            None,
        )
        .await;
    assert_eq!(status, 409, "a build that ran cannot be approved again");
    let store = crate::support::people::store(&app).await;
    let trail = store.list_audit(0, 100_000).await.expect("audit trail");
    store.close().await;
    assert!(
        trail
            .iter()
            .any(|e| e.action == "build.approved" && e.actor_name == "lead"),
        "the approval is in the audit trail, by its approver"
    );
}

#[tokio::test]
async fn a_declined_build_never_runs() {
    let (app, git, secret) = spawn().await;
    push_as(&app, &git, &secret, "mallory", "d1").await;
    wait_blocked(&app, 1).await;
    let (status, declined) = app
        .call(Method::POST, "/api/repos/acme/api/builds/1/decline/1", None)
        .await;
    assert_eq!(status, 200, "{declined}");
    assert_eq!(declined["status"], "declined");
    assert_eq!(declined["stages"][0]["status"], "declined");
    let (status, _) = app
        .call(Method::POST, "/api/repos/acme/api/builds/1/approve/1", None)
        .await;
    assert_eq!(status, 409, "a declined build cannot be approved");
}

#[tokio::test]
async fn a_sender_without_build_trigger_and_a_fork_pull_request_wait_for_approval() {
    let (app, git, secret) = spawn().await;
    person(&app, "val", &["viewers"], 0).await;
    app.link_forge_login("val", "github:val").await;
    let build = push_as(&app, &git, &secret, "val", "d1").await;
    assert_eq!(build["status"], "blocked", "{build}");
    assert!(
        build["blocked_reason"]
            .as_str()
            .is_some_and(|r| r.contains("may not build.trigger")),
        "{build}"
    );
    assert_eq!(build["actor"]["login"], "val");

    let sha = git.head();
    let pull = json!({
        "action": "opened",
        "number": 7,
        "pull_request": {
            "number": 7,
            "title": "a change from a fork",
            "head": { "sha": sha, "ref": "feature", "repo": { "full_name": "ada/api" } },
            "base": { "sha": sha, "ref": "main", "repo": { "full_name": "acme/api" } },
            "user": { "login": "ada" }
        },
        "repository": { "full_name": "acme/api" },
        "sender": { "login": "ada" }
    });
    let (status, build) = app
        .deliver_github("pull_request", "d2", &secret, &pull)
        .await;
    assert_eq!(status, 200, "{build}");
    assert_eq!(build["status"], "blocked", "{build}");
    assert!(
        build["blocked_reason"]
            .as_str()
            .is_some_and(|r| r.contains("fork")),
        "{build}"
    );
}

#[tokio::test]
async fn the_trigger_policy_chooses_between_drones_behaviour_and_approval_for_everyone() {
    let (app, git, secret) = spawn().await;
    let (status, body) = app
        .call(
            Method::PATCH,
            "/api/repos/acme/api",
            Some(json!({ "trigger_policy": "everyone" })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("known_senders"))
    );

    let repo = set_policy(&app, "any_sender").await;
    assert_eq!(repo["trigger_policy"], "any_sender");
    let build = push_as(&app, &git, &secret, "mallory", "d1").await;
    assert_eq!(build["status"], "pending", "{build}");
    assert_eq!(build["actor"]["kind"], "forge");
    assert_eq!(build["actor"]["verified"], false);
    assert_eq!(app.wait_for_build("acme/api", 1).await["status"], "success");

    set_policy(&app, "approval").await;
    // Even the linked admin's push waits.
    let build = push_as(&app, &git, &secret, "ada", "d2").await;
    assert_eq!(build["status"], "blocked", "{build}");
    assert_eq!(build["actor"]["login"], "bootstrap-admin");
    wait_blocked(&app, 2).await;
    let (status, _) = app
        .call(Method::POST, "/api/repos/acme/api/builds/2/approve/1", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.wait_for_build("acme/api", 2).await["status"], "success");
}

#[tokio::test]
#[allow(clippy::disallowed_methods)] // the story runs the `hangar` binary itself
async fn hangar_user_link_makes_a_newcomers_first_push_build_as_them() {
    let (app, git, secret) = spawn().await;
    person(&app, "newcomer", &["developers"], 0).await;
    let database = app.database.url(app.data.path());
    let data = app.data.path().to_path_buf();
    let link = move |user: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hangar"))
            .args(["user", "link", user, "--forge", "github:NewComer"])
            .env("HANGAR_DATABASE_URL", &database)
            .env("HANGAR_DATA_DIR", &data)
            .env("HANGAR_LOG", "error")
            .output()
            .expect("hangar runs")
    };
    let (missing, linked) = tokio::task::spawn_blocking(move || (link("nobody"), link("newcomer")))
        .await
        .expect("joins");
    assert!(
        !missing.status.success(),
        "linking to an unknown user fails"
    );
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no user named \"nobody\""),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    assert!(
        linked.status.success(),
        "{}",
        String::from_utf8_lossy(&linked.stderr)
    );

    let build = push_as(&app, &git, &secret, "newcomer", "d1").await;
    assert_eq!(build["status"], "pending", "{build}");
    assert_eq!(build["actor"]["login"], "newcomer");
    assert_eq!(app.wait_for_build("acme/api", 1).await["status"], "success");
}

#[tokio::test]
async fn a_sender_taken_at_the_forges_word_gets_id_tokens_only_where_the_repository_allows_it() {
    let (app, git, secret) = spawn().await;
    git.commit(
        ".drone.yml",
        "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: ask\n  commands:\n  - echo \"grant:${HANGAR_ID_TOKEN_REQUEST_TOKEN:+given}\"\n",
        "print whether an ID-token grant was given",
    );
    git.push("main");
    let repo = set_policy(&app, "any_sender").await;
    assert_eq!(repo["untrusted_id_tokens"], false);

    push_as(&app, &git, &secret, "mallory", "d1").await;
    let build = app.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "success", "{build}");
    let log = app.log_text("acme/api", 1, 1, 1).await;
    assert!(
        log.contains("grant:\n") && !log.contains("grant:given"),
        "{log}"
    );

    let (status, repo) = app
        .call(
            Method::PATCH,
            "/api/repos/acme/api",
            Some(json!({ "untrusted_id_tokens": true })),
        )
        .await;
    assert_eq!(status, 200, "{repo}");
    assert_eq!(repo["untrusted_id_tokens"], true);
    push_as(&app, &git, &secret, "mallory", "d2").await;
    assert_eq!(app.wait_for_build("acme/api", 2).await["status"], "success");
    let log = app.log_text("acme/api", 2, 1, 1).await;
    assert!(log.contains("grant:given"), "{log}");
}
