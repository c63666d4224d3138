//! Logging in to an account provisioned over SCIM, and just-in-time provisioning's allowlist.
//! The provider's login is matched to the SCIM user by `scim_match_claim` (default `sub`
//! against `externalId`; `email` against the userName with a verified email); the account
//! keeps the groups SCIM gave it. Deprovisioning over SCIM ends sessions, revokes tokens and
//! refuses the next login; leaving a group counts from the next request.

use super::*;
use crate::support::scim::{Scim, create_token};
use crate::support::{ADMIN_TOKEN, GitRepo};
use hangar::config::RoleGrant;
use reqwest::Method;
use serde_json::json;

fn developers(config: &mut Config) {
    config.identity.roles = vec![
        RoleGrant {
            group: "admins".into(),
            role: "admin".into(),
            repos: Vec::new(),
        },
        RoleGrant {
            group: "developers".into(),
            role: "developer".into(),
            repos: vec!["acme/*".into()],
        },
    ];
}

/// A server logging in through the real provider, with acme/api and other/secret active and a
/// SCIM client.
async fn provisioning(adjust: impl FnOnce(&mut Config)) -> (idp::Idp, LoginApp, Scim) {
    let (idp, app) = with_idp(|c| {
        developers(c);
        adjust(c);
    })
    .await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: ok\n  commands: [true]\n",
    );
    for slug in ["acme/api", "other/secret"] {
        let body = json!({ "clone_url": git.url(), "default_branch": "main" });
        let (status, reply) = admin(
            &app,
            Method::POST,
            &format!("/api/repos/{slug}"),
            Some(body),
        )
        .await;
        assert_eq!(status, 200, "{reply}");
    }
    let token = create_token(app._data.path(), &app.database_url);
    let scim = Scim::new(&app.real, &token);
    (idp, app, scim)
}

async fn admin(app: &LoginApp, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    call(app, ADMIN_TOKEN, method, path, body).await
}

async fn call(
    app: &LoginApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", app.real))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// What the browser's session sees at `path`.
async fn seen(app: &LoginApp, browser: &Browser, path: &str) -> (u16, Value) {
    let page = browser.get(&app.url(path)).await;
    (
        page.status,
        serde_json::from_str(&page.body).unwrap_or(Value::Null),
    )
}

fn slugs(v: &Value) -> Vec<&str> {
    let mut s: Vec<&str> = v
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["slug"].as_str()).collect())
        .unwrap_or_default();
    s.sort_unstable();
    s
}

async fn logins(app: &LoginApp) -> Vec<String> {
    let (_, users) = admin(app, Method::GET, "/api/users", None).await;
    users
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["login"].as_str().map(str::to_string))
        .collect()
}

