//! GitHub's events.

use super::*;

#[test]
fn a_github_push_becomes_a_push_hook() {
    let hook = build(Forge::GitHub, &github("push"), GITHUB_PUSH);
    assert_eq!(
        hook,
        Hook {
            delivery_id: "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
            repo_full_name: "octo-org/hello-world".into(),
            event: Some(Event::Push),
            action: "".into(),
            git_ref: "refs/heads/main".into(),
            before: "6113728f27ae82c7b1a177c8d03f9e96e0adf246".into(),
            after: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c".into(),
            source: "main".into(),
            target: "main".into(),
            source_repo: "octo-org/hello-world".into(),
            pull_request: 0,
            fork: false,
            title: "".into(),
            message: "Serve the health check on /healthz\n\nLoad balancers probe this path.".into(),
            link: "https://github.com/octo-org/hello-world/compare/6113728f27ae...0d1a26e67d8f"
                .into(),
            // 2024-05-01T13:50:15+02:00
            timestamp: 1_714_564_215,
            author_login: "octocat".into(),
            author_name: "Mona Lisa Octocat".into(),
            author_email: "octocat@github.example".into(),
            author_avatar: "https://avatars.githubusercontent.com/u/583231?v=4".into(),
            sender: "octocat".into(),
        }
    );
}

#[test]
fn a_github_push_by_someone_else_than_the_author_has_no_author_avatar() {
    let body = GITHUB_PUSH.replace("\"login\": \"octocat\"", "\"login\": \"hubot\"");
    let hook = build(Forge::GitHub, &github("push"), &body);
    assert_eq!(hook.author_login, "octocat");
    assert_eq!(hook.sender, "hubot");
    assert_eq!(hook.author_avatar, "");
}

#[test]
fn a_commit_author_without_an_account_is_credited_to_the_sender() {
    let body = GITHUB_PUSH.replace("\"username\": \"octocat\"", "\"username\": null");
    let hook = build(Forge::GitHub, &github("push"), &body);
    assert_eq!(hook.author_login, "octocat");
    assert_eq!(hook.author_name, "Mona Lisa Octocat");
    assert_eq!(
        hook.author_avatar,
        "https://avatars.githubusercontent.com/u/583231?v=4"
    );
}

#[test]
fn a_github_tag_push_becomes_a_tag_hook_on_the_tagged_commit() {
    let hook = build(Forge::GitHub, &github("push"), GITHUB_TAG);
    assert_eq!(hook.event, Some(Event::Tag));
    assert_eq!(hook.action, "create");
    assert_eq!(hook.git_ref, "refs/tags/v1.4.0");
    assert_eq!(hook.source, "v1.4.0");
    assert_eq!(hook.target, "v1.4.0");
    // The payload's `after` is the annotated tag object; the build runs on its commit.
    assert_eq!(hook.after, "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c");
    assert_eq!(hook.before, "0000000000000000000000000000000000000000");
    assert_eq!(hook.author_login, "octocat");
    assert_eq!(hook.author_avatar, "");
    assert_eq!(hook.sender, "hubot");
    assert_eq!(
        hook.link,
        "https://github.com/octo-org/hello-world/compare/v1.4.0"
    );
}

#[test]
fn a_github_tag_creation_event_is_ignored_so_that_the_tag_builds_once() {
    let reason = ignored(Forge::GitHub, &github("create"), GITHUB_CREATE_TAG);
    assert_eq!(reason, "tags are built from their push event");
}

#[test]
fn a_deleted_github_branch_builds_nothing() {
    let reason = ignored(Forge::GitHub, &github("push"), GITHUB_BRANCH_DELETE);
    assert_eq!(reason, "branch deleted");
}

#[test]
fn a_push_marked_deleted_builds_nothing_even_with_an_after_sha() {
    let body = GITHUB_PUSH.replace("\"deleted\": false", "\"deleted\": true");
    assert_eq!(
        ignored(Forge::GitHub, &github("push"), &body),
        "branch deleted"
    );
}

