//! One [`Config`], loaded once at start: defaults, then `hangar.toml`, then `HANGAR_*`
//! environment variables (later wins). Passed explicitly to whatever needs it; never global.
//! `hangar.example.toml` documents every key (a test keeps it true).

use anyhow::{Context, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A value that must never be printed: its `Debug` and `Display` are redacted.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for hashing or sending; never for logging.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything the server and the admin commands are configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the server listens.
    pub addr: SocketAddr,
    /// The public URL users and forges reach the server at (links, `DRONE_SYSTEM_*`).
    pub server_url: String,
    /// Where Hangar keeps its SQLite database, git mirrors and step workspaces.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://...`.
    pub database_url: String,
    /// The bootstrap admin account's API token, if set.
    pub admin_token: Option<Secret>,
    /// Stages the in-process runner runs at once (0: none; only remote runners run stages).
    pub runner_capacity: usize,
    /// How long a remote runner may stay silent before its leases end ("runner lost").
    pub runner_timeout: Duration,
    /// Bytes of log kept per step; the rest is cut with a visible marker.
    pub log_limit: u64,
    /// Time between SIGTERM and SIGKILL when a step is cancelled or times out.
    pub cancel_grace: Duration,
    /// Whether exec steps run inside bubblewrap (`auto`: when `bwrap` works here).
    pub sandbox: SandboxMode,
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-For` is believed for the client's
    /// address (`trusted_proxies`, comma-separated); empty: the peer's address is the client's.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The configuration file read, if any (hidden from sandboxed steps: it may hold secrets).
    pub config_file: Option<PathBuf>,
    /// `tracing` filter (`info`, `hangar=debug`, ...).
    pub log: String,
    pub log_format: LogFormat,
    /// Login providers, sessions, roles and policy, tokens.
    pub identity: identity::IdentityConfig,
    /// How commit statuses are posted to the forge.
    pub statuses: StatusSettings,
    /// How long finished builds and their logs are kept.
    pub retention: Retention,
}

/// Whether exec steps run inside bubblewrap (`bwrap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxMode {
    /// When `bwrap` is installed and works here; otherwise unsandboxed, with a warning.
    Auto,
    /// Always; the server refuses to start without a working `bwrap`.
    On,
    /// Never.
    Off,
}

/// Every key: its name in `hangar.toml` (the environment variable is `HANGAR_` + upper case).
/// `roles` is a table array, only in the file.
pub const KEYS: &[&str] = &[
    "oidc_issuer",
    "oidc_client_id",
    "oidc_client_secret",
    "oidc_client_secret_file",
    "oidc_scopes",
    "oidc_groups_claim",
    "github_client_id",
    "github_client_secret",
    "github_url",
    "github_api_url",
    "session_idle_timeout",
    "session_absolute_timeout",
    "session_revalidate",
    "session_revalidate_grace",
    "admin_password",
    "policy_file",
    "protected_targets",
    "token_max_expiry",
    "device_poll_interval",
    "secret_key_file",
    "audit_retention",
    "audit_file",
    "audit_http_url",
    "audit_syslog",
    "scim_match_claim",
    "allowed_groups",
    "allowed_email_domains",
    "roles",
    "addr",
    "server_url",
    "data_dir",
    "database_url",
    "admin_token",
    "runner_capacity",
    "runner_timeout",
    "log_limit",
    "cancel_grace",
    "sandbox",
    "trusted_proxies",
    "log",
    "log_format",
];

/// `HANGAR_*` variables that are not config keys but are read elsewhere (client commands, tests).
const OTHER_VARIABLES: &[&str] = &[
    "HANGAR_CONFIG",
    "HANGAR_SERVER",
    "HANGAR_TOKEN",
    "HANGAR_TEST_DATABASE_URL",
    "HANGAR_RUNNER_TOKEN",
    "HANGAR_RUNNER_LABELS",
];

#[derive(Debug, Default, Deserialize)]
struct FileConfig {
    addr: Option<String>,
    server_url: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    admin_token: Option<Secret>,
    runner_capacity: Option<toml::Value>,
    runner_timeout: Option<toml::Value>,
    log_limit: Option<toml::Value>,
    cancel_grace: Option<toml::Value>,
    sandbox: Option<String>,
    trusted_proxies: Option<toml::Value>,
    log: Option<String>,
    log_format: Option<String>,
    #[serde(flatten)]
    identity: identity::FileIdentity,
    #[serde(flatten)]
    builds: builds::FileBuilds,
}

/// The outcome of loading: the config and what the operator should be told once logging runs.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
}

