//! Stories of authorization: groups grant roles on repositories, the policy decides, and what a
//! caller may not read does not exist for them.

use crate::support::{GitRepo, TestApp};
use hangar::config::RoleGrant;
use hangar::domain::Actor;
use hangar::store::{NewToken, Store};
use reqwest::Method;
use serde_json::{Value, json};

fn grant(group: &str, role: &str, repos: &[&str]) -> RoleGrant {
    RoleGrant {
        group: group.into(),
        role: role.into(),
        repos: repos.iter().map(|r| r.to_string()).collect(),
    }
}

/// A server whose configuration grants: admins everything, developers and maintainers their
/// roles on acme/*, readers a view of acme/api.
pub async fn spawn() -> TestApp {
    TestApp::spawn_with(crate::support::database::TestDatabase::sqlite(), |config| {
        config.identity.roles = vec![
            grant("admins", "admin", &[]),
            grant("developers", "developer", &["acme/*"]),
            grant("maintainers", "maintainer", &["acme/*"]),
            grant("readers", "viewer", &["acme/api"]),
            grant("auditors", "auditor", &[]),
        ];
    })
    .await
}

async fn store(app: &TestApp) -> Store {
    Store::connect(&app.database.url(app.data.path()))
        .await
        .expect("the test store opens")
}

/// A machine account in `groups` and a token for it.
pub async fn user_with_token(app: &TestApp, login: &str, groups: &[&str]) -> String {
    let store = store(app).await;
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    let user = store
        .create_machine_user(login, &groups, &Actor::system(), 1)
        .await
        .expect("user created");
    let minted = hangar::auth::token::mint_token(hangar::auth::token::Format::Personal);
    store
        .create_token(
            &Actor::system(),
            &user,
            &NewToken {
                name: "test".into(),
                kind: hangar::domain::TokenKind::Personal,
                hash: minted.hash.clone(),
                prefix: minted.prefix.clone(),
                scopes: None,
                expires: 0,
                replace_same_name: false,
            },
            1,
        )
        .await
        .expect("token created");
    store.close().await;
    minted.secret.expose().to_string()
}

async fn activate(app: &TestApp, slug: &str, visibility: &str, clone_url: &str) {
    let body =
        json!({ "clone_url": clone_url, "default_branch": "main", "visibility": visibility });
    let (status, reply) = app
        .call(Method::POST, &format!("/api/repos/{slug}"), Some(body))
        .await;
    assert_eq!(status, 200, "activating {slug}: {reply}");
}

