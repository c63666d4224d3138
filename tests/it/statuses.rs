//! Stories of commit statuses: what a forge sees while builds run, for GitHub and for Gitea,
//! through a local stand-in of their status APIs (a mock: neither forge can be reached here).

use crate::support::database::TestDatabase;
use crate::support::forge::ForgeStandIn;
use crate::support::github_app::new_app;
use crate::support::{GitRepo, TestApp};
use hangar::config::Config;
use hangar::config::GitHubAppSettings;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const TOKEN: &str = "ghp_standin0123456789";
const PUSH: &str = "continuous-integration/hangar/push";

/// Two pipelines: `build` runs `first`, `test` runs `second`.
fn two_pipelines(first: &str, second: &str) -> String {
    format!(
        "kind: pipeline\ntype: exec\nname: build\nclone: {{disable: true}}\nsteps:\n- name: a\n  commands: [\"{first}\"]\n---\nkind: pipeline\ntype: exec\nname: test\nclone: {{disable: true}}\nsteps:\n- name: b\n  commands: [\"{second}\"]\n"
    )
}

async fn server(database: TestDatabase, adjust: impl FnOnce(&mut Config)) -> TestApp {
    TestApp::spawn_with(database, |c| {
        c.statuses.backoff = Duration::from_millis(50);
        c.statuses.attempts = 4;
        adjust(c);
    })
    .await
}

/// A server whose `acme/api` builds `pipeline` and reports to the forge `forge` describes;
/// returns it, the repository and the webhook secret.
async fn ready(
    database: TestDatabase,
    adjust: impl FnOnce(&mut Config),
    pipeline: &str,
    forge: Value,
) -> (TestApp, GitRepo, String) {
    let app = server(database, adjust).await;
    let git = GitRepo::with_pipeline(pipeline);
    let repo = app.activate("acme/api", &git).await;
    set_forge(&app, forge).await;
    let secret = repo["webhook_secret"].as_str().expect("secret").to_string();
    (app, git, secret)
}

/// The same, after a push to main has been built: also returns the finished build.
async fn built(
    database: TestDatabase,
    adjust: impl FnOnce(&mut Config),
    pipeline: &str,
    forge: Value,
) -> (TestApp, GitRepo, Value) {
    let (app, git, secret) = ready(database, adjust, pipeline, forge).await;
    app.push("acme/api", &secret, &git, "main", "d-1").await;
    let build = app.wait_for_build("acme/api", 1).await;
    (app, git, build)
}

fn github(forge: &ForgeStandIn) -> Value {
    json!({ "kind": "github", "token": TOKEN, "api_url": forge.github_api() })
}

async fn set_forge(app: &TestApp, body: Value) {
    let (status, answer) = app
        .call(Method::PUT, "/api/repos/acme/api/forge", Some(body))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(!answer.to_string().contains(TOKEN), "{answer}");
}

/// Waits until every status recorded on build 1 is delivered (posted or failed) and final.
async fn settled_statuses(app: &TestApp, contexts: usize) -> Value {
    settled_statuses_of(app, 1, contexts).await
}

/// The same for build `number`.
async fn settled_statuses_of(app: &TestApp, number: i64, contexts: usize) -> Value {
    app.wait_within("acme/api", number, 30, |b| {
        let statuses = b["statuses"].as_array().cloned().unwrap_or_default();
        statuses.len() == contexts
            && statuses.iter().all(|s| {
                matches!(s["delivery"].as_str(), Some("posted" | "failed"))
                    && s["state"] != "pending"
            })
    })
    .await
}

#[tokio::test]
async fn a_passing_build_shows_pending_then_success_on_github_per_pipeline_and_overall() {
    let forge = ForgeStandIn::start(TOKEN).await;
    let pipeline = two_pipelines("true", "true");
    let (app, git, build) = built(TestDatabase::sqlite(), |_| {}, &pipeline, github(&forge)).await;
    assert_eq!(build["status"], "success");
    let build = settled_statuses(&app, 3).await;

    for context in [
        PUSH.to_string(),
        format!("{PUSH}/build"),
        format!("{PUSH}/test"),
    ] {
        assert_eq!(forge.states(&context), ["pending", "success"], "{context}");
    }
    for r in forge.received() {
        assert_eq!(
            (r.forge, r.owner.as_str(), r.repo.as_str()),
            ("github", "acme", "api")
        );
        assert_eq!(r.sha, git.head());
        assert_eq!(r.target_url, "http://127.0.0.1:8080/acme/api/1");
    }
    let overall = build["statuses"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["context"] == PUSH))
        .expect("the overall status is on the build");
    assert_eq!(overall["state"], "success");
    assert_eq!(overall["delivery"], "posted");
    assert_eq!(overall["description"], "Build is passing");
    assert_eq!(overall["attempts"], 1);
}

