//! Stories of reading the audit trail: `GET /api/audit` with its filters and cursors, JSON
//! Lines for a SIEM, where each change came from, who may read it, and `hangar audit`.

#![allow(clippy::disallowed_methods)] // the CLI story runs the `hangar` binary itself

use crate::authz::{spawn, user_with_token};
use crate::support::{ADMIN_TOKEN, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

async fn activate(app: &TestApp, slug: &str) {
    let body = json!({ "clone_url": "https://git.example.com/x.git" });
    let (status, reply) = app
        .call(Method::POST, &format!("/api/repos/{slug}"), Some(body))
        .await;
    assert_eq!(status, 200, "{reply}");
}

fn actions(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|e| e["action"].as_str().expect("an action"))
        .collect()
}

#[tokio::test]
async fn an_auditor_filters_the_trail_by_actor_action_and_repository() {
    let app = spawn().await;
    activate(&app, "acme/api").await;
    activate(&app, "acme/web").await;
    let (status, _) = app
        .call(
            Method::PATCH,
            "/api/repos/acme/api",
            Some(json!({ "timeout": 30 })),
        )
        .await;
    assert_eq!(status, 200);
    let auditor = user_with_token(&app, "audrey", &["auditors"]).await;

    let (status, all) = app
        .call_as(
            Some(&auditor),
            Method::GET,
            "/api/audit?action=repo.*",
            None,
        )
        .await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(
        actions(&all),
        ["repo.activated", "repo.activated", "repo.updated"]
    );
    let first = &all[0];
    assert_eq!(first["target"], "repo:acme/api");
    assert_eq!(first["outcome"], "success");
    assert!(
        first["time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{first}"
    );
    assert!(
        first["detail"].is_object() || first["detail"].is_null(),
        "{first}"
    );

    let (_, api) = app
        .call_as(
            Some(&auditor),
            Method::GET,
            "/api/audit?repo=acme/api&action=repo.*",
            None,
        )
        .await;
    assert_eq!(actions(&api), ["repo.activated", "repo.updated"]);
    let admin_login = first["actor"]["login"]
        .as_str()
        .expect("a login")
        .to_string();
    let (_, by_admin) = app
        .call_as(
            Some(&auditor),
            Method::GET,
            &format!("/api/audit?actor={admin_login}&action=repo.updated"),
            None,
        )
        .await;
    assert_eq!(actions(&by_admin), ["repo.updated"]);
    let (_, nobody) = app
        .call_as(Some(&auditor), Method::GET, "/api/audit?actor=nobody", None)
        .await;
    assert_eq!(nobody, json!([]));
}

#[tokio::test]
async fn each_change_records_the_request_it_came_from() {
    let app = spawn().await;
    let resp = reqwest::Client::new()
        .post(format!("{}/api/repos/acme/api", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .header("user-agent", "release-bot/2.1")
        .header("x-request-id", "req-from-the-proxy-42")
        .json(&json!({ "clone_url": "https://git.example.com/x.git" }))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 200);
    let (_, list) = app
        .call(Method::GET, "/api/audit?action=repo.activated", None)
        .await;
    assert_eq!(
        list[0]["context"],
        json!({
            "request_id": "req-from-the-proxy-42",
            "ip": "127.0.0.1",
            "user_agent": "release-bot/2.1",
        })
    );
}

#[tokio::test]
async fn pages_follow_by_id_and_json_lines_come_on_request() {
    let app = spawn().await;
    for i in 0..5 {
        activate(&app, &format!("acme/r{i}")).await;
    }
    let client = reqwest::Client::new();
    let page = |query: String| {
        let client = client.clone();
        let url = format!("{}/api/audit?action=repo.activated&{query}", app.url);
        async move {
            let resp = client
                .get(url)
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .expect("answer");
            let next = resp
                .headers()
                .get("x-next-after")
                .map(|v| v.to_str().expect("ascii").to_string());
            let list: Value = resp.json().await.expect("json");
            (list, next)
        }
    };
    let (first, next) = page("limit=2".into()).await;
    assert_eq!(first.as_array().map(Vec::len), Some(2));
    let next = next.expect("a full page names the next cursor");
    let (second, _) = page(format!("limit=2&after={next}")).await;
    let (rest, none) = page(format!("limit=10&after={next}")).await;
    assert_eq!(second[0]["target"], "repo:acme/r2");
    assert_eq!(rest.as_array().map(Vec::len), Some(3));
    assert_eq!(none, None, "a page that is not full is the last");

    let resp = client
        .get(format!("{}/api/audit?action=repo.activated", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .expect("answer");
    assert_eq!(
        resp.headers()["content-type"].to_str().ok(),
        Some("application/x-ndjson")
    );
    let text = resp.text().await.expect("body");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON entry"))
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[4]["target"], "repo:acme/r4");
}

#[tokio::test]
async fn only_auditors_and_admins_read_the_trail_and_bad_filters_are_named() {
    let app = spawn().await;
    let dev = user_with_token(&app, "dev1", &["developers"]).await;
    let (status, reply) = app
        .call_as(Some(&dev), Method::GET, "/api/audit", None)
        .await;
    assert_eq!(status, 403, "{reply}");
    let (status, _) = app.call_as(None, Method::GET, "/api/audit", None).await;
    assert_eq!(status, 401);
    // A value that breaks a rule is 422, a parameter that does not exist 400.
    for (query, needle, expected) in [
        ("limit=0", "limit", 422),
        ("limit=5000", "limit", 422),
        ("since=yesterday", "since", 422),
        ("order=sideways", "order", 422),
        ("format=xml", "format", 422),
        ("repo=not-a-slug", "not-a-slug", 422),
        ("colour=red", "colour", 400),
    ] {
        let (status, reply) = app
            .call(Method::GET, &format!("/api/audit?{query}"), None)
            .await;
        assert_eq!(status, expected, "{query}: {reply}");
        let message = reply["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{query}: {message}");
    }
    let denied = app.get("/api/audit?action=authz.denied").await;
    assert_eq!(
        denied[0]["actor"]["login"], "dev1",
        "the refusal itself is audited"
    );
}

#[tokio::test]
async fn hangar_audit_tail_and_export_print_json_lines() {
    let app = spawn().await;
    for slug in ["acme/a", "acme/b", "acme/c"] {
        activate(&app, slug).await;
    }
    // The binary runs on a thread of its own: the server answers on this test's runtime.
    let run = |args: &'static [&'static str]| {
        let url = app.url.clone();
        async move {
            let out = tokio::task::spawn_blocking(move || {
                std::process::Command::new(env!("CARGO_BIN_EXE_hangar"))
                    .args(args)
                    .env("HANGAR_SERVER", url)
                    .env("HANGAR_TOKEN", ADMIN_TOKEN)
                    .output()
                    .expect("hangar runs")
            })
            .await
            .expect("the command finishes");
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout)
                .expect("utf-8")
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
                .collect::<Vec<_>>()
        }
    };
    let tail = run(&["audit", "tail", "-n", "2", "--action", "repo.activated"]).await;
    let targets: Vec<&str> = tail.iter().filter_map(|e| e["target"].as_str()).collect();
    assert_eq!(
        targets,
        ["repo:acme/b", "repo:acme/c"],
        "the latest two, oldest first"
    );
    let all = run(&["audit", "export", "--repo", "acme/a"]).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["action"], "repo.activated");
}
