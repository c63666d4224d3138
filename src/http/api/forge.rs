//! `/api/repos/{owner}/{name}/forge`: the credentials commit statuses are posted with. `PUT`
//! sets them (`{"kind": "github"|"gitea"|"forgejo", "token", "api_url"}`), `GET` shows them
//! without the token, `DELETE` removes them. All need `repo.admin`. The token is sealed with the
//! server key as it arrives and never leaves the server again.

use crate::auth::policy::Action;
use crate::auth::principal::Principal;
use crate::domain::{ForgeKind, Slug};
use crate::error::{Error, Result};
use crate::http::State;
use crate::http::auth::repo_for;
use crate::http::extract::{Json, Path};
use crate::store::RepoForge;
use axum::extract::State as AppState;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::fmt;

/// Longest token accepted.
const MAX_TOKEN: usize = 4096;

/// The body of `PUT .../forge`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    kind: String,
    token: String,
    #[serde(default)]
    api_url: Option<String>,
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("kind", &self.kind)
            .field("token", &"<redacted>")
            .field("api_url", &self.api_url)
            .finish()
    }
}

fn view(forge: &RepoForge) -> Value {
    json!({
        "kind": forge.kind.as_str(),
        "api_url": forge.api_url,
        "token_set": true,
        "updated": forge.updated.div_euclid(1000),
    })
}

fn check_api_url(url: &str) -> Result<()> {
    let parsed = url::Url::parse(url)
        .map_err(|e| Error::invalid(format!("api_url {url:?} is not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.query().is_some()
        || !parsed.username().is_empty()
    {
        return Err(Error::invalid(
            "api_url must be an http:// or https:// URL without a query or credentials, like https://ghe.example.com/api/v3",
        ));
    }
    Ok(())
}

fn check_token(token: &str) -> Result<()> {
    if token.is_empty() || token.len() > MAX_TOKEN {
        return Err(Error::invalid(format!(
            "token must be 1 to {MAX_TOKEN} characters"
        )));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(
            "token may not hold spaces, line breaks or control characters",
        ));
    }
    Ok(())
}

pub async fn set(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name)): Path<(String, String)>,
    Json(body): Json<Body>,
) -> Result<axum::Json<Value>> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::RepoAdmin, None).await?;
    let kind = ForgeKind::parse(&body.kind)
        .ok_or_else(|| Error::invalid("kind must be github, gitea or forgejo"))?;
    check_token(&body.token)?;
    let api_url = body
        .api_url
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_default();
    if !api_url.is_empty() {
        check_api_url(&api_url)?;
    } else if kind == ForgeKind::Gitea && crate::commit_status::origin(repo.clone_url()).is_none() {
        return Err(Error::invalid(
            "api_url is needed for Gitea when the clone URL is not an https:// URL of the Gitea server",
        ));
    }
    let slug = Slug::parse(&repo.slug).map_err(Error::Invalid)?;
    let now = app.clock.now_ms();
    let forge = RepoForge {
        repo: repo.id,
        kind,
        api_url,
        sealed_token: app.secrets.seal(body.token.as_bytes()),
        updated: now,
    };
    app.store
        .set_repo_forge(&forge, &slug, &principal.actor(), now)
        .await?;
    Ok(axum::Json(view(&forge)))
}

pub async fn show(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name)): Path<(String, String)>,
) -> Result<axum::Json<Value>> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::RepoAdmin, None).await?;
    let forge = app
        .store
        .find_repo_forge(repo.id)
        .await?
        .ok_or_else(|| Error::not_found(format!("{} has no forge credentials", repo.slug)))?;
    Ok(axum::Json(view(&forge)))
}

pub async fn delete(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name)): Path<(String, String)>,
) -> Result<StatusCode> {
    let repo = repo_for(&app, &principal, &owner, &name, Action::RepoAdmin, None).await?;
    let slug = Slug::parse(&repo.slug).map_err(Error::Invalid)?;
    let gone = app
        .store
        .delete_repo_forge(repo.id, &slug, &principal.actor(), app.clock.now_ms())
        .await?;
    if !gone {
        return Err(Error::not_found(format!(
            "{} has no forge credentials",
            repo.slug
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_with_a_line_break_is_refused() {
        assert!(check_token("abc\ndef").is_err());
        assert!(check_token("").is_err());
        assert!(check_token("ghp_0123456789").is_ok());
    }

    #[test]
    fn an_api_url_must_be_plain_http() {
        assert!(check_api_url("https://ghe.example/api/v3").is_ok());
        assert!(check_api_url("ftp://x").is_err());
        assert!(check_api_url("https://user:pw@x").is_err());
        assert!(check_api_url("not a url").is_err());
    }

    #[test]
    fn the_body_never_prints_its_token() {
        let body = Body {
            kind: "github".into(),
            token: "ghp_secret".into(),
            api_url: None,
        };
        assert!(!format!("{body:?}").contains("ghp_secret"));
    }
}
