//! The provider's signing keys: an unknown key id costs one fetch of the JWKS, a flood of
//! them no more per cooldown window, and a genuine rotation is followed.

use super::hostile::Sign;
use super::*;
use serde_json::json;

#[tokio::test]
async fn a_token_signed_with_an_unknown_key_costs_one_fetch_and_is_refused() {
    // A11: signed with k2, which the provider does not publish.
    let (h, app) = with_hostile(|_| {}).await;
    let browser = app.browser();
    let (state, nonce) = begin(&app, &browser).await;
    let fetched = h.jwks_fetches();
    let mut plan = h.honest(&nonce, "u");
    plan.header = json!({ "alg": "RS256", "kid": "k2", "typ": "JWT" });
    plan.sign = Sign::Key(1);
    plan.claims.as_object_mut().map(|c| c.remove("at_hash"));
    h.plan(plan);
    let page = call_back(
        &app,
        &browser,
        &[("state", &state), ("code", "c"), ("iss", &h.issuer)],
    )
    .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert_eq!(h.jwks_fetches(), fetched + 1);
    assert_eq!(app.refusals().await, ["invalid_id_token"]);
}

#[tokio::test]
async fn a_thousand_unknown_key_ids_cost_at_most_one_fetch() {
    // A12
    let (h, app) = with_hostile(|_| {}).await;
    // Discovery first (it fetches the JWKS once).
    let browser = app.browser();
    begin(&app, &browser).await;
    let fetched = h.jwks_fetches();
    let mut refused = 0;
    let started = std::time::Instant::now();
    let (app, issuer) = (&app, h.issuer.as_str());
    for _ in 0..100 {
        let mut attempts = Vec::new();
        for _ in 0..10 {
            let browser = app.browser();
            let (state, nonce) = begin(app, &browser).await;
            let mut plan = h.honest(&nonce, "u");
            plan.sign = Sign::Key(1);
            plan.random_kid = true;
            h.plan(plan);
            attempts.push(async move {
                call_back(
                    app,
                    &browser,
                    &[("state", &state), ("code", "c"), ("iss", issuer)],
                )
                .await
            });
        }
        for page in futures_util::future::join_all(attempts).await {
            assert_eq!(page.status, 400, "{}", page.body);
            refused += 1;
        }
    }
    assert_eq!(refused, 1000);
    assert!(
        h.jwks_fetches() - fetched <= 1,
        "{} fetches for 1000 unknown key ids in {:?}",
        h.jwks_fetches() - fetched,
        started.elapsed()
    );
}

#[tokio::test]
async fn a_genuine_key_rotation_is_accepted_after_one_fetch() {
    // A13, with the real provider: it signs with a new key from now on.
    let (idp, app) = with_idp(|_| {}).await;
    idp.user("gus", &[]).await;
    let first = app.browser();
    assert_eq!(app.login(&first, &idp, "gus").await.status, 303);
    let before = idp.stats().await["/jwks"].as_u64().unwrap_or(0);
    idp.rotate_keys().await;
    let second = app.browser();
    let back = app.login(&second, &idp, "gus").await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(idp.stats().await["/jwks"].as_u64().unwrap_or(0), before + 1);
    assert_eq!(app.session(&second).await.0, 200);
}
