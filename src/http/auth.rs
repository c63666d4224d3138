//! Reading the caller's credential from a request: `Authorization: Bearer TOKEN` (or the bare
//! token, as Drone clients send it) or `?access_token=TOKEN`. And the permission checks the API
//! makes for now: reading needs any valid token, changing repositories needs an admin.

use super::State;
use crate::error::Error;
use crate::store::Identity;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

/// The authenticated caller of an API request.
pub struct Caller(pub Identity);

impl Caller {
    /// Refuses callers that are not administrators.
    pub fn require_admin(&self) -> Result<(), Error> {
        if self.0.user.admin {
            Ok(())
        } else {
            Err(Error::Forbidden("this needs an administrator".into()))
        }
    }
}

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

impl FromRequestParts<State> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &State) -> Result<Self, Error> {
        let token = bearer(parts).ok_or_else(|| {
            Error::Unauthenticated("send an API token: Authorization: Bearer <token>".into())
        })?;
        match app.auth.authenticate(&token).await? {
            Some(identity) => Ok(Caller(identity)),
            None => Err(Error::Unauthenticated(
                "the token is not valid (unknown, expired or revoked)".into(),
            )),
        }
    }
}
