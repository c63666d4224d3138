//! `/api/repos/{owner}/{name}/forge`: the credentials commit statuses are posted with. `PUT`
//! sets them (`{"kind": "github"|"gitea"|"forgejo", "token", "api_url"}`, or for GitHub
//! `{"kind": "github", "github_app": true, "installation_id"?}` to post with installation tokens
//! of the server's GitHub App), `GET` shows them without the token, `DELETE` removes them. All
//! need `repo.admin`. The token is sealed with the server key as it arrives and never leaves the
//! server again.

use crate::auth::policy::Action;
use crate::auth::principal::Principal;
use crate::domain::{ForgeKind, Slug};
use crate::error::{Error, Result};
use crate::http::State;
use crate::http::auth::repo_for;
use crate::http::extract::{Json, Path};
use crate::store::{ForgeAuth, RepoForge};
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
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    api_url: Option<String>,
    /// Post as the server's GitHub App instead of with a token.
    #[serde(default)]
    github_app: bool,
    /// The App's installation for this repository (looked up from the repository if unset).
    #[serde(default)]
    installation_id: Option<i64>,
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("kind", &self.kind)
            .field("token", &"<redacted>")
            .field("api_url", &self.api_url)
            .field("github_app", &self.github_app)
            .field("installation_id", &self.installation_id)
            .finish()
    }
}

fn view(forge: &RepoForge) -> Value {
    let (github_app, installation) = match forge.auth {
        ForgeAuth::Token => (false, None),
        ForgeAuth::GitHubApp { installation } => (true, installation),
    };
    json!({
        "kind": forge.kind.as_str(),
        "api_url": forge.api_url,
        "token_set": !github_app,
        "github_app": github_app,
        "installation_id": installation,
        "updated": forge.updated.div_euclid(1000),
    })
}

/// How the body asks statuses to be authorised, and the token to seal (empty for the App).
fn auth_of(body: &Body, kind: ForgeKind, app_configured: bool) -> Result<(ForgeAuth, String)> {
    if !body.github_app {
        if body.installation_id.is_some() {
            return Err(Error::invalid(
                "installation_id goes with \"github_app\": true",
            ));
        }
        let token = body.token.clone().unwrap_or_default();
        check_token(&token)?;
        return Ok((ForgeAuth::Token, token));
    }
    if kind != ForgeKind::GitHub {
        return Err(Error::invalid("github_app is for kind github only"));
    }
    if body.token.is_some() {
        return Err(Error::invalid(
            "give either a token or \"github_app\": true, not both",
        ));
    }
    if body.installation_id.is_some_and(|id| id <= 0) {
        return Err(Error::invalid("installation_id must be a positive number"));
    }
    if !app_configured {
        return Err(Error::invalid(
            "this server has no GitHub App: set github_app_id and github_app_key_file \
             (HANGAR_GITHUB_APP_ID, HANGAR_GITHUB_APP_KEY_FILE) first",
        ));
    }
    Ok((
        ForgeAuth::GitHubApp {
            installation: body.installation_id,
        },
        String::new(),
    ))
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
    let (auth, token) = auth_of(&body, kind, app.config.statuses.github_app.is_some())?;
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
        sealed_token: app.secrets.seal(token.as_bytes()),
        auth,
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
            token: Some("ghp_secret".into()),
            api_url: None,
            github_app: false,
            installation_id: None,
        };
        assert!(!format!("{body:?}").contains("ghp_secret"));
    }

    fn app_body(installation_id: Option<i64>) -> Body {
        Body {
            kind: "github".into(),
            token: None,
            api_url: None,
            github_app: true,
            installation_id,
        }
    }

    #[test]
    fn the_github_app_is_for_github_on_a_server_that_has_one() {
        let (auth, token) = auth_of(&app_body(Some(7)), ForgeKind::GitHub, true).expect("ok");
        assert_eq!(
            auth,
            ForgeAuth::GitHubApp {
                installation: Some(7)
            }
        );
        assert!(token.is_empty());
        let err = auth_of(&app_body(None), ForgeKind::GitHub, false).expect_err("no app");
        assert!(err.to_string().contains("github_app_id"), "{err}");
        assert!(auth_of(&app_body(None), ForgeKind::Gitea, true).is_err());
        assert!(auth_of(&app_body(Some(0)), ForgeKind::GitHub, true).is_err());
        let mut both = app_body(None);
        both.token = Some("ghp_x".into());
        assert!(auth_of(&both, ForgeKind::GitHub, true).is_err());
    }

    #[test]
    fn a_token_is_needed_without_the_app() {
        let mut body = app_body(None);
        body.github_app = false;
        assert!(auth_of(&body, ForgeKind::GitHub, true).is_err());
        body.token = Some("ghp_x".into());
        assert_eq!(
            auth_of(&body, ForgeKind::GitHub, false).expect("ok").0,
            ForgeAuth::Token
        );
    }
}
