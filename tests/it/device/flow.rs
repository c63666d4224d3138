//! The device grant over HTTP, with a clock the stories move by hand.

use super::{assert_error, decide, device_code, poll, post_form, refresh, server, signed_in, who};
use crate::support::database::TestDatabase;
use crate::tokens::audit;
use hangar::clock::FixedClock;
use std::sync::Arc;

fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::at(hangar::clock::system().now_ms()))
}

#[tokio::test]
async fn a_device_polls_until_approved_then_gets_tokens_once() {
    let clock = clock();
    let app = server(TestDatabase::sqlite(), clock.clone()).await;
    let code = device_code(&app, None).await;
    let user_code = code["user_code"].as_str().expect("user_code").to_string();
    assert_eq!(user_code.len(), 9, "{code}");
    assert_eq!(&user_code[4..5], "-");
    let server_url = app.url.clone();
    assert_eq!(code["verification_uri"], format!("{server_url}/device"));
    assert_eq!(
        code["verification_uri_complete"],
        format!("{server_url}/device?user_code={user_code}")
    );
    assert_eq!(code["interval"], 1);
    assert_eq!(code["expires_in"], 600);
    let metadata = app.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(
        metadata["device_authorization_endpoint"],
        format!("{server_url}/oauth/device/code")
    );
    assert_eq!(
        metadata["token_endpoint"],
        format!("{server_url}/oauth/token")
    );

    assert_error(&poll(&app, &code).await, 400, "authorization_pending");
    assert_error(&poll(&app, &code).await, 400, "slow_down");
    clock.advance_ms(1_000);
    // Slowed down once, the interval is 6 s: a poll a second later is too soon again...
    assert_error(&poll(&app, &code).await, 400, "slow_down");
    // ...and now it is 11 s (1 + 5 + 5).
    clock.advance_ms(11_000);
    assert_error(&poll(&app, &code).await, 400, "authorization_pending");

    let browser = signed_in(&app).await;
    let done = decide(&app, &browser, &user_code, "approve").await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Device signed in"), "{}", done.body);

    clock.advance_ms(11_000);
    let (status, tokens) = poll(&app, &code).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().expect("access").to_string();
    assert!(access.starts_with("hgr_at_"), "{access}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert!(tokens["refresh_token"].is_string());
    assert_eq!(who(&app, &access).await.as_deref(), Some("admin"));

    clock.advance_ms(11_000);
    assert_error(&poll(&app, &code).await, 400, "invalid_grant");

    clock.advance_ms(3_600_000);
    assert_eq!(
        who(&app, &access).await,
        None,
        "an hour later it has expired"
    );

    let trail = audit(&app).await;
    let approved = trail
        .iter()
        .find(|e| e.action == "oauth.device_approved")
        .expect("the approval is audited");
    assert_eq!(approved.actor_name, "admin");
    assert!(
        trail
            .iter()
            .any(|e| e.action == "token.created" && e.detail.contains("hangar login"))
    );
    let device = code["device_code"].as_str().expect("device_code");
    assert!(
        trail
            .iter()
            .all(|e| !e.detail.contains(device) && !e.detail.contains(&access))
    );
}

#[tokio::test]
async fn a_refused_code_answers_access_denied_and_a_late_one_expired_token() {
    let clock = clock();
    let app = server(TestDatabase::sqlite(), clock.clone()).await;
    let browser = signed_in(&app).await;

    let refused = device_code(&app, None).await;
    let done = decide(
        &app,
        &browser,
        refused["user_code"].as_str().expect("code"),
        "deny",
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_error(&poll(&app, &refused).await, 400, "access_denied");
    assert!(
        audit(&app)
            .await
            .iter()
            .any(|e| e.action == "oauth.device_denied")
    );

    let late = device_code(&app, None).await;
    clock.advance_ms(600_000);
    assert_error(&poll(&app, &late).await, 400, "expired_token");
    let page = browser
        .get(&format!(
            "{}/device?user_code={}",
            app.url,
            late["user_code"].as_str().expect("code")
        ))
        .await;
    assert_eq!(page.status, 404, "an expired code cannot be approved");

    let unknown = serde_json::json!({ "device_code": "0".repeat(64) });
    assert_error(&poll(&app, &unknown).await, 400, "invalid_grant");
    let other_client = post_form(
        &app,
        "/oauth/token",
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", "hangar"),
            ("device_code", late["device_code"].as_str().expect("code")),
        ],
    )
    .await;
    assert_error(&other_client, 401, "invalid_client");
    assert_error(
        &post_form(&app, "/oauth/device/code", &[]).await,
        401,
        "invalid_client",
    );
    assert_error(
        &post_form(
            &app,
            "/oauth/device/code",
            &[("client_id", "hangar-cli"), ("scope", "repo.write")],
        )
        .await,
        400,
        "invalid_scope",
    );
}

/// Approves a fresh code and returns the first token answer.
async fn approved_login(
    app: &crate::support::TestApp,
    browser: &crate::login::browser::Browser,
    scope: Option<&str>,
) -> serde_json::Value {
    let code = device_code(app, scope).await;
    let done = decide(
        app,
        browser,
        code["user_code"].as_str().expect("code"),
        "approve",
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let (status, tokens) = poll(app, &code).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

async fn refresh_story(app: &crate::support::TestApp) {
    let browser = signed_in(app).await;
    let first = approved_login(app, &browser, None).await;
    let first_refresh = first["refresh_token"].as_str().expect("refresh");

    let (status, second) = refresh(app, first_refresh).await;
    assert_eq!(status, 200, "{second}");
    let second_access = second["access_token"].as_str().expect("access").to_string();
    let second_refresh = second["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    assert_ne!(second_refresh, first_refresh, "rotated");
    assert_eq!(who(app, &second_access).await.as_deref(), Some("admin"));

    // The spent refresh token comes back: someone else holds a copy. The whole login goes.
    assert_error(&refresh(app, first_refresh).await, 400, "invalid_grant");
    assert_eq!(
        who(app, &second_access).await,
        None,
        "revoked with its chain"
    );
    assert_eq!(
        who(app, first["access_token"].as_str().expect("access")).await,
        None
    );
    assert_error(&refresh(app, &second_refresh).await, 400, "invalid_grant");
    assert!(
        audit(app)
            .await
            .iter()
            .any(|e| e.action == "oauth.refresh_token_reused")
    );

    // Another login of the same person is untouched.
    let other = approved_login(app, &browser, None).await;
    let (status, renewed) = refresh(app, other["refresh_token"].as_str().expect("r")).await;
    assert_eq!(status, 200, "{renewed}");
    assert_eq!(
        who(app, renewed["access_token"].as_str().expect("a"))
            .await
            .as_deref(),
        Some("admin")
    );
}

#[tokio::test]
async fn a_refresh_token_works_once_and_a_reused_one_revokes_the_login() {
    let app = server(TestDatabase::sqlite(), hangar::clock::system()).await;
    refresh_story(&app).await;
}

#[tokio::test]
async fn the_refresh_story_holds_on_postgres() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let app = server(db, hangar::clock::system()).await;
    refresh_story(&app).await;
}

#[tokio::test]
async fn a_scoped_login_stays_within_its_scopes_and_a_refresh_never_widens_it() {
    let app = server(TestDatabase::sqlite(), hangar::clock::system()).await;
    let browser = signed_in(&app).await;
    let code = device_code(&app, Some("repo.read:acme/*")).await;
    let user_code = code["user_code"].as_str().expect("code");
    let page = browser
        .get(&format!("{}/device?user_code={user_code}", app.url))
        .await;
    assert!(page.body.contains("repo.read:acme/*"), "{}", page.body);
    decide(&app, &browser, user_code, "approve").await;
    let (status, tokens) = poll(&app, &code).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "repo.read:acme/*");
    let access = tokens["access_token"].as_str().expect("access");
    let (status, _) = app
        .call_as(
            Some(access),
            reqwest::Method::POST,
            "/api/user/tokens",
            Some(serde_json::json!({ "name": "wider", "expires_in": 60 })),
        )
        .await;
    assert_eq!(status, 403, "a scoped login makes no tokens");
    let wider = post_form(
        &app,
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "hangar-cli"),
            (
                "refresh_token",
                tokens["refresh_token"].as_str().expect("r"),
            ),
            ("scope", "repo.read"),
        ],
    )
    .await;
    assert_error(&wider, 400, "invalid_scope");
}

