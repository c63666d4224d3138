//! The forge module against hand-written payloads in the forges' documented shapes
//! (`tests/data/hooks/`).

use http::{HeaderMap, HeaderName, HeaderValue};

use super::*;

const GITHUB_PUSH: &str = include_str!("../../tests/data/hooks/github_push.json");
const GITHUB_TAG: &str = include_str!("../../tests/data/hooks/github_tag.json");
const GITHUB_BRANCH_DELETE: &str = include_str!("../../tests/data/hooks/github_branch_delete.json");
const GITHUB_PING: &str = include_str!("../../tests/data/hooks/github_ping.json");
const GITHUB_CREATE_TAG: &str = include_str!("../../tests/data/hooks/github_create_tag.json");
const GITHUB_PR_OPENED: &str =
    include_str!("../../tests/data/hooks/github_pull_request_opened.json");
const GITHUB_PR_SYNCHRONIZE: &str =
    include_str!("../../tests/data/hooks/github_pull_request_synchronize.json");
const GITHUB_PR_CLOSED: &str =
    include_str!("../../tests/data/hooks/github_pull_request_closed.json");
const GITEA_PUSH: &str = include_str!("../../tests/data/hooks/gitea_push.json");
const GITEA_PUSH_WITHOUT_HEAD_COMMIT: &str =
    include_str!("../../tests/data/hooks/gitea_push_without_head_commit.json");
const GITEA_TAG: &str = include_str!("../../tests/data/hooks/gitea_tag.json");
const GITEA_TAG_DELETE: &str = include_str!("../../tests/data/hooks/gitea_tag_delete.json");
const GITEA_CREATE_TAG: &str = include_str!("../../tests/data/hooks/gitea_create_tag.json");
const GITEA_PR: &str = include_str!("../../tests/data/hooks/gitea_pull_request.json");
const GITEA_PR_SYNCHRONIZED: &str =
    include_str!("../../tests/data/hooks/gitea_pull_request_synchronized.json");
const GITEA_PR_LABEL_UPDATED: &str =
    include_str!("../../tests/data/hooks/gitea_pull_request_label_updated.json");

const SECRET: &[u8] = b"s3cr3t-webhook-key";

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
            HeaderValue::from_str(value).expect("a header value"),
        );
    }
    map
}

fn github(event: &str) -> HeaderMap {
    headers(&[
        ("X-GitHub-Event", event),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ("X-GitHub-Hook-ID", "478123901"),
    ])
}

/// What Gitea sends: its own headers and GitHub's and Gogs' for compatibility.
fn gitea(event: &str) -> HeaderMap {
    headers(&[
        ("X-Gitea-Event", event),
        ("X-Gitea-Event-Type", event),
        ("X-Gitea-Delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"),
        ("X-GitHub-Event", event),
        ("X-GitHub-Delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"),
        ("X-Gogs-Event", event),
    ])
}

fn build(forge: Forge, headers: &HeaderMap, body: &str) -> Hook {
    match parse(forge, headers, body.as_bytes()) {
        Ok(Parsed::Build(hook)) => *hook,
        other => panic!("expected a build, got {other:?}"),
    }
}

fn ignored(forge: Forge, headers: &HeaderMap, body: &str) -> String {
    match parse(forge, headers, body.as_bytes()) {
        Ok(Parsed::Ignore(reason)) => reason,
        other => panic!("expected an ignored event, got {other:?}"),
    }
}

fn with_signature(mut map: HeaderMap, name: &str, value: &str) -> HeaderMap {
    map.insert(
        HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
        HeaderValue::from_str(value).expect("a header value"),
    );
    map
}

fn signed(forge: Forge, map: HeaderMap, body: &str, secret: &[u8]) -> HeaderMap {
    let (name, value) = sign(forge, body.as_bytes(), secret);
    with_signature(map, name, &value)
}

// --- which forge -----------------------------------------------------------------------------

#[test]
fn a_github_event_header_means_github() {
    assert_eq!(forge_of(&github("push")), Some(Forge::GitHub));
}

#[test]
fn gitea_is_recognised_although_it_also_sends_github_headers() {
    assert_eq!(forge_of(&gitea("push")), Some(Forge::Gitea));
}

