//! Stories of builds: steps and stages in order, failures, conditions, cancellation, limits,
//! manual starts and restarts, logs.

use crate::support::{GitRepo, TestApp, step};
use reqwest::Method;
use std::time::Duration;

async fn repo_with(app: &TestApp, pipeline: &str) -> GitRepo {
    let git = GitRepo::with_pipeline(pipeline);
    app.activate("acme/api", &git).await;
    git
}

#[tokio::test]
async fn a_failing_step_fails_the_build_and_skips_the_steps_after_it_except_failure_handlers() {
    let app = TestApp::spawn().await;
    let _git = repo_with(
        &app,
        r#"kind: pipeline
type: exec
clone: {disable: true}
steps:
- name: build
  commands: [echo building, "false", echo never]
- name: test
  commands: [echo testing]
- name: report
  commands: [echo "reporting $DRONE_BUILD_STATUS"]
  when: {status: [failure]}
"#,
    )
    .await;
    app.start_build("acme/api", "main").await;
    let build = app.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "failure");
    assert_eq!(step(&build, 1, "build")["status"], "failure");
    assert_eq!(step(&build, 1, "build")["exit_code"], 1);
    assert_eq!(step(&build, 1, "test")["status"], "skipped");
    assert_eq!(step(&build, 1, "report")["status"], "success");
    let log = app.log_text("acme/api", 1, 1, 1).await;
    assert!(
        log.contains("building") && !log.contains("never\n"),
        "{log}"
    );
    assert!(
        app.log_text("acme/api", 1, 1, 3)
            .await
            .contains("reporting failure")
    );
}

#[tokio::test]
async fn steps_that_name_their_dependencies_run_as_a_graph() {
    let app = TestApp::spawn().await;
    let _git = repo_with(
        &app,
        r#"kind: pipeline
type: exec
clone: {disable: true}
steps:
- name: a
  commands: [sleep 0.3, touch ../a.done]
- name: b
  commands: [touch ../b.done]
- name: c
  commands: [test -f ../a.done, test -f ../b.done]
  depends_on: [a, b]
"#,
    )
    .await;
    app.start_build("acme/api", "main").await;
    let build = app.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "success", "{build}");
    // b does not wait for a: it names no dependency, so it starts at once.
    assert_eq!(
        step(&build, 1, "c")["depends_on"],
        serde_json::json!(["a", "b"])
    );
    assert!(step(&build, 1, "b")["depends_on"].is_null());
}

#[tokio::test]
async fn stages_run_after_the_stages_they_depend_on_and_failure_handlers_run_only_on_failure() {
    let app = TestApp::spawn().await;
    let _git = repo_with(
        &app,
        r#"kind: pipeline
type: exec
name: build
clone: {disable: true}
steps:
- name: compile
  commands: ["false"]
---
kind: pipeline
type: exec
name: deploy
clone: {disable: true}
depends_on: [build]
steps:
- name: ship
  commands: [echo shipping]
---
kind: pipeline
type: exec
name: notify
clone: {disable: true}
depends_on: [build]
trigger:
  status: [failure]
steps:
- name: page
  commands: [echo paging]
"#,
    )
    .await;
    app.start_build("acme/api", "main").await;
    let build = app.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "failure");
    let stages = build["stages"].as_array().expect("stages");
    let status =
        |name: &str| stages.iter().find(|s| s["name"] == name).expect(name)["status"].clone();
    assert_eq!(status("build"), "failure");
    assert_eq!(status("deploy"), "skipped");
    assert_eq!(status("notify"), "success");
}

