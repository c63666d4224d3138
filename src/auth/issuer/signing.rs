//! The provider's ES256 signing keys: made on first need, private part sealed with the server
//! key in `signing_keys`, published as a JWKS. Rotation keeps an overlap: a new key signs at
//! once, older keys stay published until their `retired` time, so ID tokens they signed still
//! verify. Keys are cached in memory and re-read every minute (several servers may share one
//! database).
//!
//! Also here: signing ID tokens, and reading back an ID token we signed (`id_token_hint`).

use crate::auth::keys::SecretBox;
use crate::error::{Error, Result};
use crate::store::{Store, StoredSigningKey};
use anyhow::{Context, anyhow};
use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::RwLock;

/// A signing key is replaced after this long.
pub const ROTATE_AFTER_MS: i64 = 90 * 86_400_000;
/// A replaced key stays published this long (far longer than any token it signed lives, and
/// than clients cache a JWKS).
pub const OVERLAP_MS: i64 = 7 * 86_400_000;
/// How long the in-memory copy is trusted before the store is read again.
const RELOAD_MS: i64 = 60_000;

/// The key that signs now. `Debug` shows only its id.
#[derive(Clone)]
struct ActiveKey {
    kid: String,
    created: i64,
    encoding: EncodingKey,
}

impl fmt::Debug for ActiveKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActiveKey({})", self.kid)
    }
}

#[derive(Debug, Default)]
struct Loaded {
    at: i64,
    active: Option<ActiveKey>,
    published: Vec<Jwk>,
}

/// The signing keys, cached.
pub struct SigningKeys {
    store: Store,
    secrets: SecretBox,
    loaded: RwLock<Option<Loaded>>,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKeys(<keys>)")
    }
}

/// Makes a new ES256 key: the sealed PKCS#8 private key and the public JWK (its `kid` is the
/// JWK's RFC 7638 thumbprint).
pub fn generate(secrets: &SecretBox, now: i64) -> anyhow::Result<StoredSigningKey> {
    let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &aws_lc_rs::rand::SystemRandom::new(),
    )
    .map_err(|_| anyhow!("generating an ES256 key failed"))?;
    let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256)
        .context("the public part of a new ES256 key")?;
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .context("thumbprint of a new key")?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Ok(StoredSigningKey {
        kid,
        alg: "ES256".into(),
        private_key: secrets.seal(pkcs8.as_ref()),
        public_jwk: serde_json::to_string(&jwk)?,
        created: now,
        retired: 0,
    })
}

