//! Verified commits: the public keys users sign commits with (SSH, or armored OpenPGP),
//! registered with `hangar user key add`, and the check of a build's head commit against the
//! keys of active users with `git verify-commit`: SSH keys through an allowed-signers file (the
//! principal is the user's login), OpenPGP keys imported into a temporary `GNUPGHOME`. Nothing
//! outside those keys is trusted (no system keyring, no user's `~/.gnupg`).
//!
//! What does not live here: deciding that a build waits (`trigger`), SQL (`store/user_keys.rs`).

use crate::domain::{Actor, Repo};
use crate::error::{Error, Result};
use crate::mirror::Mirrors;
use crate::runner::process;
use crate::store::{Store, UserKey};
use base64::Engine;
use sha2::Digest;

const PGP_HEADER: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";

/// SSH key types `ssh-keygen -Y verify` accepts.
const SSH_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// A public key read from a file: its kind, fingerprint and the text to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKey {
    pub kind: &'static str,
    pub fingerprint: String,
    pub public_key: String,
}

/// Reads an SSH public key (`TYPE BASE64 [comment]`, one line) or an armored OpenPGP public key
/// (one primary key). The error says what was expected.
pub async fn parse(text: &str) -> std::result::Result<ParsedKey, String> {
    let trimmed = text.trim();
    if trimmed.starts_with(PGP_HEADER) {
        return parse_gpg(trimmed).await;
    }
    let mut fields = trimmed.split_whitespace();
    let (Some(kind), Some(blob)) = (fields.next(), fields.next()) else {
        return Err(
            "not an SSH public key (TYPE BASE64 [comment]) or an armored OpenPGP public key".into(),
        );
    };
    if trimmed.lines().count() != 1 {
        return Err("an SSH public key is one line".into());
    }
    if !SSH_TYPES.contains(&kind) {
        return Err(format!(
            "{kind:?} is not an SSH key type (expected one of {})",
            SSH_TYPES.join(", ")
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .map_err(|_| "the SSH key's second field is not base64".to_string())?;
    // The blob starts with its own type, length-prefixed.
    let named = bytes
        .get(4..)
        .and_then(|rest| rest.get(..kind.len()))
        .is_some_and(|t| t == kind.as_bytes());
    if !named {
        return Err(format!("the SSH key's data is not a {kind} key"));
    }
    let digest = sha2::Sha256::digest(&bytes);
    Ok(ParsedKey {
        kind: "ssh",
        fingerprint: format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
        ),
        public_key: format!("{kind} {blob}"),
    })
}

async fn parse_gpg(armored: &str) -> std::result::Result<ParsedKey, String> {
    let home = tempfile::tempdir().map_err(|e| format!("a temporary folder for gpg: {e}"))?;
    let env = gnupg_env(home.path());
    let out = process::tool(
        "gpg",
        &[
            "--batch",
            "--with-colons",
            "--import-options",
            "show-only",
            "--import",
        ],
        &env,
        Some(armored.as_bytes()),
    )
    .await
    .map_err(|e| format!("running gpg failed ({e}); install gnupg"))?;
    if !out.status.success() {
        return Err(format!(
            "gpg does not read it as an OpenPGP public key: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let listing = String::from_utf8_lossy(&out.stdout);
    let primaries = listing.lines().filter(|l| l.starts_with("pub:")).count();
    if primaries != 1 {
        return Err(format!(
            "the file holds {primaries} OpenPGP primary keys; register one at a time"
        ));
    }
    // The first `fpr` record follows the `pub` record: the primary key's fingerprint.
    let fingerprint = listing
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .and_then(|l| l.split(':').nth(9))
        .filter(|f| !f.is_empty())
        .ok_or("gpg showed no fingerprint")?;
    Ok(ParsedKey {
        kind: "gpg",
        fingerprint: fingerprint.to_string(),
        public_key: armored.to_string(),
    })
}

fn gnupg_env(home: &std::path::Path) -> Vec<(String, String)> {
    vec![("GNUPGHOME".into(), home.to_string_lossy().into_owned())]
}

/// Why a commit does not count as verified, or `None` when it is signed by a key registered to
/// an active user (or the repository does not ask).
pub async fn unverified_reason(
    store: &Store,
    mirrors: &Mirrors,
    repo: &Repo,
    commit: &str,
) -> Result<Option<String>> {
    if !repo.verify_commits {
        return Ok(None);
    }
    let short = &commit[..commit.len().min(12)];
    if commit.is_empty() {
        return Ok(Some("verified commits: the build names no commit".into()));
    }
    let keys = store.list_active_signing_keys().await?;
    let dir = tempfile::tempdir()?;
    let allowed = dir.path().join("allowed_signers");
    let lines: String = keys
        .iter()
        .filter(|k| k.kind == "ssh")
        .map(|k| format!("{} namespaces=\"git\" {}\n", k.login, k.public_key))
        .collect();
    tokio::fs::write(&allowed, lines).await?;
    let home = dir.path().join("gnupg");
    tokio::fs::create_dir(&home).await?;
    set_private(&home).await?;
    let env = gnupg_env(&home);
    for key in keys.iter().filter(|k| k.kind == "gpg") {
        let out = process::tool(
            "gpg",
            &["--batch", "--quiet", "--import"],
            &env,
            Some(key.public_key.as_bytes()),
        )
        .await?;
        if !out.status.success() {
            tracing::warn!(login = %key.login, fingerprint = %key.fingerprint, "a registered OpenPGP key does not import");
        }
    }
    let config = vec![
        "-c".to_string(),
        format!("gpg.ssh.allowedSignersFile={}", allowed.display()),
        "-c".to_string(),
        "gpg.program=gpg".to_string(),
    ];
    let Some(out) = mirrors.verify_commit(repo, commit, &config, &env).await? else {
        return Ok(Some(format!(
            "verified commits: commit {short} is not in the repository"
        )));
    };
    let report = String::from_utf8_lossy(&out.stderr);
    if out.status.success() && signer(&report, &keys).is_some() {
        return Ok(None);
    }
    Ok(Some(if report.trim().is_empty() {
        format!("verified commits: commit {short} is not signed")
    } else {
        format!(
            "verified commits: commit {short} is not signed by a key registered to an active user"
        )
    }))
}

/// The login whose key made the good signature `git verify-commit --raw` reported.
fn signer<'a>(report: &str, keys: &'a [UserKey]) -> Option<&'a str> {
    for line in report.lines() {
        // SSH: `Good "git" signature for LOGIN with ED25519 key SHA256:...`
        if let Some(rest) = line.strip_prefix("Good \"git\" signature for ") {
            let login = rest.split(" with ").next()?;
            return keys
                .iter()
                .find(|k| k.kind == "ssh" && k.login == login)
                .map(|k| k.login.as_str());
        }
        // OpenPGP: `[GNUPG:] VALIDSIG <fpr> ... <primary key fpr>`
        if let Some(rest) = line.strip_prefix("[GNUPG:] VALIDSIG ") {
            let primary = rest.split_whitespace().last()?;
            return keys
                .iter()
                .find(|k| k.kind == "gpg" && k.fingerprint.eq_ignore_ascii_case(primary))
                .map(|k| k.login.as_str());
        }
    }
    None
}

#[cfg(unix)]
async fn set_private(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    tokio::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).await
}

/// Registers the key in `text` (read from `file`) to `login`; returns it.
pub async fn register(
    store: &Store,
    login: &str,
    text: &str,
    actor: &Actor,
    now: i64,
) -> Result<UserKey> {
    let user = store
        .find_user(login)
        .await?
        .ok_or_else(|| Error::not_found(format!("there is no user named {login:?}")))?;
    let parsed = parse(text).await.map_err(Error::invalid)?;
    let mut key = UserKey {
        id: 0,
        login: user.login.clone(),
        kind: parsed.kind.to_string(),
        fingerprint: parsed.fingerprint,
        public_key: parsed.public_key,
        created: now,
    };
    key.id = store.create_user_key(user.id, &key, actor, now).await?;
    Ok(key)
}

#[cfg(test)]
mod tests;
