//! SCIM stories: Okta's and Entra ID's requests replayed against `/scim/v2` (bodies from
//! `tests/data/scim/`), filters and paging, SCIM errors, and what provisioning does to access:
//! a provisioned user has their groups' rights before any login, and a deactivated one loses
//! everything at once. Logging in to a provisioned account is in `login/provisioned.rs`.

mod entra;
mod okta;
mod protocol;

use crate::support::scim::{Scim, create_token};
use crate::support::{GitRepo, TestApp, database::TestDatabase};
use hangar::config::{Config, RoleGrant};
use hangar::store::Store;
use reqwest::Method;
use serde_json::Value;

/// `developers` may work on acme/*; `admins` administer everything.
pub fn roles(config: &mut Config) {
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

/// A server with the roles above, two repositories (acme/api, other/secret) and a SCIM client.
pub async fn provisioning(database: TestDatabase) -> (TestApp, Scim) {
    let app = TestApp::spawn_with(database, roles).await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: ok\n  commands: [true]\n",
    );
    app.activate("acme/api", &git).await;
    app.activate("other/secret", &git).await;
    let url = app.database.url(app.data.path());
    let token = create_token(app.data.path(), &url);
    let scim = Scim::new(&app.url, &token);
    (app, scim)
}

/// The Hangar login of the provisioned user `id`.
pub async fn login_of(app: &TestApp, scim: &Scim, id: &str) -> String {
    let user = scim.get(&format!("/Users/{id}")).await;
    let name = user["userName"].as_str().expect("userName").to_string();
    let (_, users) = app.call(Method::GET, "/api/users", None).await;
    let hint = name.split('@').next().unwrap_or("").to_string();
    users
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["login"].as_str())
        .find(|l| *l == hint)
        .unwrap_or_else(|| panic!("no account {hint} for {name}: {users}"))
        .to_string()
}

/// A token for `login`, made by the admin (as for a person who never logged in).
pub async fn token_for(app: &TestApp, login: &str) -> String {
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/users/{login}/token/rotate"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().expect("token").to_string()
}

/// The repositories `token` sees.
pub async fn repos_seen(app: &TestApp, token: &str) -> (u16, Vec<String>) {
    let (status, body) = app
        .call_as(Some(token), Method::GET, "/api/user/repos", None)
        .await;
    let mut slugs: Vec<String> = body
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["slug"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    slugs.sort();
    (status, slugs)
}

/// The audit trail's actions (with their targets), in order.
pub async fn audited(app: &TestApp) -> Vec<(String, String, Value)> {
    let store = Store::connect(&app.database.url(app.data.path()))
        .await
        .expect("store");
    let all = store.list_audit(0, 100_000).await.expect("audit");
    store.close().await;
    all.into_iter()
        .map(|r| {
            let detail = serde_json::from_str(&r.detail).unwrap_or(Value::Null);
            (r.action, r.target, detail)
        })
        .collect()
}