#[test]
fn a_github_ping_is_answered_with_pong() {
    assert_eq!(ignored(Forge::GitHub, &github("ping"), GITHUB_PING), "pong");
}

#[test]
fn a_github_pull_request_from_a_fork_becomes_a_pull_request_hook() {
    let hook = build(Forge::GitHub, &github("pull_request"), GITHUB_PR_OPENED);
    assert_eq!(
        hook,
        Hook {
            delivery_id: "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
            repo_full_name: "octo-org/hello-world".into(),
            event: Some(Event::PullRequest),
            action: "opened".into(),
            git_ref: "refs/pull/42/head".into(),
            before: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c".into(),
            after: "5f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e".into(),
            source: "retry-downloads".into(),
            target: "main".into(),
            source_repo: "forkfan/hello-world".into(),
            pull_request: 42,
            fork: true,
            title: "Retry flaky downloads".into(),
            message: "Retry flaky downloads".into(),
            link: "https://github.com/octo-org/hello-world/pull/42".into(),
            // 2024-05-02T08:15:30Z
            timestamp: 1_714_637_730,
            author_login: "forkfan".into(),
            author_name: "".into(),
            author_email: "".into(),
            author_avatar: "https://avatars.githubusercontent.com/u/1234987?v=4".into(),
            sender: "forkfan".into(),
        }
    );
}

#[test]
fn a_github_synchronize_is_named_synchronized_as_in_drone() {
    let hook = build(
        Forge::GitHub,
        &github("pull_request"),
        GITHUB_PR_SYNCHRONIZE,
    );
    assert_eq!(hook.action, "synchronized");
    assert_eq!(hook.pull_request, 43);
    assert_eq!(hook.git_ref, "refs/pull/43/head");
    assert_eq!(hook.after, "77aa10c3d4e5f60718293a4b5c6d7e8f90a1b2c3");
    assert_eq!(hook.source, "cache-index");
    assert_eq!(hook.source_repo, "octo-org/hello-world");
    assert!(!hook.fork);
}

#[test]
fn a_reopened_github_pull_request_builds() {
    let body = GITHUB_PR_OPENED.replacen("\"opened\"", "\"reopened\"", 1);
    assert_eq!(
        build(Forge::GitHub, &github("pull_request"), &body).action,
        "reopened"
    );
}

#[test]
fn a_closed_github_pull_request_builds_nothing() {
    let reason = ignored(Forge::GitHub, &github("pull_request"), GITHUB_PR_CLOSED);
    assert_eq!(reason, "pull request action closed is not built");
}

#[test]
fn other_github_pull_request_actions_build_nothing() {
    for action in [
        "edited",
        "labeled",
        "assigned",
        "ready_for_review",
        "synchronized",
    ] {
        let body = GITHUB_PR_OPENED.replacen("\"opened\"", &format!("\"{action}\""), 1);
        let reason = ignored(Forge::GitHub, &github("pull_request"), &body);
        assert_eq!(reason, format!("pull request action {action} is not built"));
    }
}

#[test]
fn a_pull_request_from_a_deleted_fork_counts_as_a_fork() {
    let mut value: serde_json::Value =
        serde_json::from_str(GITHUB_PR_OPENED).expect("the fixture is JSON");
    value["action"] = "synchronize".into();
    value["pull_request"]["head"]["repo"] = serde_json::Value::Null;
    let hook = build(Forge::GitHub, &github("pull_request"), &value.to_string());
    assert!(hook.fork);
    assert_eq!(hook.source_repo, "");
}

#[test]
fn an_event_hangar_does_not_build_is_ignored_without_reading_the_body() {
    let reason = ignored(Forge::GitHub, &github("issues"), "not even json");
    assert_eq!(reason, "event issues is not built");
    let reason = ignored(Forge::GitHub, &github("delete"), "{}");
    assert_eq!(reason, "event delete is not built");
}
