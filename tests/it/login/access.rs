//! What people logged in through a real provider may do: their groups there grant roles here.
//! The browser's session is the credential; changes carry the session's CSRF token.

use super::*;
use crate::support::GitRepo;
use hangar::config::RoleGrant;
use reqwest::Method;
use serde_json::json;

fn grant(group: &str, role: &str, repos: &[&str]) -> RoleGrant {
    RoleGrant {
        group: group.into(),
        role: role.into(),
        repos: repos.iter().map(|r| r.to_string()).collect(),
    }
}

/// The example mapping of the configuration guide, plus viewers of acme/api.
fn roles(config: &mut Config) {
    config.identity.roles = vec![
        grant("infrastructure-admin", "admin", &[]),
        grant("developers", "developer", &["acme/*"]),
        grant("contractors", "viewer", &["acme/api"]),
    ];
}

/// A signed-in browser and the session's CSRF token.
struct Person {
    browser: Browser,
    csrf: String,
}

impl Person {
    async fn log_in(app: &LoginApp, idp: &idp::Idp, login: &str) -> Person {
        let browser = app.browser();
        app.login(&browser, idp, login).await;
        let (status, me) = app.session(&browser).await;
        assert_eq!(status, 200, "{login} is logged in: {me}");
        let csrf = me["csrf_token"].as_str().expect("a CSRF token").to_string();
        Person { browser, csrf }
    }

    /// An API call from a page of Hangar: the session's cookie, and for changes its CSRF token.
    async fn call(
        &self,
        app: &LoginApp,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let origin = app.public.clone();
        let mut headers = vec![
            ("origin", origin.as_str()),
            ("x-csrf-token", self.csrf.as_str()),
        ];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        let page = self
            .browser
            .send(
                method,
                &app.url(path),
                &headers,
                body.map(|b| b.to_string()),
            )
            .await;
        let value = serde_json::from_str(&page.body).unwrap_or(Value::Null);
        (page.status, value)
    }
}

fn slugs(list: &Value) -> Vec<&str> {
    let mut v: Vec<&str> = list
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|r| r["slug"].as_str())
        .collect();
    v.sort_unstable();
    v
}

#[tokio::test]
async fn a_non_admin_logged_in_through_the_provider_sees_and_does_only_what_their_groups_grant() {
    let (idp, app) = with_idp(roles).await;
    idp.user("ada", &["infrastructure-admin"]).await;
    idp.user("dev1", &["developers"]).await;
    idp.user("cleo", &["contractors"]).await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: ok\n  commands: [true]\n",
    );

    let admin = Person::log_in(&app, &idp, "ada").await;
    for slug in ["acme/api", "acme/web", "other/secret"] {
        let body = json!({ "clone_url": git.url(), "default_branch": "main" });
        let (status, reply) = admin
            .call(
                &app,
                Method::POST,
                &format!("/api/repos/{slug}"),
                Some(body),
            )
            .await;
        assert_eq!(status, 200, "the admin activates {slug}: {reply}");
    }
    let (_, all) = admin.call(&app, Method::GET, "/api/user/repos", None).await;
    assert_eq!(slugs(&all), ["acme/api", "acme/web", "other/secret"]);

    let dev = Person::log_in(&app, &idp, "dev1").await;
    let (status, mine) = dev.call(&app, Method::GET, "/api/user/repos", None).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(slugs(&mine), ["acme/api", "acme/web"]);
    let (status, _) = dev
        .call(&app, Method::GET, "/api/repos/other/secret", None)
        .await;
    assert_eq!(
        status, 404,
        "a repository the groups do not grant does not exist"
    );
    let (status, build) = dev
        .call(
            &app,
            Method::POST,
            "/api/repos/acme/api/builds?branch=main",
            None,
        )
        .await;
    assert_eq!(status, 200, "a developer triggers a build: {build}");
    eventually(Duration::from_secs(20), "the build finishing", || async {
        let (_, b) = dev
            .call(&app, Method::GET, "/api/repos/acme/api/builds/1", None)
            .await;
        b["status"] == "success"
    })
    .await;
    let (status, reply) = dev
        .call(
            &app,
            Method::POST,
            "/api/repos/acme/api/builds/1/promote?target=production",
            None,
        )
        .await;
    assert_eq!(status, 403, "developers do not promote: {reply}");

    let viewer = Person::log_in(&app, &idp, "cleo").await;
    let (status, _) = viewer
        .call(&app, Method::GET, "/api/repos/acme/api/builds/1", None)
        .await;
    assert_eq!(status, 200, "a viewer reads builds");
    let (status, reply) = viewer
        .call(&app, Method::DELETE, "/api/repos/acme/api/builds/1", None)
        .await;
    assert_eq!(status, 403, "a viewer does not cancel: {reply}");
    let (status, _) = viewer
        .call(&app, Method::GET, "/api/repos/acme/web", None)
        .await;
    assert_eq!(status, 404);

    let (status, _) = admin
        .call(
            &app,
            Method::POST,
            "/api/repos/acme/api/builds/1/promote?target=production",
            None,
        )
        .await;
    assert_eq!(status, 200, "the admin promotes to production");
}

