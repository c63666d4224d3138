//! Accounts are keyed on the provider's issuer and subject: never merged on an email or a name.

use super::github_standin::{GhUser, GitHub};
use super::*;
use serde_json::json;

#[tokio::test]
async fn an_unverified_email_of_an_existing_user_makes_a_new_account_never_a_merge() {
    // A25: "ada@example.com" logs in through GitHub; someone at the OpenID provider claims the
    // same address, unverified.
    let gh = GitHub::start().await;
    let idp = idp::Idp::start().await;
    idp.client(CLIENT_ID, CLIENT_SECRET, PUBLIC).await;
    let settings = gh.settings();
    let issuer = idp.issuer.clone();
    let app = LoginApp::spawn(PUBLIC, |c| {
        oidc(c, &issuer);
        c.identity.github = Some(settings);
    })
    .await;
    gh.sign_in(GhUser {
        id: 1001,
        login: "ada".into(),
        email: "ada@example.com".into(),
        orgs: vec!["acme".into()],
        teams: vec![],
    });
    let real = app.browser();
    let start = app.start_login(&real, "?provider=github").await;
    let back = real.get(start.location()).await;
    assert_eq!(real.get(back.location()).await.status, 303);

    idp.user_with(json!({
        "username": "impostor", "email": "ada@example.com", "email_verified": false,
        "preferred_username": "ada", "groups": [],
    }))
    .await;
    let impostor = app.browser();
    assert_eq!(app.login(&impostor, &idp, "impostor").await.status, 303);

    let (_, first) = app.session(&real).await;
    let (_, second) = app.session(&impostor).await;
    assert_eq!(first["login"], "ada");
    assert_eq!(first["groups"], json!(["acme"]));
    assert_eq!(second["login"], "ada-2", "a new account, not ada's");
    assert_eq!(second["groups"], json!([]));
}

#[tokio::test]
async fn two_people_with_the_same_preferred_username_get_two_accounts() {
    // A26
    let (idp, app) = with_idp(|_| {}).await;
    idp.user_with(json!({ "username": "kim1", "preferred_username": "kim", "groups": ["admins"] }))
        .await;
    idp.user_with(json!({ "username": "kim2", "preferred_username": "kim", "groups": [] }))
        .await;
    let one = app.browser();
    let two = app.browser();
    app.login(&one, &idp, "kim1").await;
    app.login(&two, &idp, "kim2").await;
    let (_, a) = app.session(&one).await;
    let (_, b) = app.session(&two).await;
    assert_eq!(a["login"], "kim");
    assert_eq!(b["login"], "kim-2");
    assert_eq!(a["admin"], true);
    assert_eq!(
        b["admin"], false,
        "the second kim gets nothing of the first"
    );
    // Logging in again finds the same accounts.
    let again = app.browser();
    app.login(&again, &idp, "kim2").await;
    assert_eq!(app.session(&again).await.1["login"], "kim-2");
    let created = app
        .audit()
        .await
        .iter()
        .filter(|r| r.action == "user.created" && r.target.starts_with("user:kim"))
        .count();
    assert_eq!(created, 2);
}

#[tokio::test]
async fn a_disabled_account_can_neither_log_in_nor_use_its_session() {
    let (idp, app) = with_idp(|_| {}).await;
    idp.user("zed", &["developers"]).await;
    let before = app.browser();
    app.login(&before, &idp, "zed").await;
    app.disable("zed").await;
    let after = app.browser();
    let page = app.login(&after, &idp, "zed").await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.set_cookie("hangar_session").is_none());
    assert_eq!(app.refusals().await, ["account_disabled"]);
    // The session from before is refused too (once its short cache has expired).
    eventually(
        Duration::from_secs(5),
        "the old session refused",
        || async { app.session(&before).await.0 == 401 },
    )
    .await;
}
