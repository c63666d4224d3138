//! Naming the repository of a delivery before its signature is checked.

use super::*;

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

#[test]
fn a_hook_builds_the_repository_whose_name_chose_the_secret() {
    let deliveries = [
        (Forge::GitHub, github("push"), GITHUB_PUSH),
        (Forge::GitHub, github("push"), GITHUB_TAG),
        (Forge::GitHub, github("pull_request"), GITHUB_PR_OPENED),
        (Forge::Gitea, gitea("push"), GITEA_PUSH),
        (Forge::Gitea, gitea("push"), GITEA_TAG),
        (Forge::Gitea, gitea("pull_request"), GITEA_PR),
    ];
    for (forge, headers, body) in deliveries {
        let hook = build(forge, &headers, body);
        assert_eq!(
            repo_full_name(body.as_bytes()).as_deref(),
            Some(hook.repo_full_name.as_str())
        );
    }
}

#[test]
fn a_body_naming_two_repositories_is_refused_by_the_parser() {
    // The name reader takes the first; the parser must not build the second.
    let body = r#"{"ref":"refs/heads/main","after":"abc","repository":{"full_name":"mine/repo"},
                   "repository":{"full_name":"victim/repo"}}"#;
    assert_eq!(
        repo_full_name(body.as_bytes()).as_deref(),
        Some("mine/repo")
    );
    assert!(parse(Forge::GitHub, &github("push"), body.as_bytes()).is_err());

    let body = r#"{"ref":"refs/heads/main","after":"abc",
                   "repository":{"full_name":"mine/repo","full_name":"victim/repo"}}"#;
    assert_eq!(
        repo_full_name(body.as_bytes()).as_deref(),
        Some("mine/repo")
    );
    assert!(parse(Forge::GitHub, &github("push"), body.as_bytes()).is_err());
}
