//! Callbacks that must be refused before or at the code exchange: no state, someone else's
//! state, a replay, a code from another transaction, a response from another issuer, a
//! transaction too old. Each is a 4xx page, no session, and an audited reason.

use super::hostile::Hostile;
use super::*;

/// Runs a login at the real provider up to (not including) the callback.
async fn code_for(app: &LoginApp, idp: &idp::Idp, browser: &Browser, user: &str) -> String {
    let start = app.start_login(browser, "").await;
    idp.authorize(browser, start.location(), user, &app.url("/auth/callback"))
        .await
}

fn assert_refused(page: &Page, status: u16) {
    assert_eq!(page.status, status, "{}", page.body);
    assert!(page.body.contains("Login failed"), "{}", page.body);
    assert!(
        page.body.contains("Request id"),
        "an error page names its request id"
    );
    assert!(page.set_cookie("hangar_session").is_none(), "no session");
}

#[tokio::test]
async fn a_callback_without_state_is_refused() {
    // A1
    let (idp, app) = with_idp(|_| {}).await;
    idp.user("ann", &[]).await;
    let browser = app.browser();
    let back = code_for(&app, &idp, &browser, "ann").await;
    let code = query_param(&back, "code").expect("code");
    let iss = query_param(&back, "iss").expect("iss");
    let page = call_back(&app, &browser, &[("code", &code), ("iss", &iss)]).await;
    assert_refused(&page, 400);
    assert_eq!(app.refusals().await, ["missing_state"]);
}

#[tokio::test]
async fn a_callback_with_a_state_this_browser_did_not_start_is_refused() {
    // A2: the attacker logs in, stops before the callback and sends the victim the link.
    let (idp, app) = with_idp(|_| {}).await;
    idp.user("mallory", &["admins"]).await;
    let attacker = app.browser();
    let back = code_for(&app, &idp, &attacker, "mallory").await;
    let victim = app.browser();
    app.start_login(&victim, "").await; // the victim has a login of their own going
    let page = victim.get(&back).await;
    assert_refused(&page, 400);
    assert_eq!(app.refusals().await, ["state_mismatch"]);
    assert_eq!(app.session(&victim).await.0, 401);
    // The attacker's own transaction was not consumed by the refused attempt.
    assert_eq!(attacker.get(&back).await.status, 303);
}

#[tokio::test]
async fn a_callback_replayed_a_second_time_is_refused() {
    // A3, and C3: the transaction cookie is deleted by the callback.
    let (idp, app) = with_idp(|_| {}).await;
    idp.user("ben", &[]).await;
    let browser = app.browser();
    let back = code_for(&app, &idp, &browser, "ben").await;
    let state = query_param(&back, "state").expect("state");
    let cookie_name = browser
        .get(&back)
        .await
        .set_cookies
        .iter()
        .find(|c| c.starts_with("hangar_login_"))
        .map(|c| {
            assert!(c.contains("Max-Age=0"), "{c}");
            c.split('=').next().unwrap_or("").to_string()
        })
        .expect("the transaction cookie is deleted");
    // Even with the cookie put back, the transaction is gone.
    browser.put_cookie(&app.public, &cookie_name, &state);
    let page = browser.get(&back).await;
    assert_refused(&page, 400);
    assert_eq!(app.refusals().await, ["unknown_transaction"]);
}

#[tokio::test]
async fn a_code_from_another_transaction_fails_on_the_pkce_verifier() {
    // A4: the victim's state with a code the attacker obtained in their own transaction.
    let (idp, app) = with_idp(|_| {}).await;
    idp.user("mallory", &[]).await;
    let attacker = app.browser();
    let stolen = code_for(&app, &idp, &attacker, "mallory").await;
    let victim = app.browser();
    let (state, _) = begin(&app, &victim).await;
    let page = call_back(
        &app,
        &victim,
        &[
            ("state", &state),
            ("code", &query_param(&stolen, "code").expect("code")),
            ("iss", &idp.issuer),
        ],
    )
    .await;
    assert_refused(&page, 400);
    assert_eq!(app.refusals().await, ["token_exchange_failed"]);
}

#[tokio::test]
async fn a_response_naming_another_issuer_is_refused() {
    // A21
    let (idp, app) = with_idp(|_| {}).await;
    idp.user("cat", &[]).await;
    let browser = app.browser();
    let back = code_for(&app, &idp, &browser, "cat").await;
    let page = call_back(
        &app,
        &browser,
        &[
            ("state", &query_param(&back, "state").expect("state")),
            ("code", &query_param(&back, "code").expect("code")),
            ("iss", "https://evil.example"),
        ],
    )
    .await;
    assert_refused(&page, 400);
    assert_eq!(app.refusals().await, ["issuer_mismatch"]);
}

#[tokio::test]
async fn a_response_without_iss_from_a_provider_that_promises_it_is_refused() {
    // A22: oidc-provider's metadata says authorization_response_iss_parameter_supported.
    let (idp, app) = with_idp(|_| {}).await;
    idp.user("dan", &[]).await;
    let browser = app.browser();
    let back = code_for(&app, &idp, &browser, "dan").await;
    let page = call_back(
        &app,
        &browser,
        &[
            ("state", &query_param(&back, "state").expect("state")),
            ("code", &query_param(&back, "code").expect("code")),
        ],
    )
    .await;
    assert_refused(&page, 400);
    assert_eq!(app.refusals().await, ["missing_issuer"]);
}

#[tokio::test]
async fn a_code_and_issuer_from_another_provider_are_refused_without_asking_either() {
    // A23: the transaction went to provider A; the response claims to come from B.
    let (a, app) = with_hostile(|_| {}).await;
    let b = Hostile::start().await;
    let browser = app.browser();
    let (state, _) = begin(&app, &browser).await;
    let page = call_back(
        &app,
        &browser,
        &[
            ("state", &state),
            ("code", "code-from-b"),
            ("iss", &b.issuer),
        ],
    )
    .await;
    assert_refused(&page, 400);
    assert_eq!(app.refusals().await, ["issuer_mismatch"]);
    assert_eq!(a.token_requests(), 0);
    assert_eq!(b.token_requests(), 0);
}

#[tokio::test]
async fn a_transaction_older_than_ten_minutes_is_refused() {
    // C3
    let h = Hostile::start().await;
    let issuer = h.issuer.clone();
    let app = LoginApp::spawn_fixed(PUBLIC, |c| oidc(c, &issuer)).await;
    let browser = app.browser();
    let (state, nonce) = begin(&app, &browser).await;
    h.plan(h.honest(&nonce, "late"));
    app.advance(Duration::from_secs(601));
    let page = call_back(
        &app,
        &browser,
        &[("state", &state), ("code", "c"), ("iss", &h.issuer)],
    )
    .await;
    assert_refused(&page, 400);
    assert_eq!(app.refusals().await, ["transaction_expired"]);
    assert_eq!(h.token_requests(), 0);
}

#[tokio::test]
async fn a_provider_error_ends_the_login_with_a_page_not_a_session() {
    let (h, app) = with_hostile(|_| {}).await;
    let browser = app.browser();
    let (state, _) = begin(&app, &browser).await;
    let page = call_back(
        &app,
        &browser,
        &[
            ("state", &state),
            ("error", "access_denied<script>"),
            ("iss", &h.issuer),
        ],
    )
    .await;
    assert_refused(&page, 400);
    assert!(!page.body.contains("<script>"));
    assert_eq!(app.refusals().await, ["provider_error"]);
}
