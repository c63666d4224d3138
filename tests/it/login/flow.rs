//! The main story: people log in through a real OpenID provider, get a session with their
//! groups, go back where they were, and log out here and at the provider.

use super::*;

#[tokio::test]
async fn a_user_logs_in_through_the_provider_and_gets_a_session() {
    let (idp, app) = with_idp(|_| {}).await;
    idp.user("ada", &["admins", "developers"]).await;
    idp.user("bob", &["developers"]).await;

    let ada = app.browser();
    let back = app.login(&ada, &idp, "ada").await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(back.location(), app.url("/"));
    let (status, me) = app.session(&ada).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["login"], "ada");
    assert_eq!(me["admin"], true, "admins map to the admin role by default");
    assert_eq!(me["groups"], serde_json::json!(["admins", "developers"]));
    assert_eq!(me["provider"], "oidc");

    let bob = app.browser();
    app.login(&bob, &idp, "bob").await;
    let (status, me) = app.session(&bob).await;
    assert_eq!(status, 200);
    assert_eq!(me["login"], "bob");
    assert_eq!(me["admin"], false);
    assert_eq!(me["roles"], serde_json::json!([]));

    let audit = app.audit().await;
    let logins: Vec<_> = audit.iter().filter(|r| r.action == "auth.login").collect();
    assert_eq!(logins.len(), 2);
    assert!(
        audit
            .iter()
            .any(|r| r.action == "user.created" && r.target == "user:ada")
    );
    assert!(
        !audit
            .iter()
            .any(|r| r.detail.contains("password") || r.detail.contains("eyJ")),
        "no secret or token in the audit trail"
    );
}