impl SigningKeys {
    pub fn new(store: Store, secrets: SecretBox) -> SigningKeys {
        // Select the crypto backend explicitly, so a second one enabled elsewhere in the build
        // cannot leave jsonwebtoken undecided. Installing twice is harmless.
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
            &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
        );
        SigningKeys {
            store,
            secrets,
            loaded: RwLock::new(None),
        }
    }

    fn cached<T>(&self, now: i64, pick: impl Fn(&Loaded) -> Option<T>) -> Option<T> {
        let guard = self.loaded.read().ok()?;
        let loaded = guard.as_ref()?;
        if now - loaded.at >= RELOAD_MS {
            return None;
        }
        pick(loaded)
    }

    async fn reload(&self, now: i64) -> Result<Loaded> {
        let rows = self.store.list_signing_keys(now).await?;
        let mut loaded = Loaded {
            at: now,
            ..Loaded::default()
        };
        for row in &rows {
            let jwk: Jwk = serde_json::from_str(&row.public_jwk)
                .map_err(|e| Error::internal(anyhow!("stored JWK {}: {e}", row.kid)))?;
            loaded.published.push(jwk);
            if row.retired == 0 && loaded.active.is_none() {
                let Some(pkcs8) = self.secrets.open(&row.private_key) else {
                    return Err(Error::internal(anyhow!(
                        "signing key {} does not open with this server's secret key file",
                        row.kid
                    )));
                };
                loaded.active = Some(ActiveKey {
                    kid: row.kid.clone(),
                    created: row.created,
                    encoding: EncodingKey::from_ec_der(&pkcs8),
                });
            }
        }
        Ok(loaded)
    }

    fn keep(&self, loaded: Loaded) {
        if let Ok(mut guard) = self.loaded.write() {
            *guard = Some(loaded);
        }
    }

    /// Makes a new signing key now; the current one stays published for [`OVERLAP_MS`].
    pub async fn rotate(&self, now: i64) -> Result<String> {
        let key = generate(&self.secrets, now)?;
        self.store
            .create_signing_key(&key, now + OVERLAP_MS, now)
            .await?;
        let loaded = self.reload(now).await?;
        self.keep(loaded);
        Ok(key.kid)
    }

    async fn active(&self, now: i64) -> Result<ActiveKey> {
        let fresh = |k: &ActiveKey| now - k.created < ROTATE_AFTER_MS;
        if let Some(key) = self.cached(now, |l| l.active.clone().filter(fresh)) {
            return Ok(key);
        }
        let loaded = self.reload(now).await?;
        if let Some(key) = loaded.active.clone().filter(fresh) {
            self.keep(loaded);
            return Ok(key);
        }
        self.rotate(now).await?;
        self.cached(now, |l| l.active.clone())
            .ok_or_else(|| Error::internal(anyhow!("no signing key after making one")))
    }

    /// The published keys, as a JWKS document (a key is made first if there is none).
    pub async fn jwks(&self, now: i64) -> Result<serde_json::Value> {
        self.active(now).await?;
        let keys = self
            .cached(now, |l| Some(l.published.clone()))
            .unwrap_or_default();
        Ok(serde_json::json!({ "keys": keys }))
    }

    /// Signs `claims` as a JWT with the current key.
    pub async fn sign<T: Serialize>(&self, claims: &T, now: i64) -> Result<String> {
        let key = self.active(now).await?;
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.kid.clone());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, claims, &key.encoding)
            .map_err(|e| Error::internal(anyhow!("signing a token: {e}")))
    }

    /// The claims of a JWT this provider signed with a published key, issued by `issuer`.
    /// Expiry is not checked (an `id_token_hint` may have expired); `None` for anything else.
    pub async fn read_own<T: DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        now: i64,
    ) -> Result<Option<T>> {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Ok(None);
        };
        let Some(kid) = header.kid.filter(|_| header.alg == Algorithm::ES256) else {
            return Ok(None);
        };
        let find = |l: &Loaded| {
            l.published
                .iter()
                .find(|j| j.common.key_id.as_deref() == Some(kid.as_str()))
                .cloned()
        };
        let jwk = match self.cached(now, find) {
            Some(jwk) => Some(jwk),
            None => {
                let loaded = self.reload(now).await?;
                let jwk = find(&loaded);
                self.keep(loaded);
                jwk
            }
        };
        let Some(key) = jwk.and_then(|j| DecodingKey::from_jwk(&j).ok()) else {
            return Ok(None);
        };
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation.set_issuer(&[issuer]);
        Ok(jsonwebtoken::decode::<T>(token, &key, &validation)
            .ok()
            .map(|d| d.claims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_sealed_and_published_as_a_p256_jwk() {
        let secrets = SecretBox::from_key(&[3u8; 32]).expect("key");
        let key = generate(&secrets, 1).expect("generated");
        let jwk: serde_json::Value = serde_json::from_str(&key.public_jwk).expect("json");
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-256");
        assert_eq!(jwk["kid"], key.kid.as_str());
        assert_eq!(jwk["use"], "sig");
        assert!(jwk.get("d").is_none(), "no private part in the JWK");
        let pkcs8 = secrets.open(&key.private_key).expect("opens");
        assert!(!pkcs8.is_empty());
        assert!(!format!("{key:?}").contains("private_key"));
    }
}
