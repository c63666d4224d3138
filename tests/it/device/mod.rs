//! Stories of the device authorization grant behind `hangar login`: a code is asked for, a
//! signed-in person approves (or refuses) it in a browser, the device polls (pending, too fast,
//! refused, expired) and gets an access token once, then renews it with a refresh token that
//! works once: a reused one revokes the whole login. `cli.rs` drives the real `hangar login`.

mod cli;
mod flow;

use crate::login::browser::{Browser, Page};
use crate::login::local::{ADMIN_PASSWORD, sign_in};
use crate::support::{TestApp, database::TestDatabase};
use hangar::clock::SharedClock;
use reqwest::Method;
use serde_json::Value;

/// A server on a known port (its `server_url` is where it listens, so the embedded provider
/// signs browsers in), polled at most once a second.
pub async fn server(database: TestDatabase, clock: SharedClock) -> TestApp {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    TestApp::spawn_with_clock(
        database,
        |c| {
            c.addr = format!("127.0.0.1:{port}").parse().expect("address");
            c.server_url = format!("http://127.0.0.1:{port}");
            c.identity.admin_password = Some(hangar::config::Secret::new(ADMIN_PASSWORD));
            c.identity.device_poll_interval = std::time::Duration::from_secs(1);
        },
        clock,
    )
    .await
}

/// A browser signed in to Hangar as the first administrator.
pub async fn signed_in(app: &TestApp) -> Browser {
    let browser = Browser::new(None);
    let done = sign_in(app, &browser, "return_to=/", "admin", ADMIN_PASSWORD).await;
    assert!(matches!(done.status, 302 | 303), "{}", done.body);
    browser
}

/// A form POST to `path`; status and JSON body.
pub async fn post_form(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let resp = app
        .http
        .post(format!("{}{path}", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `POST /oauth/device/code` as `hangar login` does; the answer must be a success.
pub async fn device_code(app: &TestApp, scope: Option<&str>) -> Value {
    let mut form = vec![("client_id", "hangar-cli")];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    let (status, answer) = post_form(app, "/oauth/device/code", &form).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// One poll with the device code of `code` (an answer of [`device_code`]).
pub async fn poll(app: &TestApp, code: &Value) -> (u16, Value) {
    post_form(
        app,
        "/oauth/token",
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", "hangar-cli"),
            (
                "device_code",
                code["device_code"].as_str().expect("device_code"),
            ),
        ],
    )
    .await
}

/// One refresh.
pub async fn refresh(app: &TestApp, refresh_token: &str) -> (u16, Value) {
    post_form(
        app,
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "hangar-cli"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

/// An OAuth error of `status` named `error`, told in words too.
pub fn assert_error(answer: &(u16, Value), status: u16, error: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error"], error, "{}", answer.1);
    assert!(answer.1["message"].is_string(), "{}", answer.1);
}

/// The value of the hidden form field `name` on a page.
pub fn field(page: &Page, name: &str) -> String {
    page.body
        .split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no {name} on the page: {}", page.body))
        .to_string()
}

/// Opens the approval page of `user_code` and answers `decision` (approve or deny).
pub async fn decide(app: &TestApp, browser: &Browser, user_code: &str, decision: &str) -> Page {
    let shown = browser
        .get(&format!("{}/device?user_code={user_code}", app.url))
        .await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert!(shown.body.contains(user_code), "{}", shown.body);
    assert_eq!(
        shown.headers.get("x-frame-options").map(|v| v.as_bytes()),
        Some(&b"DENY"[..])
    );
    let csrf = field(&shown, "csrf_token");
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("csrf_token", csrf.as_str()),
            ("user_code", user_code),
            ("decision", decision),
        ])
        .finish();
    browser
        .send(
            Method::POST,
            &format!("{}/device", app.url),
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("origin", &app.url),
            ],
            Some(body),
        )
        .await
}

/// Who a bearer token acts as (`None`: refused).
pub async fn who(app: &TestApp, token: &str) -> Option<String> {
    let (status, me) = app
        .call_as(Some(token), Method::GET, "/api/user", None)
        .await;
    (status == 200).then(|| me["login"].as_str().unwrap_or("").to_string())
}
