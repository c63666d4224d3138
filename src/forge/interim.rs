//! Interim entry points while the payload parsers are written.

use super::{Forge, Parsed};

/// What is wrong with a payload.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

pub fn forge_of(_headers: &http::HeaderMap) -> Option<Forge> {
    None
}

pub fn repo_full_name(_body: &[u8]) -> Option<String> {
    None
}

pub fn verify_signature(
    _forge: Forge,
    _headers: &http::HeaderMap,
    _body: &[u8],
    _secret: &[u8],
) -> bool {
    false
}

pub fn parse(
    _forge: Forge,
    _headers: &http::HeaderMap,
    _body: &[u8],
) -> Result<Parsed, ParseError> {
    Err(ParseError("not built yet".into()))
}
