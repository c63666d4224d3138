//! One commit status request, as each forge documents it:
//! GitHub `POST {api}/repos/{owner}/{repo}/statuses/{sha}` (`Authorization: Bearer`),
//! Gitea and Forgejo `POST {base}/api/v1/repos/{owner}/{repo}/statuses/{sha}`
//! (`Authorization: token`), both with `{"state", "target_url", "description", "context"}` and
//! `201 Created` on success. No redirects are followed; the token never appears in an error.
//! A repository that posts as the server's GitHub App gets an installation token first
//! (`app.rs`).

use super::app::GitHubApp;
use crate::domain::{CommitState, ForgeKind};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of a refusal's body kept in the error.
const ERROR_BODY: usize = 200;

/// Where a repository's statuses go, with the token in clear (only in memory).
#[derive(Clone)]
pub struct Target {
    pub kind: ForgeKind,
    /// The API base: `https://api.github.com`, or a Gitea server's root URL.
    pub api_url: String,
    pub auth: Auth,
    pub owner: String,
    pub name: String,
}

/// What a post is authorised with.
#[derive(Clone)]
pub enum Auth {
    /// The repository's own token.
    Token(String),
    /// An installation token of the server's GitHub App (the installation looked up when
    /// `None`).
    App {
        app: Arc<GitHubApp>,
        installation: Option<i64>,
    },
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("kind", &self.kind)
            .field("api_url", &self.api_url)
            .field("repo", &format_args!("{}/{}", self.owner, self.name))
            .finish_non_exhaustive()
    }
}

/// One status to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub sha: String,
    pub state: CommitState,
    pub description: String,
    pub context: String,
    pub target_url: String,
}

/// Why a post failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    /// Worth trying again (unreachable, 5xx, 429, a rate limit); otherwise the forge refused
    /// the request for good (bad token, unknown repository or commit).
    pub transient: bool,
    /// The forge's `Retry-After`, if it sent one.
    pub retry_after: Option<Duration>,
}

impl Target {
    /// The statuses URL for `sha`.
    pub fn url(&self, sha: &str) -> String {
        let base = self.api_url.trim_end_matches('/');
        let prefix = match self.kind {
            ForgeKind::GitHub => base.to_string(),
            ForgeKind::Gitea => format!("{base}/api/v1"),
        };
        format!("{prefix}/repos/{}/{}/statuses/{sha}", self.owner, self.name)
    }

    /// The token to post with: the repository's, or a (cached) installation token.
    async fn token(&self, http: &reqwest::Client) -> Result<String, Failure> {
        match &self.auth {
            Auth::Token(token) => Ok(token.clone()),
            Auth::App { app, installation } => {
                app.token(http, &self.api_url, &self.owner, &self.name, *installation)
                    .await
            }
        }
    }

    fn authorization(&self, token: &str) -> String {
        match self.kind {
            ForgeKind::GitHub => format!("Bearer {token}"),
            ForgeKind::Gitea => format!("token {token}"),
        }
    }
}

/// Keeps `token` out of anything shown.
fn scrub(token: &str, text: &str) -> String {
    if token.is_empty() {
        text.to_string()
    } else {
        text.replace(token, "<redacted>")
    }
}

/// A client for posting statuses; cheap to clone.
pub fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("hangar/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// Sends one status.
pub async fn send(http: &reqwest::Client, target: &Target, post: &Post) -> Result<(), Failure> {
    let url = target.url(&post.sha);
    let token = target.token(http).await?;
    let mut req = http
        .post(&url)
        .header(reqwest::header::AUTHORIZATION, target.authorization(&token))
        .json(&serde_json::json!({
            "state": post.state.as_str(),
            "target_url": post.target_url,
            "description": post.description,
            "context": post.context,
        }));
    if target.kind == ForgeKind::GitHub {
        req = req
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28");
    }
    let resp = req.send().await.map_err(|e| Failure {
        message: scrub(&token, &format!("{url} could not be reached: {e}")),
        transient: true,
        retry_after: None,
    })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let rate_limited = resp
        .headers()
        .get("x-ratelimit-remaining")
        .is_some_and(|v| v.as_bytes() == b"0");
    let body = resp.text().await.unwrap_or_default();
    let body: String = body.chars().take(ERROR_BODY).collect();
    let mut transient = status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || (status == reqwest::StatusCode::FORBIDDEN && (rate_limited || retry_after.is_some()));
    if let Auth::App { app, .. } = &target.auth
        && status == reqwest::StatusCode::UNAUTHORIZED
    {
        // An installation token GitHub no longer takes (revoked, the App reinstalled): the
        // next attempt asks for a new one.
        app.forget(&target.api_url, &target.owner, &target.name);
        transient = true;
    }
    Err(Failure {
        message: scrub(&token, &format!("{url} answered {status}: {}", body.trim())),
        transient,
        retry_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(kind: ForgeKind, api: &str) -> Target {
        Target {
            kind,
            api_url: api.into(),
            auth: Auth::Token("tok-123".into()),
            owner: "acme".into(),
            name: "api".into(),
        }
    }

    #[test]
    fn github_and_gitea_statuses_live_at_their_documented_paths() {
        assert_eq!(
            target(ForgeKind::GitHub, "https://api.github.com/").url("abc"),
            "https://api.github.com/repos/acme/api/statuses/abc"
        );
        assert_eq!(
            target(ForgeKind::GitHub, "https://ghe.example/api/v3").url("abc"),
            "https://ghe.example/api/v3/repos/acme/api/statuses/abc"
        );
        assert_eq!(
            target(ForgeKind::Gitea, "https://gitea.example").url("abc"),
            "https://gitea.example/api/v1/repos/acme/api/statuses/abc"
        );
    }

    #[test]
    fn the_token_is_neither_in_debug_nor_in_errors() {
        let t = target(ForgeKind::Gitea, "https://gitea.example");
        assert!(!format!("{t:?}").contains("tok-123"));
        assert_eq!(
            scrub("tok-123", "bad token tok-123"),
            "bad token <redacted>"
        );
        assert_eq!(t.authorization("tok-123"), "token tok-123");
        assert_eq!(
            target(ForgeKind::GitHub, "x").authorization("tok-123"),
            "Bearer tok-123"
        );
    }
}