#[test]
fn forgejo_is_served_as_gitea() {
    let forgejo = headers(&[("X-Forgejo-Event", "push"), ("X-GitHub-Event", "push")]);
    assert_eq!(forge_of(&forgejo), Some(Forge::Gitea));
}

#[test]
fn a_request_without_an_event_header_is_from_no_forge() {
    assert_eq!(forge_of(&headers(&[("X-Gogs-Event", "push")])), None);
    assert_eq!(forge_of(&HeaderMap::new()), None);
}

// --- repository name before the signature ----------------------------------------------------

#[test]
fn the_repository_name_is_read_from_any_payload() {
    for (body, name) in [
        (GITHUB_PUSH, "octo-org/hello-world"),
        (GITHUB_PR_OPENED, "octo-org/hello-world"),
        (GITHUB_PING, "octo-org/hello-world"),
        (GITEA_PUSH, "infra/deployer"),
        (GITEA_PR, "infra/deployer"),
    ] {
        assert_eq!(repo_full_name(body.as_bytes()).as_deref(), Some(name));
    }
}

#[test]
fn a_repository_name_with_escapes_is_unescaped() {
    let body = br#"{"repository":{"full_name":"octo-org\/hello-world"}}"#;
    assert_eq!(
        repo_full_name(body).as_deref(),
        Some("octo-org/hello-world")
    );
}

