//! Drone's encrypted secrets: `POST /api/repos/{owner}/{name}/encrypt` turns a value into text
//! that may sit in the repository's `.drone.yml` as a `kind: secret` document. The text is
//! AES-256-GCM under the server key, bound to the repository's id (it opens for no other
//! repository), and carries whether pull requests may receive it. Rotating the server key
//! (`hangar secret rotate-key`) makes such texts unreadable: they live in git, out of reach of
//! the re-encryption; encrypt them again after a rotation.

use crate::auth::keys::SecretBox;
use crate::domain::RepoId;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn context(repo: RepoId) -> Vec<u8> {
    format!("hangar encrypted secret v1\n{repo}").into_bytes()
}

/// The text of `value` encrypted for `repo`.
pub fn encrypt(keys: &SecretBox, repo: RepoId, value: &str, pull_requests: bool) -> String {
    let mut plain = Vec::with_capacity(value.len() + 1);
    plain.push(u8::from(pull_requests));
    plain.extend_from_slice(value.as_bytes());
    URL_SAFE_NO_PAD.encode(keys.seal_bound(&plain, &context(repo)))
}

/// The value and its pull-request allowance, if `text` was encrypted for `repo` with this key.
pub fn decrypt(keys: &SecretBox, repo: RepoId, text: &str) -> Option<(String, bool)> {
    let sealed = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
    let plain = keys.open_bound(&sealed, &context(repo))?;
    let (&flag, value) = plain.split_first()?;
    Some((String::from_utf8(value.to_vec()).ok()?, flag == 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encrypted_value_opens_only_for_its_repository() {
        let keys = SecretBox::from_key(&[9u8; 32]).expect("key");
        let text = encrypt(&keys, RepoId(7), "hunter2", true);
        assert!(!text.contains("hunter2"));
        assert_eq!(
            decrypt(&keys, RepoId(7), &text),
            Some(("hunter2".to_string(), true))
        );
        assert_eq!(decrypt(&keys, RepoId(8), &text), None);
        let other = SecretBox::from_key(&[1u8; 32]).expect("key");
        assert_eq!(decrypt(&other, RepoId(7), &text), None);
        assert_eq!(decrypt(&keys, RepoId(7), "not base64!"), None);
    }
}
