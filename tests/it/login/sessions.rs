//! Sessions: the cookie, timeouts, CSRF, and what the provider says later (a lost group, a
//! revoked grant, an outage).

use super::*;
use serde_json::json;

#[tokio::test]
async fn the_session_cookie_is_host_only_secure_http_only_and_lax_on_https() {
    // C1: the public URL is https (TLS ends in front of Hangar).
    let idp = idp::Idp::start().await;
    let public = "https://hangar.test";
    idp.client(CLIENT_ID, CLIENT_SECRET, public).await;
    idp.user("hal", &[]).await;
    let issuer = idp.issuer.clone();
    let app = LoginApp::spawn(public, |c| oidc(c, &issuer)).await;
    let browser = app.browser();
    let start = app.start_login(&browser, "").await;
    let txn = start
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-hangar_login_"))
        .expect("the transaction cookie is __Host- too");
    assert!(txn.contains("; Secure") && txn.contains("; Path=/"));
    let back = idp
        .authorize(
            &browser,
            start.location(),
            "hal",
            &app.url("/auth/callback"),
        )
        .await;
    let page = browser.get(&back).await;
    let cookie = page
        .set_cookie("__Host-hangar_session")
        .expect("the session cookie");
    let attributes: Vec<&str> = cookie.split("; ").skip(1).collect();
    for a in ["Path=/", "HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(attributes.contains(&a), "{a} in {cookie}");
    }
    assert!(!cookie.to_ascii_lowercase().contains("domain="));
    assert!(
        cookie.split(';').next().map(|v| v.len()).unwrap_or(0) > 64,
        "a 256-bit id"
    );
}

#[tokio::test]
async fn a_login_always_makes_a_new_session_id() {
    // C2: a cookie planted before login is not the session after it; a session the browser
    // already had ends.
    let (idp, app) = with_idp(|_| {}).await;
    idp.user("ivy", &[]).await;
    let browser = app.browser();
    browser.put_cookie(&app.public, "hangar_session", "planted-by-an-attacker");
    app.login(&browser, &idp, "ivy").await;
    let first = browser
        .cookie(&app.public, "hangar_session")
        .expect("cookie");
    assert_ne!(first, "planted-by-an-attacker");
    app.login(&browser, &idp, "ivy").await;
    let second = browser
        .cookie(&app.public, "hangar_session")
        .expect("cookie");
    assert_ne!(first, second);
    let old = app.browser();
    old.put_cookie(&app.public, "hangar_session", &first);
    assert_eq!(app.session(&old).await.0, 401, "the replaced session ended");
}

#[tokio::test]
async fn a_user_in_a_thousand_long_named_groups_logs_in_with_a_small_cookie() {
    // C4
    let (idp, app) = with_idp(|_| {}).await;
    let groups: Vec<String> = (0..1000)
        .map(|i| format!("{i:0>4}-{}", "g".repeat(95)))
        .collect();
    idp.user_with(json!({ "username": "jon", "groups": groups }))
        .await;
    let browser = app.browser();
    let back = app.login(&browser, &idp, "jon").await;
    assert_eq!(back.status, 303, "{}", back.body);
    let cookie = back.set_cookie("hangar_session").expect("cookie");
    assert!(cookie.len() < 4096, "{} bytes", cookie.len());
    let (_, me) = app.session(&browser).await;
    assert_eq!(me["groups"].as_array().map(Vec::len), Some(1000));
}

