//! Login stories: a Hangar server logging people in through a real OpenID provider
//! (`oidc-provider` under Node, `idp.rs`), a hostile one for what no real provider would do
//! (`hostile.rs`), and a stand-in for GitHub (`github_standin.rs`). A browser (`browser.rs`)
//! walks the redirects. Hangar's public URL is an alias (`http://hangar.test`) mapped onto the
//! test server's real address, so the provider can be told the exact redirect URI beforehand.
//!
//! The attack cases of `identity.md` §3.2 are named in the tests that refuse them.

#![allow(dead_code)] // each story file uses a different part of the harness

pub mod browser;
mod github_standin;
mod hostile;
pub mod idp;

mod access;
mod accounts;
mod callback;
mod flow;
mod github;
mod id_token;
mod keys;
pub mod local;
mod provisioned;
mod sessions;
mod timing;

use crate::support;
use browser::{Browser, Page};
use hangar::clock::{FixedClock, SharedClock};
use hangar::config::{Config, OidcSettings, Secret, SecretSource};
use hangar::store::{AuditRecord, Store};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

pub const CLIENT_ID: &str = "hangar";
pub const CLIENT_SECRET: &str = "hangar-client-secret";
pub const PUBLIC: &str = "http://hangar.test";

/// A Hangar server for login stories.
pub struct LoginApp {
    /// The public URL (`server_url`), as providers and browsers know it.
    pub public: String,
    /// Where it really listens.
    pub real: String,
    pub clock: Option<Arc<FixedClock>>,
    running: Option<hangar::server::Running>,
    database_url: String,
    _data: tempfile::TempDir,
    _database: support::database::TestDatabase,
}

impl Drop for LoginApp {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown.cancel();
        }
    }
}

impl LoginApp {
    /// Stops the server and waits until it has (before its database is dropped).
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown.cancel();
            let _ = running.done.await;
        }
    }
}

/// Hangar configured for the OpenID provider at `issuer` with the usual client.
pub fn oidc(config: &mut Config, issuer: &str) {
    config.identity.oidc = Some(OidcSettings {
        issuer: issuer.to_string(),
        client_id: CLIENT_ID.into(),
        client_secret: SecretSource::Value(Secret::new(CLIENT_SECRET)),
        scopes: None,
        groups_claim: "groups".into(),
        origin: hangar::config::ProviderOrigin::File,
    });
}

impl LoginApp {
    /// A server at the public URL `public`, configured by `adjust`, on the system clock.
    pub async fn spawn(public: &str, adjust: impl FnOnce(&mut Config)) -> LoginApp {
        LoginApp::start(public, adjust, None).await
    }

    /// The same on a clock the test moves (starting now).
    pub async fn spawn_fixed(public: &str, adjust: impl FnOnce(&mut Config)) -> LoginApp {
        let clock = Arc::new(FixedClock::at(hangar::clock::system().now_ms()));
        LoginApp::start(public, adjust, Some(clock)).await
    }

    /// The same on `database` (PostgreSQL stories).
    pub async fn spawn_on(
        database: support::database::TestDatabase,
        public: &str,
        adjust: impl FnOnce(&mut Config),
    ) -> LoginApp {
        LoginApp::start_on(database, public, adjust, None).await
    }

    async fn start(
        public: &str,
        adjust: impl FnOnce(&mut Config),
        clock: Option<Arc<FixedClock>>,
    ) -> LoginApp {
        LoginApp::start_on(
            support::database::TestDatabase::sqlite(),
            public,
            adjust,
            clock,
        )
        .await
    }

    async fn start_on(
        database: support::database::TestDatabase,
        public: &str,
        adjust: impl FnOnce(&mut Config),
        clock: Option<Arc<FixedClock>>,
    ) -> LoginApp {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(std::env::var("HANGAR_TEST_LOG").unwrap_or_else(|_| "error".into()))
            .with_test_writer()
            .try_init();
        let data = tempfile::tempdir().expect("tempdir");
        let database_url = database.url(data.path());
        let mut config = support::config(data.path(), &database_url);
        config.server_url = public.to_string();
        adjust(&mut config);
        let shared: SharedClock = match &clock {
            Some(c) => c.clone(),
            None => hangar::clock::system(),
        };
        let running = hangar::server::start(config, shared)
            .await
            .expect("the server starts");
        LoginApp {
            public: public.to_string(),
            real: format!("http://{}", running.addr),
            clock,
            running: Some(running),
            database_url,
            _data: data,
            _database: database,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public)
    }

