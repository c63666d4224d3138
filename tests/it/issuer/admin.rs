//! Administration stories: `hangar user` on the server's database, signing-key rotation with
//! an overlap, and the whole sign-in on PostgreSQL.

#![allow(clippy::disallowed_methods)] // these stories run the `hangar` binary itself

use super::provider::{Attempt, Provider};
use crate::support::database::TestDatabase;
use hangar::auth::issuer::signing::{OVERLAP_MS, SigningKeys};
use reqwest::StatusCode;
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `hangar ARGS` against the provider's database, with `stdin` as input.
fn hangar(p: &Provider, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hangar"))
        .args(args)
        .env("HANGAR_DATABASE_URL", p.app.database.url(p.app.data.path()))
        .env("HANGAR_SERVER_URL", &p.app.url)
        .env("HANGAR_DATA_DIR", p.app.data.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hangar runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("written");
    child.wait_with_output().expect("hangar ends")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn hangar_user_add_passwd_and_list_manage_who_can_sign_in() {
    let p = Provider::start().await;
    let out = hangar(
        &p,
        &[
            "user",
            "add",
            "eve",
            "--group",
            "developers",
            "--group",
            "ops",
            "--password-stdin",
        ],
        "eve-password-1\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !text(&out).contains("eve-password-1"),
        "a given password is never echoed"
    );
    let again = hangar(
        &p,
        &["user", "add", "eve", "--password-stdin"],
        "eve-password-1\n",
    );
    assert!(!again.status.success(), "a taken name is refused");
    let short = hangar(&p, &["user", "add", "fay", "--password-stdin"], "short\n");
    assert!(!short.status.success(), "a short password is refused");

    let attempt = Attempt::new();
    let (code, _) = p.sign_in(&attempt, "eve", "eve-password-1").await;
    let (status, tokens) = p.exchange(&code, &attempt.verifier).await;
    assert_eq!(status, StatusCode::OK);

    let out = hangar(&p, &["user", "passwd", "eve"], "");
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let generated = stdout
        .lines()
        .find_map(|l| l.strip_prefix("password (shown once): "))
        .expect("the new password is printed once")
        .to_string();
    let (status, _) = p
        .refresh(tokens["refresh_token"].as_str().expect("rt"))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a new password ends the old grants"
    );
    let attempt = Attempt::new();
    p.sign_in(&attempt, "eve", &generated).await;

    let list = hangar(&p, &["user", "list"], "");
    let listed = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(
        listed.contains("eve") && listed.contains("developers,ops"),
        "{listed}"
    );
    assert!(listed.contains("admin"));
    assert!(!listed.contains("argon2"));
    let audit = p.audit_actions().await;
    assert!(audit.contains(&"user.password_changed".to_string()));
}

#[tokio::test]
async fn a_rotated_key_stays_published_until_it_retires() {
    let p = Provider::start().await;
    let secrets =
        hangar::auth::keys::SecretBox::load_or_create(&p.app.data.path().join("secret.key"))
            .expect("the server key");
    let keys = SigningKeys::new(p.store.clone(), secrets);
    let now = hangar::clock::system().now_ms();
    let claims = serde_json::json!({ "iss": p.issuer, "sub": "someone" });
    let old = keys.sign(&claims, now).await.expect("signed");
    let old_kid = jsonwebtoken::decode_header(&old)
        .expect("header")
        .kid
        .expect("kid");
    let new_kid = keys.rotate(now).await.expect("rotated");
    assert_ne!(old_kid, new_kid);

    let jwks: serde_json::Value = p
        .get(&format!("{}/jwks", p.issuer), None)
        .await
        .json()
        .await
        .expect("JSON");
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()),
        "{jwks}"
    );
    let new = keys.sign(&claims, now).await.expect("signed");
    assert_eq!(
        jsonwebtoken::decode_header(&new).expect("h").kid,
        Some(new_kid)
    );

    let read = keys
        .read_own::<serde_json::Value>(&old, &p.issuer, now)
        .await;
    assert!(read.expect("read").is_some(), "the old key still verifies");
    let later = now + OVERLAP_MS + 1;
    let read = keys
        .read_own::<serde_json::Value>(&old, &p.issuer, later)
        .await;
    assert!(read.expect("read").is_none(), "retired after the overlap");
    assert!(
        p.audit_actions()
            .await
            .contains(&"oidc.signing_key_rotated".to_string())
    );
}

#[tokio::test]
async fn the_whole_sign_in_works_on_postgresql() {
    let Some(database) = TestDatabase::postgres().await else {
        return; // HANGAR_TEST_DATABASE_URL not set
    };
    let p = Provider::start_on(database).await;
    p.add_user("gus", "gus-password-1", &["ops"]).await;
    let url = p.authorize_url(&Attempt::new(), &[]);
    let form = p.open_form(&url).await;
    assert_eq!(
        p.post_form(&form, "gus", "wrong-password").await.status(),
        StatusCode::OK
    );
    let attempt = Attempt::new();
    let (code, _) = p.sign_in(&attempt, "gus", "gus-password-1").await;
    let (status, tokens) = p.exchange(&code, &attempt.verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let (status, again) = p
        .refresh(tokens["refresh_token"].as_str().expect("rt"))
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    let (status, info) = p
        .userinfo(again["access_token"].as_str().expect("at"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["groups"], serde_json::json!(["ops"]));
    let (status, _) = p.exchange(&code, &attempt.verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "used once");
    let (status, _) = p
        .refresh(again["refresh_token"].as_str().expect("rt"))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the replay revoked the chain"
    );
}
