//! `POST /hook`: a forge's webhook. Checked in this order, so a forged request costs no database
//! write and no git work: which forge, which repository (from memory), the signature (constant
//! time, with that repository's secret), then the payload. A redelivery answers with the build
//! the first delivery made.

use super::State;
use crate::error::Error;
use crate::forge::{self, Parsed};
use crate::trigger::HookOutcome;
use axum::body::Bytes;
use axum::extract::State as AppState;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

pub async fn receive(
    AppState(app): AppState<State>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, Error> {
    let body = body.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            Error::TooLarge(format!(
                "webhook payloads over {} bytes are refused",
                super::MAX_HOOK_BYTES
            ))
        } else {
            Error::Malformed(e.body_text())
        }
    })?;
    let forge = forge::forge_of(&headers).ok_or_else(|| {
        Error::Malformed(
            "not a GitHub or Gitea webhook (no X-GitHub-Event or X-Gitea-Event header)".into(),
        )
    })?;
    let full_name = forge::repo_full_name(&body).ok_or_else(|| {
        Error::Malformed("the payload names no repository (repository.full_name)".into())
    })?;
    let repo = app
        .store
        .cached_repo_by_slug(&full_name)
        .await?
        .ok_or_else(|| {
            Error::not_found(format!("repository {full_name} is not active in Hangar"))
        })?;
    if !forge::verify_signature(forge, &headers, &body, repo.webhook_secret.0.as_bytes()) {
        metrics::counter!("hangar_webhooks_total", "outcome" => "bad_signature").increment(1);
        return Err(Error::Unauthenticated(
            "the webhook signature does not match the repository's secret".into(),
        ));
    }
    let parsed =
        forge::parse(forge, &headers, &body).map_err(|e| Error::Malformed(e.to_string()))?;
    let hook = match parsed {
        Parsed::Ignore(reason) => {
            metrics::counter!("hangar_webhooks_total", "outcome" => "ignored").increment(1);
            return Ok(axum::Json(serde_json::json!({ "message": reason })).into_response());
        }
        Parsed::Build(hook) => hook,
    };
    // The secret was chosen by the name read first; the build must be of that same repository.
    if hook.repo_full_name != repo.slug {
        return Err(Error::Malformed(
            "the payload names two different repositories".into(),
        ));
    }
    let outcome = app.trigger.hook(&repo, forge, &hook, &app.authz).await?;
    metrics::counter!("hangar_webhooks_total", "outcome" => "accepted").increment(1);
    Ok(match outcome {
        HookOutcome::Created(build) | HookOutcome::Duplicate(build) => {
            axum::Json(build).into_response()
        }
        HookOutcome::Skipped(reason) => {
            axum::Json(serde_json::json!({ "message": reason })).into_response()
        }
    })
}