    /// The server's database.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// A fresh browser that reaches this server at its public URL.
    pub fn browser(&self) -> Browser {
        Browser::new(Some((self.public.clone(), self.real.clone())))
    }

    /// Moves the fixed clock.
    pub fn advance(&self, d: Duration) {
        self.clock
            .as_ref()
            .expect("a server on a fixed clock")
            .advance_ms(i64::try_from(d.as_millis()).expect("ms"));
    }

    /// `GET /login`; returns the answer (a redirect to the provider).
    pub async fn start_login(&self, browser: &Browser, query: &str) -> Page {
        let page = browser.get(&self.url(&format!("/login{query}"))).await;
        assert_eq!(page.status, 303, "GET /login: {}", page.body);
        page
    }

    /// A whole login through the real provider as `username`; returns the callback's answer.
    pub async fn login(&self, browser: &Browser, idp: &idp::Idp, username: &str) -> Page {
        self.login_to(browser, idp, username, "").await
    }

    pub async fn login_to(
        &self,
        browser: &Browser,
        idp: &idp::Idp,
        username: &str,
        query: &str,
    ) -> Page {
        let start = self.start_login(browser, query).await;
        let back = idp
            .authorize(
                browser,
                start.location(),
                username,
                &self.url("/auth/callback"),
            )
            .await;
        browser.get(&back).await
    }

    /// `GET /auth/session` with the browser's cookies.
    pub async fn session(&self, browser: &Browser) -> (u16, Value) {
        let page = browser.get(&self.url("/auth/session")).await;
        (
            page.status,
            serde_json::from_str(&page.body).unwrap_or(Value::Null),
        )
    }

    /// The audit trail so far.
    pub async fn audit(&self) -> Vec<AuditRecord> {
        let store = Store::connect(&self.database_url).await.expect("store");
        let all = store.list_audit(0, 100_000).await.expect("audit");
        store.close().await;
        all
    }

    /// Disables an account the way an administrator would (there is no route for it yet).
    pub async fn disable(&self, login: &str) {
        let pool = sqlx::SqlitePool::connect(&self.database_url)
            .await
            .expect("database");
        sqlx::query("UPDATE users SET active = FALSE WHERE login = $1")
            .bind(login)
            .execute(&pool)
            .await
            .expect("update");
        pool.close().await;
    }

    /// The reasons of the refused logins audited so far.
    pub async fn refusals(&self) -> Vec<String> {
        self.audit()
            .await
            .into_iter()
            .filter(|r| r.action == "auth.login_failed")
            .map(|r| {
                let detail: Value = serde_json::from_str(&r.detail).unwrap_or_default();
                detail["reason"].as_str().unwrap_or("").to_string()
            })
            .collect()
    }
}

/// Waits (polling, at most `within`) until `check` holds; returns how long it took.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = tokio::time::Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{what} did not happen within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The query parameter `name` of `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A real provider with Hangar's client registered and a server using it.
pub async fn with_idp(adjust: impl FnOnce(&mut Config)) -> (idp::Idp, LoginApp) {
    let idp = idp::Idp::start().await;
    idp.client(CLIENT_ID, CLIENT_SECRET, PUBLIC).await;
    let issuer = idp.issuer.clone();
    let app = LoginApp::spawn(PUBLIC, |c| {
        oidc(c, &issuer);
        adjust(c);
    })
    .await;
    (idp, app)
}

/// A hostile provider and a server using it.
pub async fn with_hostile(adjust: impl FnOnce(&mut Config)) -> (hostile::Hostile, LoginApp) {
    let h = hostile::Hostile::start().await;
    let issuer = h.issuer.clone();
    let app = LoginApp::spawn(PUBLIC, |c| {
        oidc(c, &issuer);
        adjust(c);
    })
    .await;
    (h, app)
}

/// Starts a login and returns the transaction's `state` and `nonce` from the redirect.
pub async fn begin(app: &LoginApp, browser: &Browser) -> (String, String) {
    let page = app.start_login(browser, "").await;
    let to = page.location();
    (
        query_param(to, "state").expect("state"),
        query_param(to, "nonce").expect("nonce"),
    )
}

/// The provider's redirect back to Hangar, as the browser would follow it.
pub async fn call_back(app: &LoginApp, browser: &Browser, params: &[(&str, &str)]) -> Page {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    browser
        .get(&app.url(&format!("/auth/callback?{query}")))
        .await
}
