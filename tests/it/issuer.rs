//! Stories of the embedded OpenID provider, driven through its real HTTP endpoints: discovery,
//! a sign-in done by hand and verified against the JWKS, an off-the-shelf OIDC client library
//! doing the same (`interop`), refresh rotation, sessions and logout, and the attacks a provider
//! must refuse (`attacks`).

mod admin;
mod attacks;
mod interop;
mod provider;

use provider::{ADMIN_PASSWORD, Attempt, Provider, claims, location, param, set_cookie};
use reqwest::StatusCode;
use serde_json::Value;

/// Verifies an ID token's signature against the provider's published JWKS.
async fn verify(p: &Provider, id_token: &str, audience: &str) -> Value {
    let jwks: jsonwebtoken::jwk::JwkSet = p
        .http
        .get(format!("{}/jwks", p.issuer))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("a JWKS");
    let header = jsonwebtoken::decode_header(id_token).expect("a header");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let kid = header.kid.expect("a kid");
    let jwk = jwks.find(&kid).expect("the signing key is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&[&p.issuer]);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Value>(id_token, &key, &validation)
        .expect("the ID token verifies")
        .claims
}

#[tokio::test]
async fn discovery_describes_a_code_flow_provider_with_pkce_and_es256() {
    let p = Provider::start().await;
    let resp = p
        .get(
            &format!("{}/.well-known/openid-configuration", p.issuer),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let d: Value = resp.json().await.expect("JSON");
    assert_eq!(d["issuer"], p.issuer.as_str());
    assert_eq!(
        d["authorization_endpoint"],
        format!("{}/authorize", p.issuer)
    );
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        d["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    let scopes = d["scopes_supported"].as_array().expect("scopes");
    assert!(scopes.contains(&"groups".into()) && scopes.contains(&"offline_access".into()));
    assert!(d["end_session_endpoint"].is_string());
}

#[tokio::test]
async fn a_local_user_signs_in_and_gets_an_id_token_that_verifies_against_the_jwks() {
    let p = Provider::start().await;
    p.add_user("ada", "ada-password-1", &["developers", "release"])
        .await;
    let attempt = Attempt::new();
    let (code, _) = p.sign_in(&attempt, "ada", "ada-password-1").await;
    let (status, tokens) = p.exchange(&code, &attempt.verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["expires_in"].as_i64().is_some_and(|s| s > 0));
    assert!(
        tokens["refresh_token"].is_string(),
        "offline_access gives one"
    );
    let id = verify(
        &p,
        tokens["id_token"].as_str().expect("id_token"),
        "test-cli",
    )
    .await;
    assert_eq!(id["nonce"], attempt.nonce.as_str());
    assert_eq!(id["preferred_username"], "ada");
    assert_eq!(id["groups"], serde_json::json!(["developers", "release"]));
    assert_eq!(id["email"], "ada@example.com");
    assert_eq!(id["email_verified"], false);
    for claim in ["sub", "exp", "iat", "auth_time", "at_hash", "sid", "jti"] {
        assert!(!id[claim].is_null(), "{claim} is present");
    }
    assert_ne!(id["sub"], "ada", "sub is an opaque id, not the login");

    let (status, info) = p
        .userinfo(tokens["access_token"].as_str().expect("at"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["sub"], id["sub"]);
    assert_eq!(info["groups"], id["groups"]);

    let audit = p.audit_actions().await;
    assert!(audit.contains(&"auth.local_login".to_string()));
    assert!(audit.contains(&"oidc.tokens_issued".to_string()));
}

#[tokio::test]
async fn the_first_start_creates_an_admin_in_group_admins() {
    let p = Provider::start().await;
    let attempt = Attempt::new();
    let (code, _) = p.sign_in(&attempt, "admin", ADMIN_PASSWORD).await;
    let (_, tokens) = p.exchange(&code, &attempt.verifier).await;
    let id = claims(tokens["id_token"].as_str().expect("id_token"));
    assert_eq!(id["groups"], serde_json::json!(["admins"]));
    let admin = p
        .store
        .find_user("admin")
        .await
        .expect("read")
        .expect("admin");
    assert!(!admin.machine);
}

#[tokio::test]
async fn a_wrong_password_gets_one_generic_message_and_repeated_failures_lock_the_account() {
    let p = Provider::start().await;
    p.add_user("bob", "bob-password-1", &[]).await;
    let url = p.authorize_url(&Attempt::new(), &[]);
    for (user, password) in [("bob", "nope-nope"), ("nobody", "bob-password-1")] {
        let form = p.open_form(&url).await;
        let resp = p.post_form(&form, user, password).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let html = resp.text().await.expect("html");
        assert!(html.contains("Wrong user name or password."), "{html}");
        assert!(html.contains("role=\"alert\""));
    }
    // Four more wrong passwords (five in all) lock bob; then even the right one fails.
    for _ in 0..4 {
        let form = p.open_form(&url).await;
        p.post_form(&form, "bob", "still-wrong").await;
    }
    let form = p.open_form(&url).await;
    let resp = p.post_form(&form, "bob", "bob-password-1").await;
    assert_eq!(resp.status(), StatusCode::OK, "refused while locked");
    assert!(
        resp.text()
            .await
            .expect("html")
            .contains("Wrong user name or password.")
    );
    let bob = p
        .store
        .find_local_account("bob")
        .await
        .expect("read")
        .expect("bob");
    assert!(bob.locked_until > 0 && bob.failed_logins >= 5);

    let audit = p.store.list_audit(0, 10_000).await.expect("audit");
    let reasons: Vec<String> = audit
        .iter()
        .filter(|e| e.action == "auth.local_login_failed")
        .map(|e| e.detail.clone())
        .collect();
    assert!(reasons.iter().any(|d| d.contains("unknown_user")));
    assert!(reasons.iter().any(|d| d.contains("locked")));
    assert!(audit.iter().all(|e| !e.detail.contains("bob-password-1")));
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_whole_chain() {
    let p = Provider::start().await;
    p.add_user("cy", "cy-password-1", &["ops"]).await;
    let attempt = Attempt::new();
    let (code, _) = p.sign_in(&attempt, "cy", "cy-password-1").await;
    let (_, first) = p.exchange(&code, &attempt.verifier).await;
    let r1 = first["refresh_token"].as_str().expect("r1").to_string();

    let (status, second) = p.refresh(&r1).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let r2 = second["refresh_token"].as_str().expect("r2").to_string();
    assert_ne!(r1, r2, "a new refresh token each time");
    let id = claims(second["id_token"].as_str().expect("id"));
    assert_eq!(id["groups"], serde_json::json!(["ops"]));
    assert!(id.get("nonce").is_none());

    // The old one comes back: refused, and its successor dies with it.
    let (status, body) = p.refresh(&r1).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    let (status, _) = p.refresh(&r2).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the chain is revoked");
    let (status, _) = p
        .userinfo(second["access_token"].as_str().expect("at"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        p.audit_actions()
            .await
            .contains(&"oidc.refresh_token_reused".to_string())
    );
}

#[tokio::test]
async fn prompt_none_uses_the_provider_session_and_prompt_login_asks_again() {
    let p = Provider::start().await;
    p.add_user("di", "di-password-1", &[]).await;
    let without = p
        .get(
            &p.authorize_url(&Attempt::new(), &[("prompt", "none")]),
            None,
        )
        .await;
    assert_eq!(without.status(), StatusCode::SEE_OTHER);
    let to = location(&without);
    assert_eq!(param(&to, "error").as_deref(), Some("login_required"));
    assert_eq!(param(&to, "iss").as_deref(), Some(p.issuer.as_str()));

    let (_, sso) = p.sign_in(&Attempt::new(), "di", "di-password-1").await;
    let cookie = format!("hangar_oidc_sso={sso}");
    let silent = Attempt::new();
    let resp = p
        .get(
            &p.authorize_url(&silent, &[("prompt", "none")]),
            Some(&cookie),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let code = param(&location(&resp), "code").expect("a code without a form");
    let (status, tokens) = p.exchange(&code, &silent.verifier).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        claims(tokens["id_token"].as_str().expect("id"))["nonce"],
        silent.nonce.as_str()
    );

    let again = p
        .get(
            &p.authorize_url(&Attempt::new(), &[("prompt", "login")]),
            Some(&cookie),
        )
        .await;
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "prompt=login shows the form"
    );
}

#[tokio::test]
async fn end_session_clears_the_provider_session_and_revokes_its_refresh_tokens() {
    let p = Provider::start().await;
    let attempt = Attempt::new();
    let (code, sso) = p.sign_in(&attempt, "admin", ADMIN_PASSWORD).await;
    let (_, tokens) = p.exchange(&code, &attempt.verifier).await;
    let id_token = tokens["id_token"].as_str().expect("id");
    let cookie = format!("hangar_oidc_sso={sso}");

    let unregistered = format!(
        "{}/end_session?id_token_hint={id_token}&post_logout_redirect_uri=https://evil.example/",
        p.issuer
    );
    assert_eq!(
        p.get(&unregistered, Some(&cookie)).await.status(),
        StatusCode::BAD_REQUEST
    );

    let resp = p
        .get(
            &format!("{}/end_session?id_token_hint={id_token}&state=s1", p.issuer),
            Some(&cookie),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK, "signed-out page");
    assert_eq!(set_cookie(&resp, "hangar_oidc_sso").as_deref(), Some(""));
    let (status, _) = p
        .refresh(tokens["refresh_token"].as_str().expect("rt"))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "refresh tokens of the session are revoked"
    );
    let resp = p
        .get(
            &p.authorize_url(&Attempt::new(), &[("prompt", "none")]),
            Some(&cookie),
        )
        .await;
    assert_eq!(
        param(&location(&resp), "error").as_deref(),
        Some("login_required")
    );
}

#[tokio::test]
async fn the_built_in_client_logs_out_to_the_server_url() {
    let p = Provider::start().await;
    let attempt = Attempt::new();
    let (code, _) = p.sign_in(&attempt, "admin", ADMIN_PASSWORD).await;
    let (_, tokens) = p.exchange(&code, &attempt.verifier).await;
    let hint = tokens["id_token"].as_str().expect("id");
    // A hint for another client does not unlock the built-in client's logout URI.
    let url = format!(
        "{}/end_session?id_token_hint={hint}&client_id=hangar&post_logout_redirect_uri={}/",
        p.issuer, p.app.url
    );
    assert_eq!(p.get(&url, None).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(p.hangar.post_logout_redirect_uri, format!("{}/", p.app.url));
    assert_eq!(
        p.hangar.redirect_uri,
        format!("{}/auth/callback", p.app.url)
    );
    assert!(!format!("{:?}", p.hangar).contains(p.hangar.client_secret.expose()));
}
