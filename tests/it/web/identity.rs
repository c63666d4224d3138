//! The identity control room in a real browser (`tests/web/identity.mjs`): the embedded
//! provider's administrator connects the test OpenID provider, tests it in a new window,
//! switches it on, and a fresh browser signs in through it.

use crate::login::idp::Idp;
use crate::login::local::ADMIN_PASSWORD;
use crate::login::{CLIENT_ID, CLIENT_SECRET};
use crate::support::TestApp;
use crate::support::database::TestDatabase;
use hangar::config::Secret;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_admin_connects_a_provider_from_the_browser_and_people_sign_in_through_it() {
    // The server's URL is its real address: its own provider discovers itself there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut app = TestApp::spawn_with(TestDatabase::sqlite(), |c| {
        c.addr = format!("127.0.0.1:{port}").parse().expect("address");
        c.server_url = base.clone();
        c.identity.admin_password = Some(Secret::new(ADMIN_PASSWORD));
    })
    .await;
    let idp = Idp::start().await;
    idp.client(CLIENT_ID, CLIENT_SECRET, &base).await;
    idp.user("carol", &["admins", "ops"]).await;
    let config = json!({
        "base": base,
        "real": base,
        "adminPassword": ADMIN_PASSWORD,
        "issuer": idp.issuer,
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "user": "carol",
    });
    super::story("identity", config, &idp).await;
    let (_, shown) = app
        .call(reqwest::Method::GET, "/api/admin/identity", None)
        .await;
    assert_eq!(shown["in_force"]["origin"], "database", "{shown}");
    app.stop().await;
}
