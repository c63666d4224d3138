use super::*;

const ADA: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKFYTOHhjjCQnoGo+ZIEoknsaY7KMVriMFMzCl+GFXJt ada@x\n";

#[tokio::test]
async fn an_ssh_key_is_read_with_the_fingerprint_ssh_keygen_shows() {
    let key = parse(ADA).await.expect("an SSH key");
    assert_eq!(key.kind, "ssh");
    // `ssh-keygen -lf` says the same.
    assert_eq!(
        key.fingerprint,
        "SHA256:qosUDR1uuVfUzB+A9BgwriX8Wg1FY9cJmHPSxy/9Y+M"
    );
    assert_eq!(
        key.public_key,
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKFYTOHhjjCQnoGo+ZIEoknsaY7KMVriMFMzCl+GFXJt"
    );
}

#[tokio::test]
async fn what_is_not_a_public_key_is_refused_with_what_was_expected() {
    for (text, expected) in [
        ("", "not an SSH public key"),
        ("ssh-dss AAAAB3NzaC1kc3M=", "is not an SSH key type"),
        ("ssh-ed25519 not-base64!", "not base64"),
        (
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIKFYTOHhjjCQnoGo+ZIEoknsaY7KMVriMFMzCl+GFXJt",
            "not a ssh-rsa key",
        ),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----",
            "one line",
        ),
    ] {
        let err = parse(text).await.expect_err(text);
        assert!(err.contains(expected), "{text:?}: {err}");
    }
}

#[test]
fn the_signer_is_the_registered_owner_of_the_key_that_signed() {
    let keys = vec![
        UserKey {
            id: 1,
            login: "ada".into(),
            kind: "ssh".into(),
            fingerprint: "SHA256:x".into(),
            public_key: String::new(),
            created: 0,
        },
        UserKey {
            id: 2,
            login: "bob".into(),
            kind: "gpg".into(),
            fingerprint: "276BD257334D7240234AA9ED25538ABBF841380B".into(),
            public_key: String::new(),
            created: 0,
        },
    ];
    let ssh = "Good \"git\" signature for ada with ED25519 key SHA256:x\n";
    assert_eq!(signer(ssh, &keys), Some("ada"));
    let gpg = "[GNUPG:] GOODSIG 25538ABBF841380B Bob <b@x>\n[GNUPG:] VALIDSIG 276BD257334D7240234AA9ED25538ABBF841380B 2026-11-26 1795676371 0 4 0 22 8 00 276BD257334D7240234AA9ED25538ABBF841380B\n";
    assert_eq!(signer(gpg, &keys), Some("bob"));
    assert_eq!(
        signer(
            "Good \"git\" signature with ED25519 key SHA256:y\nNo principal matched.\n",
            &keys
        ),
        None
    );
}
