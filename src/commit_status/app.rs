//! GitHub App installation tokens, as GitHub documents them: the server signs a short JSON Web
//! Token as the App (RS256, `iss` the App's id, at most ten minutes), finds the repository's
//! installation (`GET {api}/repos/{owner}/{repo}/installation`) unless one is configured, and
//! trades the JWT for an installation token (`POST {api}/app/installations/{id}/access_tokens`)
//! narrowed to that one repository and `statuses: write`. Tokens are kept in memory until five
//! minutes before GitHub's `expires_at`, and dropped when GitHub refuses one. Neither the App's
//! key, its JWTs nor installation tokens appear in errors or Debug output.

use super::post::Failure;
use crate::clock::SharedClock;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// A token is renewed this long before it expires.
const RENEW_BEFORE_MS: i64 = 5 * 60 * 1000;
/// The App JWT's `iat` is set this far back, for clock drift (GitHub's advice).
const DRIFT_S: i64 = 60;
/// The App JWT lives this long past `iat` (GitHub allows ten minutes).
const JWT_LIFE_S: i64 = 9 * 60;
/// Bytes of a refusal's body kept in the error.
const ERROR_BODY: usize = 200;

/// The server's GitHub App (`github_app_id`, `github_app_key_file`).
pub struct GitHubApp {
    id: String,
    key: EncodingKey,
    clock: SharedClock,
    /// Installation tokens by (API URL, `owner/name`): the token and when to renew it (ms).
    cache: Mutex<HashMap<(String, String), (String, i64)>>,
    /// Held while a token is asked for, so the contexts of one build that all need one at once
    /// share the first one's answer instead of each asking GitHub.
    asking: tokio::sync::Mutex<()>,
}

impl fmt::Debug for GitHubApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHubApp")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iat: i64,
    exp: i64,
    iss: &'a str,
}

#[derive(Deserialize)]
struct Installation {
    id: i64,
}

#[derive(Deserialize)]
struct AccessToken {
    token: String,
    expires_at: String,
}

impl GitHubApp {
    /// The App with id `id` and its private key (PEM, PKCS#1 or PKCS#8, as GitHub hands it out).
    pub fn new(id: &str, pem: &[u8], clock: SharedClock) -> anyhow::Result<GitHubApp> {
        let id = id.trim();
        if id.is_empty() || id.chars().any(|c| !c.is_ascii_alphanumeric() && c != '.') {
            anyhow::bail!("github_app_id {id:?} must be the App's id (digits) or client id");
        }
        let key = EncodingKey::from_rsa_pem(pem).map_err(|e| {
            anyhow::anyhow!("the GitHub App key is not an RSA private key in PEM ({e})")
        })?;
        Ok(GitHubApp {
            id: id.to_string(),
            key,
            clock,
            cache: Mutex::new(HashMap::new()),
            asking: tokio::sync::Mutex::new(()),
        })
    }

    /// Reads the App's key from `path`; errors name the file.
    pub fn load(id: &str, path: &Path, clock: SharedClock) -> anyhow::Result<GitHubApp> {
        let pem = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("github_app_key_file {}: {e}", path.display()))?;
        GitHubApp::new(id, &pem, clock)
            .map_err(|e| anyhow::anyhow!("github_app_key_file {}: {e}", path.display()))
    }

    /// The App's JWT, signed now.
    fn jwt(&self) -> Result<String, Failure> {
        let now = self.clock.now_ms().div_euclid(1000);
        let claims = Claims {
            iat: now - DRIFT_S,
            exp: now - DRIFT_S + JWT_LIFE_S,
            iss: &self.id,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key).map_err(|e| {
            Failure {
                message: format!("signing the GitHub App's token failed: {e}"),
                transient: false,
                retry_after: None,
            }
        })
    }

    /// An installation token for `owner/name` at `api_url`, from the cache while it is fresh.
    pub async fn token(
        &self,
        http: &reqwest::Client,
        api_url: &str,
        owner: &str,
        name: &str,
        installation: Option<i64>,
    ) -> Result<String, Failure> {
        let key = (api_url.to_string(), format!("{owner}/{name}"));
        if let Some(token) = self.cached(&key) {
            return Ok(token);
        }
        let _asking = self.asking.lock().await;
        // Another context may have got one while this one waited.
        if let Some(token) = self.cached(&key) {
            return Ok(token);
        }
        let jwt = self.jwt()?;
        let installation = match installation {
            Some(id) => id,
            None => {
                let url = format!("{api_url}/repos/{owner}/{name}/installation");
                let found: Installation = call(http.get(&url), &url, &jwt).await?;
                found.id
            }
        };
        let url = format!("{api_url}/app/installations/{installation}/access_tokens");
        let body = serde_json::json!({
            "repositories": [name],
            "permissions": { "statuses": "write" },
        });
        let issued: AccessToken = call(http.post(&url).json(&body), &url, &jwt).await?;
        let expires = chrono::DateTime::parse_from_rfc3339(&issued.expires_at)
            .map(|t| t.timestamp_millis())
            .map_err(|e| Failure {
                message: format!("{url} answered an expires_at that is not a time ({e})"),
                transient: true,
                retry_after: None,
            })?;
        let renew_at = expires - RENEW_BEFORE_MS;
        self.lock().insert(key, (issued.token.clone(), renew_at));
        Ok(issued.token)
    }

    fn cached(&self, key: &(String, String)) -> Option<String> {
        let now = self.clock.now_ms();
        self.lock()
            .get(key)
            .filter(|(_, renew_at)| now < *renew_at)
            .map(|(token, _)| token.clone())
    }

    /// Drops the cached token for `owner/name` (GitHub refused it).
    pub fn forget(&self, api_url: &str, owner: &str, name: &str) {
        self.lock()
            .remove(&(api_url.to_string(), format!("{owner}/{name}")));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), (String, i64)>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One request authorised as the App; GitHub's answer as `T`, or why not.
async fn call<T: serde::de::DeserializeOwned>(
    req: reqwest::RequestBuilder,
    url: &str,
    jwt: &str,
) -> Result<T, Failure> {
    let scrub = |text: String| text.replace(jwt, "<redacted>");
    let resp = req
        .bearer_auth(jwt)
        .header(reqwest::header::ACCEPT, "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| Failure {
            message: scrub(format!("{url} could not be reached: {e}")),
            transient: true,
            retry_after: None,
        })?;
    let status = resp.status();
    if status.is_success() {
        let body = resp.bytes().await.map_err(|e| Failure {
            message: format!("{url}: reading the answer failed: {e}"),
            transient: true,
            retry_after: None,
        })?;
        // The body may hold a token: only the parser's position is kept in the error.
        return serde_json::from_slice(&body).map_err(|e| Failure {
            message: format!(
                "{url} answered something GitHub does not document (line {} column {})",
                e.line(),
                e.column()
            ),
            transient: false,
            retry_after: None,
        });
    }
    let body = resp.text().await.unwrap_or_default();
    let body: String = body.chars().take(ERROR_BODY).collect();
    Err(Failure {
        message: scrub(format!(
            "{url} answered {status} to the GitHub App: {}",
            body.trim()
        )),
        transient: status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS,
        retry_after: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_needs_an_rsa_key_and_a_plain_id() {
        let clock = crate::clock::system();
        let err = GitHubApp::new("123", b"not a key", clock.clone()).expect_err("refused");
        assert!(err.to_string().contains("RSA private key"), "{err}");
        let err = GitHubApp::new("12 3", b"", clock).expect_err("refused");
        assert!(err.to_string().contains("github_app_id"), "{err}");
    }
}