fn slugs(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| r["slug"].as_str().unwrap_or("").to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_non_admin_sees_only_the_repositories_their_groups_grant() {
    let app = spawn().await;
    for slug in ["acme/api", "acme/web", "other/secret"] {
        activate(&app, slug, "private", "https://git.example.com/x.git").await;
    }
    let dev = user_with_token(&app, "dev1", &["developers"]).await;
    let dev = Some(dev.as_str());

    for path in ["/api/repos", "/api/user/repos"] {
        let (status, list) = app.call_as(dev, Method::GET, path, None).await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(slugs(&list), ["acme/api", "acme/web"]);
    }
    let (status, repo) = app
        .call_as(dev, Method::GET, "/api/repos/acme/api", None)
        .await;
    assert_eq!(status, 200, "{repo}");
    assert_eq!(
        repo["permissions"],
        json!({ "read": true, "write": true, "admin": false })
    );
    assert!(repo.get("webhook_secret").is_none(), "{repo}");

    for path in [
        "/api/repos/other/secret",
        "/api/repos/other/secret/builds",
        "/api/repos/other/none",
    ] {
        let (status, reply) = app.call_as(dev, Method::GET, path, None).await;
        assert_eq!(status, 404, "{path}: {reply}");
    }
    let (status, _) = app
        .call_as(
            dev,
            Method::DELETE,
            "/api/repos/other/secret/builds/1",
            None,
        )
        .await;
    assert_eq!(status, 404);

    let (status, _) = app
        .call_as(
            dev,
            Method::PATCH,
            "/api/repos/acme/api",
            Some(json!({ "trusted": true })),
        )
        .await;
    assert_eq!(status, 403);
    let (status, me) = app.call_as(dev, Method::GET, "/api/user", None).await;
    assert_eq!(
        (status, &me["login"], &me["admin"]),
        (200, &json!("dev1"), &json!(false))
    );
    let (status, _) = app.call_as(dev, Method::GET, "/metrics", None).await;
    assert_eq!(status, 403);

    let (_, all) = app.call(Method::GET, "/api/repos", None).await;
    assert_eq!(slugs(&all).len(), 3);
    let (_, me) = app.call(Method::GET, "/api/user", None).await;
    assert_eq!(me["admin"], true);
    let (_, repo) = app.call(Method::GET, "/api/repos/other/secret", None).await;
    assert_eq!(repo["permissions"]["admin"], true);
    assert!(repo["webhook_secret"].is_string());
}

#[tokio::test]
async fn a_developer_cannot_promote_and_a_viewer_cannot_cancel() {
    let app = spawn().await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: ok\n  commands: [true]\n",
    );
    app.activate("acme/api", &git).await;
    app.start_build("acme/api", "main").await;
    app.wait_for_build("acme/api", 1).await;
    let dev = user_with_token(&app, "dev1", &["developers"]).await;
    let reader = user_with_token(&app, "rita", &["readers"]).await;
    let maintainer = user_with_token(&app, "mia", &["maintainers"]).await;

    let (status, reply) = app
        .call_as(
            Some(&reader),
            Method::DELETE,
            "/api/repos/acme/api/builds/1",
            None,
        )
        .await;
    assert_eq!(status, 403, "{reply}");
    let (status, _) = app
        .call_as(
            Some(&reader),
            Method::POST,
            "/api/repos/acme/api/builds?branch=main",
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .call_as(
            Some(&reader),
            Method::GET,
            "/api/repos/acme/api/builds/1",
            None,
        )
        .await;
    assert_eq!(status, 200);

    let promote = "/api/repos/acme/api/builds/1/promote?target=staging";
    let (status, reply) = app.call_as(Some(&dev), Method::POST, promote, None).await;
    assert_eq!(status, 403, "{reply}");
    let (status, reply) = app
        .call_as(
            Some(&maintainer),
            Method::POST,
            "/api/repos/acme/api/builds/1/promote?target=production",
            None,
        )
        .await;
    assert_eq!(status, 403, "{reply}");
    let (status, build) = app
        .call_as(Some(&maintainer), Method::POST, promote, None)
        .await;
    assert_eq!(status, 200, "{build}");
    assert_eq!(
        (&build["event"], &build["deploy_to"]),
        (&json!("promote"), &json!("staging"))
    );
    let (status, build) = app
        .call(
            Method::POST,
            "/api/repos/acme/api/builds/1/promote?target=production",
            None,
        )
        .await;
    assert_eq!(status, 200, "the admin promotes anywhere: {build}");

    let store = store(&app).await;
    let audit = store.list_audit(0, 10_000).await.expect("audit");
    store.close().await;
    let denied: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "authz.denied")
        .collect();
    assert!(denied.len() >= 4, "{denied:?}");
    assert!(denied.iter().all(|e| e.outcome == "denied"));
    assert!(
        denied
            .iter()
            .any(|e| e.actor_name == "mia" && e.detail.contains("production")),
        "{denied:?}"
    );
}

