//! ID token validation (OpenID Connect Core 3.1.3.7), on top of `openidconnect`'s verifier:
//! the signature with a key of the issuer's JWKS and an algorithm from [`ALLOWED_ALGS`] (never
//! `none`, never a MAC: the key type comes from the JWKS entry, not the token), `iss` exactly,
//! `aud` holding our client id and no other audience, `azp` (when present) our client id, `exp`
//! with at most [`SKEW_MS`] of clock skew, `iat` not in the future (nor, at login, older than a
//! login may take), `nbf`, the transaction's `nonce`, and `at_hash` when present.

use super::jwks::Jwks;
use super::outbound::{Outbound, Spent};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessToken, AccessTokenHash, AdditionalClaims, ClientId, IdToken, IdTokenVerifier, IssuerUrl,
    Nonce,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::str::FromStr;

/// Signature algorithms accepted in ID tokens.
pub const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 4] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EdDsa,
];
/// Clock skew tolerated on `exp`, `iat` and `nbf`.
pub const SKEW_MS: i64 = 60_000;
/// At login, an ID token issued longer ago than this is refused (a login transaction lives 10
/// minutes).
pub const LOGIN_MAX_AGE_MS: i64 = 600_000;

/// Claims beyond the standard ones, kept whole (groups, `sid`, `nbf`...).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Extra {
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

impl AdditionalClaims for Extra {}

type Token =
    IdToken<Extra, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

/// What the token must say.
pub struct Expect<'a> {
    pub issuer: &'a IssuerUrl,
    pub client_id: &'a ClientId,
    /// The transaction's nonce at login; `None` for a token from a refresh (which carries none
    /// or the original one).
    pub nonce: Option<&'a Nonce>,
    /// The access token issued with it, to check `at_hash` against.
    pub access_token: Option<&'a AccessToken>,
    /// On refresh: the subject the session belongs to.
    pub subject: Option<&'a str>,
    pub now: i64,
}

/// A valid ID token's facts.
#[derive(Debug, Clone)]
pub struct Verified {
    pub sub: String,
    /// All claims, as sent.
    pub claims: Value,
    /// `exp`, Unix milliseconds.
    pub expires: i64,
    pub auth_time: i64,
    pub sid: String,
    pub jti: String,
}

/// Checks `raw` against `expect`, fetching the issuer's keys again when it is signed with a key
/// id not yet known (rate limited by [`Jwks`]). The error says what was wrong, never the token.
pub async fn verify(
    raw: &str,
    expect: &Expect<'_>,
    jwks: &Jwks,
    http: &Outbound,
    spent: &Spent,
) -> Result<Verified, String> {
    let header = segment(raw, 0).ok_or("the ID token is not a JWT")?;
    let kid = header.get("kid").and_then(Value::as_str);
    let keys = jwks.keys_for(kid, expect.now, http, spent).await;
    let token = Token::from_str(raw).map_err(|e| format!("the ID token is malformed: {e}"))?;
    let now = expect.now;
    let login = expect.nonce.is_some();
    let verifier = IdTokenVerifier::new_public_client(
        expect.client_id.clone(),
        expect.issuer.clone(),
        (*keys).clone(),
    )
    .set_allowed_algs(ALLOWED_ALGS)
    // `exp` is compared with "now"; moving now back by the skew tolerates that much.
    .set_time_fn(move || time(now - SKEW_MS))
    .set_issue_time_verifier_fn(move |iat| {
        let iat = iat.timestamp_millis();
        if iat > now + SKEW_MS {
            Err("the ID token was issued in the future".into())
        } else if login && iat < now - LOGIN_MAX_AGE_MS - SKEW_MS {
            Err("the ID token was issued too long ago".into())
        } else {
            Ok(())
        }
    });
    let claims = match expect.nonce {
        Some(nonce) => token.claims(&verifier, nonce),
        None => token.claims(&verifier, |_: Option<&Nonce>| Ok(())),
    }
    .map_err(|e| format!("the ID token is not valid: {e}"))?;
    if let Some(azp) = claims.authorized_party()
        && azp.as_str() != expect.client_id.as_str()
    {
        return Err(format!(
            "the ID token's authorized party {:?} is not this client",
            azp.as_str()
        ));
    }
    let sub = claims.subject().as_str().to_string();
    if let Some(wanted) = expect.subject
        && wanted != sub
    {
        return Err("the ID token names another subject than the session's".into());
    }
    if let (Some(hash), Some(access_token)) = (claims.access_token_hash(), expect.access_token) {
        let alg = token
            .signing_alg()
            .map_err(|e| format!("the ID token's algorithm: {e}"))?;
        let key = token
            .signing_key(&verifier)
            .map_err(|e| format!("the ID token's key: {e}"))?;
        let expected = AccessTokenHash::from_token(access_token, alg, key)
            .map_err(|e| format!("computing at_hash: {e}"))?;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            hash.as_bytes(),
        )) {
            return Err("the ID token's at_hash does not match the access token".into());
        }
    }
    let all = segment(raw, 1).ok_or("the ID token's claims are unreadable")?;
    if let Some(nbf) = all.get("nbf").and_then(Value::as_i64)
        && nbf.saturating_mul(1000) > now + SKEW_MS
    {
        return Err("the ID token is not valid yet (nbf)".into());
    }
    let text = |k: &str| {
        all.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Ok(Verified {
        sub,
        expires: claims.expiration().timestamp_millis(),
        auth_time: claims
            .auth_time()
            .map(|t| t.timestamp_millis())
            .unwrap_or(0),
        sid: text("sid"),
        jti: text("jti"),
        claims: all,
    })
}

/// The `n`th dot-separated part of a JWT, decoded as JSON.
fn segment(raw: &str, n: usize) -> Option<Value> {
    let part = raw.split('.').nth(n)?;
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn time(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
