//! ID tokens a relying party must refuse, made by the hostile provider: each case changes one
//! thing in an otherwise honest token and expects `invalid_id_token` (or the named reason).

use super::hostile::{Hostile, Plan, Sign, now_secs};
use super::*;
use serde_json::json;

/// Logs in through the hostile provider with the plan `change` makes of an honest one;
/// returns the callback's answer.
async fn attempt(h: &Hostile, app: &LoginApp, change: impl FnOnce(&mut Plan)) -> Page {
    let browser = app.browser();
    let (state, nonce) = begin(app, &browser).await;
    let mut plan = h.honest(&nonce, "user-1");
    change(&mut plan);
    h.plan(plan);
    call_back(
        app,
        &browser,
        &[("state", &state), ("code", "c"), ("iss", &h.issuer)],
    )
    .await
}

async fn refused(change: impl FnOnce(&mut Plan), reason: &str) {
    let (h, app) = with_hostile(|_| {}).await;
    let page = attempt(&h, &app, change).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.set_cookie("hangar_session").is_none());
    assert_eq!(app.refusals().await, [reason]);
}

#[tokio::test]
async fn an_honest_token_from_the_hostile_provider_is_accepted() {
    // The control case: each refusal below differs from this in one thing only.
    let (h, app) = with_hostile(|_| {}).await;
    let page = attempt(&h, &app, |_| {}).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.set_cookie("hangar_session").is_some());
}

