//! The attack cases of identity.md §3.2 that apply to a provider, each refused: T1 (a verifier
//! without a challenge), T2 (the password grant), L1/L2 (loopback and unregistered redirects),
//! code replay (A3's analogue) and a wrong PKCE verifier (A4's analogue), plus the login form's
//! CSRF binding and downgrade attempts at the authorization request.

use super::provider::{Attempt, CLI_CLIENT, Provider, location, param};
use hangar::auth::token;
use hangar::store::AuthorizationCode;
use reqwest::StatusCode;

#[tokio::test]
async fn t1_a_code_verifier_for_a_request_without_a_challenge_is_refused() {
    let p = Provider::start().await;
    // The authorization request itself cannot omit the challenge...
    let attempt = Attempt::new();
    let url = p
        .authorize_url(&attempt, &[])
        .replace("code_challenge=", "x_challenge=");
    let to = location(&p.get(&url, None).await);
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("invalid_request"),
        "{to}"
    );
    assert_eq!(param(&to, "state").as_deref(), Some(attempt.state.as_str()));
    // ...and a code stored without one (as an older version might have) is not redeemable
    // with a verifier.
    let admin = p
        .store
        .find_user("admin")
        .await
        .expect("read")
        .expect("admin");
    let code = token::mint();
    p.store
        .create_authorization_code(&AuthorizationCode {
            code_hash: token::hash(&code),
            client_id: CLI_CLIENT.into(),
            user_id: admin.id.0,
            redirect_uri: "http://127.0.0.1:43123/callback".into(),
            scope: "openid".into(),
            nonce: String::new(),
            code_challenge: String::new(),
            auth_time: 0,
            provider_sid: String::new(),
            created: 0,
            expires: i64::MAX,
            used: 0,
        })
        .await
        .expect("stored");
    let (status, body) = p.exchange(&code, &attempt.verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant", "{body}");
}

#[tokio::test]
async fn t2_the_password_grant_is_an_unsupported_grant_type() {
    let p = Provider::start().await;
    let (status, body) = p
        .token(&[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", super::provider::ADMIN_PASSWORD),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unsupported_grant_type");
    assert!(body["error_description"].is_string());
    assert!(
        body.get("message").is_none(),
        "the OAuth shape, not the API's"
    );
}

#[tokio::test]
async fn a_plain_pkce_method_or_another_response_type_is_refused() {
    let p = Provider::start().await;
    let attempt = Attempt::new();
    let plain = p
        .authorize_url(&attempt, &[])
        .replace("code_challenge_method=S256", "code_challenge_method=plain");
    let to = location(&p.get(&plain, None).await);
    assert_eq!(param(&to, "error").as_deref(), Some("invalid_request"));
    let token = p
        .authorize_url(&attempt, &[])
        .replace("response_type=code", "response_type=token");
    let to = location(&p.get(&token, None).await);
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("unsupported_response_type")
    );
    assert!(param(&to, "access_token").is_none());
}

#[tokio::test]
async fn l2_an_unregistered_redirect_or_an_unknown_client_gets_a_page_never_a_redirect() {
    let p = Provider::start().await;
    let attempt = Attempt::new();
    for (from, to) in [
        (
            "http%3A%2F%2F127.0.0.1%3A43123%2Fcallback",
            "http%3A%2F%2Fevil.example%3A8080%2Fcb",
        ),
        (
            "http%3A%2F%2F127.0.0.1%3A43123%2Fcallback",
            "http%3A%2F%2Flocalhost%3A43123%2Fcallback",
        ),
        (
            "http%3A%2F%2F127.0.0.1%3A43123%2Fcallback",
            "http%3A%2F%2F127.0.0.1%3A43123%2Fother",
        ),
        (&format!("client_id={CLI_CLIENT}"), "client_id=nobody"),
    ] {
        let url = p.authorize_url(&attempt, &[]).replace(from, to);
        let resp = p.get(&url, None).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{url}");
        assert!(
            resp.headers().get("location").is_none(),
            "no redirect for {url}"
        );
        let csp = resp
            .headers()
            .get("content-security-policy")
            .expect("a CSP");
        assert!(
            csp.to_str()
                .expect("text")
                .starts_with("default-src 'none'")
        );
    }
}

#[tokio::test]
async fn l1_a_loopback_redirect_may_use_any_port() {
    let p = Provider::start().await;
    let attempt = Attempt::new();
    let url = p.authorize_url(&attempt, &[]).replace("43123", "51000");
    let resp = p.get(&url, None).await;
    assert_eq!(resp.status(), StatusCode::OK, "the form is shown");
}

#[tokio::test]
async fn a3_a_replayed_code_fails_and_revokes_what_it_issued() {
    let p = Provider::start().await;
    let attempt = Attempt::new();
    let (code, _) = p
        .sign_in(&attempt, "admin", super::provider::ADMIN_PASSWORD)
        .await;
    let (status, tokens) = p.exchange(&code, &attempt.verifier).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = p.exchange(&code, &attempt.verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    let (status, body) = p
        .userinfo(tokens["access_token"].as_str().expect("at"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_token");
    let (status, _) = p
        .refresh(tokens["refresh_token"].as_str().expect("rt"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        p.audit_actions()
            .await
            .contains(&"oidc.code_replayed".to_string())
    );
}

#[tokio::test]
async fn a4_a_code_with_a_wrong_pkce_verifier_or_redirect_is_refused() {
    let p = Provider::start().await;
    let attempt = Attempt::new();
    let (code, _) = p
        .sign_in(&attempt, "admin", super::provider::ADMIN_PASSWORD)
        .await;
    let other = Attempt::new();
    let (status, body) = p.exchange(&code, &other.verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    let (status, body) = p
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:43124/callback"),
            ("code_verifier", &attempt.verifier),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, body) = p
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:43123/callback"),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

#[tokio::test]
async fn a_confidential_client_must_authenticate() {
    let p = Provider::start().await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "x"),
        ("client_id", "hangar"),
    ];
    let resp = p
        .http
        .post(format!("{}/token", p.issuer))
        .form(&form)
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().get("www-authenticate").is_some());
    let resp = p
        .http
        .post(format!("{}/token", p.issuer))
        .basic_auth("hangar", Some("not-the-secret"))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn a_login_form_posted_without_its_browser_cookie_is_refused() {
    let p = Provider::start().await;
    let form = p.open_form(&p.authorize_url(&Attempt::new(), &[])).await;
    let resp = p
        .http
        .post(format!("{}/login", p.issuer))
        .header("cookie", "hangar_oidc_login=someone-elses")
        .form(&[
            ("login", form.login.as_str()),
            ("username", "admin"),
            ("password", super::provider::ADMIN_PASSWORD),
        ])
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.headers().get("set-cookie").is_none(), "no session");
}
