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

/// The cost of turning away a forged webhook: name the repository, check the signature. Run
/// by hand: `cargo test --release --lib cost_of_refusing -- --ignored --nocapture`.
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