#[tokio::test]
async fn a_session_request_that_changes_state_needs_the_csrf_token_from_hangars_origin() {
    let (idp, app) = with_idp(roles).await;
    idp.user("ada", &["infrastructure-admin"]).await;
    let admin = Person::log_in(&app, &idp, "ada").await;
    let body = json!({ "clone_url": "https://git.example.com/x.git" }).to_string();
    let json_type = ("content-type", "application/json");

    let forged = admin
        .browser
        .send(
            Method::POST,
            &app.url("/api/repos/acme/api"),
            &[json_type, ("origin", "https://evil.example")],
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        forged.status, 403,
        "no token, another origin: {}",
        forged.body
    );
    let wrong_origin = admin
        .browser
        .send(
            Method::POST,
            &app.url("/api/repos/acme/api"),
            &[
                json_type,
                ("origin", "https://evil.example"),
                ("x-csrf-token", admin.csrf.as_str()),
            ],
            Some(body.clone()),
        )
        .await;
    assert_eq!(wrong_origin.status, 403, "{}", wrong_origin.body);
    let (status, _) = admin
        .call(&app, Method::GET, "/api/repos/acme/api", None)
        .await;
    assert_eq!(status, 404, "nothing was activated");
    let (status, reply) = admin
        .call(
            &app,
            Method::POST,
            "/api/repos/acme/api",
            serde_json::from_str(&body).ok(),
        )
        .await;
    assert_eq!(status, 200, "{reply}");

    // The change is audited with the session and the provider's ids for it, so it can be
    // joined with the provider's own records.
    let audit = app.audit().await;
    let login = audit
        .iter()
        .find(|e| e.action == "auth.login")
        .expect("the login is audited");
    let login: Value = serde_json::from_str(&login.detail).expect("detail");
    let activated = audit
        .iter()
        .find(|e| e.action == "repo.activated")
        .expect("the change is audited");
    let context: Value =
        serde_json::from_str(activated.context.as_deref().expect("a context")).expect("json");
    assert_eq!(context["session"], login["session"], "{context}");
    // The provider's ids, as far as this provider sends them (the login recorded what it said).
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    assert_eq!(text(&context["sid"]), text(&login["sid"]), "{context}");
    assert_eq!(text(&context["jti"]), text(&login["jti"]), "{context}");
    assert_eq!(
        context["auth_time"].as_i64().unwrap_or(0),
        login["auth_time"].as_i64().unwrap_or(0)
    );
    assert!(
        context["request_id"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
}

#[tokio::test]
async fn a_developer_who_leaves_the_group_loses_the_repositories_within_one_revalidation() {
    let interval = Duration::from_secs(2);
    let (idp, app) = with_idp(|c| {
        roles(c);
        c.identity.session_revalidate = interval;
    })
    .await;
    idp.user("ada", &["infrastructure-admin"]).await;
    idp.user("dev2", &["developers"]).await;
    let admin = Person::log_in(&app, &idp, "ada").await;
    let body = json!({ "clone_url": "https://git.example.com/x.git" });
    let (status, _) = admin
        .call(&app, Method::POST, "/api/repos/acme/api", Some(body))
        .await;
    assert_eq!(status, 200);

    let dev = Person::log_in(&app, &idp, "dev2").await;
    let (status, _) = dev
        .call(&app, Method::GET, "/api/repos/acme/api", None)
        .await;
    assert_eq!(status, 200);
    idp.set_groups("dev2", &[]).await;
    let took = eventually(interval * 3, "losing acme/api", || async {
        dev.call(&app, Method::GET, "/api/repos/acme/api", None)
            .await
            .0
            == 404
    })
    .await;
    assert!(
        took <= interval + interval / 4 + Duration::from_secs(1),
        "took {took:?}"
    );
    let (status, list) = dev.call(&app, Method::GET, "/api/user/repos", None).await;
    assert_eq!(
        (status, list),
        (200, json!([])),
        "still signed in, with nothing"
    );
}
