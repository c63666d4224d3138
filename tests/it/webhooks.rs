//! Stories of webhooks: signed pushes build, forged or broken ones are refused and change
//! nothing, redeliveries build once.

use crate::support::hooks::{github_push, sign};
use crate::support::{GitRepo, TestApp};
use reqwest::Method;

const PIPELINE: &str = "kind: pipeline\ntype: exec\nname: default\nclone:\n  disable: true\nsteps:\n- name: hello\n  commands:\n  - echo hello from $DRONE_REPO at $DRONE_BRANCH\n";

async fn builds_of(app: &TestApp, slug: &str) -> usize {
    app.get(&format!("/api/repos/{slug}/builds"))
        .await
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test]
async fn a_signed_push_builds_the_pushed_commit_and_its_log_is_readable() {
    let app = TestApp::spawn().await;
    let git = GitRepo::with_pipeline(PIPELINE);
    let repo = app.activate("acme/api", &git).await;
    let secret = repo["webhook_secret"].as_str().expect("a webhook secret");
    let queued = app
        .push("acme/api", secret, &git, "main", "delivery-1")
        .await;
    assert_eq!(queued["number"], 1);
    assert_eq!(queued["event"], "push");
    let build = app.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "success", "{build}");
    assert_eq!(build["after"], git.head());
    assert_eq!(build["sender"], "ada");
    assert_eq!(
        app.log_text("acme/api", 1, 1, 1).await,
        "+ echo hello from $DRONE_REPO at $DRONE_BRANCH\nhello from acme/api at main\n"
    );
}

#[tokio::test]
async fn a_redelivered_webhook_does_not_build_twice() {
    let app = TestApp::spawn().await;
    let git = GitRepo::with_pipeline(PIPELINE);
    let repo = app.activate("acme/api", &git).await;
    let secret = repo["webhook_secret"].as_str().expect("secret");
    let first = app
        .push("acme/api", secret, &git, "main", "same-delivery")
        .await;
    let again = app
        .push("acme/api", secret, &git, "main", "same-delivery")
        .await;
    assert_eq!(first["number"], again["number"]);
    assert_eq!(builds_of(&app, "acme/api").await, 1);
}

#[tokio::test]
async fn a_webhook_with_a_bad_or_missing_signature_is_refused_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let git = GitRepo::with_pipeline(PIPELINE);
    app.activate("acme/api", &git).await;
    let payload = github_push("acme/api", "main", "", &git.head(), "change");
    let (status, body) = app
        .deliver_github("push", "d1", "not-the-secret", &payload)
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("signature"))
    );
    let raw = serde_json::to_vec(&payload).expect("json");
    let (status, _) = app.deliver_raw(&[("X-GitHub-Event", "push")], raw).await;
    assert_eq!(status, 401);
    assert_eq!(builds_of(&app, "acme/api").await, 0);
}

#[tokio::test]
async fn a_webhook_for_an_unknown_repository_is_not_found() {
    let app = TestApp::spawn().await;
    let payload = github_push("nobody/nothing", "main", "", &"a".repeat(40), "change");
    let (status, body) = app.deliver_github("push", "d1", "whatever", &payload).await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn a_payload_over_five_mebibytes_is_too_large() {
    let app = TestApp::spawn().await;
    let body = vec![b' '; 5 * 1024 * 1024 + 1];
    let (status, reply) = app.deliver_raw(&[("X-GitHub-Event", "push")], body).await;
    assert_eq!(status, 413, "{reply}");
}

#[tokio::test]
async fn malformed_json_is_a_bad_request_with_a_message() {
    let app = TestApp::spawn().await;
    let git = GitRepo::with_pipeline(PIPELINE);
    let repo = app.activate("acme/api", &git).await;
    let secret = repo["webhook_secret"].as_str().expect("secret");
    // Names the repository, so the signature is checked first; then the payload is broken.
    let body = br#"{"repository": {"full_name": "acme/api"}, "ref": 12, "after": ["#.to_vec();
    let sig = format!("sha256={}", sign(secret, &body));
    let (status, reply) = app
        .deliver_raw(
            &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &sig)],
            body,
        )
        .await;
    assert_eq!(status, 400, "{reply}");
    assert!(reply["message"].is_string());
    let (status, reply) = app
        .call(
            Method::POST,
            "/api/repos/acme/other",
            Some(serde_json::json!("not an object")),
        )
        .await;
    assert_eq!(status, 400, "{reply}");
}

#[tokio::test]
async fn a_commit_message_with_ci_skip_builds_nothing() {
    let app = TestApp::spawn().await;
    let git = GitRepo::with_pipeline(PIPELINE);
    let repo = app.activate("acme/api", &git).await;
    let secret = repo["webhook_secret"].as_str().expect("secret");
    git.commit("README", "docs", "docs only [ci skip]");
    git.push("main");
    let payload = github_push("acme/api", "main", "", &git.head(), "docs only [ci skip]");
    let (status, reply) = app.deliver_github("push", "d-skip", secret, &payload).await;
    assert_eq!(status, 200);
    assert!(
        reply["message"]
            .as_str()
            .is_some_and(|m| m.contains("[ci skip]")),
        "{reply}"
    );
    assert_eq!(builds_of(&app, "acme/api").await, 0);
}

#[tokio::test]
async fn the_clone_uses_the_configured_url_never_the_one_in_the_payload() {
    let app = TestApp::spawn().await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nsteps:\n- name: show\n  commands:\n  - git remote get-url origin\n  - cat marker.txt\n",
    );
    git.commit("marker.txt", "from the real repository\n", "marker");
    let repo = app.activate("acme/api", &git).await;
    let secret = repo["webhook_secret"].as_str().expect("secret");
    app.push("acme/api", secret, &git, "main", "d1").await;
    let build = app.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "success", "{build}");
    let log = app.log_text("acme/api", 1, 1, 2).await;
    assert!(log.contains(&git.url()), "{log}");
    assert!(log.contains("from the real repository"), "{log}");
    assert!(!log.contains("evil.example.com"));
}