#[tokio::test]
async fn the_approval_page_sends_strangers_to_login_and_refuses_cross_site_posts() {
    let app = server(TestDatabase::sqlite(), hangar::clock::system()).await;
    let code = device_code(&app, None).await;
    let user_code = code["user_code"].as_str().expect("code").to_string();

    let stranger = crate::login::browser::Browser::new(None);
    let page = stranger
        .get(&format!("{}/device?user_code={user_code}", app.url))
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(
        page.location(),
        format!(
            "{}/login?return_to=%2Fdevice%3Fuser_code%3D{user_code}",
            app.url
        )
    );

    let browser = signed_in(&app).await;
    let shown = browser
        .get(&format!("{}/device?user_code={user_code}", app.url))
        .await;
    let csrf = super::field(&shown, "csrf_token");
    let form = |token: &str| {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("csrf_token", token),
                ("user_code", user_code.as_str()),
                ("decision", "approve"),
            ])
            .finish()
    };
    let url = format!("{}/device", app.url);
    let content = ("content-type", "application/x-www-form-urlencoded");
    for (headers, body, why) in [
        (
            vec![content, ("origin", "https://evil.example")],
            form(&csrf),
            "another origin",
        ),
        (
            vec![content, ("origin", app.url.as_str())],
            form("not-the-token"),
            "a wrong CSRF token",
        ),
    ] {
        let refused = browser
            .send(reqwest::Method::POST, &url, &headers, Some(body))
            .await;
        assert_eq!(refused.status, 403, "{why}: {}", refused.body);
    }
    assert_error(&poll(&app, &code).await, 400, "authorization_pending");

    // Guessing codes is slowed down.
    for _ in 0..10 {
        let wrong = browser
            .get(&format!("{}/device?user_code=BBBB-BBBB", app.url))
            .await;
        assert_eq!(wrong.status, 404);
    }
    let blocked = browser
        .get(&format!("{}/device?user_code={user_code}", app.url))
        .await;
    assert_eq!(blocked.status, 403, "{}", blocked.body);
    assert!(blocked.body.contains("too many wrong codes"));
}

