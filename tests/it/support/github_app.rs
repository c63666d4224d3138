//! The GitHub App part of the forge stand-in (a mock: GitHub cannot be reached here), as GitHub
//! documents it: `GET /repos/{owner}/{repo}/installation` and
//! `POST /app/installations/{id}/access_tokens`, both authorised by the App's JWT (RS256, `iss`
//! the App id, `exp` at most ten minutes after `iat`), answering `401 {"message": "A JSON web
//! token could not be decoded"}` otherwise. Issued tokens (`ghs_...`, `expires_at` an hour on)
//! are then taken by the statuses endpoint until revoked.

use super::forge::Shared;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use std::sync::Arc;

/// A test App: its id, keys and one installation.
pub struct AppStandIn {
    pub id: String,
    public_der: Vec<u8>,
    pub installation: i64,
    /// Tokens issued, in order, with whether they were revoked.
    pub issued: Vec<(String, bool)>,
    /// The bodies of the access-token requests.
    pub token_requests: Vec<Value>,
}

impl AppStandIn {
    /// Tokens the statuses endpoint takes.
    pub fn live_tokens(&self) -> Vec<String> {
        self.issued
            .iter()
            .filter(|(_, revoked)| !revoked)
            .map(|(t, _)| t.clone())
            .collect()
    }
}

/// A fresh RSA key for a test App: its private key as PEM (PKCS#8), and the App stand-in.
pub fn new_app(id: &str, installation: i64) -> (String, AppStandIn) {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::KeyPair;
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .expect("generate an RSA key");
    let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&key).expect("PKCS#8");
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64"));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    let app = AppStandIn {
        id: id.to_string(),
        public_der: key.public_key().as_ref().to_vec(),
        installation,
        issued: Vec::new(),
        token_requests: Vec::new(),
    };
    (pem, app)
}

fn refuse(code: StatusCode, text: &str) -> Response {
    (code, axum::Json(json!({ "message": text }))).into_response()
}

/// Whether `headers` carry a JWT this App signed, valid now and living at most ten minutes.
fn signed_by_the_app(app: &AppStandIn, headers: &HeaderMap) -> bool {
    let Some(jwt) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[&app.id]);
    validation.set_required_spec_claims(&["exp", "iat", "iss"]);
    validation.validate_aud = false;
    let Ok(data) = jsonwebtoken::decode::<Value>(
        jwt,
        &DecodingKey::from_rsa_der(&app.public_der),
        &validation,
    ) else {
        return false;
    };
    let life = data.claims["exp"].as_i64().unwrap_or(0) - data.claims["iat"].as_i64().unwrap_or(0);
    (1..=600).contains(&life)
}

/// `GET /api/v3/repos/{owner}/{repo}/installation`.
pub async fn installation(
    State(shared): State<Arc<Shared>>,
    Path((owner, _repo)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let app = shared.app.lock().expect("lock");
    let Some(app) = app.as_ref() else {
        return refuse(StatusCode::NOT_FOUND, "Not Found");
    };
    if !signed_by_the_app(app, &headers) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "A JSON web token could not be decoded",
        );
    }
    axum::Json(json!({
        "id": app.installation,
        "app_id": app.id,
        "account": { "login": owner },
        "repository_selection": "selected",
    }))
    .into_response()
}

/// `POST /api/v3/app/installations/{id}/access_tokens`.
pub async fn access_token(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut app = shared.app.lock().expect("lock");
    let Some(app) = app.as_mut() else {
        return refuse(StatusCode::NOT_FOUND, "Not Found");
    };
    if !signed_by_the_app(app, &headers) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "A JSON web token could not be decoded",
        );
    }
    if id != app.installation {
        return refuse(StatusCode::NOT_FOUND, "Not Found");
    }
    app.token_requests
        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
    let token = format!("ghs_standin{:08}", app.issued.len() + 1);
    app.issued.push((token.clone(), false));
    let expires = chrono::Utc::now() + chrono::Duration::hours(1);
    (
        StatusCode::CREATED,
        axum::Json(json!({
            "token": token,
            "expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "permissions": { "statuses": "write" },
            "repository_selection": "selected",
        })),
    )
        .into_response()
}
