//! Interim entry points while the parser is written.

use super::{Conditions, Error, Manifest, MatchContext, Position};

/// Parses a `.drone.yml`.
pub fn parse(_text: &str) -> Result<Manifest, Error> {
    Err(Error::at(
        Position::default(),
        "the parser is not built yet",
    ))
}

impl Conditions {
    pub fn matches_when(&self, _ctx: &MatchContext<'_>) -> bool {
        true
    }
    pub fn matches_trigger(&self, _ctx: &MatchContext<'_>) -> bool {
        true
    }
    pub fn on_success(&self) -> bool {
        true
    }
    pub fn on_failure(&self) -> bool {
        false
    }
}

/// Lints a manifest.
pub fn lint(_manifest: &Manifest, _trusted: bool) -> Result<(), Error> {
    Ok(())
}

/// The resolved plan.
pub fn plan(_manifest: &Manifest) -> serde_json::Value {
    serde_json::Value::Null
}
