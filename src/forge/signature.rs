//! Webhook signatures: the hex HMAC-SHA256 of the body under the repository's webhook secret,
//! compared in constant time so that the time a refusal takes tells nothing about how close a
//! forged signature came.
//!
//! This runs for every delivery, forged ones included, before the body is parsed: it reads one
//! header, decodes at most 32 bytes and hashes the body once, and allocates nothing.

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;

use super::Forge;

/// Headers carrying the signature, in the order they are looked for. Gitea sends its own
/// header and, since 1.17, GitHub's as well; Forgejo sends its own and Gitea's.
const GITHUB_HEADERS: &[&str] = &["x-hub-signature-256"];
const GITEA_HEADERS: &[&str] = &[
    "x-gitea-signature",
    "x-forgejo-signature",
    "x-hub-signature-256",
];

/// Whether the body was signed with `secret`, as `forge` signs webhooks.
///
/// A missing, unreadable or malformed signature header is a refusal, and so is an empty
/// secret: anyone can compute an HMAC under the empty key.
pub fn verify_signature(forge: Forge, headers: &HeaderMap, body: &[u8], secret: &[u8]) -> bool {
    if secret.is_empty() {
        return false;
    }
    let names = match forge {
        Forge::GitHub => GITHUB_HEADERS,
        Forge::Gitea => GITEA_HEADERS,
    };
    // The first header present decides: a request carrying a bad signature in one header does
    // not get a second try with another.
    let Some((name, value)) = names
        .iter()
        .find_map(|name| headers.get(*name).map(|value| (*name, value)))
    else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let hex_digest = if name == "x-hub-signature-256" {
        match value.strip_prefix("sha256=") {
            Some(hex_digest) => hex_digest,
            None => return false,
        }
    } else {
        value
    };

    let mut claimed = [0_u8; 32];
    if hex::decode_to_slice(hex_digest.trim(), &mut claimed).is_err() {
        return false;
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&claimed).is_ok()
}

/// The header value `forge` would send for `body` signed with `secret`; for tests and for
/// tools that replay deliveries.
pub fn sign(forge: Forge, body: &[u8], secret: &[u8]) -> (&'static str, String) {
    // HMAC accepts keys of any length, so this cannot fail; an empty MAC is never valid.
    let digest = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    };
    match forge {
        Forge::GitHub => ("x-hub-signature-256", format!("sha256={digest}")),
        Forge::Gitea => ("x-gitea-signature", digest),
    }
}
