//! Payloads that are not what a forge sends, and the cost of refusing forged ones.

use super::*;

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
