//! Who is calling, and the one authorization function every API route asks.
//!
//! The credential comes from `Authorization: Bearer TOKEN` (or the bare token, as Drone clients
//! send it) or `?access_token=TOKEN`, else from a browser session's cookie (a state-changing
//! request through a session must carry its CSRF token); a request with neither is the anonymous
//! principal (which may read public repositories and nothing else); a credential that does not check out is a
//! 401. [`require`] asks `auth::policy` and, on a denial, writes an `authz.denied` audit event
//! for signed-in callers before answering 404, 403 or 401.

use super::{App, State};
use crate::auth::policy::{Action, Decision, RepoRef};
use crate::auth::principal::Principal;
use crate::domain::{AuditAction, AuditEvent, Outcome, Repo};
use crate::error::{Error, Result};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

fn bearer(parts: &Parts) -> Option<String> {
    if let Some(value) = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let value = value.trim();
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .unwrap_or(value)
            .trim();
        if !token.is_empty() {
            return Some(token.to_string());
        }
    }
    let query = parts.uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

impl FromRequestParts<State> for Principal {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &State) -> Result<Self, Error> {
        let Some(token) = bearer(parts) else {
            let now = app.clock.now_ms();
            return match app.sessions.resolve(&parts.headers, &parts.method, now).await? {
                Some(s) if !s.csrf_ok => Err(Error::Forbidden(
                    "this request changes state: send the session's CSRF token (X-CSRF-Token) from Hangar's own origin".into(),
                )),
                Some(s) => {
                    crate::audit::context::annotate_session(
                        s.session_id.0,
                        &s.provider_sid,
                        &s.id_token_jti,
                        s.auth_time,
                    );
                    Ok(Principal::from_session(s.user, s.groups, s.session_id))
                }
                None => Ok(Principal::anonymous()),
            };
        };
        match app.auth.authenticate(&token).await? {
            Some(identity) => Ok(Principal::from_identity(identity)),
            None => Err(Error::Unauthenticated(
                "the token is not valid (unknown, expired or revoked)".into(),
            )),
        }
    }
}

/// May `principal` do `action` to `repo` (or, with `None`, to the server; `target` is the
/// deploy target of `build.promote`)? Denied: 404 when the caller may not read the repository,
/// 403 when they may read it but not do this, 401 for anonymous callers; signed-in callers'
/// denials are audited.
pub async fn require(
    app: &App,
    principal: &Principal,
    action: Action,
    repo: Option<RepoRef<'_>>,
    target: Option<&str>,
) -> Result<Decision> {
    match app.authz.check(principal, action, repo, target) {
        Ok(decision) => Ok(decision),
        Err(denial) => {
            if principal.signed_in() {
                let what =
                    repo.map_or_else(|| "server".to_string(), |r| format!("repo:{}", r.slug));
                let mut event = AuditEvent::new(&principal.actor(), AuditAction::AuthzDenied, what)
                    .with_detail(serde_json::json!({
                        "action": action.as_str(),
                        "target": target,
                        "reason": denial.decision.to_string(),
                        "policies": &*denial.decision.policies,
                        "policy_version": app.authz.version(),
                    }));
                event.outcome = Outcome::Denied;
                if let Err(e) = app.store.record_audit(&event, app.clock.now_ms()).await {
                    tracing::error!(error = %e.detail(), "could not audit an authorization denial");
                }
            }
            Err(denial.error)
        }
    }
}

/// The active repository `owner/name` if `principal` may do `action` to it. A repository that
/// does not exist answers exactly as one the caller may not see.
pub async fn repo_for(
    app: &App,
    principal: &Principal,
    owner: &str,
    name: &str,
    action: Action,
    target: Option<&str>,
) -> Result<Repo> {
    let slug = format!("{owner}/{name}");
    let Some(repo) = app.store.cached_repo_by_slug(&slug).await? else {
        principal.require_user()?;
        return Err(Error::not_found(format!(
            "repository {slug} is not active in Hangar"
        )));
    };
    require(app, principal, action, Some(RepoRef::from(&repo)), target).await?;
    Ok(repo)
}
