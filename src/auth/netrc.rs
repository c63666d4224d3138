//! Clone credentials of private repositories (Drone's netrc): a username and a token per
//! repository, the token sealed with the server key like a secret. The server uses them to read
//! `.drone.yml` (`mirror.rs`); the clone step receives them as `DRONE_NETRC_MACHINE`,
//! `DRONE_NETRC_USERNAME` and `DRONE_NETRC_PASSWORD`, and its log masks the token. The machine
//! is the clone URL's host. Git gets them from a credential helper that reads them from its
//! environment, so they are never on a command line or in a file.

use crate::auth::keys::SecretBox;
use crate::config::Secret;
use crate::domain::{Actor, Repo};
use crate::error::{Error, Result};
use crate::store::{SealedNetrc, Store};

/// A repository's clone credentials, in clear. `Debug` shows no token.
#[derive(Debug, Clone)]
pub struct Netrc {
    pub machine: String,
    pub username: String,
    pub password: Secret,
}

impl Netrc {
    /// The variables the clone step and `git` get: Drone's `DRONE_NETRC_*`.
    pub fn variables(&self) -> [(String, String); 3] {
        [
            ("DRONE_NETRC_MACHINE".into(), self.machine.clone()),
            ("DRONE_NETRC_USERNAME".into(), self.username.clone()),
            (
                "DRONE_NETRC_PASSWORD".into(),
                self.password.expose().to_string(),
            ),
        ]
    }
}

/// The `git -c` options that make git answer a server's request for credentials with the
/// `DRONE_NETRC_*` variables of its environment (and only those: other helpers are reset).
pub const GIT_HELPER: [&str; 4] = [
    "-c",
    "credential.helper=",
    "-c",
    "credential.helper=!f() { test \"$1\" = get || return 0; echo \"username=$DRONE_NETRC_USERNAME\"; echo \"password=$DRONE_NETRC_PASSWORD\"; }; f",
];

/// The host a clone URL names (`machine` of a netrc); `None` for paths and `file://` URLs.
pub fn machine(clone_url: &str) -> Option<String> {
    let url = url::Url::parse(clone_url).ok()?;
    if url.scheme() == "file" {
        return None;
    }
    url.host_str().map(str::to_string)
}

/// Longest username or token accepted.
const MAX_LEN: usize = 4096;

/// Reads and writes clone credentials, sealing and opening them.
#[derive(Debug, Clone)]
pub struct CloneCredentials {
    store: Store,
    secrets: SecretBox,
}

impl CloneCredentials {
    pub fn new(store: Store, secrets: SecretBox) -> CloneCredentials {
        CloneCredentials { store, secrets }
    }

    /// The credentials of `repo`, when it has some and its clone URL names a host.
    pub async fn find(&self, repo: &Repo) -> Result<Option<Netrc>> {
        let Some(machine) = machine(repo.clone_url()) else {
            return Ok(None);
        };
        let Some(stored) = self.store.find_repo_netrc(repo.id).await? else {
            return Ok(None);
        };
        let plain = self.secrets.open(&stored.sealed).ok_or_else(|| {
            Error::internal(anyhow::anyhow!(
                "the clone credentials of {} (key {}) do not open with this server's key (key {})",
                repo.slug,
                stored.key_id,
                self.secrets.key_id()
            ))
        })?;
        Ok(Some(Netrc {
            machine,
            username: stored.username,
            password: Secret::new(String::from_utf8_lossy(&plain).into_owned()),
        }))
    }

    /// Whether `repo` has clone credentials.
    pub async fn is_set(&self, repo: &Repo) -> Result<bool> {
        Ok(self.store.find_repo_netrc(repo.id).await?.is_some())
    }

    /// Sets (or replaces) `repo`'s credentials.
    pub async fn set(
        &self,
        repo: &Repo,
        username: &str,
        password: &Secret,
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        if username.is_empty() || password.expose().is_empty() {
            return Err(Error::invalid(
                "username and password (a token) are both required",
            ));
        }
        if username.len() > MAX_LEN || password.expose().len() > MAX_LEN {
            return Err(Error::invalid(
                "username and password may hold at most 4096 bytes each",
            ));
        }
        if username.contains(['\n', '\r', '\0']) || password.expose().contains(['\n', '\r', '\0']) {
            return Err(Error::invalid(
                "username and password may not hold line breaks or NUL",
            ));
        }
        let sealed = SealedNetrc {
            username: username.to_string(),
            sealed: self.secrets.seal(password.expose().as_bytes()),
            key_id: self.secrets.key_id().to_string(),
        };
        self.store
            .set_repo_netrc(repo.id, &repo.slug, &sealed, actor, now)
            .await
    }

    /// Removes `repo`'s credentials; `false` when it had none.
    pub async fn delete(&self, repo: &Repo, actor: &Actor, now: i64) -> Result<bool> {
        self.store
            .delete_repo_netrc(repo.id, &repo.slug, actor, now)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_is_the_clone_urls_host() {
        assert_eq!(
            machine("https://git.example.com/acme/api.git").as_deref(),
            Some("git.example.com")
        );
        assert_eq!(
            machine("http://127.0.0.1:8081/acme.git").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(machine("/srv/git/acme.git"), None);
        assert_eq!(machine("file:///srv/git/acme.git"), None);
    }

    #[test]
    fn no_token_shows_in_debug() {
        let n = Netrc {
            machine: "m".into(),
            username: "u".into(),
            password: Secret::new("hunter2-token"),
        };
        assert!(!format!("{n:?}").contains("hunter2"));
    }
}
