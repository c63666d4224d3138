//! Stories of secrets: written through Drone's API and never read back, handed only to the steps
//! that name them and only to the builds they allow, and masked wherever a step prints them.

use crate::support::{GitRepo, TestApp, step};
use hangar::store::Store;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest;

const TOKEN: &str = "s3cr3t-VALUE-4242";
const ORG_PASSWORD: &str = "org-pa55word-77";
const KEY: &str =
    "-----BEGIN TEST KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END TEST KEY-----";

async fn add_secret(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, json) = app.call(Method::POST, path, Some(body)).await;
    assert_eq!(status, 200, "creating a secret at {path}: {json}");
    json
}

fn sha256(value: &str) -> String {
    hex::encode(sha2::Sha256::digest(value.as_bytes()))
}

#[tokio::test]
async fn secret_values_are_written_but_never_read_back() {
    let app = TestApp::spawn().await;
    let git = GitRepo::with_pipeline("kind: pipeline\ntype: exec\nsteps: []\n");
    app.activate("acme/api", &git).await;

    let created = add_secret(
        &app,
        "/api/repos/acme/api/secrets",
        json!({"name": "token", "data": TOKEN, "branches": ["main"]}),
    )
    .await;
    assert_eq!(created["name"], "token");
    assert_eq!(created["pull_request"], false);
    assert!(created.get("data").is_none(), "{created}");
    add_secret(
        &app,
        "/api/secrets/acme",
        json!({"name": "org_pw", "data": ORG_PASSWORD, "pull_request": true}),
    )
    .await;

    let mut answers = Vec::new();
    for path in [
        "/api/repos/acme/api/secrets",
        "/api/repos/acme/api/secrets/token",
        "/api/secrets/acme",
        "/api/secrets/acme/org_pw",
    ] {
        answers.push(app.get(path).await);
    }
    let (status, changed) = app
        .call(
            Method::PATCH,
            "/api/repos/acme/api/secrets/token",
            Some(json!({"data": "a-new-value-1234", "pull_request_push": true})),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["pull_request_push"], true);
    answers.push(changed);
    let everything = serde_json::to_string(&answers).expect("json");
    for value in [TOKEN, ORG_PASSWORD, "a-new-value-1234"] {
        assert!(
            !everything.contains(value),
            "a value came back: {everything}"
        );
    }
    assert_eq!(answers[0].as_array().map(Vec::len), Some(1));
    assert_eq!(answers[1]["branches"], json!(["main"]));

    // Bad input is refused with a reason; a second secret of the same name is a conflict.
    let (status, body) = app
        .call(
            Method::POST,
            "/api/repos/acme/api/secrets",
            Some(json!({"name": "has space", "data": "x"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app
        .call(
            Method::POST,
            "/api/repos/acme/api/secrets",
            Some(json!({"name": "token", "data": "again"})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(!body.to_string().contains("again"));

    let (status, _) = app
        .call(Method::DELETE, "/api/repos/acme/api/secrets/token", None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .call(Method::GET, "/api/repos/acme/api/secrets/token", None)
        .await;
    assert_eq!(status, 404);

    // Stored sealed under a named key, and every change audited without its value.
    let store = Store::connect(&app.database.url(app.data.path()))
        .await
        .expect("store");
    let trail = store.list_audit(0, 10_000).await.expect("audit");
    let actions: Vec<&str> = trail
        .iter()
        .filter(|e| e.action.starts_with("secret."))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "secret.created",
            "secret.created",
            "secret.updated",
            "secret.deleted"
        ]
    );
    let text = format!("{:?}", trail.iter().map(|e| &e.detail).collect::<Vec<_>>());
    assert!(!text.contains(TOKEN) && !text.contains(ORG_PASSWORD));
    store.close().await;
}

#[tokio::test]
async fn a_step_gets_only_the_secrets_it_names_and_its_log_shows_them_masked() {
    let app = TestApp::spawn().await;
    let git = GitRepo::with_pipeline(
        r#"kind: pipeline
type: exec
clone: {disable: true}
steps:
- name: use
  environment:
    TOKEN: {from_secret: token}
    ORG_PW: {from_secret: org_pw}
    KEY: {from_secret: key}
  commands:
  - printf '%s' "$TOKEN" | sha256sum
  - printf '%s' "$ORG_PW" | sha256sum
  - echo "whole $TOKEN and $ORG_PW"
  - printf '%s' "$TOKEN" | head -c 7; sleep 0.4; printf '%s\n' "$TOKEN" | tail -c +8
  - head -c 65530 /dev/zero | tr '\0' x; printf '%s\n' "$TOKEN"
  - printf '%s\n' "$KEY"
  - printf '%s\n' "$KEY" | sed -n 2p
  - printf '%s' "$TOKEN" > ../token.txt
  - test -z "$UNNAMED" && echo "unnamed is not here"
- name: later
  commands:
  - cat ../token.txt; echo
  - test -z "$TOKEN" && echo "no token without from_secret"
"#,
    );
    app.activate("acme/api", &git).await;
    add_secret(
        &app,
        "/api/repos/acme/api/secrets",
        json!({"name": "token", "data": TOKEN}),
    )
    .await;
    add_secret(
        &app,
        "/api/secrets/acme",
        json!({"name": "org_pw", "data": ORG_PASSWORD}),
    )
    .await;
    add_secret(
        &app,
        "/api/repos/acme/api/secrets",
        json!({"name": "unnamed", "data": "never-asked-for-9999"}),
    )
    .await;
    add_secret(
        &app,
        "/api/repos/acme/api/secrets",
        json!({"name": "key", "data": KEY}),
    )
    .await;

    app.start_build("acme/api", "main").await;
    let build = app.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "success", "{build}");
    let used = app.log_text("acme/api", 1, 1, 1).await;
    let later = app.log_text("acme/api", 1, 1, 2).await;
    // The step had the real values...
    assert!(used.contains(&sha256(TOKEN)), "{used}");
    assert!(used.contains(&sha256(ORG_PASSWORD)), "{used}");
    assert!(used.contains("unnamed is not here"), "{used}");
    assert!(later.contains("no token without from_secret"), "{later}");
    // ...and no log shows them, whole, split across writes in time, or across lines.
    assert!(used.contains("whole ******** and ********"), "{used}");
    // A value cut by the 64 KiB line limit is masked before the cut.
    assert!(
        used.contains("xx********\n"),
        "{}",
        &used[used.len().saturating_sub(400)..]
    );
    let all = format!(
        "{used}{later}{}",
        app.get("/api/repos/acme/api/builds/1").await
    );
    for value in [TOKEN, ORG_PASSWORD, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"] {
        assert!(!all.contains(value), "{value} shows: {all}");
    }
    assert!(later.contains("********"), "{later}");
    assert_eq!(step(&build, 1, "later")["status"], "success");
}

/// A GitHub pull request of `slug` from `source` (a fork when it differs) at `sha`.
fn pull_request(slug: &str, source: &str, sha: &str) -> Value {
    let text = std::fs::read_to_string("tests/data/hooks/github_pull_request_opened.json")
        .expect("fixture");
    let mut pr: Value = serde_json::from_str(&text).expect("json");
    pr["repository"]["full_name"] = json!(slug);
    pr["repository"]["name"] = json!(slug.split('/').nth(1));
    pr["pull_request"]["base"]["repo"]["full_name"] = json!(slug);
    pr["pull_request"]["head"]["repo"]["full_name"] = json!(source);
    pr["pull_request"]["head"]["sha"] = json!(sha);
    pr
}

#[tokio::test]
async fn pull_requests_and_other_branches_get_only_the_secrets_that_allow_them() {
    let app = TestApp::spawn().await;
    let git = GitRepo::with_pipeline(
        r#"kind: pipeline
type: exec
clone: {disable: true}
steps:
- name: show
  environment:
    PLAIN: {from_secret: plain}
    FOR_PRS: {from_secret: for_prs}
    MAIN_ONLY: {from_secret: main_only}
  commands:
  - echo "plain=${PLAIN:+yes} for_prs=${FOR_PRS:+yes} main_only=${MAIN_ONLY:+yes} id=${HANGAR_ID_TOKEN_REQUEST_TOKEN:+yes}"
"#,
    );
    let repo = app.activate("acme/api", &git).await;
    let hook_secret = repo["webhook_secret"].as_str().expect("secret").to_string();
    // Drone's behaviour, so the fork's pull request runs instead of waiting for approval.
    let (status, body) = app
        .call(
            reqwest::Method::PATCH,
            "/api/repos/acme/api",
            Some(json!({"trigger_policy": "any_sender"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let path = "/api/repos/acme/api/secrets";
    add_secret(
        &app,
        path,
        json!({"name": "plain", "data": "plain-value-1"}),
    )
    .await;
    add_secret(
        &app,
        path,
        json!({"name": "for_prs", "data": "pr-value-2", "pull_request": true}),
    )
    .await;
    add_secret(
        &app,
        path,
        json!({"name": "main_only", "data": "main-value-3", "branches": ["main"]}),
    )
    .await;

    app.start_build("acme/api", "main").await;
    git.push("feature");
    app.start_build("acme/api", "feature").await;
    let sha = git.head();
    let (status, body) = app
        .deliver_github(
            "pull_request",
            "pr-1",
            &hook_secret,
            &pull_request("acme/api", "forkfan/api", &sha),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for n in 1..=3 {
        let build = app.wait_for_build("acme/api", n).await;
        assert_eq!(build["status"], "success", "{build}");
    }
    let app = &app;
    let seen = |n| async move { app.log_text("acme/api", n, 1, 1).await };
    assert!(
        seen(1)
            .await
            .contains("plain=yes for_prs=yes main_only=yes id=yes")
    );
    assert!(
        seen(2)
            .await
            .contains("plain=yes for_prs=yes main_only= id=yes")
    );
    let fork = seen(3).await;
    assert!(
        fork.contains("plain= for_prs=yes main_only= id=\n"),
        "a fork's pull request gets only secrets that allow pull requests, and no ID token: {fork}"
    );
}

/// Runs `hangar` with the server's data folder and database.
#[allow(clippy::disallowed_methods)] // the story runs the `hangar` binary itself
pub fn hangar_on(data: &std::path::Path, url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_hangar"))
        .args(args)
        .env("HANGAR_DATA_DIR", data)
        .env("HANGAR_DATABASE_URL", url)
        .output()
        .expect("hangar runs")
}

#[tokio::test]
async fn rotating_the_server_key_keeps_every_secret_usable_and_the_audit_trail_verified() {
    let mut app = TestApp::spawn().await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: use\n  environment:\n    TOKEN: {from_secret: token}\n  commands:\n  - printf '%s' \"$TOKEN\" | sha256sum\n",
    );
    app.activate("acme/api", &git).await;
    add_secret(
        &app,
        "/api/repos/acme/api/secrets",
        json!({"name": "token", "data": TOKEN}),
    )
    .await;
    let keys_before = app.get("/.well-known/jwks.json").await;
    app.start_build("acme/api", "main").await;
    app.wait_for_build("acme/api", 1).await;
    let data = app.data.path().to_path_buf();
    let url = app.database.url(&data);
    // The audit chainer signs a checkpoint (under the old key) before the server stops.
    let store = Store::connect(&url).await.expect("store");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while store
        .list_checkpoints()
        .await
        .expect("checkpoints")
        .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no checkpoint was signed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    store.close().await;
    app.stop().await;
    let key_file = data.join("secret.key");
    let old_key = std::fs::read_to_string(&key_file).expect("key file");
    let out = hangar_on(&data, &url, &["secret", "rotate-key"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_key = std::fs::read_to_string(&key_file).expect("key file");
    assert_ne!(old_key, new_key);
    let out = hangar_on(&data, &url, &["audit", "verify"]);
    assert!(
        out.status.success(),
        "the trail verifies under the new key: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The server starts again on the same data with the new key: same signing keys, and the
    // secret still reaches its step.
    let config = crate::support::config(&data, &url);
    let running = hangar::server::start(config, hangar::clock::system())
        .await
        .expect("the server starts again");
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let keys_after: Value = http
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    assert_eq!(keys_before, keys_after);
    let build: Value = http
        .post(format!("{base}/api/repos/acme/api/builds?branch=main"))
        .bearer_auth(crate::support::ADMIN_TOKEN)
        .send()
        .await
        .expect("build")
        .json()
        .await
        .expect("json");
    let number = build["number"].as_i64().expect("number");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let finished = loop {
        let b: Value = http
            .get(format!("{base}/api/repos/acme/api/builds/{number}"))
            .bearer_auth(crate::support::ADMIN_TOKEN)
            .send()
            .await
            .expect("build")
            .json()
            .await
            .expect("json");
        if crate::support::is_done(&b["status"]) {
            break b;
        }
        assert!(tokio::time::Instant::now() < deadline, "{b}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(finished["status"], "success", "{finished}");
    let lines: Value = http
        .get(format!(
            "{base}/api/repos/acme/api/builds/{number}/logs/1/1"
        ))
        .bearer_auth(crate::support::ADMIN_TOKEN)
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    assert!(lines.to_string().contains(&sha256(TOKEN)), "{lines}");
    running.shutdown.cancel();
    let _ = running.done.await;
}

#[tokio::test]
async fn an_encrypted_secret_in_the_pipeline_file_opens_only_for_its_own_repository() {
    let app = TestApp::spawn().await;
    let git = GitRepo::with_pipeline("kind: pipeline\ntype: exec\nsteps: []\n");
    let other = GitRepo::with_pipeline("kind: pipeline\ntype: exec\nsteps: []\n");
    app.activate("acme/api", &git).await;
    app.activate("acme/web", &other).await;
    let (status, encrypted) = app
        .call(
            Method::POST,
            "/api/repos/acme/api/encrypt",
            Some(json!({"data": TOKEN})),
        )
        .await;
    assert_eq!(status, 200, "{encrypted}");
    let text = encrypted["data"].as_str().expect("data").to_string();
    assert!(!text.contains(TOKEN));
    let pipeline = format!(
        "kind: pipeline\ntype: exec\nclone: {{disable: true}}\nsteps:\n- name: use\n  environment:\n    TOKEN: {{from_secret: token}}\n  commands:\n  - printf '%s' \"$TOKEN\" | sha256sum\n  - echo \"token=$TOKEN\"\n---\nkind: secret\nname: token\ndata: {text}\n"
    );
    for (slug, repo) in [("acme/api", &git), ("acme/web", &other)] {
        repo.commit(".drone.yml", &pipeline, "use an encrypted secret");
        repo.push("main");
        app.start_build(slug, "main").await;
        let build = app.wait_for_build(slug, 1).await;
        assert_eq!(build["status"], "success", "{build}");
    }
    let own = app.log_text("acme/api", 1, 1, 1).await;
    assert!(own.contains(&sha256(TOKEN)), "{own}");
    assert!(
        own.contains("token=********") && !own.contains(TOKEN),
        "{own}"
    );
    let elsewhere = app.log_text("acme/web", 1, 1, 1).await;
    assert!(
        elsewhere.contains("token=\n"),
        "another repository cannot open it: {elsewhere}"
    );
}
