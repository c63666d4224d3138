//! A SCIM client for stories: a token made with `hangar scim token create` (the real command,
//! against the server's database), requests with `application/scim+json`, and the fixtures
//! under `tests/data/scim/` with their `{{name}}` placeholders filled in.

#![allow(clippy::disallowed_methods)] // runs the `hangar` binary itself

use reqwest::Method;
use serde_json::Value;
use std::path::Path;

/// Runs `hangar scim token create` against the database at `database_url` and returns the token.
pub fn create_token(data: &Path, database_url: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hangar"))
        .args(["scim", "token", "create", "--name", "identity-provider"])
        .env("HANGAR_DATA_DIR", data)
        .env("HANGAR_DATABASE_URL", database_url)
        .output()
        .expect("hangar runs");
    assert!(
        out.status.success(),
        "hangar scim token create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    assert!(token.starts_with("hgr_scim_"), "{token}");
    token
}

/// Runs `hangar scim ARGS...` against the database at `database_url`; returns its stdout.
pub fn scim_command(data: &Path, database_url: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hangar"))
        .arg("scim")
        .args(args)
        .env("HANGAR_DATA_DIR", data)
        .env("HANGAR_DATABASE_URL", database_url)
        .output()
        .expect("hangar runs");
    assert!(
        out.status.success(),
        "hangar scim {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// A fixture with its placeholders replaced.
pub fn fixture(name: &str, ids: &[(&str, &str)]) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/scim")
        .join(name);
    let mut text = std::fs::read_to_string(&path).expect("fixture");
    for (k, v) in ids {
        text = text.replace(&format!("{{{{{k}}}}}"), v);
    }
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// An answer: status, content type, JSON body (Null if none).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
}

/// A provisioning client of the server at `base` (its real address).
pub struct Scim {
    pub base: String,
    pub token: String,
    http: reqwest::Client,
}

impl Scim {
    pub fn new(base: &str, token: &str) -> Scim {
        Scim {
            base: format!("{base}/scim/v2"),
            token: token.to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// A request with `token` (or none) and a body sent as `application/scim+json`.
    pub async fn send_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        let resp = req.send().await.expect("the server answers");
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = resp.text().await.expect("a body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer {
            status,
            content_type,
            body,
        }
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Answer {
        self.send_as(Some(&self.token.clone()), method, path, body)
            .await
    }

    pub async fn get(&self, path: &str) -> Value {
        let a = self.send(Method::GET, path, None).await;
        assert_eq!(a.status, 200, "GET {path}: {:?}", a.body);
        a.body
    }

    /// POSTs `body` to `/Users` or `/Groups` and returns the new resource's id.
    pub async fn create(&self, path: &str, body: &Value) -> String {
        let a = self.send(Method::POST, path, Some(body)).await;
        assert_eq!(a.status, 201, "POST {path}: {:?}", a.body);
        a.body["id"].as_str().expect("an id").to_string()
    }

    /// A minimal user.
    pub async fn user(&self, user_name: &str, external_id: &str) -> String {
        let body = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name, "externalId": external_id, "active": true,
            "emails": [{"value": user_name, "primary": true, "type": "work"}],
        });
        self.create("/Users", &body).await
    }

    /// A group with these members.
    pub async fn group(&self, name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members
            .iter()
            .map(|m| serde_json::json!({ "value": m }))
            .collect();
        let body = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": name, "members": members,
        });
        self.create("/Groups", &body).await
    }

    /// A PATCH and its status.
    pub async fn patch(&self, path: &str, body: &Value) -> Answer {
        self.send(Method::PATCH, path, Some(body)).await
    }
}
