//! Remote runners: identities that lease stages over HTTP, each with its own token (stored
//! hashed), scoped to one label set and optionally to repositories. Pure: parsing what an
//! operator types, and the rules a lease request must keep.

use super::ids::RunnerId;
use serde::Serialize;
use std::collections::BTreeMap;

/// A registered remote runner. Its token is never here (only its display prefix).
#[derive(Debug, Clone, Serialize)]
pub struct Runner {
    pub id: RunnerId,
    pub name: String,
    /// `hgr_rn_AbCd`: enough to recognise the token, too little to guess it.
    pub prefix: String,
    /// The labels the runner leases with: exactly a pipeline's `node:` (Drone's rule).
    pub labels: BTreeMap<String, String>,
    /// Repositories (`owner/name`, `*` within a part: `acme/*`) it may run stages of; empty: any.
    pub repos: Vec<String>,
    /// What the runner last reported of itself.
    pub os: String,
    pub arch: String,
    pub capacity: i64,
    pub version: String,
    /// Unix milliseconds.
    pub created: i64,
    pub created_by: String,
    /// Its last heartbeat (Unix milliseconds; 0: never seen).
    pub last_seen: i64,
    /// When it was revoked (0: it is live).
    pub revoked: i64,
}

/// Checks a runner's name: 1 to 64 letters, digits, `_`, `-` and `.`.
pub fn check_name(name: &str) -> Result<(), String> {
    super::check_name("runner", name, 64)
}

/// Checks a repository scope of a runner: `owner/name`, where either part may hold `*`, which
/// stands for any run of characters within that part (`acme/*`: every repository of `acme`;
/// `*/api-*`).
pub fn check_repo_scope(pattern: &str) -> Result<(), String> {
    let Some((owner, name)) = pattern.split_once('/') else {
        return Err(format!("{pattern:?} is not of the form owner/name"));
    };
    let stand_in = |part: &str| part.replace('*', "x");
    super::Slug::new(&stand_in(owner), &stand_in(name)).map(|_| ())
}

/// A checked repository scope as a PostgreSQL `LIKE` pattern: `*` becomes `%`, and `_` (a
/// `LIKE` wildcard, but a plain character in a repository name) is escaped.
pub fn scope_like(pattern: &str) -> String {
    pattern.replace('_', "\\_").replace('*', "%")
}

/// Parses `key=value,key=value` (what `--labels` and `HANGAR_RUNNER_LABELS` take). Empty text
/// is no labels.
pub fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!("label {pair:?} is not key=value"));
        };
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() {
            return Err(format!("label {pair:?} has no key"));
        }
        if labels.insert(key.to_string(), value.to_string()).is_some() {
            return Err(format!("label {key:?} is given twice"));
        }
    }
    Ok(labels)
}

/// Labels written back as `key=value,key=value`.
pub fn labels_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_scope_is_a_slug_whose_parts_may_hold_wildcards() {
        for good in ["acme/api", "acme/*", "*/api-*", "a_b/c.d"] {
            assert_eq!(check_repo_scope(good), Ok(()), "{good}");
        }
        for bad in [
            "acme",
            "acme/api/x",
            "acme/a?i",
            "acme/[ab]",
            "/api",
            "acme/",
        ] {
            assert!(check_repo_scope(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_scope_becomes_a_like_pattern_whose_only_wildcards_are_its_stars() {
        assert_eq!(scope_like("my_org/*"), "my\\_org/%");
        assert_eq!(scope_like("acme/api"), "acme/api");
    }

    #[test]
    fn labels_read_as_key_value_pairs_separated_by_commas() {
        let labels = parse_labels("gpu=yes, zone = eu,").expect("labels");
        assert_eq!(labels_text(&labels), "gpu=yes,zone=eu");
        assert!(parse_labels("").expect("none").is_empty());
    }

    #[test]
    fn a_label_without_a_value_or_given_twice_is_refused() {
        assert!(parse_labels("gpu").is_err());
        assert!(parse_labels("=x").is_err());
        assert!(parse_labels("a=1,a=2").is_err());
    }

    #[test]
    fn a_runner_name_is_a_plain_word() {
        assert!(check_name("builder-1.eu").is_ok());
        assert!(check_name("two words").is_err());
        assert!(check_name("").is_err());
    }
}
