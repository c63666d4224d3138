//! The identity control room's API (`/api/admin/identity`): an administrator connects the real
//! test OpenID provider from the browser's side of things (save a draft, a test login that makes
//! no session, switch it on), logins move to it without a restart, and back; bad drafts are
//! refused with the reason; the client secret never comes back; a provider set in the
//! configuration wins; `secret rotate-key` re-seals the stored secret.

use crate::login::browser::Browser;
use crate::login::idp::Idp;
use crate::login::{CLIENT_ID, CLIENT_SECRET};
use crate::support::database::TestDatabase;
use crate::support::{ADMIN_TOKEN, TestApp};
use hangar::config::{Config, OidcSettings, ProviderOrigin, Secret, SecretSource};
use hangar::store::Store;
use reqwest::Method;
use serde_json::{Value, json};

/// A server whose URL is its real address (the embedded provider discovers itself there).
async fn server(database: TestDatabase, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    TestApp::spawn_with(database, |c| {
        c.addr = format!("127.0.0.1:{port}").parse().expect("address");
        c.server_url = format!("http://127.0.0.1:{port}");
        adjust(c);
    })
    .await
}

/// The test provider with Hangar's client registered for `app`, and `carol` (an admin there).
async fn provider(app: &TestApp) -> Idp {
    let idp = Idp::start().await;
    idp.client(CLIENT_ID, CLIENT_SECRET, &app.url).await;
    idp.user("carol", &["admins", "ops"]).await;
    idp
}

fn draft(idp: &Idp) -> Value {
    json!({
        "issuer": idp.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scopes": ["openid", "profile", "email", "groups", "offline_access"],
        "groups_claim": "groups",
    })
}