#[tokio::test]
async fn an_id_token_without_a_nonce_is_refused() {
    // A7
    refused(
        |p| {
            p.claims.as_object_mut().map(|c| c.remove("nonce"));
        },
        "invalid_id_token",
    )
    .await;
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_refused() {
    // A8
    refused(
        |p| p.claims["nonce"] = json!("someone-elses-nonce"),
        "invalid_id_token",
    )
    .await;
}

#[tokio::test]
async fn an_unsigned_id_token_is_refused() {
    // A9
    refused(
        |p| {
            p.header = json!({ "alg": "none", "typ": "JWT" });
            p.sign = Sign::Unsigned;
        },
        "invalid_id_token",
    )
    .await;
}

#[tokio::test]
async fn an_id_token_maced_with_the_providers_public_key_is_refused() {
    // A10: HS256 keyed with the RSA public key's bytes (the key confusion attack).
    let public = std::fs::read_to_string(format!(
        "{}/tests/data/keys/hostile-rsa-1.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("key");
    refused(
        |p| {
            p.header = json!({ "alg": "HS256", "kid": "k1", "typ": "JWT" });
            p.sign = Sign::Hs256(public.into_bytes());
        },
        "invalid_id_token",
    )
    .await;
}

#[tokio::test]
async fn an_id_token_maced_with_the_client_secret_is_refused_too() {
    // A MAC is refused unless configured, even with the right secret.
    refused(
        |p| {
            p.header = json!({ "alg": "HS256", "typ": "JWT" });
            p.sign = Sign::Hs256(CLIENT_SECRET.as_bytes().to_vec());
        },
        "invalid_id_token",
    )
    .await;
}

#[tokio::test]
async fn an_issuer_that_differs_by_a_slash_a_case_or_a_scheme_is_refused() {
    // A14
    for change in [
        |i: &str| format!("{i}/"),
        |i: &str| i.to_uppercase(),
        |i: &str| i.replace("http://", "https://"),
    ] {
        let (h, app) = with_hostile(|_| {}).await;
        let iss = change(&h.issuer);
        let page = attempt(&h, &app, |p| p.claims["iss"] = json!(iss)).await;
        assert_eq!(page.status, 400, "{}", page.body);
        assert_eq!(app.refusals().await, ["invalid_id_token"]);
    }
}

#[tokio::test]
async fn a_token_for_another_client_is_refused() {
    // A15
    refused(
        |p| p.claims["aud"] = json!("another-app"),
        "invalid_id_token",
    )
    .await;
}

#[tokio::test]
async fn a_token_with_an_untrusted_extra_audience_is_refused() {
    // A16
    refused(
        |p| p.claims["aud"] = json!([CLIENT_ID, "untrusted-app"]),
        "invalid_id_token",
    )
    .await;
}

#[tokio::test]
async fn a_token_authorized_for_another_party_is_refused() {
    // A17
    refused(
        |p| p.claims["azp"] = json!("another-app"),
        "invalid_id_token",
    )
    .await;
}

#[tokio::test]
async fn an_expired_token_is_refused_beyond_sixty_seconds_of_skew() {
    // A18
    refused(
        |p| p.claims["exp"] = json!(now_secs() - 120),
        "invalid_id_token",
    )
    .await;
    let (h, app) = with_hostile(|_| {}).await;
    let page = attempt(&h, &app, |p| p.claims["exp"] = json!(now_secs() - 30)).await;
    assert_eq!(
        page.status, 303,
        "30 s past exp is within the skew: {}",
        page.body
    );
}

#[tokio::test]
async fn a_token_issued_in_the_future_or_not_yet_valid_is_refused() {
    // A19
    refused(
        |p| p.claims["iat"] = json!(now_secs() + 3600),
        "invalid_id_token",
    )
    .await;
    refused(
        |p| p.claims["nbf"] = json!(now_secs() + 3600),
        "invalid_id_token",
    )
    .await;
}

#[tokio::test]
async fn a_token_whose_at_hash_does_not_match_the_access_token_is_refused() {
    // A20
    refused(
        |p| p.claims["at_hash"] = json!("AAAAAAAAAAAAAAAAAAAAAA"),
        "invalid_id_token",
    )
    .await;
}

#[tokio::test]
async fn userinfo_about_another_subject_is_refused() {
    // A24: the ID token carries no groups, so Hangar asks userinfo, which names someone else.
    refused(
        |p| {
            p.claims.as_object_mut().map(|c| c.remove("groups"));
            p.userinfo = Some(json!({ "sub": "someone-else", "groups": ["admins"] }));
        },
        "userinfo_failed",
    )
    .await;
}

#[tokio::test]
async fn a_provider_without_pkce_s256_is_not_used() {
    // A6
    let (h, app) = with_hostile(|_| {}).await;
    h.metadata(json!({ "code_challenge_methods_supported": ["plain"] }));
    let page = app.browser().get(&app.url("/login")).await;
    assert_eq!(page.status, 502, "{}", page.body);
    assert!(page.body.contains("provider_misconfigured"));
    assert_eq!(app.refusals().await, ["provider_misconfigured"]);
}

#[tokio::test]
async fn metadata_naming_another_issuer_is_not_used() {
    let (h, app) = with_hostile(|_| {}).await;
    h.metadata(json!({ "issuer": format!("{}/", h.issuer) }));
    let page = app.browser().get(&app.url("/login")).await;
    assert_eq!(page.status, 502, "{}", page.body);
    assert_eq!(app.refusals().await, ["provider_misconfigured"]);
}

#[tokio::test]
async fn groups_come_from_a_nested_claim_and_may_be_ids() {
    let (h, app) = with_hostile(|c| {
        if let Some(o) = c.identity.oidc.as_mut() {
            o.groups_claim = "realm_access.roles".into();
        }
    })
    .await;
    let browser = app.browser();
    let (state, nonce) = begin(&app, &browser).await;
    let mut plan = h.honest(&nonce, "nested");
    plan.claims["realm_access"] = json!({ "roles": [
        "8d2b6c1e-0000-4000-8000-000000000001",
        { "id": "42", "displayName": "admins" },
    ]});
    h.plan(plan);
    let page = call_back(
        &app,
        &browser,
        &[("state", &state), ("code", "c"), ("iss", &h.issuer)],
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let (_, me) = app.session(&browser).await;
    assert_eq!(
        me["groups"],
        json!(["8d2b6c1e-0000-4000-8000-000000000001", "admins", "42"])
    );
    assert_eq!(
        me["admin"], true,
        "a group named by its display name grants its role"
    );
}

#[tokio::test]
async fn an_id_token_is_not_an_api_credential() {
    // T3: a valid ID token for Hangar's client, presented as a bearer token.
    let (h, app) = with_hostile(|_| {}).await;
    let plan = h.honest("n", "user-1");
    let token = h.mint(&plan);
    let resp = reqwest::Client::new()
        .get(format!("{}/api/user", app.real))
        .bearer_auth(token)
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 401);
}