impl Config {
    /// Loads from `file` (or `hangar.toml` in the working directory, if present) and the given
    /// environment.
    pub fn load(file: Option<&Path>, env: &BTreeMap<String, String>) -> anyhow::Result<Loaded> {
        let mut warnings = Vec::new();
        let explicit = file
            .map(Path::to_path_buf)
            .or_else(|| env.get("HANGAR_CONFIG").map(PathBuf::from));
        let path = explicit.clone().or_else(|| {
            let default = PathBuf::from("hangar.toml");
            default.exists().then_some(default)
        });
        // `github_api_url` serves GitHub logins (identity) and commit statuses alike.
        let mut file_github_api = None;
        let from_file = match &path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                let table: toml::Table = toml::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
                // Unknown keys are refused, naming the key: a typo must not silently do nothing.
                if let Some(key) = table
                    .keys()
                    .find(|k| !KEYS.contains(&k.as_str()) && !builds::KEYS.contains(&k.as_str()))
                {
                    bail!(
                        "{}: unknown key {key:?} (see hangar.example.toml for every key)",
                        path.display()
                    );
                }
                file_github_api = table
                    .get("github_api_url")
                    .and_then(|v| v.as_str())
                    .map(str::to_string);
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?
            }
            None => FileConfig::default(),
        };
        for name in env.keys().filter(|k| k.starts_with("HANGAR_")) {
            let key = name["HANGAR_".len()..].to_ascii_lowercase();
            if !KEYS.contains(&key.as_str())
                && !builds::KEYS.contains(&key.as_str())
                && !OTHER_VARIABLES.contains(&name.as_str())
            {
                warnings.push(format!(
                    "unknown environment variable {name} is ignored (known: {})",
                    KEYS.iter()
                        .map(|k| format!("HANGAR_{}", k.to_ascii_uppercase()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        let var = |key: &str| env.get(&format!("HANGAR_{}", key.to_ascii_uppercase()));
        let text = |key: &str, file: Option<String>| var(key).cloned().or(file);
        let value = |key: &str, file: Option<toml::Value>| -> Option<String> {
            var(key).cloned().or_else(|| {
                file.map(|v| match v {
                    toml::Value::String(s) => s,
                    other => other.to_string(),
                })
            })
        };

        let addr_text = text("addr", from_file.addr).unwrap_or_else(|| "127.0.0.1:8080".into());
        let addr: SocketAddr = addr_text.parse().map_err(|_| {
            anyhow::anyhow!(
                "addr (HANGAR_ADDR) = {addr_text:?} is not an address like 127.0.0.1:8080"
            )
        })?;
        let server_url = text("server_url", from_file.server_url)
            .unwrap_or_else(|| format!("http://{addr}"))
            .trim_end_matches('/')
            .to_string();
        let parsed_url = url::Url::parse(&server_url).map_err(|e| {
            anyhow::anyhow!(
                "server_url (HANGAR_SERVER_URL) = {server_url:?} is not a URL ({e}); give the public URL, like https://ci.example.com"
            )
        })?;
        if !matches!(parsed_url.scheme(), "http" | "https") {
            bail!("server_url (HANGAR_SERVER_URL) must start with http:// or https://");
        }
        let data_dir = var("data_dir")
            .map(PathBuf::from)
            .or(from_file.data_dir)
            .unwrap_or_else(|| PathBuf::from("hangar-data"));
        let database_url = text("database_url", from_file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("hangar.db").display()));
        if !database_url.starts_with("sqlite:")
            && !database_url.starts_with("postgres://")
            && !database_url.starts_with("postgresql://")
        {
            bail!(
                "database_url (HANGAR_DATABASE_URL) must start with sqlite:// or postgres:// (got a value starting {:?})",
                database_url.chars().take(12).collect::<String>()
            );
        }
        let admin_token = var("admin_token")
            .map(|v| Secret::new(v.clone()))
            .or(from_file.admin_token)
            .filter(|s| !s.expose().is_empty());
        if let Some(token) = &admin_token
            && token.expose().len() < 16
        {
            bail!(
                "admin_token (HANGAR_ADMIN_TOKEN) is too short: use at least 16 random characters, e.g. from `openssl rand -hex 32`"
            );
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let runner_capacity = match value("runner_capacity", from_file.runner_capacity) {
            Some(v) => v.trim().parse::<usize>().ok().ok_or_else(|| {
                anyhow::anyhow!("runner_capacity (HANGAR_RUNNER_CAPACITY) = {v:?} must be a whole number of stages (0: no in-process runner)")
            })?,
            None => 2 * cores,
        };
        let runner_timeout = match value("runner_timeout", from_file.runner_timeout) {
            Some(v) => parse_duration(&v)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "runner_timeout (HANGAR_RUNNER_TIMEOUT) = {v:?} must be a duration above zero, like 60s"
                    )
                })?,
            None => Duration::from_secs(60),
        };
        let log_limit = match value("log_limit", from_file.log_limit) {
            Some(v) => {
                parse_size(&v).map_err(|e| anyhow::anyhow!("log_limit (HANGAR_LOG_LIMIT): {e}"))?
            }
            None => 1 << 30,
        };
        let cancel_grace = match value("cancel_grace", from_file.cancel_grace) {
            Some(v) => parse_duration(&v)
                .map_err(|e| anyhow::anyhow!("cancel_grace (HANGAR_CANCEL_GRACE): {e}"))?,
            None => Duration::from_secs(10),
        };
        let sandbox = match text("sandbox", from_file.sandbox).as_deref() {
            None | Some("auto") => SandboxMode::Auto,
            Some("on") => SandboxMode::On,
            Some("off") => SandboxMode::Off,
            Some(other) => bail!("sandbox (HANGAR_SANDBOX) = {other:?} must be auto, on or off"),
        };
        let trusted_proxies = match value("trusted_proxies", from_file.trusted_proxies) {
            Some(v) => parse_proxies(&v)?,
            None => Vec::new(),
        };
        let log = text("log", from_file.log).unwrap_or_else(|| "info".into());
        let log_format = match text("log_format", from_file.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => bail!("log_format (HANGAR_LOG_FORMAT) = {other:?} must be text or json"),
        };
        let identity = identity::IdentityConfig::load(from_file.identity, env, &data_dir)?;
        let (statuses, retention) = builds::load(from_file.builds, env, file_github_api)?;
        Ok(Loaded {
            config: Config {
                addr,
                server_url,
                data_dir,
                database_url,
                admin_token,
                runner_capacity,
                runner_timeout,
                log_limit,
                cancel_grace,
                sandbox,
                trusted_proxies,
                config_file: path,
                log,
                log_format,
                identity,
                statuses,
                retention,
            },
            warnings,
        })
    }

    /// The SQLite database's file, if the database is SQLite (and not in memory).
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        let url = &self.database_url;
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or(rest);
        (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
    }

    /// Loads from the process environment.
    pub fn from_env(file: Option<&Path>) -> anyhow::Result<Loaded> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Config::load(file, &env)
    }
}

