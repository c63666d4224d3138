//! What `hangar login` keeps: the server, a short-lived access token and the refresh token that
//! renews it, in `credentials.json` under the user's configuration folder
//! (`$HANGAR_CONFIG_DIR`, else `$XDG_CONFIG_HOME/hangar`, else `~/.config/hangar`), readable by
//! its owner only (mode 0600, written whole and renamed into place).
//!
//! [`Credentials::fresh`] hands out a usable access token, refreshing it (and saving the
//! rotated refresh token) when it is within a minute of its expiry.

use crate::config::Secret;
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The public client `hangar login` is.
pub const CLIENT_ID: &str = "hangar-cli";
/// An access token this close to its expiry is refreshed before use.
const EARLY_MS: i64 = 60_000;

/// The stored login. `Debug` shows no token.
#[derive(Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub server: String,
    pub access_token: String,
    /// Unix milliseconds.
    pub access_expires: i64,
    pub refresh_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("server", &self.server)
            .field("access_expires", &self.access_expires)
            .finish_non_exhaustive()
    }
}

/// A token endpoint's answer (RFC 6749 §5.1), or its error (§5.2).
#[derive(Deserialize)]
pub struct TokenAnswer {
    pub access_token: Option<String>,
    pub expires_in: Option<i64>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Where the credentials live.
pub fn path() -> anyhow::Result<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    let dir = match (
        var("HANGAR_CONFIG_DIR"),
        var("XDG_CONFIG_HOME"),
        var("HOME"),
    ) {
        (Some(dir), _, _) => PathBuf::from(dir),
        (None, Some(xdg), _) => PathBuf::from(xdg).join("hangar"),
        (None, None, Some(home)) => PathBuf::from(home).join(".config").join("hangar"),
        (None, None, None) => {
            bail!("set HANGAR_CONFIG_DIR (or HOME) so the login has somewhere to be kept")
        }
    };
    Ok(dir.join("credentials.json"))
}

fn now_ms() -> i64 {
    crate::clock::system().now_ms()
}

impl Credentials {
    /// The credentials from a token answer for `server`.
    pub fn from_answer(server: &str, answer: TokenAnswer) -> anyhow::Result<Credentials> {
        let (Some(access), Some(refresh)) = (answer.access_token, answer.refresh_token) else {
            bail!("the server's answer had no access or refresh token");
        };
        Ok(Credentials {
            server: server.trim_end_matches('/').to_string(),
            access_token: access,
            access_expires: now_ms() + answer.expires_in.unwrap_or(0).saturating_mul(1000),
            refresh_token: refresh,
            scope: answer.scope,
        })
    }

    /// The stored login, if there is one.
    pub fn load() -> anyhow::Result<Option<Credentials>> {
        let path = path()?;
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let creds = serde_json::from_str(&text).with_context(|| {
            format!("{} is not a Hangar login; run hangar login", path.display())
        })?;
        Ok(Some(creds))
    }

    /// Writes the login, readable by its owner only.
    pub fn save(&self) -> anyhow::Result<PathBuf> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = path()?;
        let dir = path.parent().context("the credentials file has a folder")?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = dir.join(format!(".credentials.json.{}", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        file.write_all(&serde_json::to_vec_pretty(self)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Removes the stored login; `false` when there was none.
    pub fn forget() -> anyhow::Result<bool> {
        let path = path()?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
        }
    }

    /// A usable access token: the stored one, or, near its expiry, a new one from the refresh
    /// token (the rotated refresh token is saved at once: the old one is spent). Commands
    /// running side by side take turns through a lock file, and the second reads what the first
    /// saved: a refresh token sent twice would revoke the login.
    pub async fn fresh(mut self, http: &reqwest::Client) -> anyhow::Result<(Credentials, Secret)> {
        if self.access_expires - EARLY_MS > now_ms() {
            let token = Secret::new(self.access_token.clone());
            return Ok((self, token));
        }
        let lock_path = path()?.with_file_name("credentials.lock");
        let lock = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .with_context(|| format!("opening {}", lock_path.display()))?;
        lock.lock()
            .with_context(|| format!("locking {}", lock_path.display()))?;
        if let Some(current) = Credentials::load()?
            && current.server == self.server
        {
            if current.access_expires - EARLY_MS > now_ms() {
                let token = Secret::new(current.access_token.clone());
                return Ok((current, token));
            }
            self = current;
        }
        let answer = token_request(
            http,
            &self.server,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", CLIENT_ID),
                ("refresh_token", &self.refresh_token),
            ],
        )
        .await?;
        if let Some(error) = &answer.error {
            bail!(
                "the login has ended ({error}: {}); run hangar login --server {}",
                answer.error_description.as_deref().unwrap_or(""),
                self.server
            );
        }
        let renewed = Credentials::from_answer(&self.server, answer)?;
        self = Credentials {
            scope: renewed.scope.or(self.scope),
            ..renewed
        };
        self.save()?;
        let token = Secret::new(self.access_token.clone());
        Ok((self, token))
    }
}

/// A form POST to `{server}/oauth/token` (or another `/oauth` endpoint by `path`), read as a
/// token answer whatever its status.
pub async fn post_form(
    http: &reqwest::Client,
    server: &str,
    path: &str,
    form: &[(&str, &str)],
) -> anyhow::Result<(reqwest::StatusCode, String)> {
    let url = format!("{}{path}", server.trim_end_matches('/'));
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let resp = http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .with_context(|| format!("calling {url}"))?;
    let status = resp.status();
    Ok((status, resp.text().await.context("reading the answer")?))
}

/// `POST {server}/oauth/token`.
pub async fn token_request(
    http: &reqwest::Client,
    server: &str,
    form: &[(&str, &str)],
) -> anyhow::Result<TokenAnswer> {
    let (status, text) = post_form(http, server, "/oauth/token", form).await?;
    serde_json::from_str(&text)
        .with_context(|| format!("{status}: the server did not answer as an OAuth token endpoint"))
}
