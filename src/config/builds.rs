//! What happens to builds after they run: commit statuses posted to the forge, and retention
//! (how long builds and their logs are kept).

use super::parse_duration;
use anyhow::bail;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The keys of this part, as in `hangar.toml`.
pub const KEYS: &[&str] = &[
    "forge_status_attempts",
    "forge_status_backoff",
    "github_app_id",
    "github_app_key_file",
    "build_retention",
    "build_retention_count",
    "log_retention",
    "log_retention_count",
    "retention_interval",
    "retention_batch",
];

#[derive(Debug, Default, Deserialize)]
pub(super) struct FileBuilds {
    forge_status_attempts: Option<toml::Value>,
    forge_status_backoff: Option<toml::Value>,
    github_app_id: Option<toml::Value>,
    github_app_key_file: Option<toml::Value>,
    build_retention: Option<toml::Value>,
    build_retention_count: Option<toml::Value>,
    log_retention: Option<toml::Value>,
    log_retention_count: Option<toml::Value>,
    retention_interval: Option<toml::Value>,
    retention_batch: Option<toml::Value>,
}

/// How commit statuses are posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSettings {
    /// Attempts per status before it is given up (recorded on the build as `failed`).
    pub attempts: u32,
    /// The pause after the first failed attempt; it doubles after each further one.
    pub backoff: Duration,
    /// The GitHub API for repositories that name none (`github_api_url`, GitHub Enterprise:
    /// `https://HOST/api/v3`).
    pub github_api_url: String,
    /// The server's GitHub App, for repositories whose statuses use installation tokens.
    pub github_app: Option<GitHubAppSettings>,
}

/// A GitHub App: its id (or client id) and the file holding its private key (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubAppSettings {
    pub id: String,
    pub key_file: PathBuf,
}

impl Default for StatusSettings {
    fn default() -> Self {
        StatusSettings {
            attempts: 6,
            backoff: Duration::from_secs(2),
            github_api_url: "https://api.github.com".into(),
            github_app: None,
        }
    }
}

/// How long finished builds and their logs are kept. Each limit is off when `None`; a build
/// goes as soon as one of its limits says so. Logs usually go first (shorter limits), then the
/// build records with their stages and steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Builds finished longer ago than this are deleted.
    pub builds_for: Option<Duration>,
    /// Only the newest this many builds of each repository are kept.
    pub builds_kept: Option<u64>,
    /// Logs of builds finished longer ago than this are deleted.
    pub logs_for: Option<Duration>,
    /// Only the newest this many builds of each repository keep their logs.
    pub logs_kept: Option<u64>,
    /// How often the purge runs.
    pub interval: Duration,
    /// Builds deleted (or whose logs are deleted) per transaction, so no purge holds the
    /// database for long.
    pub batch: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            builds_for: None,
            builds_kept: None,
            logs_for: None,
            logs_kept: None,
            interval: Duration::from_secs(3600),
            batch: 200,
        }
    }
}

impl Retention {
    /// Whether any limit is set (otherwise nothing is ever purged and no task runs).
    pub fn enabled(&self) -> bool {
        self.builds_for.is_some()
            || self.builds_kept.is_some()
            || self.logs_for.is_some()
            || self.logs_kept.is_some()
    }
}