#[tokio::test]
async fn a_failing_pipeline_shows_failure_on_gitea_and_the_passing_one_success() {
    let forge = ForgeStandIn::start(TOKEN).await;
    // Gitea's API root is taken as given (Forgejo is the same API).
    let settings = json!({ "kind": "forgejo", "token": TOKEN, "api_url": forge.url });
    let pipeline = two_pipelines("false", "true");
    let (app, _git, build) = built(TestDatabase::sqlite(), |_| {}, &pipeline, settings).await;
    assert_eq!(build["status"], "failure");
    settled_statuses(&app, 3).await;

    assert_eq!(forge.states(PUSH), ["pending", "failure"]);
    assert_eq!(
        forge.states(&format!("{PUSH}/build")),
        ["pending", "failure"]
    );
    assert_eq!(
        forge.states(&format!("{PUSH}/test")),
        ["pending", "success"]
    );
    assert!(forge.received().iter().all(|r| r.forge == "gitea"));
}

#[tokio::test]
async fn a_cancelled_build_ends_as_error_overall_and_for_its_running_pipeline() {
    let forge = ForgeStandIn::start(TOKEN).await;
    let pipeline = "kind: pipeline\ntype: exec\nname: slow\nclone: {disable: true}\nsteps:\n- name: nap\n  commands: [sleep 30]\n";
    let (app, git, secret) = ready(TestDatabase::sqlite(), |_| {}, pipeline, github(&forge)).await;
    app.push("acme/api", &secret, &git, "main", "d-1").await;
    let slow = format!("{PUSH}/slow");
    forge
        .wait_until("the pipeline pending", |got| {
            got.iter()
                .any(|r| r.context == slow && r.state == "pending")
        })
        .await;
    let (status, _) = app
        .call(Method::DELETE, "/api/repos/acme/api/builds/1", None)
        .await;
    assert_eq!(status, 200);
    settled_statuses(&app, 2).await;

    assert_eq!(forge.states(PUSH), ["pending", "error"]);
    assert_eq!(forge.states(&slow), ["pending", "error"]);
    let last = forge.received().into_iter().rfind(|r| r.context == PUSH);
    assert_eq!(last.expect("posted").description, "Build was cancelled");
}

#[tokio::test]
async fn posts_that_fail_are_tried_again_until_the_forge_takes_them() {
    let forge = ForgeStandIn::start(TOKEN).await;
    forge.fail_next(2);
    let settings = json!({ "kind": "gitea", "token": TOKEN, "api_url": forge.url });
    let pipeline = "kind: pipeline\ntype: exec\nname: one\nclone: {disable: true}\nsteps:\n- name: a\n  commands: [sleep 1]\n";
    let (app, _git, build) = built(TestDatabase::sqlite(), |_| {}, pipeline, settings).await;
    assert_eq!(build["status"], "success");
    settled_statuses(&app, 2).await;

    let failed = forge.received().iter().filter(|r| r.answer == 502).count();
    assert_eq!(failed, 2, "{:#?}", forge.received());
    assert_eq!(forge.states(PUSH), ["pending", "success"]);
    assert_eq!(forge.states(&format!("{PUSH}/one")), ["pending", "success"]);
}

