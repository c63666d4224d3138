//! Stories of builds' ID tokens: a step asks Hangar for a token and gets one that an
//! off-the-shelf JWT library verifies against the keys Hangar's discovery document points to;
//! once the build is over, the same step's grant gets nothing.

use crate::support::GitRepo;
use crate::support::{TestApp, database::TestDatabase};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::Method;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// A server whose public URL is its real address, so steps can reach it.
async fn reachable_app() -> TestApp {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    TestApp::spawn_with(TestDatabase::sqlite(), |c| {
        c.addr = format!("127.0.0.1:{port}").parse().expect("address");
        c.server_url = format!("http://127.0.0.1:{port}");
    })
    .await
}

async fn wait_for_file(app: &TestApp, path: &Path) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text.trim().to_string();
        }
        if tokio::time::Instant::now() > deadline {
            let build = app.get("/api/repos/acme/api/builds/1").await;
            panic!("{} never came: {build}", path.display());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Verifies `jwt` as any relying party would: discovery, then the JWKS it names.
async fn verify(app: &TestApp, jwt: &str, audience: &str) -> Value {
    let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
    );
    let discovery: Value = app
        .http
        .get(format!("{}/.well-known/openid-configuration", app.url))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(discovery["issuer"], app.url.as_str());
    let jwks_uri = discovery["jwks_uri"].as_str().expect("jwks_uri");
    let jwks: JwkSet = app
        .http
        .get(jwks_uri)
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("a JWK set");
    let header = jsonwebtoken::decode_header(jwt).expect("a JWT");
    assert_eq!(header.alg, Algorithm::ES256);
    let jwk = jwks
        .find(header.kid.as_deref().expect("kid"))
        .expect("the signing key is published");
    let key = DecodingKey::from_jwk(jwk).expect("a key");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[app.url.as_str()]);
    validation.set_required_spec_claims(&["exp", "iat", "nbf", "aud", "iss", "sub"]);
    jsonwebtoken::decode::<Value>(jwt, &key, &validation)
        .expect("the token verifies")
        .claims
}

#[tokio::test]
async fn a_build_token_verifies_against_the_discovered_keys_and_is_refused_after_the_build() {
    let app = reachable_app().await;
    let shared = tempfile::tempdir().expect("folder");
    let dir = shared.path().display();
    let git = GitRepo::with_pipeline(&format!(
        r#"kind: pipeline
type: exec
name: deploy
clone: {{disable: true}}
steps:
- name: login
  id_tokens:
    VAULT_TOKEN: {{aud: "https://vault.example"}}
  commands:
  - printf '%s\n' "$VAULT_TOKEN" > {dir}/declared.jwt
  - 'curl -sf -H "Authorization: Bearer $HANGAR_ID_TOKEN_REQUEST_TOKEN" "$HANGAR_ID_TOKEN_REQUEST_URL?audience=sts.example" > {dir}/asked.json; echo >> {dir}/asked.json'
  - printf '%s\n%s\n' "$HANGAR_ID_TOKEN_REQUEST_URL" "$HANGAR_ID_TOKEN_REQUEST_TOKEN" > {dir}/grant.txt
  - while [ ! -f {dir}/release ]; do sleep 0.05; done
"#
    ));
    app.activate("acme/api", &git).await;
    app.start_build("acme/api", "main").await;

    let declared = wait_for_file(&app, &shared.path().join("declared.jwt")).await;
    let claims = verify(&app, &declared, "https://vault.example").await;
    assert_eq!(claims["sub"], "repo:acme/api:ref:refs/heads/main");
    assert_eq!(claims["repository"], "acme/api");
    assert_eq!(claims["ref"], "refs/heads/main");
    assert_eq!(claims["sha"], git.head().as_str());
    assert_eq!(claims["event"], "custom");
    assert_eq!(claims["build_number"], 1);
    assert_eq!(claims["pipeline"], "deploy");
    assert_eq!(claims["step"], "login");
    assert_eq!(claims["trusted"], false);
    let lifetime = claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat");
    assert_eq!(lifetime, 300);

    let asked: Value =
        serde_json::from_str(&wait_for_file(&app, &shared.path().join("asked.json")).await)
            .expect("the endpoint answers JSON");
    let asked_claims = verify(&app, asked["value"].as_str().expect("value"), "sts.example").await;
    assert_ne!(asked_claims["jti"], claims["jti"]);

    let grant = wait_for_file(&app, &shared.path().join("grant.txt")).await;
    let (url, bearer) = grant.split_once('\n').expect("url and token");
    let ask = |audience: &'static str| {
        app.http
            .get(format!("{url}?audience={audience}"))
            .bearer_auth(bearer)
            .send()
    };
    assert_eq!(ask("ok.example").await.expect("answer").status(), 200);
    assert_eq!(
        ask("*").await.expect("answer").status(),
        422,
        "no wildcard audience"
    );
    assert_eq!(
        ask("").await.expect("answer").status(),
        422,
        "an audience is required"
    );
    let stranger = app
        .http
        .get(format!("{url}?audience=x"))
        .bearer_auth("not-a-grant")
        .send()
        .await
        .expect("answer");
    assert_eq!(stranger.status(), 401);

    // The grant itself never shows in the step's log.
    std::fs::write(shared.path().join("release"), "").expect("release");
    let build = app.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "success", "{build}");
    let log = app.log_text("acme/api", 1, 1, 1).await;
    assert!(!log.contains(bearer) && !log.contains(&declared), "{log}");

    let after = ask("ok.example").await.expect("answer");
    assert_eq!(after.status(), 401, "the grant ends with its build");
}

#[tokio::test]
async fn a_cancelled_build_gets_no_more_id_tokens() {
    let app = reachable_app().await;
    let shared = tempfile::tempdir().expect("folder");
    let dir = shared.path().display();
    let git = GitRepo::with_pipeline(&format!(
        "kind: pipeline\ntype: exec\nclone: {{disable: true}}\nsteps:\n- name: wait\n  commands:\n  - printf '%s\\n%s\\n' \"$HANGAR_ID_TOKEN_REQUEST_URL\" \"$HANGAR_ID_TOKEN_REQUEST_TOKEN\" > {dir}/grant.txt\n  - sleep 60\n"
    ));
    app.activate("acme/api", &git).await;
    app.start_build("acme/api", "main").await;
    let grant = wait_for_file(&app, &shared.path().join("grant.txt")).await;
    let (url, bearer) = grant.split_once('\n').expect("url and token");
    let ask = || {
        app.http
            .get(format!("{url}?audience=aws"))
            .bearer_auth(bearer)
            .send()
    };
    assert_eq!(ask().await.expect("answer").status(), 200);
    let (status, _) = app
        .call(Method::DELETE, "/api/repos/acme/api/builds/1", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(ask().await.expect("answer").status(), 401);
}