/// Provisions `user_name` (externalId `external_id`) into `developers`; returns the user's and
/// the group's SCIM ids.
async fn provision_developer(scim: &Scim, user_name: &str, external_id: &str) -> (String, String) {
    let user = scim.user(user_name, external_id).await;
    let group = scim.group("developers", &[&user]).await;
    (user, group)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the `hangar scim` command blocks a thread while the server runs
async fn a_provisioned_developer_logs_in_to_their_scim_account_and_sees_the_granted_repos() {
    let (idp, app, scim) = provisioning(|_| {}).await;
    provision_developer(&scim, "dev1@acme.example", "00u-dev1").await;
    // The provider knows the person by the same id Okta sent as externalId; it sends no groups.
    idp.user_with(json!({ "username": "dev1", "sub": "00u-dev1", "groups": [] }))
        .await;

    let browser = app.browser();
    app.login(&browser, &idp, "dev1").await;
    let (status, me) = seen(&app, &browser, "/api/user").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        me["login"], "dev1",
        "the login lands in the provisioned account"
    );
    let (_, repos) = seen(&app, &browser, "/api/user/repos").await;
    assert_eq!(slugs(&repos), ["acme/api"]);
    assert_eq!(seen(&app, &browser, "/api/repos/other/secret").await.0, 404);
    assert_eq!(
        logins(&app)
            .await
            .iter()
            .filter(|l| l.starts_with("dev1"))
            .count(),
        1,
        "no second account"
    );
    let linked = app.audit().await.into_iter().any(|r| {
        r.action == "user.updated"
            && r.target == "user:dev1"
            && r.detail.contains("linked_to_provider")
    });
    assert!(linked, "the link to the provider's identity is audited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the `hangar scim` command blocks a thread while the server runs
async fn deprovisioning_over_scim_ends_the_session_revokes_tokens_and_refuses_the_next_login() {
    let (idp, app, scim) = provisioning(|_| {}).await;
    let (user, _) = provision_developer(&scim, "dev2@acme.example", "00u-dev2").await;
    idp.user_with(json!({ "username": "dev2", "sub": "00u-dev2" }))
        .await;
    let browser = app.browser();
    app.login(&browser, &idp, "dev2").await;
    assert_eq!(app.session(&browser).await.0, 200);
    let (status, made) = admin(&app, Method::POST, "/api/users/dev2/token/rotate", None).await;
    assert_eq!(status, 200, "{made}");
    let token = made["token"].as_str().expect("token").to_string();
    assert_eq!(
        call(&app, &token, Method::GET, "/api/user", None).await.0,
        200
    );

    let disable = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
    assert_eq!(
        scim.patch(&format!("/Users/{user}"), &disable).await.status,
        200
    );

    assert_eq!(
        app.session(&browser).await.0,
        401,
        "the session ended at once"
    );
    assert_eq!(
        call(&app, &token, Method::GET, "/api/user", None).await.0,
        401,
        "the token is revoked at once"
    );
    let again = app.browser();
    let page = app.login(&again, &idp, "dev2").await;
    assert_eq!(
        page.status, 403,
        "the provider still vouches, Hangar refuses: {}",
        page.body
    );
    assert!(
        app.refusals()
            .await
            .contains(&"account_disabled".to_string())
    );
    let trail = app.audit().await;
    for action in [
        "scim.user_deactivated",
        "user.deactivated",
        "token.revoked",
        "auth.session_ended",
    ] {
        assert!(
            trail.iter().any(|r| r.action == action),
            "{action} is audited"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the `hangar scim` command blocks a thread while the server runs
async fn leaving_a_group_over_scim_takes_effect_on_the_next_request() {
    let (idp, app, scim) = provisioning(|_| {}).await;
    let (user, group) = provision_developer(&scim, "dev3@acme.example", "00u-dev3").await;
    idp.user_with(json!({ "username": "dev3", "sub": "00u-dev3" }))
        .await;
    let browser = app.browser();
    app.login(&browser, &idp, "dev3").await;
    assert_eq!(
        slugs(&seen(&app, &browser, "/api/user/repos").await.1),
        ["acme/api"]
    );

    let leave = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "remove", "path": format!("members[value eq \"{user}\"]")}]});
    assert_eq!(
        scim.patch(&format!("/Groups/{group}"), &leave).await.status,
        204
    );

    let (status, repos) = seen(&app, &browser, "/api/user/repos").await;
    assert_eq!(status, 200, "still logged in");
    assert!(
        slugs(&repos).is_empty(),
        "no developer access any more: {repos}"
    );
    assert_eq!(seen(&app, &browser, "/api/repos/acme/api").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the `hangar scim` command blocks a thread while the server runs
async fn with_the_email_claim_a_verified_email_finds_the_provisioned_account() {
    let (idp, app, scim) = provisioning(|c| c.identity.scim_match_claim = "email".into()).await;
    provision_developer(&scim, "ada@acme.example", "not-the-subject").await;
    let eve = scim.user("eve@acme.example", "also-not").await;
    scim.group("admins", &[&eve]).await;
    idp.user_with(
        json!({ "username": "ada", "email": "ADA@acme.example", "email_verified": true }),
    )
    .await;
    idp.user_with(
        json!({ "username": "eve", "email": "eve@acme.example", "email_verified": false }),
    )
    .await;

    let ada = app.browser();
    app.login(&ada, &idp, "ada").await;
    let (_, me) = seen(&app, &ada, "/api/user").await;
    assert_eq!(me["login"], "ada");
    assert_eq!(
        slugs(&seen(&app, &ada, "/api/user/repos").await.1),
        ["acme/api"]
    );

    let imposter = app.browser();
    app.login(&imposter, &idp, "eve").await;
    let (_, me) = seen(&app, &imposter, "/api/user").await;
    assert_ne!(
        me["login"], "eve",
        "an unverified email claims nobody's account: {me}"
    );
    assert!(slugs(&seen(&app, &imposter, "/api/user/repos").await.1).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the `hangar scim` command blocks a thread while the server runs
async fn the_allowlist_admits_listed_groups_and_verified_domains_and_refuses_everyone_else() {
    let (idp, app) = with_idp(|c| {
        c.identity.allowed_groups = vec!["engineering".into()];
        c.identity.allowed_email_domains = vec!["acme.example".into()];
    })
    .await;
    idp.user_with(
        json!({ "username": "eng", "email": "eng@elsewhere.example", "groups": ["engineering"] }),
    )
    .await;
    idp.user_with(json!({ "username": "staff", "email": "staff@ACME.example" }))
        .await;
    idp.user_with(
        json!({ "username": "outsider", "email": "x@elsewhere.example", "groups": ["sales"] }),
    )
    .await;
    idp.user_with(
        json!({ "username": "claims", "email": "claims@acme.example", "email_verified": false }),
    )
    .await;

    for (who, admitted) in [
        ("eng", true),
        ("staff", true),
        ("outsider", false),
        ("claims", false),
    ] {
        let browser = app.browser();
        let page = app.login(&browser, &idp, who).await;
        let (status, _) = app.session(&browser).await;
        if admitted {
            assert_eq!(status, 200, "{who} is let in: {}", page.body);
        } else {
            assert_eq!(page.status, 403, "{who} is refused");
            assert_eq!(status, 401, "{who} has no session");
        }
    }
    let refusals = app.refusals().await;
    assert_eq!(
        refusals.iter().filter(|r| *r == "not_allowed").count(),
        2,
        "{refusals:?}"
    );
    let accounts = logins(&app).await;
    assert!(
        !accounts
            .iter()
            .any(|l| l.starts_with("outsider") || l.starts_with("claims")),
        "{accounts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the `hangar scim` command blocks a thread while the server runs
async fn a_user_deleted_over_scim_is_refused_until_provisioned_again_into_a_fresh_account() {
    let (idp, app, scim) = provisioning(|_| {}).await;
    let (user, _) = provision_developer(&scim, "dev4@acme.example", "00u-dev4").await;
    idp.user_with(json!({ "username": "dev4", "sub": "00u-dev4" }))
        .await;
    let browser = app.browser();
    app.login(&browser, &idp, "dev4").await;
    assert_eq!(app.session(&browser).await.0, 200);

    let gone = scim
        .send(Method::DELETE, &format!("/Users/{user}"), None)
        .await;
    assert_eq!(gone.status, 204);
    assert_eq!(app.session(&browser).await.0, 401, "the session ended");
    let page = app.login(&app.browser(), &idp, "dev4").await;
    assert_eq!(page.status, 403, "a deleted user is refused: {}", page.body);

    let again = scim.user("dev4@acme.example", "00u-dev4").await;
    assert_eq!(scim.get(&format!("/Users/{again}")).await["active"], true);
    let fresh = app.browser();
    app.login(&fresh, &idp, "dev4").await;
    let (status, me) = seen(&app, &fresh, "/api/user").await;
    assert_eq!(status, 200, "{me}");
    assert_ne!(me["login"], "dev4", "a fresh account, not the deleted one");
    assert!(
        slugs(&seen(&app, &fresh, "/api/user/repos").await.1).is_empty(),
        "no groups yet"
    );
    assert!(!again.is_empty());
}
