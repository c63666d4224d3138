//! A test server whose embedded OpenID provider is reachable at its own issuer URL (the server
//! URL is the real address), and the steps of a sign-in done by hand: authorize, read the form,
//! post the password, take the code from the redirect, exchange it.

use crate::support::TestApp;
use crate::support::database::TestDatabase;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hangar::auth::issuer::{ClientCredentials, pkce};
use hangar::config::Secret;
use hangar::store::{OAuthClient, Store};
use reqwest::StatusCode;
use serde_json::Value;

pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";
/// A public (PKCE-only) client with a loopback redirect, registered by [`Provider::start`].
pub const CLI_CLIENT: &str = "test-cli";
pub const CLI_REDIRECT: &str = "http://127.0.0.1/callback";

pub struct Provider {
    pub app: TestApp,
    pub issuer: String,
    /// Follows no redirects: every step of the flow is looked at.
    pub http: reqwest::Client,
    pub store: Store,
    pub hangar: ClientCredentials,
}

/// What the login form gave: its transaction token and the browser-binding cookie.
pub struct Form {
    pub login: String,
    pub cookie: String,
}

/// One authorization request's secrets, kept by the client.
pub struct Attempt {
    pub verifier: String,
    pub state: String,
    pub nonce: String,
}

impl Attempt {
    pub fn new() -> Attempt {
        let r = || {
            format!(
                "{:032x}{:032x}",
                rand::random::<u128>(),
                rand::random::<u128>()
            )
        };
        Attempt {
            verifier: r(),
            state: r()[..20].to_string(),
            nonce: r()[..24].to_string(),
        }
    }

    pub fn challenge(&self) -> String {
        pkce::challenge(&self.verifier)
    }
}

/// The value of cookie `name` set by `response`.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.strip_prefix(&format!("{name}="))?
                .split(';')
                .next()
                .map(str::to_string)
        })
}

/// A query parameter of a URL.
pub fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The claims of a JWT, unverified (for looking; verification is separate).
pub fn claims(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

impl Provider {
    /// A provider on SQLite.
    pub async fn start() -> Provider {
        Provider::start_on(TestDatabase::sqlite()).await
    }

    /// A provider on the given database.
    pub async fn start_on(database: TestDatabase) -> Provider {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let app = TestApp::spawn_with(database, |c| {
            c.addr = format!("127.0.0.1:{port}").parse().expect("address");
            c.server_url = format!("http://127.0.0.1:{port}");
            c.identity.admin_password = Some(Secret::new(ADMIN_PASSWORD));
        })
        .await;
        let store = Store::open(&app.database.url(app.data.path()))
            .await
            .expect("the database opens");
        let secrets =
            hangar::auth::keys::SecretBox::load_or_create(&app.data.path().join("secret.key"))
                .expect("the server key");
        let hangar = hangar::auth::issuer::hangar_client(&store, &secrets, &app.url)
            .await
            .expect("read")
            .expect("the built-in client is registered at start");
        store
            .create_oauth_client(
                &OAuthClient {
                    client_id: CLI_CLIENT.into(),
                    secret_hash: String::new(),
                    name: "Test CLI".into(),
                    redirect_uris: vec![CLI_REDIRECT.into()],
                    post_logout_redirect_uris: vec![],
                    grant_types: vec![],
                    secret_sealed: None,
                    created: 0,
                    revoked: 0,
                },
                &hangar::domain::Actor::system(),
                1,
            )
            .await
            .expect("client registered");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Provider {
            issuer: format!("{}/oidc", app.url),
            app,
            http,
            store,
            hangar,
        }
    }

    /// Adds a local user with `password` in `groups`, as `hangar user add` does.
    pub async fn add_user(&self, login: &str, password: &str, groups: &[&str]) {
        let hash = hangar::auth::issuer::password::hash(password).expect("hash");
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        let sub = format!("{:032x}", rand::random::<u128>());
        self.store
            .create_local_user(
                &hangar::store::NewLocalUser {
                    login,
                    display_name: "",
                    email: &format!("{login}@example.com"),
                    groups: &groups,
                    password_hash: &hash,
                    iss: &self.issuer,
                    sub: &sub,
                },
                &hangar::domain::Actor::system(),
                1,
            )
            .await
            .expect("user added");
    }

    /// The authorization URL for the public test client, with `extra` parameters.
    pub fn authorize_url(&self, attempt: &Attempt, extra: &[(&str, &str)]) -> String {
        let mut url = url::Url::parse(&format!("{}/authorize", self.issuer)).expect("url");
        let challenge = attempt.challenge();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", CLI_CLIENT)
            .append_pair("redirect_uri", "http://127.0.0.1:43123/callback")
            .append_pair("scope", "openid profile email groups offline_access")
            .append_pair("state", &attempt.state)
            .append_pair("nonce", &attempt.nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        for (k, v) in extra {
            url.query_pairs_mut().append_pair(k, v);
        }
        url.into()
    }

    pub async fn get(&self, url: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(url);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send().await.expect("the server answers")
    }

    /// Opens the login form at `url`.
    pub async fn open_form(&self, url: &str) -> Form {
        let resp = self.get(url, None).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let cookie = set_cookie(&resp, "hangar_oidc_login").expect("the form binds the browser");
        let html = resp.text().await.expect("html");
        let login = html
            .split("name=\"login\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the form carries its transaction")
            .to_string();
        Form { login, cookie }
    }

    /// Posts the form with `user` and `password`.
    pub async fn post_form(&self, form: &Form, user: &str, password: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/login", self.issuer))
            .header("cookie", format!("hangar_oidc_login={}", form.cookie))
            .form(&[
                ("login", form.login.as_str()),
                ("username", user),
                ("password", password),
            ])
            .send()
            .await
            .expect("the server answers")
    }

    /// Signs in through the form; returns the code and the provider-session cookie.
    pub async fn sign_in(&self, attempt: &Attempt, user: &str, password: &str) -> (String, String) {
        let form = self.open_form(&self.authorize_url(attempt, &[])).await;
        let resp = self.post_form(&form, user, password).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "signed in");
        let sso = set_cookie(&resp, "hangar_oidc_sso").expect("a provider session");
        let to = location(&resp);
        assert!(to.starts_with("http://127.0.0.1:43123/callback?"), "{to}");
        assert_eq!(param(&to, "state").as_deref(), Some(attempt.state.as_str()));
        assert_eq!(param(&to, "iss").as_deref(), Some(self.issuer.as_str()));
        (param(&to, "code").expect("a code"), sso)
    }

    /// Posts to the token endpoint as the public test client.
    pub async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut fields = vec![("client_id", CLI_CLIENT)];
        fields.extend_from_slice(form);
        let resp = self
            .http
            .post(format!("{}/token", self.issuer))
            .form(&fields)
            .send()
            .await
            .expect("the server answers");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Exchanges `code` for tokens.
    pub async fn exchange(&self, code: &str, verifier: &str) -> (StatusCode, Value) {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", "http://127.0.0.1:43123/callback"),
            ("code_verifier", verifier),
        ])
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> (StatusCode, Value) {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    pub async fn userinfo(&self, access_token: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(format!("{}/userinfo", self.issuer))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("the server answers");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Audit actions recorded so far.
    pub async fn audit_actions(&self) -> Vec<String> {
        self.store
            .list_audit(0, 10_000)
            .await
            .expect("audit")
            .into_iter()
            .map(|r| r.action)
            .collect()
    }
}