/// Parses `90s`, `5m`, `1h`, `250ms` or plain seconds (`30`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| {
        format!("{text:?} is not a duration like 90s, 5m, 1h or a number of seconds")
    })?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "d" => n * 86400.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "{text:?} has an unknown unit; use ms, s, m, h or d"
            ));
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("{text:?} is not a positive duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses `1GiB`, `512MiB`, `64KiB`, `10MB`, or a plain number of bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 1GiB, 512MiB or a number of bytes"))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => {
            return Err(format!(
                "{text:?} has an unknown unit; use B, KiB, MiB, GiB, KB, MB or GB"
            ));
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too large"))
}

mod builds;
pub use builds::{GitHubAppSettings, Retention, StatusSettings};
mod identity;
pub use identity::{
    AuditSinks, GitHubSettings, IdentityConfig, OidcSettings, ProviderOrigin, RoleGrant,
    SecretSource,
};

#[cfg(test)]
mod tests;

/// `trusted_proxies`: addresses or CIDR ranges, separated by commas (a TOML array's items are
/// joined the same way).
fn parse_proxies(text: &str) -> anyhow::Result<Vec<ipnet::IpNet>> {
    text.trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|s| s.trim().trim_matches('"'))
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    anyhow::anyhow!(
                        "trusted_proxies (HANGAR_TRUSTED_PROXIES): {s:?} is not an address or a CIDR range like 10.0.0.0/8"
                    )
                })
        })
        .collect()
}
