//! Webhook deliveries as GitHub and Gitea send them, signed with a repository's secret.

use super::TestApp;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A GitHub push payload for `slug`'s `branch` at `sha`.
pub fn github_push(slug: &str, branch: &str, before: &str, sha: &str, message: &str) -> Value {
    let (owner, name) = slug.split_once('/').expect("owner/name");
    json!({
        "ref": format!("refs/heads/{branch}"),
        "before": before,
        "after": sha,
        "created": false,
        "deleted": false,
        "forced": false,
        "compare": format!("https://github.com/{slug}/compare/{}...{}", &before[..7.min(before.len())], &sha[..7]),
        "commits": [{
            "id": sha,
            "message": message,
            "timestamp": "2026-11-25T10:00:00Z",
            "url": format!("https://github.com/{slug}/commit/{sha}"),
            "author": { "name": "Ada Lovelace", "email": "ada@example.com", "username": "ada" },
            "committer": { "name": "Ada Lovelace", "email": "ada@example.com", "username": "ada" }
        }],
        "head_commit": {
            "id": sha,
            "message": message,
            "timestamp": "2026-11-25T10:00:00Z",
            "url": format!("https://github.com/{slug}/commit/{sha}"),
            "author": { "name": "Ada Lovelace", "email": "ada@example.com", "username": "ada" },
            "committer": { "name": "Ada Lovelace", "email": "ada@example.com", "username": "ada" }
        },
        "repository": {
            "id": 1296269,
            "name": name,
            "full_name": slug,
            "owner": { "login": owner, "id": 1 },
            "private": true,
            "html_url": format!("https://github.com/{slug}"),
            "clone_url": "https://evil.example.com/not-this-one.git",
            "default_branch": "main"
        },
        "pusher": { "name": "ada", "email": "ada@example.com" },
        "sender": { "login": "ada", "id": 7, "avatar_url": "https://avatars.example.com/ada" }
    })
}

impl TestApp {
    /// Delivers a GitHub webhook signed with `secret`; returns status and JSON body.
    pub async fn deliver_github(
        &self,
        event: &str,
        delivery: &str,
        secret: &str,
        payload: &Value,
    ) -> (u16, Value) {
        let body = serde_json::to_vec(payload).expect("json");
        self.deliver_raw(
            &[
                ("X-GitHub-Event", event),
                ("X-GitHub-Delivery", delivery),
                (
                    "X-Hub-Signature-256",
                    &format!("sha256={}", sign(secret, &body)),
                ),
            ],
            body,
        )
        .await
    }

    /// Posts `body` to `/hook` with exactly these headers.
    pub async fn deliver_raw(&self, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}/hook", self.url))
            .header("Content-Type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("the server answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Pushes the repository's current commit to `branch` and delivers the signed push hook.
    pub async fn push(
        &self,
        slug: &str,
        secret: &str,
        repo: &super::GitRepo,
        branch: &str,
        delivery: &str,
    ) -> Value {
        repo.push(branch);
        let sha = repo.head();
        let payload = github_push(
            slug,
            branch,
            &"0".repeat(39).replace('0', "1"),
            &sha,
            "a change",
        );
        let (status, build) = self
            .deliver_github("push", delivery, secret, &payload)
            .await;
        assert_eq!(status, 200, "delivering the push: {build}");
        build
    }
}