#[tokio::test]
async fn the_authorization_request_uses_pkce_s256_a_fresh_state_and_nonce_and_the_code_flow_only() {
    // A5
    let (idp, app) = with_idp(|_| {}).await;
    let browser = app.browser();
    let first = app.start_login(&browser, "").await;
    let second = app.start_login(&browser, "").await;
    let to = first.location();
    assert!(to.starts_with(&format!("{}/auth?", idp.issuer)), "{to}");
    assert_eq!(query_param(to, "response_type").as_deref(), Some("code"));
    assert_eq!(
        query_param(to, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(query_param(to, "code_challenge").map(|c| c.len()), Some(43));
    assert_eq!(
        query_param(to, "redirect_uri").as_deref(),
        Some("http://hangar.test/auth/callback")
    );
    let scope = query_param(to, "scope").expect("scope");
    for s in ["openid", "profile", "email", "offline_access", "groups"] {
        assert!(scope.split(' ').any(|x| x == s), "{s} in {scope}");
    }
    for p in ["state", "nonce", "code_challenge"] {
        assert_ne!(
            query_param(to, p),
            query_param(second.location(), p),
            "{p} is fresh"
        );
        assert!(query_param(to, p).expect(p).len() >= 22);
    }
    // The transaction cookie: one per login, HttpOnly, SameSite=Lax, at most 10 minutes.
    let state = query_param(to, "state").expect("state");
    let cookie = first
        .set_cookies
        .iter()
        .find(|c| c.starts_with("hangar_login_"))
        .expect("a transaction cookie");
    assert!(cookie.contains(&format!("={state};")));
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && cookie.contains("Max-Age=600")
    );
}

#[tokio::test]
async fn a_login_returns_to_a_local_path_and_never_to_another_site() {
    // R5, then R1, R2, R3, R4 (every form is also unit-tested in auth::login::return_to)
    let (idp, app) = with_idp(|_| {}).await;
    idp.user("cleo", &[]).await;
    let browser = app.browser();
    let back = app
        .login_to(
            &browser,
            &idp,
            "cleo",
            "?return_to=%2Frepos%2Fa%2Fb%3Fx%3D1",
        )
        .await;
    assert_eq!(back.location(), app.url("/repos/a/b?x=1"));
    for evil in [
        "https://evil.example/",
        "//evil.example",
        "/%5Cevil.example",
        "/%2F%2Fevil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "https:evil.example",
        "https://hangar.test.evil.example/",
    ] {
        let query = format!(
            "?return_to={}",
            url::form_urlencoded::byte_serialize(evil.as_bytes()).collect::<String>()
        );
        let back = app.login_to(&browser, &idp, "cleo", &query).await;
        assert_eq!(back.location(), app.url("/"), "{evil}");
    }
}

#[tokio::test]
async fn logging_out_ends_the_session_here_and_at_the_provider() {
    // S2
    let (idp, app) = with_idp(|_| {}).await;
    idp.user("dora", &["developers"]).await;
    let browser = app.browser();
    app.login(&browser, &idp, "dora").await;
    let cookie = browser
        .cookie(&app.public, "hangar_session")
        .expect("a session cookie");

    let out = browser
        .send(
            reqwest::Method::GET,
            &app.url("/logout"),
            &[("sec-fetch-site", "same-origin")],
            None,
        )
        .await;
    assert_eq!(out.status, 303, "{}", out.body);
    let to = out.location().to_string();
    assert!(
        to.starts_with(&format!("{}/session/end?", idp.issuer)),
        "{to}"
    );
    assert!(query_param(&to, "id_token_hint").is_some_and(|t| t.split('.').count() == 3));
    assert_eq!(
        query_param(&to, "post_logout_redirect_uri").as_deref(),
        Some("http://hangar.test/")
    );
    assert!(
        out.set_cookie("hangar_session")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );

    // The provider accepts the hint and asks to confirm; confirming ends its session too.
    let confirm = browser.get(&to).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let xsrf = confirm
        .body
        .split("name=\"xsrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the provider's logout form");
    let done = browser
        .post_form(
            &format!("{}/session/end/confirm", idp.issuer),
            &[("xsrf", xsrf), ("logout", "yes")],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location(), app.url("/"));
    // Logging in again needs the password again: the provider's session is gone.
    let again = app.start_login(&browser, "").await;
    let at_idp = browser.get(again.location()).await;
    let prompt = browser.get(at_idp.location()).await;
    assert_eq!(
        prompt.status, 200,
        "the provider asks for a login: {}",
        prompt.body
    );

    // The old cookie is worth nothing now.
    let replay = app.browser();
    replay.put_cookie(&app.public, "hangar_session", &cookie);
    assert_eq!(app.session(&replay).await.0, 401);
    assert!(app.audit().await.iter().any(|r| r.action == "auth.logout"));
}

#[tokio::test]
async fn a_logout_link_on_another_site_only_asks_to_confirm() {
    let (idp, app) = with_idp(|_| {}).await;
    idp.user("eve", &[]).await;
    let browser = app.browser();
    app.login(&browser, &idp, "eve").await;
    let page = browser
        .send(
            reqwest::Method::GET,
            &app.url("/logout"),
            &[("sec-fetch-site", "cross-site")],
            None,
        )
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("<form method=\"post\" action=\"/logout\">")
    );
    assert_eq!(app.session(&browser).await.0, 200, "still logged in");
    // A forged POST without the form's token is refused too (C5).
    let forged = browser
        .send(
            reqwest::Method::POST,
            &app.url("/logout"),
            &[
                ("origin", "https://evil.example"),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            Some("csrf_token=guess".into()),
        )
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(app.session(&browser).await.0, 200, "still logged in");
    // The form itself works.
    let token = page
        .body
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the form's token")
        .to_string();
    let out = browser
        .send(
            reqwest::Method::POST,
            &app.url("/logout"),
            &[
                ("origin", PUBLIC),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            Some(format!("csrf_token={token}")),
        )
        .await;
    assert_eq!(out.status, 303);
    assert_eq!(app.session(&browser).await.0, 401);
}

#[tokio::test]
async fn a_rotated_client_secret_is_read_again_without_a_restart_and_logs_nobody_out() {
    let idp = idp::Idp::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("client-secret");
    std::fs::write(&file, "first-secret\n").expect("write");
    idp.client(CLIENT_ID, "first-secret", PUBLIC).await;
    idp.user("finn", &["developers"]).await;
    let issuer = idp.issuer.clone();
    let secret_file = file.clone();
    let app = LoginApp::spawn(PUBLIC, |c| {
        oidc(c, &issuer);
        if let Some(o) = c.identity.oidc.as_mut() {
            o.client_secret = SecretSource::File(secret_file);
        }
        c.identity.session_revalidate = Duration::from_millis(500);
    })
    .await;
    let before = app.browser();
    assert_eq!(app.login(&before, &idp, "finn").await.status, 303);

    // The provider now knows only the new secret; the file follows.
    idp.client(CLIENT_ID, "second-secret-longer", PUBLIC).await;
    std::fs::write(&file, "second-secret-longer\n").expect("write");

    let after = app.browser();
    let back = app.login(&after, &idp, "finn").await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(app.session(&after).await.0, 200);
    assert_eq!(
        app.session(&before).await.0,
        200,
        "the first session lives on"
    );
    // Revalidation uses the new secret too: the first session keeps passing it.
    let revalidated = || async {
        app.audit()
            .await
            .iter()
            .filter(|r| r.action == "auth.session_revalidated" && r.outcome == "success")
            .count()
            >= 2
    };
    eventually(
        Duration::from_secs(20),
        "revalidation with the new secret",
        revalidated,
    )
    .await;
    assert_eq!(app.session(&before).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_its_revalidation_and_logout_work_on_postgresql() {
    let Some(database) = support::database::TestDatabase::postgres().await else {
        assert!(
            std::env::var_os("CI").is_none(),
            "HANGAR_TEST_DATABASE_URL is not set, but CI is: the login story must run on PostgreSQL in CI"
        );
        println!("skipped: HANGAR_TEST_DATABASE_URL is not set");
        return;
    };
    let idp = idp::Idp::start().await;
    idp.client(CLIENT_ID, CLIENT_SECRET, PUBLIC).await;
    idp.user("pia", &["admins", "developers"]).await;
    let issuer = idp.issuer.clone();
    let mut app = LoginApp::spawn_on(database, PUBLIC, |c| {
        oidc(c, &issuer);
        c.identity.session_revalidate = Duration::from_secs(1);
    })
    .await;
    let browser = app.browser();
    assert_eq!(app.login(&browser, &idp, "pia").await.status, 303);
    assert_eq!(app.session(&browser).await.1["admin"], true);
    idp.set_groups("pia", &["developers"]).await;
    eventually(Duration::from_secs(10), "losing a group", || async {
        app.session(&browser).await.1["admin"] == false
    })
    .await;
    let (_, me) = app.session(&browser).await;
    let out = browser
        .send(
            reqwest::Method::DELETE,
            &app.url("/auth/session"),
            &[
                ("origin", PUBLIC),
                ("x-csrf-token", me["csrf_token"].as_str().unwrap_or("")),
            ],
            None,
        )
        .await;
    assert_eq!(out.status, 200);
    assert_eq!(app.session(&browser).await.0, 401);
    let second = app.browser();
    browser.drop_cookie(&app.public, "hangar_session");
    assert_eq!(app.login(&second, &idp, "pia").await.status, 303);
    assert_eq!(app.refusals().await.len(), 0);
    app.stop().await;
}
