//! Signatures: accepted only when made with the secret over this body.

use super::*;

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
