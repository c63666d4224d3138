//! Local users' passwords: Argon2id hashes in the PHC string format (the `argon2` crate's
//! defaults: 19 MiB, 2 passes, 1 lane, as OWASP recommends), salts from the one token source,
//! generated passwords, and the lock policy after repeated failures.
//!
//! Verification is constant-time inside the crate; for an unknown user a dummy hash is verified
//! so the answer takes as long as for a known one.

use crate::config::Secret;
use anyhow::anyhow;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::OnceLock;

/// Shortest password accepted when one is given (generated ones are longer).
pub const MIN_LENGTH: usize = 8;
/// Longest password accepted (hashing cost is bounded anyway; this bounds the input).
pub const MAX_LENGTH: usize = 1024;
/// Consecutive failures before an account locks.
pub const LOCK_AFTER: i64 = 5;
/// The first lock; each further failure doubles it, up to [`LOCK_MAX_MS`].
const LOCK_FIRST_MS: i64 = 60_000;
const LOCK_MAX_MS: i64 = 3_600_000;

fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// The Argon2id hash of `password`, as a PHC string.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt_bytes = hex::decode(&crate::auth::token::mint()[..32])?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow!("salt: {e}"))?;
    Ok(hasher()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow!("hashing a password: {e}"))?
        .to_string())
}

/// Whether `password` matches `phc` (an unreadable hash never matches).
pub fn verify(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the time of one verification without a real account, so an unknown login cannot
/// be told from a wrong password by timing.
pub fn verify_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("not a real account's password").unwrap_or_default());
    let _ = verify(phc, password);
}

/// A fresh password: 96 random bits as six groups of four hex digits.
pub fn generate() -> Secret {
    let raw = crate::auth::token::mint();
    let groups: Vec<&str> = (0..6).map(|i| &raw[i * 4..i * 4 + 4]).collect();
    Secret::new(groups.join("-"))
}

/// Checks a password someone chose.
pub fn check_strength(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LENGTH {
        return Err(format!("a password needs at least {MIN_LENGTH} characters"));
    }
    if password.len() > MAX_LENGTH {
        return Err(format!("a password may have at most {MAX_LENGTH} bytes"));
    }
    Ok(())
}

/// Until when an account is locked after its `failures`-th consecutive failure (0 = not).
pub fn locked_until(failures: i64, now: i64) -> i64 {
    if failures < LOCK_AFTER {
        return 0;
    }
    let doublings = u32::try_from((failures - LOCK_AFTER).min(10)).unwrap_or(10);
    now + (LOCK_FIRST_MS << doublings).min(LOCK_MAX_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_right_password_verifies_and_a_wrong_one_does_not() {
        let phc = hash("correct horse battery").expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
        assert!(verify(&phc, "correct horse battery"));
        assert!(!verify(&phc, "correct horse batterY"));
        assert!(!verify(&phc, ""));
    }

    #[test]
    fn the_same_password_hashes_differently_each_time() {
        assert_ne!(hash("same").expect("a"), hash("same").expect("b"));
    }

    #[test]
    fn an_unreadable_hash_never_verifies() {
        assert!(!verify("", "x"));
        assert!(!verify("$argon2id$garbage", "x"));
    }

    #[test]
    fn generated_passwords_are_long_and_different() {
        let a = generate();
        assert_eq!(a.expose().len(), 29);
        assert_ne!(a.expose(), generate().expose());
        assert!(check_strength(a.expose()).is_ok());
        assert_eq!(format!("{a:?}"), "<redacted>");
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_strength("1234567").is_err());
        assert!(check_strength(&"x".repeat(MAX_LENGTH + 1)).is_err());
    }

    #[test]
    fn the_lock_starts_after_five_failures_and_grows_to_an_hour() {
        assert_eq!(locked_until(4, 1_000), 0);
        assert_eq!(locked_until(5, 1_000), 61_000);
        assert_eq!(locked_until(6, 1_000), 121_000);
        assert_eq!(locked_until(50, 1_000), 3_601_000);
    }
}
