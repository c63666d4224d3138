//! Pages as a plain HTTP client sees them: sign-in first, strict security headers, the assets,
//! Drone's badge, and the server's other routes untouched by `/{owner}/{name}`.

use crate::support::{GitRepo, TestApp};
use reqwest::redirect::Policy;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

#[tokio::test]
async fn a_page_sends_someone_not_signed_in_to_sign_in_and_back() {
    let app = TestApp::spawn().await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nsteps:\n- name: a\n  commands: [true]\n",
    );
    app.activate("acme/api", &git).await;
    for path in [
        "/",
        "/acme/api",
        "/acme/api/1",
        "/acme/api/settings",
        "/account/tokens",
        "/admin",
        "/admin/identity",
        "/admin/identity/test",
    ] {
        let resp = client()
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status(), 303, "{path}");
        let location = resp.headers()["location"].to_str().expect("location");
        let back = url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>();
        assert_eq!(location, format!("/login?return_to={back}"), "{path}");
        let csp = resp.headers()["content-security-policy"]
            .to_str()
            .expect("csp");
        assert!(
            csp.contains("default-src 'self'") && !csp.contains("unsafe"),
            "{csp}"
        );
    }
}

#[tokio::test]
async fn the_style_sheet_and_scripts_come_from_the_binary_and_the_other_routes_still_answer() {
    let app = TestApp::spawn().await;
    for (path, kind) in [
        ("/assets/hangar.css", "text/css"),
        ("/assets/hangar.js", "text/javascript"),
        ("/assets/build.js", "text/javascript"),
    ] {
        let resp = client()
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status(), 200, "{path}");
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .expect("type")
                .starts_with(kind)
        );
    }
    let missing = client()
        .get(format!("{}/assets/nothing.js", app.url))
        .send()
        .await
        .expect("answer");
    assert_eq!(missing.status(), 404);
    for (path, status) in [
        ("/healthz", 200),
        ("/.well-known/openid-configuration", 200),
        ("/api/repos", 401),
        ("/oidc/jwks", 200),
        ("/auth/session", 401),
        ("/api/no/such/path", 404),
        ("/oauth/no/such", 404),
    ] {
        let resp = client()
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status(), status, "{path} is not taken by the pages");
    }
}

#[tokio::test]
async fn a_badge_shows_the_newest_build_to_whoever_may_read_the_repository() {
    let app = TestApp::spawn().await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nsteps:\n- name: a\n  commands: [true]\n",
    );
    app.activate("acme/api", &git).await;
    let (status, body) = app
        .call_as(
            Some(crate::support::ADMIN_TOKEN),
            reqwest::Method::GET,
            "/api/badges/acme/api/status.svg",
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.start_build("acme/api", "main").await;
    app.wait_for_build("acme/api", 1).await;
    let resp = client()
        .get(format!("{}/api/badges/acme/api/status.svg", app.url))
        .bearer_auth(crate::support::ADMIN_TOKEN)
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.headers()["content-type"], "image/svg+xml");
    let svg = resp.text().await.expect("svg");
    assert!(svg.contains(">passing<"), "{svg}");
    let anonymous = client()
        .get(format!("{}/api/badges/acme/api/status.svg", app.url))
        .send()
        .await
        .expect("answer");
    assert_eq!(
        anonymous.status(),
        401,
        "a private repository's badge is not public"
    );
}
