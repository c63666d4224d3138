//! Token material: the one function that mints random tokens, and the hash tokens are stored
//! and looked up by.

use rand::RngCore;
use sha2::Digest;

/// A fresh random token: 32 bytes from a cryptographically secure generator (seeded by the
/// operating system), as 64 hex digits.
pub fn mint() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The stored form of a token: SHA-256, hex. Tokens are random and long, so a fast hash is
/// enough (there is nothing to guess from).
pub fn hash(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_are_long_and_different() {
        let a = mint();
        let b = mint();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }

    #[test]
    fn the_hash_does_not_contain_the_token() {
        let t = mint();
        assert!(!hash(&t).contains(&t));
        assert_eq!(hash(&t), hash(&t));
    }
}