#[tokio::test]
async fn a_public_repo_is_readable_anonymously_and_an_internal_one_by_anyone_signed_in() {
    let app = spawn().await;
    activate(
        &app,
        "acme/site",
        "public",
        "https://git.example.com/site.git",
    )
    .await;
    activate(
        &app,
        "corp/handbook",
        "internal",
        "https://git.example.com/hb.git",
    )
    .await;
    activate(
        &app,
        "corp/payroll",
        "private",
        "https://git.example.com/pay.git",
    )
    .await;

    for path in ["/api/repos/acme/site", "/api/repos/acme/site/builds"] {
        let (status, reply) = app.call_as(None, Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {reply}");
    }
    let (_, site) = app
        .call_as(None, Method::GET, "/api/repos/acme/site", None)
        .await;
    assert_eq!(
        site["permissions"],
        json!({ "read": true, "write": false, "admin": false })
    );
    for (method, path) in [
        (Method::GET, "/api/repos/corp/handbook"),
        (Method::GET, "/api/repos/corp/payroll"),
        (Method::GET, "/api/repos/corp/none"),
        (Method::POST, "/api/repos/acme/site/builds"),
        (Method::GET, "/api/user"),
    ] {
        let (status, reply) = app.call_as(None, method, path, None).await;
        assert_eq!(status, 401, "{path}: {reply}");
    }

    let newcomer = user_with_token(&app, "newcomer", &[]).await;
    let newcomer = Some(newcomer.as_str());
    let (status, _) = app
        .call_as(newcomer, Method::GET, "/api/repos/corp/handbook", None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .call_as(newcomer, Method::GET, "/api/repos/corp/payroll", None)
        .await;
    assert_eq!(status, 404);
    let (_, list) = app.call_as(newcomer, Method::GET, "/api/repos", None).await;
    assert_eq!(slugs(&list), ["acme/site", "corp/handbook"]);
}

#[tokio::test]
async fn a_server_with_a_broken_policy_file_does_not_start_and_says_where() {
    let data = tempfile::tempdir().expect("tempdir");
    let policy = data.path().join("policy.cedar");
    std::fs::write(
        &policy,
        "@id(\"ok\")\npermit (principal, action == Action::\"repo.read\", resource is Repo)\nwhen { resource.visibilty == \"public\" };\n",
    )
    .expect("written");
    let url = format!("sqlite://{}", data.path().join("hangar.db").display());
    let mut config = crate::support::config(data.path(), &url);
    config.identity.policy_file = Some(policy.clone());
    let err = match hangar::server::start(config, hangar::clock::system()).await {
        Ok(_) => panic!("the server started with a broken policy"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains(&format!("{}:3:", policy.display())), "{err}");
    assert!(err.contains("visibilty"), "{err}");
}

#[tokio::test]
async fn developers_list_secrets_maintainers_write_them_and_viewers_do_neither() {
    let app = spawn().await;
    activate(&app, "acme/api", "private", "/nonexistent").await;
    let dev = user_with_token(&app, "dev1", &["developers"]).await;
    let maintainer = user_with_token(&app, "maint1", &["maintainers"]).await;
    let viewer = user_with_token(&app, "view1", &["readers"]).await;
    let secret = json!({"name": "token", "data": "v4lue-never-shown"});
    let repo_path = "/api/repos/acme/api/secrets";
    let (status, _) = app
        .call_as(Some(&dev), Method::POST, repo_path, Some(secret.clone()))
        .await;
    assert_eq!(status, 403, "a developer may not write secrets");
    let (status, body) = app
        .call_as(
            Some(&maintainer),
            Method::POST,
            repo_path,
            Some(secret.clone()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .call_as(
            Some(&maintainer),
            Method::POST,
            "/api/secrets/acme",
            Some(secret),
        )
        .await;
    assert_eq!(
        status, 200,
        "a maintainer of acme/* writes acme's secrets: {body}"
    );
    let (status, list) = app.call_as(Some(&dev), Method::GET, repo_path, None).await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["name"], "token");
    let (status, _) = app
        .call_as(Some(&viewer), Method::GET, repo_path, None)
        .await;
    assert_eq!(
        status, 403,
        "a viewer may read the repository but not its secrets"
    );
    let (status, _) = app
        .call_as(
            Some(&dev),
            Method::POST,
            "/api/secrets/other",
            Some(json!({"name": "x", "data": "y"})),
        )
        .await;
    assert_eq!(status, 404, "another owner's secrets are not even visible");
    let (status, _) = app.call_as(None, Method::GET, repo_path, None).await;
    assert_eq!(status, 401);
}