/// Runs a test login of the draft as `user`; returns where its window lands.
async fn test_login(app: &TestApp, idp: &Idp, user: &str) -> (Browser, String) {
    let browser = Browser::new(None);
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let started = browser
        .send(
            Method::POST,
            &format!("{}/api/admin/identity/test", app.url),
            &[("authorization", bearer.as_str())],
            None,
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    let location = serde_json::from_str::<Value>(&started.body).expect("json")["location"]
        .as_str()
        .expect("location")
        .to_string();
    assert!(location.starts_with(&idp.issuer), "{location}");
    let back = idp
        .authorize(
            &browser,
            &location,
            user,
            &format!("{}/auth/callback", app.url),
        )
        .await;
    let landed = browser.get(&back).await;
    assert_eq!(landed.status, 303, "{}", landed.body);
    assert!(
        landed.set_cookie("hangar_session").is_none(),
        "a test login makes no session"
    );
    (browser, landed.location().to_string())
}

/// Saves the draft, tests it as carol and switches it on.
async fn connect(app: &TestApp, idp: &Idp) {
    let (status, body) = app
        .call(Method::PUT, "/api/admin/identity", Some(draft(idp)))
        .await;
    assert_eq!(status, 200, "{body}");
    test_login(app, idp, "carol").await;
    let (status, body) = app
        .call(Method::POST, "/api/admin/identity/enable", None)
        .await;
    assert_eq!(status, 200, "{body}");
}

/// A whole login through `/login` and the provider as `user`; returns the callback's answer.
async fn sign_in(
    app: &TestApp,
    idp: &Idp,
    browser: &Browser,
    user: &str,
) -> crate::login::browser::Page {
    let start = browser.get(&format!("{}/login", app.url)).await;
    let back = idp
        .authorize(
            browser,
            start.location(),
            user,
            &format!("{}/auth/callback", app.url),
        )
        .await;
    browser.get(&back).await
}

/// Where `GET /login` sends a fresh browser.
async fn login_goes_to(app: &TestApp) -> String {
    let page = Browser::new(None).get(&format!("{}/login", app.url)).await;
    assert_eq!(page.status, 303, "{}", page.body);
    page.location().to_string()
}

async fn audit(app: &TestApp) -> Vec<hangar::store::AuditRecord> {
    let store = Store::connect(&app.database.url(app.data.path()))
        .await
        .expect("store");
    let all = store.list_audit(0, 100_000).await.expect("audit");
    store.close().await;
    all
}

async fn an_admin_connects_tests_and_switches_on_a_provider(database: TestDatabase) {
    let mut app = server(database, |_| {}).await;
    let idp = provider(&app).await;
    let (status, before) = app.call(Method::GET, "/api/admin/identity", None).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["in_force"]["origin"], "embedded");
    assert_eq!(before["redirect_uri"], format!("{}/auth/callback", app.url));
    assert_eq!(before["editable"], true);
    assert!(
        login_goes_to(&app)
            .await
            .starts_with(&format!("{}/oidc/authorize", app.url))
    );

    // Bad drafts are refused with what to fix.
    let refused = [
        (json!({"issuer": "http://login.example.com"}), "https://"),
        (json!({"scopes": ["email"]}), "openid"),
        (json!({"client_id": "two words"}), "client_id"),
        (json!({"client_secret": "line\nbreak"}), "client_secret"),
        (
            json!({"issuer": "http://127.0.0.1:9"}),
            "the issuer could not be used",
        ),
    ];
    for (change, says) in refused {
        let mut body = draft(&idp);
        for (k, v) in change.as_object().expect("object") {
            body[k] = v.clone();
        }
        let (status, answer) = app
            .call(Method::PUT, "/api/admin/identity", Some(body))
            .await;
        assert_eq!(status, 422, "{change}: {answer}");
        let message = answer["message"].as_str().unwrap_or("");
        assert!(message.contains(says), "{change}: {message}");
    }
    let mut secretless = draft(&idp);
    secretless["client_secret"] = json!("");
    let (status, answer) = app
        .call(Method::PUT, "/api/admin/identity", Some(secretless.clone()))
        .await;
    assert_eq!(status, 422, "no secret stored yet: {answer}");

    // A good draft: saved, the secret sealed and never shown.
    let (status, saved) = app
        .call(Method::PUT, "/api/admin/identity", Some(draft(&idp)))
        .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["draft"]["client_secret_set"], true);
    assert_eq!(saved["draft"]["tested"], false);
    assert!(!saved.to_string().contains(CLIENT_SECRET), "{saved}");
    assert_eq!(
        saved["in_force"]["origin"], "embedded",
        "a draft is not in force"
    );

    // Not before a test login.
    let (status, answer) = app
        .call(Method::POST, "/api/admin/identity/enable", None)
        .await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or("")
            .contains("test login")
    );

    let (_, landed) = test_login(&app, &idp, "carol").await;
    assert!(landed.ends_with("/admin/identity/test"), "{landed}");
    let (_, tested) = app.call(Method::GET, "/api/admin/identity", None).await;
    let result = &tested["draft"]["test_result"];
    assert_eq!(tested["draft"]["tested"], true, "{tested}");
    assert_eq!(result["groups"], json!(["admins", "ops"]), "{result}");
    assert_eq!(result["roles"], json!(["admin"]), "{result}");
    assert_eq!(result["claims"]["preferred_username"], "carol", "{result}");

    // Saving again (the secret kept) is a new revision: it must be tested again.
    let (status, resaved) = app
        .call(Method::PUT, "/api/admin/identity", Some(secretless))
        .await;
    assert_eq!(status, 200, "{resaved}");
    assert_eq!(resaved["draft"]["tested"], false);
    let (status, _) = app
        .call(Method::POST, "/api/admin/identity/enable", None)
        .await;
    assert_eq!(status, 409, "a changed draft needs a new test login");
    test_login(&app, &idp, "carol").await;
    let (status, on) = app
        .call(Method::POST, "/api/admin/identity/enable", None)
        .await;
    assert_eq!(status, 200, "{on}");
    assert_eq!(on["in_force"]["origin"], "database");
    assert_eq!(on["in_force"]["issuer"], idp.issuer);
    assert_eq!(on["in_force"]["secret_age_days"], 0);

    // Logins go to the provider now, without a restart, and record the granted scopes; the
    // local administrator keeps a way in.
    let to = login_goes_to(&app).await;
    assert!(to.starts_with(&idp.issuer), "{to}");
    let break_glass = Browser::new(None)
        .get(&format!("{}/login?local=1", app.url))
        .await;
    assert!(
        break_glass
            .location()
            .starts_with(&format!("{}/oidc/authorize", app.url)),
        "{}",
        break_glass.location()
    );
    let browser = Browser::new(None);
    let done = sign_in(&app, &idp, &browser, "carol").await;
    assert_eq!(done.status, 303, "{}", done.body);
    let session = browser.get(&format!("{}/auth/session", app.url)).await;
    let session: Value = serde_json::from_str(&session.body).expect("json");
    assert_eq!(session["provider"], "oidc", "{session}");
    assert_eq!(session["login"], "carol", "{session}");
    let (_, after) = app.call(Method::GET, "/api/admin/identity", None).await;
    let granted = after["in_force"]["scopes_granted"]
        .as_array()
        .expect("granted");
    assert!(granted.iter().any(|s| s == "openid"), "{after}");

    // Back to the embedded provider.
    let (status, off) = app.call(Method::DELETE, "/api/admin/identity", None).await;
    assert_eq!(status, 200, "{off}");
    assert_eq!(off["in_force"]["origin"], "embedded");
    assert!(
        login_goes_to(&app)
            .await
            .starts_with(&format!("{}/oidc/authorize", app.url))
    );

    let trail = audit(&app).await;
    let actions: Vec<&str> = trail.iter().map(|r| r.action.as_str()).collect();
    for action in [
        "identity.provider_draft_saved",
        "identity.provider_tested",
        "identity.provider_enabled",
        "identity.provider_disabled",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    assert!(
        trail.iter().all(|r| !r.detail.contains(CLIENT_SECRET)),
        "the secret is in no audit entry"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_connects_tests_and_switches_on_a_provider_on_sqlite() {
    an_admin_connects_tests_and_switches_on_a_provider(TestDatabase::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_connects_tests_and_switches_on_a_provider_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        eprintln!("HANGAR_TEST_DATABASE_URL is not set: skipped");
        return;
    };
    an_admin_connects_tests_and_switches_on_a_provider(database).await;
}

#[tokio::test]
async fn a_provider_set_by_the_environment_wins_and_nothing_can_change_it() {
    let app = server(TestDatabase::sqlite(), |c| {
        c.identity.oidc = Some(OidcSettings {
            issuer: "https://login.example.com".into(),
            client_id: "hangar".into(),
            client_secret: SecretSource::Value(Secret::new("from-the-environment")),
            scopes: None,
            groups_claim: "groups".into(),
            origin: ProviderOrigin::Environment,
        });
    })
    .await;
    let (status, shown) = app.call(Method::GET, "/api/admin/identity", None).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["in_force"]["origin"], "environment");
    assert_eq!(shown["editable"], false);
    assert!(!shown.to_string().contains("from-the-environment"));
    for (method, path) in [
        (Method::PUT, "/api/admin/identity"),
        (Method::POST, "/api/admin/identity/test"),
        (Method::POST, "/api/admin/identity/enable"),
        (Method::DELETE, "/api/admin/identity"),
    ] {
        let body = (method == Method::PUT).then(|| {
            json!({"issuer": "https://other.example.com", "client_id": "x", "client_secret": "y"})
        });
        let (status, answer) = app.call(method.clone(), path, body).await;
        assert_eq!(status, 409, "{method} {path}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap_or("")
                .contains("HANGAR_OIDC"),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn only_those_who_manage_users_see_or_change_the_provider() {
    let app = server(TestDatabase::sqlite(), |_| {}).await;
    let dev = crate::support::people::person(&app, "dev", &["developers"], 0).await;
    for (method, path) in [
        (Method::GET, "/api/admin/identity"),
        (Method::GET, "/api/admin/identity/health"),
        (Method::POST, "/api/admin/identity/test"),
        (Method::DELETE, "/api/admin/identity"),
    ] {
        let (status, answer) = app
            .call_as(Some(&dev.token), method.clone(), path, None)
            .await;
        assert_eq!(status, 403, "{method} {path}: {answer}");
    }
    let (status, _) = app
        .call_as(None, Method::GET, "/api/admin/identity", None)
        .await;
    assert_eq!(status, 401);
    let (status, health) = app
        .call(Method::GET, "/api/admin/identity/health", None)
        .await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["discovery"]["ok"], true, "{health}");
    assert_eq!(health["jwks"]["ok"], true, "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_server_key_reseals_the_connected_providers_secret_and_health_tells_when_it_is_gone()
 {
    let mut app = server(TestDatabase::sqlite(), |_| {}).await;
    let mut idp = provider(&app).await;
    connect(&app, &idp).await;
    app.stop().await;
    let data = app.data.path().to_path_buf();
    let url = app.database.url(&data);
    let out = crate::secrets::hangar_on(&data, &url, &["secret", "rotate-key"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Started again under the new key, the stored provider is in force and its secret works.
    let mut config = crate::support::config(&data, &url);
    config.addr = app
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    config.server_url = app.url.clone();
    let running = hangar::server::start(config, hangar::clock::system())
        .await
        .expect("the server starts again");
    let (_, shown) = app.call(Method::GET, "/api/admin/identity", None).await;
    assert_eq!(shown["in_force"]["origin"], "database", "{shown}");
    let done = sign_in(&app, &idp, &Browser::new(None), "carol").await;
    assert_eq!(
        done.status, 303,
        "the code exchange used the re-sealed secret: {}",
        done.body
    );
    assert!(done.set_cookie("hangar_session").is_some());

    // With the provider gone, the health check says what failed.
    idp.stop().await;
    let (status, health) = app
        .call(Method::GET, "/api/admin/identity/health", None)
        .await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["discovery"]["ok"], false, "{health}");
    let why = health["discovery"]["detail"].as_str().unwrap_or("");
    assert!(
        why.contains(&idp.issuer),
        "the reason names the issuer: {why}"
    );
    assert_eq!(health["jwks"]["ok"], false, "{health}");
    running.shutdown.cancel();
    let _ = running.done.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_switched_on_through_another_server_reaches_this_one() {
    let app = server(TestDatabase::sqlite(), |_| {}).await;
    let idp = provider(&app).await;
    let (status, body) = app
        .call(Method::PUT, "/api/admin/identity", Some(draft(&idp)))
        .await;
    assert_eq!(status, 200, "{body}");
    test_login(&app, &idp, "carol").await;
    // Another server shares the database: it switches the tested draft on, then off.
    let other = Store::connect(&app.database.url(app.data.path()))
        .await
        .expect("store");
    let now = hangar::clock::system().now_ms();
    other
        .enable_provider(&hangar::domain::Actor::system(), now)
        .await
        .expect("switched on");
    let within = std::time::Duration::from_secs(15);
    crate::login::eventually(within, "the switch reaching this server", || async {
        login_goes_to(&app).await.starts_with(&idp.issuer)
    })
    .await;
    other
        .disable_provider(&hangar::domain::Actor::system(), now)
        .await
        .expect("switched off");
    let embedded = format!("{}/oidc/authorize", app.url);
    crate::login::eventually(within, "the switch back reaching this server", || async {
        login_goes_to(&app).await.starts_with(&embedded)
    })
    .await;
    other.close().await;
}