#[test]
fn a_body_without_a_repository_name_names_none() {
    for body in [
        &b""[..],
        b"not json",
        b"[]",
        b"{}",
        b"{\"repository\":null}",
        b"{\"repository\":{\"full_name\":null}}",
        b"{\"repository\":{\"full_name\":\"\"}}",
        b"{\"repository\":{\"full_name\":42}}",
        b"{\"repository\":\"a/b\"}",
        b"{\"full_name\":\"a/b\"}",
        b"{\"sender\":{\"full_name\":\"a/b\"}}",
        b"{\"repository\":{\"owner\":{\"full_name\":\"a/b\"}}}",
        b"{\"junk\":[1,2,}, \"repository\":{\"full_name\":\"a/b\"}}",
    ] {
        assert_eq!(
            repo_full_name(body),
            None,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn only_the_top_level_repository_names_the_repository() {
    let body =
        br#"{"pull_request":{"repository":{"full_name":"x/y"},"head":{"repo":{"full_name":"f/k"}}},
                    "repository":{"id":1,"owner":{"full_name":"Owner"},"full_name":"a/b"}}"#;
    assert_eq!(repo_full_name(body).as_deref(), Some("a/b"));
}

#[test]
fn reading_the_repository_name_stops_at_the_name() {
    // What follows the name is not read: the signature check that comes next refuses a
    // malformed body anyway, and `parse` reads the signed body in full.
    let body = br#"{"ref":"refs/heads/main","repository":{"full_name":"a/b","x":"#;
    assert_eq!(repo_full_name(body).as_deref(), Some("a/b"));
}

#[test]
fn a_repository_name_after_a_large_value_is_found() {
    let body = format!(
        r#"{{"commits":[{}{{}}],"repository":{{"full_name":"a/b"}}}}"#,
        r#"{"id":"0d1a26e6","message":"a \"quoted\" line\n","added":[1,2.5,true,null]},"#
            .repeat(10_000)
    );
    assert_eq!(repo_full_name(body.as_bytes()).as_deref(), Some("a/b"));
}

// --- signatures ------------------------------------------------------------------------------

#[test]
fn a_github_signature_made_with_the_secret_is_accepted() {
    let map = signed(Forge::GitHub, github("push"), GITHUB_PUSH, SECRET);
    assert!(verify_signature(
        Forge::GitHub,
        &map,
        GITHUB_PUSH.as_bytes(),
        SECRET
    ));
}

#[test]
fn a_gitea_signature_made_with_the_secret_is_accepted() {
    let map = signed(Forge::Gitea, gitea("push"), GITEA_PUSH, SECRET);
    assert!(verify_signature(
        Forge::Gitea,
        &map,
        GITEA_PUSH.as_bytes(),
        SECRET
    ));
}

#[test]
fn a_forgejo_signature_header_is_accepted() {
    let (_, value) = sign(Forge::Gitea, GITEA_PUSH.as_bytes(), SECRET);
    let map = with_signature(gitea("push"), "X-Forgejo-Signature", &value);
    assert!(verify_signature(
        Forge::Gitea,
        &map,
        GITEA_PUSH.as_bytes(),
        SECRET
    ));
}

#[test]
fn a_gitea_that_sends_only_the_github_signature_is_accepted() {
    let (_, value) = sign(Forge::GitHub, GITEA_PUSH.as_bytes(), SECRET);
    let map = with_signature(gitea("push"), "X-Hub-Signature-256", &value);
    assert!(verify_signature(
        Forge::Gitea,
        &map,
        GITEA_PUSH.as_bytes(),
        SECRET
    ));
}

#[test]
fn an_upper_case_hex_signature_is_accepted() {
    let (_, value) = sign(Forge::Gitea, GITEA_PUSH.as_bytes(), SECRET);
    let map = with_signature(gitea("push"), "X-Gitea-Signature", &value.to_uppercase());
    assert!(verify_signature(
        Forge::Gitea,
        &map,
        GITEA_PUSH.as_bytes(),
        SECRET
    ));
}

#[test]
fn a_signature_made_with_another_secret_is_refused() {
    for forge in [Forge::GitHub, Forge::Gitea] {
        let map = signed(forge, github("push"), GITHUB_PUSH, b"another secret");
        assert!(!verify_signature(
            forge,
            &map,
            GITHUB_PUSH.as_bytes(),
            SECRET
        ));
    }
}

#[test]
fn a_signature_over_another_body_is_refused() {
    let map = signed(Forge::GitHub, github("push"), GITHUB_PUSH, SECRET);
    let tampered = GITHUB_PUSH.replace("refs/heads/main", "refs/heads/release");
    assert!(!verify_signature(
        Forge::GitHub,
        &map,
        tampered.as_bytes(),
        SECRET
    ));
}

#[test]
fn a_missing_signature_is_refused() {
    assert!(!verify_signature(
        Forge::GitHub,
        &github("push"),
        GITHUB_PUSH.as_bytes(),
        SECRET
    ));
    assert!(!verify_signature(
        Forge::Gitea,
        &gitea("push"),
        GITEA_PUSH.as_bytes(),
        SECRET
    ));
}

#[test]
fn a_github_signature_in_a_gitea_header_is_not_looked_for_on_github() {
    // GitHub signs only in X-Hub-Signature-256; a Gitea header on a GitHub delivery is noise.
    let (_, value) = sign(Forge::Gitea, GITHUB_PUSH.as_bytes(), SECRET);
    let map = with_signature(github("push"), "X-Gitea-Signature", &value);
    assert!(!verify_signature(
        Forge::GitHub,
        &map,
        GITHUB_PUSH.as_bytes(),
        SECRET
    ));
}

#[test]
fn a_malformed_signature_is_refused() {
    let (_, good) = sign(Forge::Gitea, GITEA_PUSH.as_bytes(), SECRET);
    let github_cases = [
        good.clone(),                      // no sha256= prefix
        format!("sha1={good}"),            // another algorithm
        format!("sha256={}", &good[..62]), // too short
        format!("sha256={good}00"),        // too long
        format!("sha256={}zz", &good[..62]),
        "sha256=".to_owned(),
        String::new(),
    ];
    for value in github_cases {
        let map = with_signature(github("push"), "X-Hub-Signature-256", &value);
        assert!(
            !verify_signature(Forge::GitHub, &map, GITEA_PUSH.as_bytes(), SECRET),
            "{value}"
        );
    }
    let gitea_cases = [
        format!("sha256={good}"),
        good[..63].to_owned(),
        "🙂".to_owned(),
    ];
    for value in gitea_cases {
        let mut map = gitea("push");
        map.insert(
            "x-gitea-signature",
            HeaderValue::from_bytes(value.as_bytes()).expect("a header value"),
        );
        assert!(
            !verify_signature(Forge::Gitea, &map, GITEA_PUSH.as_bytes(), SECRET),
            "{value}"
        );
    }
}

#[test]
fn an_empty_secret_accepts_nothing() {
    let map = signed(Forge::GitHub, github("push"), GITHUB_PUSH, b"");
    assert!(!verify_signature(
        Forge::GitHub,
        &map,
        GITHUB_PUSH.as_bytes(),
        b""
    ));
}

// --- GitHub ----------------------------------------------------------------------------------

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

// --- Gitea and Forgejo -----------------------------------------------------------------------

#[test]
fn a_gitea_push_becomes_a_push_hook() {
    let hook = build(Forge::Gitea, &gitea("push"), GITEA_PUSH);
    assert_eq!(
        hook,
        Hook {
            delivery_id: "f6266f16-1bf3-46a5-9ea4-602e06ead473".into(),
            repo_full_name: "infra/deployer".into(),
            event: Some(Event::Push),
            action: "".into(),
            git_ref: "refs/heads/develop".into(),
            before: "28e1879d029cb852e4844d9c718537df08844e03".into(),
            after: "bffeb74224043ba2feb48d137756c8a9331c449a".into(),
            source: "develop".into(),
            target: "develop".into(),
            source_repo: "infra/deployer".into(),
            pull_request: 0,
            fork: false,
            title: "".into(),
            message: "Read the inventory from the environment\n".into(),
            link: "https://git.example.org/infra/deployer/compare/\
                   28e1879d029cb852e4844d9c718537df08844e03...\
                   bffeb74224043ba2feb48d137756c8a9331c449a"
                .into(),
            // 2024-05-01T16:20:05+02:00
            timestamp: 1_714_573_205,
            author_login: "ada".into(),
            author_name: "Ada Builder".into(),
            author_email: "ada@example.org".into(),
            author_avatar: "https://git.example.org/avatars/9ac1e0b2".into(),
            sender: "ada".into(),
        }
    );
}

#[test]
fn an_older_gitea_push_without_head_commit_takes_the_last_commit() {
    let hook = build(Forge::Gitea, &gitea("push"), GITEA_PUSH_WITHOUT_HEAD_COMMIT);
    assert_eq!(hook.message, "Read the inventory from the environment\n");
    assert_eq!(hook.after, "bffeb74224043ba2feb48d137756c8a9331c449a");
    assert_eq!(hook.timestamp, 1_714_573_205);
}

#[test]
fn a_gitea_push_without_compare_link_links_to_the_commit() {
    let body = GITEA_PUSH.replace(
        "\"compare_url\": \"https://git.example.org/infra/deployer/compare/",
        "\"compare_url\": \"\", \"unused\": \"",
    );
    let hook = build(Forge::Gitea, &gitea("push"), &body);
    assert_eq!(
        hook.link,
        "https://git.example.org/infra/deployer/commit/bffeb74224043ba2feb48d137756c8a9331c449a"
    );
}

#[test]
fn a_gitea_tag_push_becomes_a_tag_hook() {
    let hook = build(Forge::Gitea, &gitea("push"), GITEA_TAG);
    assert_eq!(hook.event, Some(Event::Tag));
    assert_eq!(hook.action, "create");
    assert_eq!(hook.git_ref, "refs/tags/v2.0.1");
    assert_eq!(hook.source, "v2.0.1");
    assert_eq!(hook.after, "bffeb74224043ba2feb48d137756c8a9331c449a");
    assert_eq!(hook.message, "Read the inventory from the environment\n");
}

#[test]
fn a_gitea_tag_creation_event_is_ignored_so_that_the_tag_builds_once() {
    let reason = ignored(Forge::Gitea, &gitea("create"), GITEA_CREATE_TAG);
    assert_eq!(reason, "tags are built from their push event");
}

#[test]
fn a_deleted_gitea_tag_builds_nothing() {
    assert_eq!(
        ignored(Forge::Gitea, &gitea("push"), GITEA_TAG_DELETE),
        "tag deleted"
    );
}

#[test]
fn a_gitea_pull_request_from_a_fork_is_marked_as_a_fork() {
    let hook = build(Forge::Gitea, &gitea("pull_request"), GITEA_PR);
    assert_eq!(
        hook,
        Hook {
            delivery_id: "f6266f16-1bf3-46a5-9ea4-602e06ead473".into(),
            repo_full_name: "infra/deployer".into(),
            event: Some(Event::PullRequest),
            action: "opened".into(),
            git_ref: "refs/pull/7/head".into(),
            before: "bffeb74224043ba2feb48d137756c8a9331c449a".into(),
            after: "e1d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d5e".into(),
            source: "dry-run".into(),
            target: "main".into(),
            source_repo: "grace/deployer".into(),
            pull_request: 7,
            fork: true,
            title: "Support a dry run".into(),
            message: "Support a dry run".into(),
            link: "https://git.example.org/infra/deployer/pulls/7".into(),
            // 2024-05-02T09:41:00+02:00
            timestamp: 1_714_635_660,
            author_login: "grace".into(),
            author_name: "Grace Contributor".into(),
            author_email: "grace@example.net".into(),
            author_avatar: "https://git.example.org/avatars/51d0c7aa".into(),
            sender: "grace".into(),
        }
    );
}

#[test]
fn a_gitea_pull_request_with_new_commits_is_synchronized() {
    let hook = build(Forge::Gitea, &gitea("pull_request"), GITEA_PR_SYNCHRONIZED);
    assert_eq!(hook.action, "synchronized");
    assert_eq!(hook.after, "f00dfacecafe0123456789abcdef0123456789ab");
}

#[test]
fn a_gitea_pull_request_label_change_builds_nothing() {
    let reason = ignored(Forge::Gitea, &gitea("pull_request"), GITEA_PR_LABEL_UPDATED);
    assert_eq!(reason, "pull request action label_updated is not built");
}

#[test]
fn forgejo_headers_alone_are_enough() {
    let forgejo = headers(&[
        ("X-Forgejo-Event", "push"),
        ("X-Forgejo-Delivery", "0b9b1b34-7f2c-4c1e-9a55-3d6c8c1f2e10"),
    ]);
    let hook = build(Forge::Gitea, &forgejo, GITEA_PUSH);
    assert_eq!(hook.delivery_id, "0b9b1b34-7f2c-4c1e-9a55-3d6c8c1f2e10");
    assert_eq!(hook.event, Some(Event::Push));
}

// --- bad payloads ----------------------------------------------------------------------------

#[test]
fn a_delivery_without_an_event_header_is_refused() {
    let error =
        parse(Forge::GitHub, &HeaderMap::new(), GITHUB_PUSH.as_bytes()).expect_err("refused");
    assert_eq!(error, ParseError::Header("X-GitHub-Event"));
    assert_eq!(
        error.to_string(),
        "missing or unreadable X-GitHub-Event header"
    );
}

#[test]
fn malformed_json_is_refused_with_its_position() {
    let body = "{\n  \"ref\": \"refs/heads/main\",\n  \"after\": }";
    let error = parse(Forge::GitHub, &github("push"), body.as_bytes()).expect_err("refused");
    assert_eq!(
        error,
        ParseError::Json {
            line: 3,
            column: 12,
            reason: "expected value".into()
        }
    );
    assert_eq!(
        error.to_string(),
        "invalid JSON payload at line 3 column 12: expected value"
    );
}

#[test]
fn a_field_of_the_wrong_type_is_refused_with_its_position() {
    let body = r#"{"ref": 12}"#;
    let error = parse(Forge::GitHub, &github("push"), body.as_bytes()).expect_err("refused");
    assert!(
        matches!(&error, ParseError::Json { line: 1, column: 10, reason } if reason.starts_with("invalid type: integer `12`")),
        "{error:?}"
    );
}

#[test]
fn a_push_without_a_ref_is_refused() {
    let error = parse(Forge::GitHub, &github("push"), b"{}").expect_err("refused");
    assert_eq!(error, ParseError::MissingField("ref"));
    assert_eq!(error.to_string(), "the payload has no ref");
}

#[test]
fn a_push_without_a_repository_is_refused() {
    let body = r#"{"ref": "refs/heads/main", "after": "0d1a26e6"}"#;
    let error = parse(Forge::Gitea, &gitea("push"), body.as_bytes()).expect_err("refused");
    assert_eq!(error, ParseError::MissingField("repository.full_name"));
}

#[test]
fn a_pull_request_without_a_head_commit_is_refused() {
    let mut value: serde_json::Value = serde_json::from_str(GITEA_PR).expect("the fixture is JSON");
    value["pull_request"]["head"]["sha"] = serde_json::Value::Null;
    let error = parse(
        Forge::Gitea,
        &gitea("pull_request"),
        value.to_string().as_bytes(),
    );
    assert_eq!(
        error.expect_err("refused"),
        ParseError::MissingField("pull_request.head.sha")
    );
}

#[test]
fn a_push_to_a_ref_that_is_neither_branch_nor_tag_builds_nothing() {
    let body = GITHUB_PUSH.replace("refs/heads/main", "refs/notes/commits");
    let reason = ignored(Forge::GitHub, &github("push"), &body);
    assert_eq!(reason, "only pushes to branches and tags are built");
}

#[test]
fn a_minimal_push_builds_with_empty_details() {
    let body = r#"{"ref":"refs/heads/main","after":"abc","repository":{"full_name":"a/b"},
                   "head_commit":null,"commits":null,"sender":null,"pusher":{"login":null}}"#;
    let hook = build(Forge::GitHub, &github("push"), body);
    assert_eq!(hook.after, "abc");
    assert_eq!(hook.message, "");
    assert_eq!(hook.author_login, "");
}

#[test]
fn deeply_nested_json_is_refused_without_overflowing_the_stack() {
    let depth = 100_000;
    let body = format!(
        "{{\"ref\":\"refs/heads/main\",\"junk\":{}{}}}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    assert!(parse(Forge::GitHub, &github("push"), body.as_bytes()).is_err());
    assert!(repo_full_name(body.as_bytes()).is_none());
}

#[test]
fn a_timestamp_of_an_unexpected_shape_reads_as_zero() {
    for timestamp in ["\"yesterday\"", "1714564215", "null", "{\"a\":[1]}", "1.5"] {
        let body = format!(
            r#"{{"ref":"refs/heads/main","after":"abc","repository":{{"full_name":"a/b"}},
                "head_commit":{{"id":"abc","timestamp":{timestamp}}}}}"#
        );
        let hook = build(Forge::GitHub, &github("push"), &body);
        let expected = if timestamp == "1714564215" {
            1_714_564_215
        } else {
            0
        };
        assert_eq!(hook.timestamp, expected, "{timestamp}");
    }
}

