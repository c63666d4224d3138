//! Stories of private repositories: clone credentials set through the API and never read back,
//! used by the server to read `.drone.yml` and by the clone step (as Drone's `DRONE_NETRC_*`)
//! against a git server that wants basic auth, and masked in logs.

use crate::support::database::TestDatabase;
use crate::support::git_http::GitHttp;
use crate::support::{GitRepo, TestApp, step};
use reqwest::Method;
use serde_json::json;

const USER: &str = "ci-bot";
const TOKEN: &str = "clone-t0ken-8d1f3a";

/// A step after the clone: it gets no clone credentials.
const PIPELINE: &str = "kind: pipeline\ntype: exec\nsteps:\n- name: check\n  commands:\n  - test -f .drone.yml\n  - 'echo \"netrc here: ${DRONE_NETRC_PASSWORD:-none}\"'\n";

async fn a_private_repository_builds_with_its_clone_credentials_on(database: TestDatabase) {
    let app = TestApp::spawn_with(database, |_| {}).await;
    let git = GitRepo::with_pipeline(PIPELINE);
    let root = git.bare.parent().expect("a parent folder");
    let server = GitHttp::serve(root, USER, TOKEN).await;
    let url = format!("{}/origin.git", server.url);
    let (status, body) = app
        .call(
            Method::POST,
            "/api/repos/acme/private",
            Some(json!({ "clone_url": url, "default_branch": "main" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Without credentials the server cannot read the repository (and git does not prompt).
    let (status, _) = app
        .call(
            Method::POST,
            "/api/repos/acme/private/builds?branch=main",
            None,
        )
        .await;
    assert_ne!(status, 200);
    assert_eq!(server.seen().0, 0);
    assert_eq!(
        app.get("/api/repos/acme/private/netrc").await,
        json!({"set": false, "machine": "127.0.0.1"})
    );

    // Set, they are never read back.
    let (status, set) = app
        .call(
            Method::PUT,
            "/api/repos/acme/private/netrc",
            Some(json!({"username": USER, "password": TOKEN})),
        )
        .await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set, json!({"set": true, "machine": "127.0.0.1"}));
    let (status, refused) = app
        .call(
            Method::PUT,
            "/api/repos/acme/private/netrc",
            Some(json!({"username": USER})),
        )
        .await;
    assert_eq!(status, 400, "{refused}");

    // The server reads .drone.yml with them; the clone step clones with them.
    let build = app.start_build("acme/private", "main").await;
    let number = build["number"].as_i64().expect("number");
    let build = app.wait_for_build("acme/private", number).await;
    assert_eq!(build["status"], "success", "{build}");
    assert!(
        server.seen().0 >= 2,
        "the server and the clone step authenticated"
    );
    let clone = app.log_text("acme/private", number, 1, 1).await;
    let check = app.log_text("acme/private", number, 1, 2).await;
    assert!(check.contains("netrc here: none"), "{check}");
    assert_eq!(step(&build, 1, "clone")["status"], "success");
    let everything = format!(
        "{clone}{check}{}{}",
        build,
        app.get("/api/repos/acme/private/netrc").await
    );
    assert!(
        !everything.contains(TOKEN),
        "the token showed: {everything}"
    );

    // Removed, once.
    let (status, _) = app
        .call(Method::DELETE, "/api/repos/acme/private/netrc", None)
        .await;
    assert_eq!(status, 204);
    let (status, gone) = app
        .call(Method::DELETE, "/api/repos/acme/private/netrc", None)
        .await;
    assert_eq!(status, 404, "{gone}");
    let audit = app.get("/api/audit?action=repo.netrc_*").await;
    let text = audit.to_string();
    assert!(
        text.contains("repo.netrc_set") && text.contains("repo.netrc_deleted"),
        "{text}"
    );
    assert!(!text.contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_repository_builds_with_its_clone_credentials() {
    a_private_repository_builds_with_its_clone_credentials_on(TestDatabase::sqlite()).await;
    if let Some(postgres) = TestDatabase::postgres().await {
        a_private_repository_builds_with_its_clone_credentials_on(postgres).await;
    }
}

#[tokio::test]
async fn credentials_of_a_repository_on_this_machine_name_no_machine() {
    let app = TestApp::spawn().await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nclone:\n  disable: true\nsteps:\n- name: only\n  commands:\n  - echo hi\n",
    );
    app.activate("acme/local", &git).await;
    let (status, set) = app
        .call(
            Method::PUT,
            "/api/repos/acme/local/netrc",
            Some(json!({"username": USER, "password": TOKEN})),
        )
        .await;
    assert_eq!(status, 200, "{set}");
    // A path has no machine: the credentials are kept but neither git nor a step gets them.
    assert_eq!(set, json!({"set": true, "machine": null}));
}