#[tokio::test]
async fn a_state_change_with_the_cookie_needs_the_csrf_token_from_this_origin() {
    // C5
    let (idp, app) = with_idp(|_| {}).await;
    idp.user("kay", &[]).await;
    let browser = app.browser();
    app.login(&browser, &idp, "kay").await;
    let (_, me) = app.session(&browser).await;
    let token = me["csrf_token"].as_str().expect("csrf token").to_string();
    let delete = |headers: Vec<(&'static str, String)>| {
        let browser = &browser;
        let app = &app;
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            browser
                .send(reqwest::Method::DELETE, &app.url("/auth/session"), &h, None)
                .await
                .status
        }
    };
    assert_eq!(
        delete(vec![("origin", PUBLIC.into())]).await,
        403,
        "no token"
    );
    assert_eq!(
        delete(vec![
            ("origin", "https://evil.example".into()),
            ("x-csrf-token", token.clone())
        ])
        .await,
        403,
        "a foreign origin"
    );
    assert_eq!(
        delete(vec![
            ("origin", PUBLIC.into()),
            ("x-csrf-token", "wrong".into())
        ])
        .await,
        403,
        "a wrong token"
    );
    assert_eq!(app.session(&browser).await.0, 200, "still logged in");
    assert_eq!(
        delete(vec![("origin", PUBLIC.into()), ("x-csrf-token", token)]).await,
        200
    );
    assert_eq!(app.session(&browser).await.0, 401);
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_and_idle_timeouts() {
    // S1
    let idp = idp::Idp::start().await;
    idp.client(CLIENT_ID, CLIENT_SECRET, PUBLIC).await;
    idp.user("lea", &[]).await;
    let issuer = idp.issuer.clone();
    let app = LoginApp::spawn_fixed(PUBLIC, |c| {
        oidc(c, &issuer);
        c.identity.session_idle_timeout = Duration::from_secs(600);
        c.identity.session_absolute_timeout = Duration::from_secs(3600);
        c.identity.session_revalidate = Duration::from_secs(86400);
    })
    .await;
    let idle = app.browser();
    app.login(&idle, &idp, "lea").await;
    let busy = app.browser();
    app.login(&busy, &idp, "lea").await;
    // Busy is used every 5 minutes; idle is not.
    for _ in 0..3 {
        app.advance(Duration::from_secs(300));
        assert_eq!(app.session(&busy).await.0, 200);
    }
    assert_eq!(app.session(&idle).await.0, 401, "idle for 15 minutes");
    for _ in 0..8 {
        app.advance(Duration::from_secs(300));
        assert_eq!(app.session(&busy).await.0, 200);
    }
    app.advance(Duration::from_secs(299));
    assert_eq!(app.session(&busy).await.0, 200);
    app.advance(Duration::from_secs(1));
    assert_eq!(app.session(&busy).await.0, 401, "an hour old");
    let reasons: Vec<String> = app
        .audit()
        .await
        .iter()
        .filter(|r| r.action == "auth.session_ended")
        .map(|r| r.detail.clone())
        .collect();
    assert!(
        reasons.iter().any(|d| d.contains("idle timeout")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|d| d.contains("absolute timeout")),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn a_user_loses_a_group_within_one_revalidation_interval() {
    // S3
    let interval = Duration::from_secs(2);
    let (idp, app) = with_idp(|c| c.identity.session_revalidate = interval).await;
    idp.user("max", &["admins", "developers"]).await;
    let browser = app.browser();
    app.login(&browser, &idp, "max").await;
    assert_eq!(app.session(&browser).await.1["admin"], true);

    idp.set_groups("max", &["developers"]).await;
    let took = eventually(interval * 3, "losing the admins group", || async {
        let (_, me) = app.session(&browser).await;
        me["groups"] == json!(["developers"])
    })
    .await;
    // At most one interval, plus the loop's tick (a quarter interval) and slack for the machine.
    assert!(
        took <= interval + interval / 4 + Duration::from_secs(1),
        "took {took:?}"
    );
    eprintln!("the lost group took effect after {took:?} (revalidation every {interval:?})");
    let (status, me) = app.session(&browser).await;
    assert_eq!(status, 200, "still logged in, as a developer");
    assert_eq!(me["admin"], false);
    let audit = app.audit().await;
    let changed = audit
        .iter()
        .find(|r| r.action == "user.groups_changed")
        .expect("the change is audited");
    assert!(
        changed.detail.contains("\"removed\":[\"admins\"]"),
        "{}",
        changed.detail
    );
    let role = audit
        .iter()
        .find(|r| r.action == "authz.role_changed")
        .expect("the role change is audited");
    assert!(role.detail.contains("\"before\":[\"admin\"]") && role.detail.contains("\"after\":[]"));
}

#[tokio::test]
async fn a_grant_revoked_at_the_provider_ends_the_session_at_the_next_revalidation() {
    // S4
    let (idp, app) = with_idp(|c| c.identity.session_revalidate = Duration::from_secs(1)).await;
    idp.user("ned", &["developers"]).await;
    let browser = app.browser();
    app.login(&browser, &idp, "ned").await;
    assert_eq!(app.session(&browser).await.0, 200);
    idp.revoke("ned").await;
    eventually(Duration::from_secs(10), "the session ending", || async {
        app.session(&browser).await.0 == 401
    })
    .await;
    let ended = app
        .audit()
        .await
        .into_iter()
        .find(|r| r.action == "auth.session_ended")
        .expect("audited");
    assert!(ended.detail.contains("invalid_grant"), "{}", ended.detail);
}

#[tokio::test]
async fn an_unreachable_provider_is_tolerated_until_the_grace_period_ends() {
    // S5
    let mut idp = idp::Idp::start().await;
    idp.client(CLIENT_ID, CLIENT_SECRET, PUBLIC).await;
    idp.user("olga", &["developers"]).await;
    let issuer = idp.issuer.clone();
    let app = LoginApp::spawn_fixed(PUBLIC, |c| {
        oidc(c, &issuer);
        c.identity.session_revalidate = Duration::from_secs(60);
        c.identity.session_revalidate_grace = Duration::from_secs(600);
    })
    .await;
    let browser = app.browser();
    app.login(&browser, &idp, "olga").await;
    idp.stop().await;

    let failures = || async {
        app.audit()
            .await
            .iter()
            .filter(|r| r.action == "auth.session_revalidated" && r.outcome == "failure")
            .count()
    };
    app.advance(Duration::from_secs(61));
    eventually(Duration::from_secs(20), "a failed revalidation", || async {
        failures().await >= 1
    })
    .await;
    assert_eq!(
        app.session(&browser).await.0,
        200,
        "an outage is not a revocation"
    );
    app.advance(Duration::from_secs(300));
    eventually(
        Duration::from_secs(20),
        "a second failed revalidation",
        || async { failures().await >= 2 },
    )
    .await;
    assert_eq!(
        app.session(&browser).await.0,
        200,
        "still within the grace period"
    );
    app.advance(Duration::from_secs(301));
    eventually(
        Duration::from_secs(20),
        "the session ending after the grace period",
        || async { app.session(&browser).await.0 == 401 },
    )
    .await;
    assert!(
        app.audit()
            .await
            .iter()
            .any(|r| r.action == "auth.session_ended" && r.detail.contains("grace period"))
    );
}

#[tokio::test]
async fn without_a_refresh_token_a_session_ends_with_the_id_token() {
    // The hostile provider issues no refresh token: the ID token's exp bounds the session.
    let h = hostile::Hostile::start().await;
    let issuer = h.issuer.clone();
    let app = LoginApp::spawn_fixed(PUBLIC, |c| oidc(c, &issuer)).await;
    let browser = app.browser();
    let (state, nonce) = begin(&app, &browser).await;
    h.plan(h.honest(&nonce, "short"));
    let page = call_back(
        &app,
        &browser,
        &[("state", &state), ("code", "c"), ("iss", &h.issuer)],
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(app.session(&browser).await.0, 200);
    app.advance(Duration::from_secs(301));
    assert_eq!(app.session(&browser).await.0, 401);
}
