//! The style sheet and scripts, compiled in and served at `/assets/{file}`. Pages link them with
//! `?v=` and a hash of their content, so browsers may keep them a year and still never run an
//! old script against a new page.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

const FILES: [(&str, &str, &str); 3] = [
    (
        "hangar.css",
        "text/css; charset=utf-8",
        include_str!("../../../static/web/hangar.css"),
    ),
    (
        "hangar.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../static/web/hangar.js"),
    ),
    (
        "build.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../static/web/build.js"),
    ),
];

fn versions() -> &'static [String; 3] {
    static V: OnceLock<[String; 3]> = OnceLock::new();
    V.get_or_init(|| FILES.map(|(_, _, body)| hex::encode(&Sha256::digest(body)[..6])))
}

/// The address of asset `name`, with its version.
pub fn url(name: &str) -> String {
    match FILES.iter().position(|(n, _, _)| *n == name) {
        Some(i) => format!("/assets/{name}?v={}", versions()[i]),
        None => format!("/assets/{name}"),
    }
}

/// `GET /assets/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    let Some((_, kind, body)) = FILES.iter().find(|(n, _, _)| *n == file) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let mut response = (StatusCode::OK, *body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}
