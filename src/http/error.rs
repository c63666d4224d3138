//! The one place where error kinds become API responses: a status code and a JSON body
//! `{"message": ...}`. A 5xx is logged here, once, inside the request's span (which carries the
//! request id); its body says only "internal error" and the request id.

use crate::error::Error;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = match &self {
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Malformed(_) => StatusCode::BAD_REQUEST,
            Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let message = self.to_string();
        let mut response = (
            status,
            axum::Json(serde_json::json!({ "message": message })),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"hangar\""),
            );
        }
        response
    }
}

/// An error answered in SCIM's shape (RFC 7644 §3.12) at `/scim/v2`: the same kinds, with SCIM's
/// `scimType` where it has one, `status` as a string, and `message` as everywhere else. Bad
/// input is 400 (SCIM has no 422), a duplicate 409 `uniqueness`.
#[derive(Debug)]
pub struct ScimError {
    pub error: Error,
    pub scim_type: Option<&'static str>,
}

impl From<Error> for ScimError {
    fn from(error: Error) -> ScimError {
        ScimError {
            error,
            scim_type: None,
        }
    }
}

impl From<crate::scim::Bad> for ScimError {
    fn from(bad: crate::scim::Bad) -> ScimError {
        ScimError {
            error: Error::Invalid(bad.detail),
            scim_type: Some(bad.scim_type),
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let (status, default_type) = match &self.error {
            Error::NotFound(_) => (StatusCode::NOT_FOUND, None),
            Error::Conflict(_) => (StatusCode::CONFLICT, Some("uniqueness")),
            Error::Malformed(_) => (StatusCode::BAD_REQUEST, Some("invalidSyntax")),
            Error::Invalid(_) => (StatusCode::BAD_REQUEST, Some("invalidValue")),
            Error::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, None),
            Error::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, None),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, None),
            Error::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "SCIM request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, None)
            }
        };
        let message = self.error.to_string();
        let mut body = serde_json::json!({
            "schemas": [crate::scim::ERROR_SCHEMA],
            "status": status.as_u16().to_string(),
            "detail": message,
            "message": message,
        });
        if let Some(t) = self.scim_type.or(default_type) {
            body["scimType"] = t.into();
        }
        let mut response = (status, body.to_string()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/scim+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"hangar-scim\""),
            );
        }
        response
    }
}