#[tokio::test]
async fn revoking_an_access_token_ends_it_alone_and_a_deactivated_person_cannot_refresh() {
    let app = server(TestDatabase::sqlite(), hangar::clock::system()).await;
    crate::login::local::hangar_user_add(&app, "dev1", "a-long-password-for-dev1", &["developers"])
        .await;
    let browser = crate::login::browser::Browser::new(None);
    let done = crate::login::local::sign_in(
        &app,
        &browser,
        "return_to=/",
        "dev1",
        "a-long-password-for-dev1",
    )
    .await;
    assert!(matches!(done.status, 302 | 303), "{}", done.body);
    // The account the session signed in (keyed on the provider's issuer and subject).
    let session = browser.get(&format!("{}/auth/session", app.url)).await;
    let session: serde_json::Value = serde_json::from_str(&session.body).expect("json");
    let login = session["login"].as_str().expect("login").to_string();
    let tokens = approved_login(&app, &browser, None).await;
    let access = tokens["access_token"].as_str().expect("access");
    let refresh_token = tokens["refresh_token"].as_str().expect("refresh");
    assert_eq!(who(&app, access).await.as_deref(), Some(login.as_str()));

    let revoked = post_form(
        &app,
        "/oauth/revoke",
        &[("client_id", "hangar-cli"), ("token", access)],
    )
    .await;
    assert_eq!(revoked.0, 200, "{}", revoked.1);
    assert_eq!(who(&app, access).await, None);
    let (status, renewed) = refresh(&app, refresh_token).await;
    assert_eq!(status, 200, "the refresh token lives on: {renewed}");
    let renewed_access = renewed["access_token"].as_str().expect("access");
    assert_eq!(
        who(&app, renewed_access).await.as_deref(),
        Some(login.as_str())
    );

    // Unknown tokens are no error (RFC 7009), but a client must be named.
    let unknown = post_form(
        &app,
        "/oauth/revoke",
        &[("client_id", "hangar-cli"), ("token", "nothing-of-ours")],
    )
    .await;
    assert_eq!(unknown.0, 200);
    assert_error(
        &post_form(&app, "/oauth/revoke", &[("token", "x")]).await,
        401,
        "invalid_client",
    );

    let (status, _) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/users/{login}"),
            Some(serde_json::json!({ "active": false })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(who(&app, renewed_access).await, None);
    assert_error(
        &refresh(&app, renewed["refresh_token"].as_str().expect("r")).await,
        400,
        "invalid_grant",
    );
}
