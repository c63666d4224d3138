//! Stories of signing in through Hangar's own provider with the same relying-party code as any
//! other provider: the way in when nothing else is configured, and a break-glass path for
//! local administrators beside an external provider.

use super::browser::Browser;
use crate::support::TestApp;
use hangar::config::{OidcSettings, Secret, SecretSource};

pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// A server on a known port (the embedded issuer's URL is its own `server_url`).
async fn server(external: bool) -> TestApp {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    TestApp::spawn_with(crate::support::database::TestDatabase::sqlite(), |c| {
        c.addr = format!("127.0.0.1:{port}").parse().expect("address");
        c.server_url = format!("http://127.0.0.1:{port}");
        c.identity.admin_password = Some(Secret::new(ADMIN_PASSWORD));
        if external {
            // Configured but never asked in these stories.
            c.identity.oidc = Some(OidcSettings {
                issuer: "https://login.example.com".into(),
                client_id: "hangar".into(),
                client_secret: SecretSource::Value(Secret::new("unused")),
                scopes: None,
                groups_claim: "groups".into(),
                origin: hangar::config::ProviderOrigin::File,
            });
        }
    })
    .await
}

/// Walks `/login?{query}` through the embedded provider's form as `user`; returns the last answer.
pub async fn sign_in(
    app: &TestApp,
    browser: &Browser,
    query: &str,
    user: &str,
    password: &str,
) -> super::browser::Page {
    let to_provider = browser.get(&format!("{}/login?{query}", app.url)).await;
    assert!(
        matches!(to_provider.status, 302 | 303),
        "{}",
        to_provider.body
    );
    assert!(
        to_provider
            .location()
            .starts_with(&format!("{}/oidc/authorize?", app.url))
    );
    let form = browser.get(to_provider.location()).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let login = form
        .body
        .split("name=\"login\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form carries its transaction")
        .to_string();
    let back = browser
        .post_form(
            &format!("{}/oidc/login", app.url),
            &[
                ("login", &login),
                ("username", user),
                ("password", password),
            ],
        )
        .await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert!(
        back.location()
            .starts_with(&format!("{}/auth/callback?", app.url))
    );
    browser.get(back.location()).await
}

#[tokio::test]
async fn with_no_provider_configured_the_first_admin_signs_in_through_hangars_own() {
    let app = server(false).await;
    let browser = Browser::new(None);
    let done = sign_in(
        &app,
        &browser,
        "return_to=/acme/api",
        "admin",
        ADMIN_PASSWORD,
    )
    .await;
    assert!(matches!(done.status, 302 | 303), "{}", done.body);
    assert_eq!(done.location(), format!("{}/acme/api", app.url));
    assert!(
        done.set_cookie("hangar_session").is_some(),
        "a session cookie"
    );
    let session = browser.get(&format!("{}/auth/session", app.url)).await;
    assert_eq!(session.status, 200, "{}", session.body);
    let json: serde_json::Value = serde_json::from_str(&session.body).expect("json");
    assert_eq!(json["login"], "admin", "{json}");
    assert_eq!(json["roles"], serde_json::json!(["admin"]));
    assert_eq!(json["provider"], "local");
}

#[tokio::test]
async fn beside_an_external_provider_local_sign_in_admits_only_administrators() {
    let app = server(true).await;
    hangar_user_add(&app, "dev1", "a-long-password-for-dev1", &["developers"]).await;
    let refused = sign_in(
        &app,
        &Browser::new(None),
        "local=1",
        "dev1",
        "a-long-password-for-dev1",
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.set_cookie("hangar_session").is_none());
    let admitted = sign_in(
        &app,
        &Browser::new(None),
        "local=1",
        "admin",
        ADMIN_PASSWORD,
    )
    .await;
    assert!(matches!(admitted.status, 302 | 303), "{}", admitted.body);
    let store = hangar::store::Store::connect(&app.database.url(app.data.path()))
        .await
        .expect("store");
    let trail = store.list_audit(0, 10_000).await.expect("audit");
    assert!(
        trail
            .iter()
            .any(|e| e.action == "auth.login_failed" && e.detail.contains("not_allowed"))
    );
    assert!(
        trail
            .iter()
            .any(|e| e.action == "auth.login" && e.detail.contains("local"))
    );
    store.close().await;
}

pub async fn hangar_user_add(app: &TestApp, name: &str, password: &str, groups: &[&str]) {
    let mut args = vec![
        "user".to_string(),
        "add".into(),
        name.into(),
        "--password-stdin".into(),
    ];
    for g in groups {
        args.push("--group".into());
        args.push((*g).into());
    }
    let data = app.data.path().to_path_buf();
    let url = app.database.url(app.data.path());
    let password = password.to_string();
    let ok = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        #[allow(clippy::disallowed_methods)] // the story runs the `hangar` binary itself
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hangar"))
            .args(&args)
            .env("HANGAR_DATA_DIR", &data)
            .env("HANGAR_DATABASE_URL", &url)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{password}\n").as_bytes())
            .expect("write");
        child.wait().expect("waits").success()
    })
    .await
    .expect("joins");
    assert!(ok, "hangar user add {name} failed");
}
