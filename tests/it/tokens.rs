//! Stories of API tokens: people make personal access tokens, see them once, use them the ways
//! Drone clients do, and lose them at once when they are revoked or expire. The helpers here
//! serve `users.rs` too.

#![allow(clippy::disallowed_methods)] // the CLI story runs the `hangar` binary itself

use crate::support::{ADMIN_TOKEN, TestApp, database::TestDatabase};
use hangar::clock::FixedClock;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;

/// Creates a person account `login` and returns a first token of theirs.
pub async fn person(app: &TestApp, login: &str) -> String {
    let (status, user) = app
        .call(Method::POST, "/api/users", Some(json!({ "login": login })))
        .await;
    assert_eq!(status, 200, "creating {login}: {user}");
    assert!(
        user.get("token").is_none(),
        "a person gets no token: {user}"
    );
    let (status, rotated) = app
        .call(
            Method::POST,
            &format!("/api/users/{login}/token/rotate"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    rotated["token"].as_str().expect("a token").to_string()
}

/// `POST /api/user/tokens` as the holder of `token`.
pub async fn make(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    app.call_as(Some(token), Method::POST, "/api/user/tokens", Some(body))
        .await
}

pub async fn whoami(app: &TestApp, token: &str) -> u16 {
    app.call_as(Some(token), Method::GET, "/api/user", None)
        .await
        .0
}

/// Every audit entry, read straight from the server's database.
pub async fn audit(app: &TestApp) -> Vec<hangar::store::AuditRecord> {
    let store = hangar::store::Store::connect(&app.database.url(app.data.path()))
        .await
        .expect("the database opens");
    let events = store.list_audit(0, 10_000).await.expect("audit");
    store.close().await;
    events
}

/// The audit trail once it holds an `action` entry (token use is recorded off the request
/// path, a moment later).
async fn audit_with(app: &TestApp, action: &str) -> Vec<hangar::store::AuditRecord> {
    for _ in 0..500 {
        let events = audit(app).await;
        if events.iter().any(|e| e.action == action) {
            return events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no {action} in the audit trail");
}

async fn a_personal_token_story(app: &TestApp) {
    let alice = person(app, "alice").await;
    assert!(alice.starts_with("hgr_pat_"), "{alice}");
    let (status, made) = make(
        app,
        &alice,
        json!({ "name": "laptop", "expires_in": 3600, "scopes": ["repo.read", "build.trigger:acme/*"] }),
    )
    .await;
    assert_eq!(status, 200, "{made}");
    let secret = made["token"].as_str().expect("the token, once").to_string();
    assert!(secret.starts_with("hgr_pat_"));
    assert_eq!(made["name"], "laptop");
    assert_eq!(made["scopes"], json!(["repo.read", "build.trigger:acme/*"]));
    assert!(made["expires"].as_i64().expect("expires") > made["created"].as_i64().expect("c"));

    assert_eq!(whoami(app, &secret).await, 200);
    let (status, list) = app
        .call_as(Some(&alice), Method::GET, "/api/user/tokens", None)
        .await;
    assert_eq!(status, 200);
    assert!(
        !list.to_string().contains(&secret),
        "the list never shows a secret"
    );
    let listed = list
        .as_array()
        .expect("a list")
        .iter()
        .find(|t| t["id"] == made["id"])
        .expect("the new token is listed");
    assert_eq!(listed["prefix"].as_str(), Some(&secret[..12]));
    assert_eq!(listed["revoked"], 0);
    assert!(listed.get("token").is_none());

    let path = format!("/api/user/tokens/{}", made["id"]);
    let (status, _) = app.call_as(Some(&alice), Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    assert_eq!(
        whoami(app, &secret).await,
        401,
        "revoked tokens fail at once"
    );
    assert_eq!(whoami(app, &alice).await, 200, "other tokens still work");

    let events = audit_with(app, "token.first_used").await;
    for action in [
        "user.created",
        "token.created",
        "token.revoked",
        "token.first_used",
    ] {
        assert!(events.iter().any(|e| e.action == action), "{action}");
    }
    assert!(
        events
            .iter()
            .all(|e| !e.detail.contains(&secret) && !e.detail.contains(&alice)),
        "no secret in the audit trail"
    );
}

#[tokio::test]
async fn a_personal_token_is_shown_once_works_and_fails_at_once_when_revoked() {
    let app = TestApp::spawn().await;
    a_personal_token_story(&app).await;
}

#[tokio::test]
async fn the_personal_token_story_holds_on_postgres() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let app = TestApp::spawn_with(db, |_| {}).await;
    a_personal_token_story(&app).await;
}

#[tokio::test]
async fn an_expired_token_is_refused_from_its_expiry_on() {
    let clock = Arc::new(FixedClock::at(1_700_000_000_000));
    let app = TestApp::spawn_with_clock(TestDatabase::sqlite(), |_| {}, clock.clone()).await;
    let bob = person(&app, "bob").await;
    let (_, made) = make(&app, &bob, json!({ "name": "short", "expires_in": 60 })).await;
    let secret = made["token"].as_str().expect("token");
    assert_eq!(whoami(&app, secret).await, 200);
    clock.advance_ms(59_999);
    assert_eq!(whoami(&app, secret).await, 200);
    clock.advance_ms(1);
    assert_eq!(whoami(&app, secret).await, 401);
}

#[tokio::test]
async fn a_token_is_accepted_as_a_bearer_a_bare_header_or_access_token() {
    let app = TestApp::spawn().await;
    let alice = person(&app, "alice").await;
    let url = format!("{}/api/user", app.url);
    let bearer = app
        .http
        .get(&url)
        .bearer_auth(&alice)
        .send()
        .await
        .expect("answer");
    let bare = app
        .http
        .get(&url)
        .header("Authorization", &alice)
        .send()
        .await
        .expect("answer");
    let query = app
        .http
        .get(format!("{url}?access_token={alice}"))
        .send()
        .await
        .expect("answer");
    for resp in [bearer, bare, query] {
        assert_eq!(resp.status(), 200);
        let me: Value = resp.json().await.expect("json");
        assert_eq!(me["login"], "alice");
    }
}

#[tokio::test]
async fn token_requests_are_checked_strictly() {
    let app = TestApp::spawn().await;
    let alice = person(&app, "alice").await;
    let max = 90 * 86400;
    for (body, why) in [
        (
            json!({ "name": "x", "expires_in": 60, "scopes": ["repo.write"] }),
            "unknown action",
        ),
        (
            json!({ "name": "x", "expires_in": 60, "scopes": ["repo.read:acme"] }),
            "bad pattern",
        ),
        (
            json!({ "name": "x", "expires_in": 60, "scopes": ["user.manage:acme/*"] }),
            "global action with a repo",
        ),
        (
            json!({ "name": "x", "expires_in": 60, "scopes": [] }),
            "no scope at all",
        ),
        (json!({ "name": "x" }), "no expiry"),
        (json!({ "name": "x", "expires_in": 0 }), "zero lifetime"),
        (
            json!({ "name": "x", "expires_in": max + 1 }),
            "over the maximum",
        ),
        (json!({ "name": "", "expires_in": 60 }), "no name"),
    ] {
        let (status, body) = make(&app, &alice, body).await;
        assert_eq!(status, 422, "{why}: {body}");
        assert!(body["message"].is_string());
    }
    let (status, _) = make(
        &app,
        &alice,
        json!({ "name": "x", "expires_in": 60, "colour": "red" }),
    )
    .await;
    assert_eq!(status, 400, "unknown fields are refused");
    let (status, made) = make(
        &app,
        &alice,
        json!({ "name": "longest", "expires_in": max }),
    )
    .await;
    assert_eq!(status, 200, "{made}");
}

#[tokio::test]
async fn a_max_expiry_set_in_the_config_is_enforced() {
    let app = TestApp::spawn_with(TestDatabase::sqlite(), |c| {
        c.identity.token_max_expiry = std::time::Duration::from_secs(3600);
    })
    .await;
    let alice = person(&app, "alice").await;
    assert_eq!(
        make(&app, &alice, json!({ "name": "a", "expires_in": 3601 }))
            .await
            .0,
        422
    );
    let (status, made) = make(&app, &alice, json!({ "name": "a", "expires_in": 3600 })).await;
    assert_eq!(status, 200);
    assert_eq!(
        made["expires"].as_i64().expect("e") - made["created"].as_i64().expect("c"),
        3600
    );
}

#[tokio::test]
async fn scoped_tokens_make_no_tokens_and_nobody_revokes_anothers_token() {
    let app = TestApp::spawn().await;
    let alice = person(&app, "alice").await;
    let bob = person(&app, "bob").await;
    let (_, scoped) = make(
        &app,
        &alice,
        json!({ "name": "bot", "expires_in": 600, "scopes": ["repo.read"] }),
    )
    .await;
    let scoped_secret = scoped["token"].as_str().expect("token");
    let (status, _) = make(
        &app,
        scoped_secret,
        json!({ "name": "wider", "expires_in": 600 }),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .call_as(Some(scoped_secret), Method::POST, "/api/user/token", None)
        .await;
    assert_eq!(status, 403);

    let path = format!("/api/user/tokens/{}", scoped["id"]);
    assert_eq!(
        app.call_as(Some(&bob), Method::DELETE, &path, None).await.0,
        404
    );
    assert_eq!(whoami(&app, scoped_secret).await, 200);
    assert_eq!(
        app.call(Method::DELETE, &path, None).await.0,
        204,
        "an administrator may"
    );
    assert_eq!(whoami(&app, scoped_secret).await, 401);
}

#[tokio::test]
async fn malformed_and_unknown_tokens_get_401_without_an_echo() {
    let app = TestApp::spawn().await;
    let alice = person(&app, "alice").await;
    let mut flipped = alice.clone().into_bytes();
    flipped[12] = if flipped[12] == b'a' { b'b' } else { b'a' };
    let flipped = String::from_utf8(flipped).expect("ascii");
    for token in [
        flipped.as_str(),
        "hgr_pat_nonsense",
        "not-a-token-at-all-0000000",
    ] {
        let (status, body) = app
            .call_as(Some(token), Method::GET, "/api/user", None)
            .await;
        assert_eq!(status, 401);
        assert!(!body.to_string().contains(token));
    }
    let (status, _) = app
        .call_as(Some(ADMIN_TOKEN), Method::GET, "/api/user", None)
        .await;
    assert_eq!(status, 200, "the bootstrap token keeps working");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_makes_lists_and_revokes_tokens() {
    let app = TestApp::spawn().await;
    let alice = person(&app, "alice").await;
    let (url, token) = (app.url.clone(), alice.clone());
    let hangar = move |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hangar"))
            .args(args)
            .env_remove("DRONE_SERVER")
            .env_remove("DRONE_TOKEN")
            .env("HANGAR_SERVER", &url)
            .env("HANGAR_TOKEN", &token)
            .output()
            .expect("hangar runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let run = |args: &[&str]| {
        let hangar = hangar.clone();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            hangar(&args)
        })
    };
    let made = run(&[
        "token",
        "create",
        "--name",
        "agent",
        "--expires",
        "30d",
        "--scope",
        "build.trigger:acme/*",
    ])
    .await
    .expect("joined");
    let secret = made.trim().to_string();
    assert!(secret.starts_with("hgr_pat_"), "{made}");
    assert_eq!(whoami(&app, &secret).await, 200);
    let listed = run(&["token", "list"]).await.expect("joined");
    assert!(
        listed.contains("agent") && listed.contains("build.trigger:acme/*"),
        "{listed}"
    );
    assert!(listed.contains(&secret[..12]) && !listed.contains(&secret));
    let (_, list) = app
        .call_as(Some(&alice), Method::GET, "/api/user/tokens", None)
        .await;
    let id = list[0]["id"].as_i64().expect("id").to_string();
    run(&["token", "revoke", &id]).await.expect("joined");
    assert_eq!(whoami(&app, &secret).await, 401);
}
