//! The server's secret key and what it seals: secrets at rest (provider refresh tokens, signing
//! keys, repository secrets) are encrypted with AES-256-GCM under one key kept in a file
//! (`secret_key_file`), created on first start with owner-only permissions. Several servers on
//! one database share the file.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{Context, bail};
use rand::RngCore;
use std::fmt;
use std::path::Path;

/// Seals and opens small secrets. `Debug` never shows the key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
    /// A separate key for MACs (audit checkpoints), derived from the same secret.
    mac_key: [u8; 32],
    /// A short public name of the key (recorded beside what it sealed).
    key_id: String,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(<key>)")
    }
}

const NONCE: usize = 12;

impl SecretBox {
    /// Reads the key file, or creates it (64 hex digits, mode 0600) if it does not exist.
    pub fn load_or_create(path: &Path) -> anyhow::Result<SecretBox> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let key = hex::decode(text.trim())
                    .ok()
                    .filter(|k| k.len() == 32)
                    .with_context(|| {
                        format!("{} must hold 64 hex digits (a 256-bit key)", path.display())
                    })?;
                SecretBox::from_key(&key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::rng().fill_bytes(&mut key);
                if let Some(dir) = path.parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                write_private(path, &hex::encode(key))?;
                SecretBox::from_key(&key)
            }
            Err(e) => Err(e).with_context(|| format!("reading the key file {}", path.display())),
        }
    }

    /// Reads an existing key file (for tools that must not make a new key).
    pub fn load(path: &Path) -> anyhow::Result<SecretBox> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!("reading the key file {} (secret_key_file)", path.display())
        })?;
        let key = hex::decode(text.trim())
            .ok()
            .filter(|k| k.len() == 32)
            .with_context(|| {
                format!("{} must hold 64 hex digits (a 256-bit key)", path.display())
            })?;
        SecretBox::from_key(&key)
    }

    /// A box for a 32-byte key.
    pub fn from_key(key: &[u8]) -> anyhow::Result<SecretBox> {
        if key.len() != 32 {
            bail!("the secret key must be 32 bytes");
        }
        let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| anyhow::anyhow!("bad key"))?;
        use sha2::Digest;
        let mut derive = sha2::Sha256::new();
        derive.update(b"hangar mac key v1");
        derive.update(key);
        let mut name = sha2::Sha256::new();
        name.update(b"hangar key id v1");
        name.update(key);
        Ok(SecretBox {
            cipher,
            mac_key: derive.finalize().into(),
            key_id: hex::encode(&name.finalize()[..8]),
        })
    }

    /// The key's id: 16 hex digits derived from the key, safe to store and show.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// A new random key, as the 64 hex digits a key file holds.
    pub fn new_key_text() -> String {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        hex::encode(key)
    }

    /// Writes a new key file at `path` (mode 0600), replacing a stale one left there.
    pub fn write_key_file(path: &Path, key_text: &str) -> anyhow::Result<()> {
        let _ = std::fs::remove_file(path);
        write_private(path, key_text)
    }

    /// Encrypts `plain`: a fresh random nonce, then the ciphertext with its tag.
    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE];
        rand::rng().fill_bytes(&mut nonce);
        // Encryption with a valid key and nonce cannot fail for inputs this size.
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plain)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// An HMAC-SHA256 of `data` under the server's key, hex: Hangar's signature on records such
    /// as audit checkpoints.
    pub fn sign(&self, data: &[u8]) -> String {
        use hmac::Mac;
        let Ok(mut mac) = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.mac_key) else {
            return String::new();
        };
        mac.update(data);
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `signature` is [`SecretBox::sign`] of `data` (constant time).
    pub fn verify(&self, data: &[u8], signature: &str) -> bool {
        use hmac::Mac;
        let (Ok(mut mac), Ok(sig)) = (
            <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.mac_key),
            hex::decode(signature),
        ) else {
            return false;
        };
        mac.update(data);
        mac.verify_slice(&sig).is_ok()
    }

    /// Like [`SecretBox::seal`], bound to `context`: it opens only with the same context (a
    /// value encrypted for one repository does not open for another).
    pub fn seal_bound(&self, plain: &[u8], context: &[u8]) -> Vec<u8> {
        use aes_gcm::aead::Payload;
        let mut nonce = [0u8; NONCE];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plain,
            aad: context,
        };
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens what [`SecretBox::seal_bound`] made with the same `context`.
    pub fn open_bound(&self, sealed: &[u8], context: &[u8]) -> Option<Vec<u8>> {
        use aes_gcm::aead::Payload;
        if sealed.len() < NONCE {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE);
        let payload = Payload {
            msg: body,
            aad: context,
        };
        self.cipher.decrypt(Nonce::from_slice(nonce), payload).ok()
    }

    /// Decrypts what [`SecretBox::seal`] made; `None` if it was made with another key or altered.
    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE);
        self.cipher.decrypt(Nonce::from_slice(nonce), body).ok()
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating the key file {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_with_the_same_key_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret.key");
        let a = SecretBox::load_or_create(&path).expect("created");
        let again = SecretBox::load_or_create(&path).expect("read back");
        let sealed = a.seal(b"refresh-token-value");
        assert_eq!(
            again.open(&sealed).as_deref(),
            Some(&b"refresh-token-value"[..])
        );
        let other = SecretBox::from_key(&[7u8; 32]).expect("key");
        assert_eq!(other.open(&sealed), None);
        assert!(!sealed.windows(5).any(|w| w == b"token"));
    }

    #[test]
    fn an_altered_secret_does_not_open() {
        let b = SecretBox::from_key(&[1u8; 32]).expect("key");
        let mut sealed = b.seal(b"x");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(b.open(&sealed), None);
    }

    #[test]
    fn the_key_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k");
        SecretBox::load_or_create(&path).expect("created");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