/// Reads this part from the file's values and the environment (which wins).
pub(super) fn load(
    file: FileBuilds,
    env: &BTreeMap<String, String>,
    file_github_api: Option<String>,
) -> anyhow::Result<(StatusSettings, Retention)> {
    let value = |key: &str, file: Option<toml::Value>| -> Option<String> {
        env.get(&format!("HANGAR_{}", key.to_ascii_uppercase()))
            .cloned()
            .or_else(|| {
                file.map(|v| match v {
                    toml::Value::String(s) => s,
                    other => other.to_string(),
                })
            })
    };
    let duration = |key: &str, file: Option<toml::Value>| -> anyhow::Result<Option<Duration>> {
        match value(key, file) {
            None => Ok(None),
            Some(v) => parse_duration(&v)
                .map(Some)
                .map_err(|e| anyhow::anyhow!("{key} (HANGAR_{}): {e}", key.to_ascii_uppercase())),
        }
    };
    let count = |key: &str, file: Option<toml::Value>| -> anyhow::Result<Option<u64>> {
        match value(key, file) {
            None => Ok(None),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if n > 0 => Ok(Some(n)),
                _ => bail!(
                    "{key} (HANGAR_{}) = {v:?} must be a whole number above 0",
                    key.to_ascii_uppercase()
                ),
            },
        }
    };
    let defaults = StatusSettings::default();
    let statuses = StatusSettings {
        attempts: match count("forge_status_attempts", file.forge_status_attempts)? {
            Some(n) => u32::try_from(n.min(100)).unwrap_or(100),
            None => defaults.attempts,
        },
        backoff: duration("forge_status_backoff", file.forge_status_backoff)?
            .unwrap_or(defaults.backoff),
        github_api_url: env
            .get("HANGAR_GITHUB_API_URL")
            .cloned()
            .or(file_github_api)
            .filter(|u| !u.is_empty())
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or(defaults.github_api_url),
        github_app: match (
            value("github_app_id", file.github_app_id).filter(|v| !v.is_empty()),
            value("github_app_key_file", file.github_app_key_file).filter(|v| !v.is_empty()),
        ) {
            (Some(id), Some(key_file)) => Some(GitHubAppSettings {
                id,
                key_file: PathBuf::from(key_file),
            }),
            (None, None) => None,
            _ => bail!(
                "github_app_id (HANGAR_GITHUB_APP_ID) and github_app_key_file \
                 (HANGAR_GITHUB_APP_KEY_FILE) go together: set both or neither"
            ),
        },
    };
    // A zero duration switches a limit off, like an unset one.
    let nonzero = |d: Option<Duration>| d.filter(|d| !d.is_zero());
    let defaults = Retention::default();
    let retention = Retention {
        builds_for: nonzero(duration("build_retention", file.build_retention)?),
        builds_kept: count("build_retention_count", file.build_retention_count)?,
        logs_for: nonzero(duration("log_retention", file.log_retention)?),
        logs_kept: count("log_retention_count", file.log_retention_count)?,
        interval: match duration("retention_interval", file.retention_interval)? {
            Some(d) if d < Duration::from_millis(100) => {
                bail!("retention_interval (HANGAR_RETENTION_INTERVAL) must be at least 100ms")
            }
            Some(d) => d,
            None => defaults.interval,
        },
        batch: match count("retention_batch", file.retention_batch)? {
            Some(n) => u32::try_from(n.min(10_000)).unwrap_or(10_000),
            None => defaults.batch,
        },
    };
    Ok((statuses, retention))
}

#[cfg(test)]
mod tests {
    use super::super::tests::env;
    use super::*;

    #[test]
    fn retention_is_off_unless_a_limit_is_set() {
        let (_, retention) = load(FileBuilds::default(), &env(&[]), None).expect("loads");
        assert!(!retention.enabled());
        let (_, retention) = load(
            FileBuilds::default(),
            &env(&[
                ("HANGAR_LOG_RETENTION", "7d"),
                ("HANGAR_BUILD_RETENTION_COUNT", "500"),
            ]),
            None,
        )
        .expect("loads");
        assert!(retention.enabled());
        assert_eq!(retention.logs_for, Some(Duration::from_secs(7 * 86400)));
        assert_eq!(retention.builds_kept, Some(500));
    }

    #[test]
    fn a_github_app_needs_its_id_and_its_key_file() {
        let (statuses, _) = load(
            FileBuilds::default(),
            &env(&[
                ("HANGAR_GITHUB_APP_ID", "4242"),
                ("HANGAR_GITHUB_APP_KEY_FILE", "/etc/hangar/app.pem"),
            ]),
            None,
        )
        .expect("loads");
        let app = statuses.github_app.expect("an app");
        assert_eq!(app.id, "4242");
        assert_eq!(app.key_file, PathBuf::from("/etc/hangar/app.pem"));
        let err = load(
            FileBuilds::default(),
            &env(&[("HANGAR_GITHUB_APP_ID", "4242")]),
            None,
        )
        .expect_err("refused");
        assert!(err.to_string().contains("github_app_key_file"), "{err}");
    }

    #[test]
    fn a_count_of_zero_or_words_is_refused_naming_the_key() {
        let err = load(
            FileBuilds::default(),
            &env(&[("HANGAR_LOG_RETENTION_COUNT", "0")]),
            None,
        )
        .expect_err("refused");
        assert!(err.to_string().contains("log_retention_count"), "{err}");
        let err = load(
            FileBuilds::default(),
            &env(&[("HANGAR_FORGE_STATUS_BACKOFF", "soon")]),
            None,
        )
        .expect_err("refused");
        assert!(err.to_string().contains("forge_status_backoff"), "{err}");
    }
}