#[tokio::test]
async fn a_refused_token_shows_on_the_build_without_the_token_and_is_not_retried() {
    let forge = ForgeStandIn::start("the-right-token").await;
    let pipeline = two_pipelines("true", "true");
    let (app, _git, build) = built(TestDatabase::sqlite(), |_| {}, &pipeline, github(&forge)).await;
    assert_eq!(build["status"], "success");
    let build = settled_statuses(&app, 3).await;

    for s in build["statuses"].as_array().expect("statuses") {
        assert_eq!(s["delivery"], "failed", "{s}");
        assert_eq!(s["attempts"], 1, "a 401 is not worth a retry: {s}");
        let error = s["error"].as_str().expect("an error");
        assert!(error.contains("401"), "{error}");
        assert!(!error.contains(TOKEN), "{error}");
    }
}

#[tokio::test]
async fn a_dead_forge_never_fails_or_delays_the_build() {
    // A port nothing listens on.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("address"))
    };
    let settings = json!({ "kind": "gitea", "token": TOKEN, "api_url": dead });
    let pipeline = two_pipelines("true", "true");
    let three = |c: &mut Config| c.statuses.attempts = 3;
    let (app, _git, build) = built(TestDatabase::sqlite(), three, &pipeline, settings).await;
    assert_eq!(build["status"], "success");
    let build = settled_statuses(&app, 3).await;
    for s in build["statuses"].as_array().expect("statuses") {
        assert_eq!(s["delivery"], "failed", "{s}");
        assert_eq!(s["attempts"], 3, "{s}");
        let error = s["error"].as_str().expect("error");
        assert!(error.contains("could not be reached"), "{s}");
    }
}

