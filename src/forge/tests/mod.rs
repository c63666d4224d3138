//! The forge module against hand-written payloads in the forges' documented shapes
//! (`tests/data/hooks/`).

use http::{HeaderMap, HeaderName, HeaderValue};

use super::*;

mod bad_payloads;
mod gitea;
mod github;
mod repo_names;
mod signatures;

const GITHUB_PUSH: &str = include_str!("../../../tests/data/hooks/github_push.json");
const GITHUB_TAG: &str = include_str!("../../../tests/data/hooks/github_tag.json");
const GITHUB_BRANCH_DELETE: &str =
    include_str!("../../../tests/data/hooks/github_branch_delete.json");
const GITHUB_PING: &str = include_str!("../../../tests/data/hooks/github_ping.json");
const GITHUB_CREATE_TAG: &str = include_str!("../../../tests/data/hooks/github_create_tag.json");
const GITHUB_PR_OPENED: &str =
    include_str!("../../../tests/data/hooks/github_pull_request_opened.json");
const GITHUB_PR_SYNCHRONIZE: &str =
    include_str!("../../../tests/data/hooks/github_pull_request_synchronize.json");
const GITHUB_PR_CLOSED: &str =
    include_str!("../../../tests/data/hooks/github_pull_request_closed.json");
const GITEA_PUSH: &str = include_str!("../../../tests/data/hooks/gitea_push.json");
const GITEA_PUSH_WITHOUT_HEAD_COMMIT: &str =
    include_str!("../../../tests/data/hooks/gitea_push_without_head_commit.json");
const GITEA_TAG: &str = include_str!("../../../tests/data/hooks/gitea_tag.json");
const GITEA_TAG_DELETE: &str = include_str!("../../../tests/data/hooks/gitea_tag_delete.json");
const GITEA_CREATE_TAG: &str = include_str!("../../../tests/data/hooks/gitea_create_tag.json");
const GITEA_PR: &str = include_str!("../../../tests/data/hooks/gitea_pull_request.json");
const GITEA_PR_SYNCHRONIZED: &str =
    include_str!("../../../tests/data/hooks/gitea_pull_request_synchronized.json");
const GITEA_PR_LABEL_UPDATED: &str =
    include_str!("../../../tests/data/hooks/gitea_pull_request_label_updated.json");

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