#[tokio::test]
async fn a_pipeline_whose_trigger_does_not_match_is_left_out() {
    let app = TestApp::spawn().await;
    let git = repo_with(
        &app,
        r#"kind: pipeline
type: exec
name: everywhere
clone: {disable: true}
steps:
- name: hi
  commands: [echo hi]
---
kind: pipeline
type: exec
name: release-only
clone: {disable: true}
trigger:
  branch:
    include: [release/**]
steps:
- name: release
  commands: [echo release]
"#,
    )
    .await;
    app.start_build("acme/api", "main").await;
    let build = app.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "success");
    assert_eq!(build["stages"].as_array().map(Vec::len), Some(1));
    git.branch("release/v1/final");
    git.push("release/v1/final");
    app.start_build("acme/api", "release/v1/final").await;
    let build = app.wait_for_build("acme/api", 2).await;
    assert_eq!(build["stages"].as_array().map(Vec::len), Some(2), "{build}");
}

#[tokio::test]
async fn a_docker_pipeline_waits_and_says_no_runner_of_its_type_is_attached() {
    let app = TestApp::spawn().await;
    let _git = repo_with(
        &app,
        "kind: pipeline\ntype: docker\nsteps:\n- name: build\n  image: golang\n  commands: [go build]\n",
    )
    .await;
    app.start_build("acme/api", "main").await;
    let build = app
        .wait_until("acme/api", 1, |b| {
            b["stages"].as_array().is_some_and(|s| !s.is_empty())
        })
        .await;
    assert_eq!(build["status"], "pending");
    assert_eq!(build["stages"][0]["status"], "pending");
    let error = build["stages"][0]["error"].as_str().expect("a message");
    assert!(error.contains("no runner of type docker"), "{error}");
}

#[tokio::test]
async fn a_yaml_error_ends_the_build_with_the_message_and_its_position() {
    let app = TestApp::spawn().await;
    let _git = repo_with(
        &app,
        "kind: pipeline\ntype: exec\nsteps:\n- name: x\n  commands: [echo\n",
    )
    .await;
    app.start_build("acme/api", "main").await;
    let build = app.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "error");
    let error = build["error"].as_str().expect("an error");
    assert!(error.starts_with(".drone.yml: line "), "{error}");
    assert!(error.contains("column"), "{error}");
}

#[tokio::test]
async fn cancelling_a_build_stops_its_running_step_and_its_children() {
    let app = TestApp::spawn().await;
    let marker = app.data.path().join("child.pid");
    let _git = repo_with(
        &app,
        &format!(
            "kind: pipeline\ntype: exec\nclone: {{disable: true}}\nsteps:\n- name: forever\n  commands:\n  - sleep 300 &\n  - echo $! > {}\n  - sleep 300\n- name: after\n  commands: [echo no]\n",
            marker.display()
        ),
    )
    .await;
    app.start_build("acme/api", "main").await;
    app.wait_until("acme/api", 1, |b| {
        b["stages"][0]["steps"][0]["status"] == "running"
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !marker.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the step never started its child"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, cancelled) = app
        .call(Method::DELETE, "/api/repos/acme/api/builds/1", None)
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "killed");
    let build = app
        .wait_until("acme/api", 1, |b| {
            b["stages"][0]["steps"][0]["status"] == "killed"
        })
        .await;
    assert_eq!(build["status"], "killed");
    assert_eq!(step(&build, 1, "after")["status"], "skipped");
    let child: i32 = std::fs::read_to_string(&marker)
        .expect("pid")
        .trim()
        .parse()
        .expect("a pid");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{child}")).exists() && !is_zombie(child) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the step's child {child} survived the cancel"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, _) = app
        .call(Method::DELETE, "/api/repos/acme/api/builds/1", None)
        .await;
    assert_eq!(status, 409, "cancelling a finished build is a conflict");
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

#[tokio::test]
async fn a_step_past_the_repository_timeout_is_stopped_and_the_build_errors() {
    let app = TestApp::spawn().await;
    let _git = repo_with(&app, "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: slow\n  commands: [sleep 600]\n").await;
    let (status, _) = app
        .call(
            Method::PATCH,
            "/api/repos/acme/api",
            Some(serde_json::json!({ "timeout": 1 })),
        )
        .await;
    assert_eq!(status, 200);
    app.start_build("acme/api", "main").await;
    let build = app
        .wait_within("acme/api", 1, 120, |b| {
            crate::support::is_done(&b["status"])
        })
        .await;
    assert_eq!(build["status"], "error", "{build}");
    assert!(
        build["stages"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out"))
    );
    assert_eq!(step(&build, 1, "slow")["status"], "killed");
}

#[tokio::test]
async fn binary_junk_and_endless_lines_still_make_a_readable_log() {
    let app = TestApp::spawn().await;
    let _git = repo_with(
        &app,
        "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: junk\n  commands:\n  - head -c 20000 /dev/urandom\n  - head -c 200000 /dev/zero | tr '\\\\0' x\n  - echo\n  - echo done\n",
    )
    .await;
    app.start_build("acme/api", "main").await;
    let build = app.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "success", "{build}");
    let lines = app.get("/api/repos/acme/api/builds/1/logs/1/1").await;
    let lines = lines.as_array().expect("lines");
    assert!(
        lines
            .iter()
            .all(|l| l["out"].as_str().is_some_and(|o| o.len() <= 4 * 65536))
    );
    assert_eq!(
        lines.last().map(|l| l["out"].clone()),
        Some("done\n".into())
    );
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["pos"], i as i64);
    }
}

#[tokio::test]
async fn output_past_the_log_limit_is_cut_with_a_visible_marker() {
    let app = TestApp::spawn_with(crate::support::database::TestDatabase::sqlite(), |c| {
        c.log_limit = 1000
    })
    .await;
    let _git = repo_with(&app, "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: chatty\n  commands: [\"seq 1 5000\"]\n").await;
    app.start_build("acme/api", "main").await;
    let build = app.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "success");
    let log = app.log_text("acme/api", 1, 1, 1).await;
    assert!(log.len() < 1200, "{} bytes kept", log.len());
    assert!(log.trim_end().ends_with("the rest is not kept"), "{log}");
}

#[tokio::test]
async fn a_manual_build_passes_its_parameters_and_refuses_reserved_ones() {
    let app = TestApp::spawn().await;
    let _git = repo_with(
        &app,
        "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: env\n  commands:\n  - 'echo \"v=$VERSION event=$DRONE_BUILD_EVENT admin=${HANGAR_ADMIN_TOKEN:-unset}\"'\n",
    )
    .await;
    let (status, build) = app
        .call(
            Method::POST,
            "/api/repos/acme/api/builds?branch=main&VERSION=1.2",
            None,
        )
        .await;
    assert_eq!(status, 200, "{build}");
    assert_eq!(build["params"]["VERSION"], "1.2");
    let build = app.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "success");
    assert!(
        app.log_text("acme/api", 1, 1, 1)
            .await
            .contains("v=1.2 event=custom admin=unset")
    );
    let (status, reply) = app
        .call(
            Method::POST,
            "/api/repos/acme/api/builds?branch=main&LD_PRELOAD=x",
            None,
        )
        .await;
    assert_eq!(status, 422, "{reply}");
    let (status, _) = app
        .call(Method::POST, "/api/repos/acme/api/builds?branch=nope", None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn restarting_a_build_makes_a_new_build_with_the_old_one_as_parent() {
    let app = TestApp::spawn().await;
    let _git = repo_with(&app, "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: ok\n  commands: [true]\n").await;
    app.start_build("acme/api", "main").await;
    let first = app.wait_for_build("acme/api", 1).await;
    let (status, again) = app
        .call(Method::POST, "/api/repos/acme/api/builds/1", None)
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["number"], 2);
    assert_eq!(again["parent"], 1);
    assert_eq!(again["after"], first["after"]);
    assert_eq!(app.wait_for_build("acme/api", 2).await["status"], "success");
}

#[tokio::test]
async fn the_api_needs_a_token_and_answers_unknown_things_with_404() {
    let app = TestApp::spawn().await;
    let (status, reply) = app.call_as(None, Method::GET, "/api/repos", None).await;
    assert_eq!(status, 401, "{reply}");
    let (status, _) = app
        .call_as(Some("wrong"), Method::GET, "/api/repos", None)
        .await;
    assert_eq!(status, 401);
    let (status, _) = app.call(Method::GET, "/api/repos/acme/none", None).await;
    assert_eq!(status, 404);
    let (status, _) = app
        .call(Method::GET, "/api/repos/acme/none/builds/x", None)
        .await;
    assert_eq!(status, 400);
    let (status, health) = app.call_as(None, Method::GET, "/healthz", None).await;
    assert_eq!((status, health), (200, serde_json::json!("ok")));
}

#[tokio::test]
async fn live_logs_stream_as_server_sent_events_and_end_with_eof() {
    let app = TestApp::spawn().await;
    let _git = repo_with(
        &app,
        "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: talk\n  commands: [echo one, sleep 0.5, echo two]\n",
    )
    .await;
    app.start_build("acme/api", "main").await;
    app.wait_until("acme/api", 1, |b| {
        b["stages"][0]["steps"][0]["status"] == "running"
    })
    .await;
    let resp = app
        .http
        .get(format!("{}/api/stream/acme/api/1/1/1", app.url))
        .bearer_auth(crate::support::ADMIN_TOKEN)
        .send()
        .await
        .expect("stream");
    assert_eq!(resp.status(), 200);
    let body = tokio::time::timeout(Duration::from_secs(30), resp.text())
        .await
        .expect("ends")
        .expect("text");
    assert!(body.contains(r#""out":"one\n""#), "{body}");
    assert!(body.contains(r#""out":"two\n""#), "{body}");
    assert!(
        body.trim_end().ends_with("event: error\ndata: eof"),
        "{body}"
    );
}

#[tokio::test]
async fn a_configuration_over_ten_mebibytes_ends_the_build_as_an_error() {
    let app = TestApp::spawn().await;
    let mut big =
        String::from("kind: pipeline\ntype: exec\nsteps:\n- name: a\n  commands: [true]\n");
    big.push_str(&format!("# {}\n", "x".repeat(11 << 20)));
    let _git = repo_with(&app, &big).await;
    app.start_build("acme/api", "main").await;
    let build = app.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "error");
    let error = build["error"].as_str().expect("an error");
    assert!(error.contains("10 MiB"), "{error}");
}

#[tokio::test]
async fn a_push_builds_on_postgresql_too() {
    let Some(database) = crate::support::database::TestDatabase::postgres().await else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must set HANGAR_TEST_DATABASE_URL"
        );
        eprintln!("skipped: HANGAR_TEST_DATABASE_URL is not set");
        return;
    };
    let app = TestApp::spawn_with(database, |_| {}).await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nname: build\nsteps:\n- name: test\n  commands: [test -f .drone.yml, echo ok]\n---\nkind: pipeline\ntype: exec\nname: after\nclone: {disable: true}\ndepends_on: [build]\nsteps:\n- name: done\n  commands: [echo done]\n",
    );
    let repo = app.activate("acme/api", &git).await;
    let secret = repo["webhook_secret"].as_str().expect("secret");
    app.push("acme/api", secret, &git, "main", "pg-1").await;
    let build = app.wait_for_build("acme/api", 1).await;
    assert_eq!(build["status"], "success", "{build}");
    assert_eq!(build["stages"][1]["status"], "success");
    assert!(app.log_text("acme/api", 1, 1, 2).await.contains("ok\n"));
}

#[tokio::test]
async fn every_change_of_a_build_leaves_an_audit_event_and_metrics_count_builds() {
    let app = TestApp::spawn().await;
    let _git = repo_with(&app, "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: ok\n  commands: [true]\n").await;
    app.start_build("acme/api", "main").await;
    assert_eq!(app.wait_for_build("acme/api", 1).await["status"], "success");
    let store = hangar::store::Store::connect(&app.database.url(app.data.path()))
        .await
        .expect("store");
    let actions: Vec<String> = store
        .list_audit(0, 1000)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.action)
        .collect();
    for expected in [
        "repo.activated",
        "build.created",
        "stage.queued",
        "stage.leased",
        "build.started",
        "step.started",
        "step.finished",
        "stage.finished",
        "build.finished",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "no {expected} in {actions:?}"
        );
    }
    store.close().await;
    let resp = app
        .http
        .get(format!("{}/metrics", app.url))
        .bearer_auth(crate::support::ADMIN_TOKEN)
        .send()
        .await
        .expect("metrics");
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("text");
    for metric in [
        "hangar_builds_finished_total",
        "hangar_queue_depth",
        "hangar_step_duration_seconds",
        "hangar_http_request_duration_seconds",
    ] {
        assert!(text.contains(metric), "no {metric} in /metrics");
    }
    let (status, _) = app.call_as(None, Method::GET, "/metrics", None).await;
    assert_eq!(status, 401);
}