/// The cost of turning away a forged webhook: name the repository, check the signature. Run
/// by hand: `cargo test --release --lib forge::tests::cost -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, run by hand"]
fn cost_of_refusing_a_forged_webhook() {
    fn per_call(rounds: u32, mut work: impl FnMut()) -> f64 {
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            work();
        }
        start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
    }
    // The push as GitHub orders it (`repository` fourth), and with its keys sorted, which puts
    // `repository` after `commits` and `head_commit`: a forger can always put it last.
    let sorted: serde_json::Value = serde_json::from_str(GITHUB_PUSH).expect("the fixture is JSON");
    let sorted = sorted.to_string();
    let forged = with_signature(
        github("push"),
        "X-Hub-Signature-256",
        &format!("sha256={}", "ab".repeat(32)),
    );
    for (label, body) in [
        ("github push", GITHUB_PUSH),
        ("github push, repository last", sorted.as_str()),
        ("github pull request", GITHUB_PR_OPENED),
    ] {
        let body = body.as_bytes();
        let rounds = 100_000;
        let name = per_call(rounds, || {
            std::hint::black_box(repo_full_name(std::hint::black_box(body)));
        });
        let verify = per_call(rounds, || {
            std::hint::black_box(verify_signature(
                Forge::GitHub,
                &forged,
                std::hint::black_box(body),
                SECRET,
            ));
        });
        let both = per_call(rounds, || {
            let refused = repo_full_name(std::hint::black_box(body)).is_some()
                && !verify_signature(Forge::GitHub, &forged, body, SECRET);
            assert!(refused);
        });
        println!(
            "{label} ({} bytes): {both:.2} us per forged webhook \
             (name {name:.2} us, signature {verify:.2} us)",
            body.len()
        );
    }
}