#[tokio::test]
async fn forge_credentials_are_for_repository_admins_and_never_shown() {
    let app = server(TestDatabase::sqlite(), |_| {}).await;
    let git = GitRepo::with_pipeline(&two_pipelines("true", "true"));
    app.activate("acme/api", &git).await;
    let put = |body: Value| app.call(Method::PUT, "/api/repos/acme/api/forge", Some(body));
    let (status, body) = put(json!({ "kind": "gitlab", "token": TOKEN })).await;
    assert_eq!(status, 422, "{body}");
    let message = body["message"].as_str().expect("message");
    assert!(message.contains("github, gitea or forgejo"), "{message}");
    // The clone URL is a local path: Gitea's server cannot be guessed from it.
    let (status, body) = put(json!({ "kind": "gitea", "token": TOKEN })).await;
    assert_eq!(status, 422, "{body}");
    set_forge(&app, json!({ "kind": "github", "token": TOKEN })).await;
    let shown = app.get("/api/repos/acme/api/forge").await;
    assert_eq!(shown["kind"], "github");
    assert_eq!(shown["token_set"], true);
    assert!(!shown.to_string().contains(TOKEN));
    let anonymous = app
        .call_as(None, Method::GET, "/api/repos/acme/api/forge", None)
        .await;
    assert_eq!(anonymous.0, 401);
    let (status, _) = app
        .call(Method::DELETE, "/api/repos/acme/api/forge", None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .call(Method::GET, "/api/repos/acme/api/forge", None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn statuses_reach_the_forge_on_postgresql_too() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let forge = ForgeStandIn::start(TOKEN).await;
    let pipeline = two_pipelines("true", "false");
    let (app, _git, build) = built(db, |_| {}, &pipeline, github(&forge)).await;
    assert_eq!(build["status"], "failure");
    settled_statuses(&app, 3).await;
    assert_eq!(forge.states(PUSH), ["pending", "failure"]);
    assert_eq!(
        forge.states(&format!("{PUSH}/build")),
        ["pending", "success"]
    );
    assert_eq!(
        forge.states(&format!("{PUSH}/test")),
        ["pending", "failure"]
    );
}

/// A forge stand-in that knows a GitHub App (id 4242, installation 77), and the server setting
/// that points at the App's key, written to `dir`.
async fn forge_with_app(dir: &std::path::Path) -> (ForgeStandIn, GitHubAppSettings) {
    let forge = ForgeStandIn::start("no-repository-token").await;
    let (pem, app) = new_app("4242", 77);
    *forge.shared.app.lock().expect("lock") = Some(app);
    let key_file = dir.join("app.pem");
    std::fs::write(&key_file, pem).expect("write the App key");
    let settings = GitHubAppSettings {
        id: "4242".into(),
        key_file,
    };
    (forge, settings)
}

async fn statuses_go_out_as_the_github_app(database: TestDatabase) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (forge, settings) = forge_with_app(dir.path()).await;
    let body = json!({ "kind": "github", "github_app": true, "api_url": forge.github_api() });
    let pipeline = two_pipelines("true", "true");
    let with_app = move |c: &mut Config| c.statuses.github_app = Some(settings);
    let (app, _git, build) = built(database, with_app, &pipeline, body).await;
    assert_eq!(build["status"], "success");
    settled_statuses(&app, 3).await;

    assert_eq!(forge.states(PUSH), ["pending", "success"]);
    assert_eq!(
        forge.states(&format!("{PUSH}/test")),
        ["pending", "success"]
    );
    let (issued, requests) = {
        let stand_in = forge.shared.app.lock().expect("lock");
        let stand_in = stand_in.as_ref().expect("app");
        (stand_in.issued.len(), stand_in.token_requests.clone())
    };
    assert_eq!(issued, 1, "one token serves the whole build");
    assert_eq!(
        requests[0],
        json!({ "repositories": ["api"], "permissions": { "statuses": "write" } }),
        "the token is narrowed to the repository and to statuses"
    );
    let shown = app.get("/api/repos/acme/api/forge").await;
    assert_eq!(
        (&shown["github_app"], &shown["token_set"]),
        (&json!(true), &json!(false))
    );
}

#[tokio::test]
async fn a_repository_can_post_its_statuses_as_the_servers_github_app() {
    statuses_go_out_as_the_github_app(TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn a_repository_can_post_its_statuses_as_the_github_app_on_postgresql_too() {
    if let Some(db) = TestDatabase::postgres().await {
        statuses_go_out_as_the_github_app(db).await;
    }
}

#[tokio::test]
async fn an_installation_token_github_revoked_is_replaced_by_a_new_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (forge, settings) = forge_with_app(dir.path()).await;
    let body = json!({
        "kind": "github", "github_app": true, "installation_id": 77, "api_url": forge.github_api(),
    });
    let pipeline = "kind: pipeline\ntype: exec\nname: one\nclone: {disable: true}\nsteps:\n- name: a\n  commands: [\"true\"]\n";
    let with_app = move |c: &mut Config| c.statuses.github_app = Some(settings);
    let (app, git, secret) = ready(TestDatabase::sqlite(), with_app, pipeline, body).await;
    app.push("acme/api", &secret, &git, "main", "d-1").await;
    app.wait_for_build("acme/api", 1).await;
    settled_statuses(&app, 2).await;
    for (_, revoked) in &mut forge
        .shared
        .app
        .lock()
        .expect("lock")
        .as_mut()
        .expect("app")
        .issued
    {
        *revoked = true;
    }

    git.commit("b.txt", "b", "second");
    app.push("acme/api", &secret, &git, "main", "d-2").await;
    app.wait_for_build("acme/api", 2).await;
    let build = settled_statuses_of(&app, 2, 2).await;
    for s in build["statuses"].as_array().expect("statuses") {
        assert_eq!(s["delivery"], "posted", "{s}");
    }
    let refused = forge.received().iter().filter(|r| r.answer == 401).count();
    assert!(
        refused >= 1,
        "the revoked token was tried: {:#?}",
        forge.received()
    );
    let issued = forge
        .shared
        .app
        .lock()
        .expect("lock")
        .as_ref()
        .expect("app")
        .issued
        .len();
    assert_eq!(issued, 2, "a new token replaced the revoked one");
}

#[tokio::test]
async fn the_github_app_is_refused_where_the_server_has_none() {
    let app = server(TestDatabase::sqlite(), |_| {}).await;
    let git = GitRepo::with_pipeline(&two_pipelines("true", "true"));
    app.activate("acme/api", &git).await;
    let put = |body: Value| app.call(Method::PUT, "/api/repos/acme/api/forge", Some(body));
    let (status, body) = put(json!({ "kind": "github", "github_app": true })).await;
    assert_eq!(status, 422, "{body}");
    let message = body["message"].as_str().expect("message");
    assert!(message.contains("github_app_id"), "{message}");
    let (status, body) = put(json!({ "kind": "gitea", "github_app": true })).await;
    assert_eq!(status, 422, "{body}");
}
