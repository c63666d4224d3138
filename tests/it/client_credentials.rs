//! Stories of the client-credentials grant: a service account trades one of its `hgr_sa_`
//! tokens for a short-lived `hgr_at_` access token, never wider than the token it comes from;
//! people, wrong secrets, expired tokens, wider scopes and other grants are refused in OAuth's
//! words.

use crate::support::{GitRepo, TestApp, database::TestDatabase};
use crate::tokens::{audit, person, whoami};
use base64::Engine;
use hangar::clock::FixedClock;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;

/// Creates service account `login` (an administrator when `admin`); returns its first token.
async fn service_account(app: &TestApp, login: &str, admin: bool) -> String {
    let (status, made) = app
        .call(
            Method::POST,
            "/api/users",
            Some(json!({ "login": login, "machine": true, "admin": admin })),
        )
        .await;
    assert_eq!(status, 200, "{made}");
    let token = made["token"].as_str().expect("a first token").to_string();
    assert!(token.starts_with("hgr_sa_"), "{token}");
    token
}

/// `POST /oauth/token` with a form and, when given, HTTP Basic credentials.
async fn token_request(
    app: &TestApp,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut req = app
        .http
        .post(format!("{}/oauth/token", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some((id, secret)) = basic {
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        req = req.header("authorization", format!("Basic {pair}"));
    }
    let resp = req.send().await.expect("the server answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body: Value = resp.json().await.expect("a JSON answer");
    (status, body, headers)
}

/// Asks for an access token as `login` with `secret` (HTTP Basic) and `scope`.
async fn client_credentials(
    app: &TestApp,
    login: &str,
    secret: &str,
    scope: Option<&str>,
) -> (u16, Value) {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    let (status, body, _) = token_request(app, Some((login, secret)), &form).await;
    (status, body)
}

fn assert_oauth_error(status: u16, body: &Value, want_status: u16, error: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    assert_eq!(body["message"], body["error_description"], "{body}");
}

async fn a_service_account_story(app: &TestApp) {
    let sa = service_account(app, "deployer", false).await;
    let (status, answer, headers) = token_request(
        app,
        Some(("deployer", &sa)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(headers["cache-control"], "no-store");
    let access = answer["access_token"]
        .as_str()
        .expect("a token")
        .to_string();
    assert!(access.starts_with("hgr_at_"), "{access}");
    assert_eq!(answer["token_type"], "Bearer");
    let expires_in = answer["expires_in"].as_i64().expect("expires_in");
    assert!((1..=900).contains(&expires_in), "{answer}");
    assert!(answer.get("scope").is_none(), "all of its rights: {answer}");

    let (status, me) = app
        .call_as(Some(&access), Method::GET, "/api/user", None)
        .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["login"], "deployer");
    assert!(me["machine"].as_bool().expect("machine"));

    let (_, listed) = app
        .call_as(Some(&sa), Method::GET, "/api/user/tokens", None)
        .await;
    let stored = listed
        .as_array()
        .expect("a list")
        .iter()
        .find(|t| t["kind"] == "access")
        .expect("the access token is listed beside the others")
        .clone();
    assert_eq!(stored["prefix"].as_str(), Some(&access[..11]));
    assert!(!listed.to_string().contains(&access));

    let (status, _) = app
        .call_as(
            Some(&sa),
            Method::DELETE,
            &format!("/api/user/tokens/{}", stored["id"]),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(whoami(app, &access).await, 401, "revoked at once");
    assert_eq!(whoami(app, &sa).await, 200);

    let trail = audit(app).await;
    let created = trail
        .iter()
        .find(|e| e.action == "token.created" && e.detail.contains("client_credentials"))
        .expect("the access token's creation is audited");
    assert_eq!(created.actor_name, "deployer");
    assert!(
        trail
            .iter()
            .all(|e| !e.detail.contains(&access) && !e.detail.contains(&sa))
    );
}

#[tokio::test]
async fn a_service_account_gets_a_short_lived_access_token_that_works_and_can_be_revoked() {
    let app = TestApp::spawn().await;
    a_service_account_story(&app).await;
}

#[tokio::test]
async fn the_service_account_story_holds_on_postgres() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let app = TestApp::spawn_with(db, |_| {}).await;
    a_service_account_story(&app).await;
}

#[tokio::test]
async fn the_access_token_expires_after_fifteen_minutes_and_never_outlives_its_parent() {
    let clock = Arc::new(FixedClock::at(1_700_000_000_000));
    let app = TestApp::spawn_with_clock(TestDatabase::sqlite(), |_| {}, clock.clone()).await;
    let sa = service_account(&app, "deployer", false).await;
    let (status, answer) = client_credentials(&app, "deployer", &sa, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["expires_in"], 900);
    let access = answer["access_token"].as_str().expect("token").to_string();
    clock.advance_ms(900_000 - 1);
    assert_eq!(whoami(&app, &access).await, 200);
    clock.advance_ms(1);
    assert_eq!(whoami(&app, &access).await, 401, "expired");

    let (_, short) = app
        .call_as(
            Some(&sa),
            Method::POST,
            "/api/user/tokens",
            Some(json!({ "name": "short", "expires_in": 60 })),
        )
        .await;
    let short = short["token"].as_str().expect("token").to_string();
    assert!(short.starts_with("hgr_sa_"));
    let (status, answer) = client_credentials(&app, "deployer", &short, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["expires_in"], 60,
        "no longer than the token it comes from"
    );

    clock.advance_ms(60_000);
    let (status, body) = client_credentials(&app, "deployer", &short, None).await;
    assert_oauth_error(status, &body, 401, "invalid_client");
}

#[tokio::test]
async fn an_access_token_may_be_narrower_than_its_service_accounts_token_never_wider() {
    let app = TestApp::spawn().await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nsteps:\n- name: hi\n  commands: [echo hi]\n",
    );
    app.activate("acme/api", &git).await;
    app.activate("acme/web", &git).await;
    let sa = service_account(&app, "deployer", true).await;
    let (status, scoped) = app
        .call_as(
            Some(&sa),
            Method::POST,
            "/api/user/tokens",
            Some(json!({ "name": "reader", "expires_in": 3600, "scopes": ["repo.read:acme/*", "build.trigger:acme/api"] })),
        )
        .await;
    assert_eq!(status, 200, "{scoped}");
    let scoped = scoped["token"].as_str().expect("token").to_string();

    // Narrowed further, through the form rather than Basic.
    let (status, answer, _) = token_request(
        &app,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "deployer"),
            ("client_secret", &scoped),
            ("scope", "repo.read:acme/api"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["scope"], "repo.read:acme/api");
    let narrow = answer["access_token"].as_str().expect("token").to_string();
    let read = |token: String, slug: &'static str| {
        let app = &app;
        async move {
            app.call_as(
                Some(&token),
                Method::GET,
                &format!("/api/repos/{slug}"),
                None,
            )
            .await
            .0
        }
    };
    assert_eq!(read(narrow.clone(), "acme/api").await, 200);
    assert_eq!(
        read(narrow.clone(), "acme/web").await,
        403,
        "outside its scope (the account itself may read it)"
    );
    assert_eq!(read(sa.clone(), "acme/web").await, 200, "the account may");

    // Without a scope, the token keeps its parent's scopes.
    let (status, answer) = client_credentials(&app, "deployer", &scoped, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["scope"], "repo.read:acme/* build.trigger:acme/api");

    for wider in [
        "build.trigger",
        "build.trigger:acme/*",
        "repo.read:acme/api build.cancel:acme/api",
        "user.manage",
    ] {
        let (status, body) = client_credentials(&app, "deployer", &scoped, Some(wider)).await;
        assert_oauth_error(status, &body, 400, "invalid_scope");
    }
    let (status, body) = client_credentials(&app, "deployer", &sa, Some("repo.write")).await;
    assert_oauth_error(status, &body, 400, "invalid_scope");
}

#[tokio::test]
async fn people_wrong_secrets_and_other_grants_are_refused() {
    let app = TestApp::spawn().await;
    let sa = service_account(&app, "deployer", false).await;
    let other = service_account(&app, "builder", false).await;
    let alice = person(&app, "alice").await;

    // A token of another account, a flipped character, a made-up string, no secret at all.
    let mut flipped = sa.clone().into_bytes();
    flipped[10] = if flipped[10] == b'a' { b'b' } else { b'a' };
    let flipped = String::from_utf8(flipped).expect("ascii");
    for secret in [other.as_str(), flipped.as_str(), "hunter2", ""] {
        let (status, body, headers) = token_request(
            &app,
            Some(("deployer", secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
        assert_oauth_error(status, &body, 401, "invalid_client");
        assert!(headers.contains_key("www-authenticate"));
        assert!(secret.is_empty() || !body.to_string().contains(secret));
    }
    let (status, body, _) =
        token_request(&app, None, &[("grant_type", "client_credentials")]).await;
    assert_oauth_error(status, &body, 401, "invalid_client");

    // A person, even with their own valid token.
    let (status, body) = client_credentials(&app, "alice", &alice, None).await;
    assert_oauth_error(status, &body, 400, "unauthorized_client");

    // An access token cannot mint another.
    let (_, answer) = client_credentials(&app, "deployer", &sa, None).await;
    let access = answer["access_token"].as_str().expect("token").to_string();
    let (status, body) = client_credentials(&app, "deployer", &access, None).await;
    assert_oauth_error(status, &body, 400, "unauthorized_client");

    for grant in ["password", "authorization_code", "implicit"] {
        let (status, body, _) =
            token_request(&app, Some(("deployer", &sa)), &[("grant_type", grant)]).await;
        assert_oauth_error(status, &body, 400, "unsupported_grant_type");
    }
    let (status, body, _) = token_request(&app, Some(("deployer", &sa)), &[]).await;
    assert_oauth_error(status, &body, 400, "invalid_request");
    let (status, body, _) = token_request(
        &app,
        Some(("deployer", &sa)),
        &[("grant_type", "client_credentials"), ("client_secret", &sa)],
    )
    .await;
    assert_oauth_error(status, &body, 400, "invalid_request");

    // A deactivated account's tokens trade for nothing.
    let (status, _) = app
        .call(
            Method::PATCH,
            "/api/users/deployer",
            Some(json!({ "active": false })),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = client_credentials(&app, "deployer", &sa, None).await;
    assert_oauth_error(status, &body, 401, "invalid_client");
}
