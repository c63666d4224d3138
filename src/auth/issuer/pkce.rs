//! Proof Key for Code Exchange (RFC 7636), S256 only: `plain` would show the verifier to
//! whoever sees the authorization request, so it is refused, as is a request without a
//! challenge.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The only transform accepted.
pub const METHOD: &str = "S256";

/// Whether `s` is 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`: the
/// shape of a verifier (RFC 7636 §4.1).
pub fn is_verifier(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `s` looks like an S256 challenge: the unpadded base64url of a SHA-256 digest.
pub fn is_challenge(s: &str) -> bool {
    s.len() == 43
        && URL_SAFE_NO_PAD
            .decode(s)
            .is_ok_and(|digest| digest.len() == 32)
}

/// The S256 challenge of a verifier.
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `verifier` answers `challenge` (compared in constant time). A missing challenge
/// never matches: a verifier sent for a request that had none is a downgrade attempt.
pub fn verify(challenge_stored: &str, verifier: &str) -> bool {
    if challenge_stored.is_empty() || !is_verifier(verifier) {
        return false;
    }
    challenge(verifier)
        .as_bytes()
        .ct_eq(challenge_stored.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_example_verifier_matches_its_challenge() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(is_challenge(challenge));
        assert!(verify(challenge, verifier));
    }

    #[test]
    fn a_wrong_verifier_does_not_match() {
        let challenge = challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert!(!verify(
            &challenge,
            "aBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ));
    }

    #[test]
    fn a_verifier_without_a_stored_challenge_is_refused() {
        assert!(!verify("", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
    }

    #[test]
    fn a_plain_challenge_equal_to_the_verifier_is_refused() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(!verify(verifier, verifier));
    }

    #[test]
    fn short_or_odd_verifiers_are_refused() {
        assert!(!is_verifier("short"));
        assert!(!is_verifier(&"a".repeat(129)));
        assert!(!is_verifier(&format!("{}+", "a".repeat(43))));
        assert!(is_verifier(&"a~._-".repeat(9)));
    }

    #[test]
    fn a_challenge_must_be_a_sha256_digest() {
        assert!(!is_challenge("abc"));
        assert!(!is_challenge(&"*".repeat(43)));
    }
}
