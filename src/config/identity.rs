//! The identity part of the configuration: login providers (an external OpenID Connect provider,
//! GitHub, or the embedded provider when neither is set), sessions, roles granted to groups,
//! the policy file, token limits, and the key that encrypts secrets at rest.

use super::{Secret, parse_duration};
use anyhow::bail;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Identity keys as they appear in `hangar.toml`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct FileIdentity {
    oidc_issuer: Option<String>,
    oidc_client_id: Option<String>,
    oidc_client_secret: Option<Secret>,
    oidc_client_secret_file: Option<PathBuf>,
    oidc_scopes: Option<toml::Value>,
    oidc_groups_claim: Option<String>,
    github_client_id: Option<String>,
    github_client_secret: Option<Secret>,
    github_url: Option<String>,
    github_api_url: Option<String>,
    session_idle_timeout: Option<toml::Value>,
    session_absolute_timeout: Option<toml::Value>,
    session_revalidate: Option<toml::Value>,
    session_revalidate_grace: Option<toml::Value>,
    admin_password: Option<Secret>,
    policy_file: Option<PathBuf>,
    protected_targets: Option<toml::Value>,
    token_max_expiry: Option<toml::Value>,
    device_poll_interval: Option<toml::Value>,
    secret_key_file: Option<PathBuf>,
    scim_match_claim: Option<String>,
    allowed_groups: Option<toml::Value>,
    allowed_email_domains: Option<toml::Value>,
    audit_retention: Option<toml::Value>,
    audit_file: Option<PathBuf>,
    audit_http_url: Option<String>,
    audit_syslog: Option<String>,
    #[serde(default)]
    roles: Vec<RoleGrant>,
}

/// Where a client secret comes from: the value itself, or a file re-read when it changes.
#[derive(Debug, Clone)]
pub enum SecretSource {
    Value(Secret),
    File(PathBuf),
}

/// Where the OpenID provider in force was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderOrigin {
    /// `oidc_*` keys in `hangar.toml`.
    File,
    /// `HANGAR_OIDC_*` variables.
    Environment,
    /// Connected from the browser (`/admin/identity`), stored in the database.
    Database,
    /// Hangar's own provider (`{server_url}/oidc`).
    Embedded,
}

impl ProviderOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderOrigin::File => "config file",
            ProviderOrigin::Environment => "environment",
            ProviderOrigin::Database => "database",
            ProviderOrigin::Embedded => "embedded",
        }
    }
}

/// An external OpenID Connect provider.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretSource,
    /// Scopes asked for; `None` = `openid profile email offline_access`, plus `groups` when the
    /// provider lists it.
    pub scopes: Option<Vec<String>>,
    /// Claim holding the groups; a dotted path for nested claims.
    pub groups_claim: String,
    /// Where these settings come from.
    pub origin: ProviderOrigin,
}

/// GitHub (or GitHub Enterprise) OAuth.
#[derive(Debug, Clone)]
pub struct GitHubSettings {
    pub client_id: String,
    pub client_secret: Secret,
    /// Web base URL (authorize and token endpoints), `https://github.com` by default.
    pub url: String,
    /// REST API base URL, `https://api.github.com` by default.
    pub api_url: String,
}

/// Members of `group` get `role` on the repositories matching `repos` (all when empty).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleGrant {
    pub group: String,
    pub role: String,
    #[serde(default)]
    pub repos: Vec<String>,
}

/// Everything about who may log in and what they may do.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// An external OpenID Connect provider; with neither this nor `github`, the embedded
    /// provider serves local users.
    pub oidc: Option<OidcSettings>,
    pub github: Option<GitHubSettings>,
    pub session_idle_timeout: Duration,
    pub session_absolute_timeout: Duration,
    /// How often a session's groups are checked again with the provider.
    pub session_revalidate: Duration,
    /// How long an unreachable provider is tolerated before its sessions end.
    pub session_revalidate_grace: Duration,
    /// The embedded provider's first `admin` password (else a one-time password is printed).
    pub admin_password: Option<Secret>,
    /// Group-to-role grants; `admins` -> `admin` when none is configured.
    pub roles: Vec<RoleGrant>,
    /// Extra Cedar policies, on top of the shipped ones.
    pub policy_file: Option<PathBuf>,
    /// Deploy targets only admins (and explicit policies) may promote to.
    pub protected_targets: Vec<String>,
    /// The longest lifetime a personal or service account token may have.
    pub token_max_expiry: Duration,
    /// How often `hangar login` may poll for its device code's approval (RFC 8628 `interval`).
    pub device_poll_interval: Duration,
    /// The key that encrypts secrets at rest (created on first start).
    pub secret_key_file: PathBuf,
    /// The provider's claim a first login is matched by to a user provisioned over SCIM:
    /// `sub` (Okta: its user id, SCIM's `externalId`), `oid` (Entra ID's object id), any other
    /// claim compared with `externalId`, or `email` (a verified email against the userName or
    /// the email).
    pub scim_match_claim: String,
    /// Just-in-time provisioning allowlist: with either list set, a login through a provider
    /// must be in one of these groups or have a verified email in one of these domains.
    pub allowed_groups: Vec<String>,
    pub allowed_email_domains: Vec<String>,
    /// How long audit entries are kept (`None`: for ever). Pruning leaves a signed checkpoint.
    pub audit_retention: Option<Duration>,
    /// Where audit entries are shipped as they are chained (file, HTTP, syslog).
    pub audit_sinks: AuditSinks,
}

/// Destinations for the audit trail, each fed in chain order from its own saved position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditSinks {
    /// A JSON Lines file, appended to.
    pub file: Option<PathBuf>,
    /// An HTTP endpoint that takes `POST`s of JSON Lines.
    pub http_url: Option<String>,
    /// A syslog collector (`HOST:PORT`, UDP, RFC 5424).
    pub syslog: Option<String>,
}

fn list(v: &str) -> Vec<String> {
    v.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn value_list(v: toml::Value) -> Vec<String> {
    match v {
        toml::Value::Array(items) => items
            .into_iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        toml::Value::String(s) => list(&s),
        other => list(&other.to_string()),
    }
}

fn text(v: toml::Value) -> String {
    match v {
        toml::Value::String(s) => s,
        other => other.to_string(),
    }
}

impl IdentityConfig {
    pub(super) fn load(
        file: FileIdentity,
        env: &std::collections::BTreeMap<String, String>,
        data_dir: &Path,
    ) -> anyhow::Result<IdentityConfig> {
        let var = |key: &str| env.get(&format!("HANGAR_{}", key.to_ascii_uppercase()));
        let string =
            |key: &str, f: Option<String>| var(key).cloned().or(f).filter(|s| !s.is_empty());
        let duration =
            |key: &str, f: Option<toml::Value>, default: Duration| -> anyhow::Result<Duration> {
                match var(key).cloned().or(f.map(text)) {
                    Some(v) => parse_duration(&v).map_err(|e| {
                        anyhow::anyhow!("{key} (HANGAR_{}): {e}", key.to_ascii_uppercase())
                    }),
                    None => Ok(default),
                }
            };

        let origin = if var("oidc_issuer").is_some_and(|v| !v.is_empty()) {
            ProviderOrigin::Environment
        } else {
            ProviderOrigin::File
        };
        let issuer = string("oidc_issuer", file.oidc_issuer);
        let client_id = string("oidc_client_id", file.oidc_client_id);
        let secret = var("oidc_client_secret")
            .map(|v| Secret::new(v.clone()))
            .or(file.oidc_client_secret)
            .filter(|s| !s.expose().is_empty());
        let secret_file = var("oidc_client_secret_file")
            .map(PathBuf::from)
            .or(file.oidc_client_secret_file);
        let oidc = match (issuer, client_id) {
            (None, None) => None,
            (Some(issuer), Some(client_id)) => {
                let client_secret = match (secret, secret_file) {
                    (Some(_), Some(_)) => bail!(
                        "set either oidc_client_secret (HANGAR_OIDC_CLIENT_SECRET) or oidc_client_secret_file (HANGAR_OIDC_CLIENT_SECRET_FILE), not both"
                    ),
                    (Some(s), None) => SecretSource::Value(s),
                    (None, Some(f)) => SecretSource::File(f),
                    (None, None) => bail!(
                        "oidc_issuer is set but no client secret: set HANGAR_OIDC_CLIENT_SECRET or HANGAR_OIDC_CLIENT_SECRET_FILE"
                    ),
                };
                if !issuer.starts_with("https://") && !issuer.starts_with("http://") {
                    bail!("oidc_issuer (HANGAR_OIDC_ISSUER) = {issuer:?} must be an http(s) URL");
                }
                Some(OidcSettings {
                    issuer: issuer.trim().to_string(),
                    client_id,
                    client_secret,
                    scopes: var("oidc_scopes")
                        .map(|v| list(v))
                        .or(file.oidc_scopes.map(value_list))
                        .filter(|s| !s.is_empty()),
                    groups_claim: string("oidc_groups_claim", file.oidc_groups_claim)
                        .unwrap_or_else(|| "groups".into()),
                    origin,
                })
            }
            (Some(_), None) => {
                bail!("oidc_issuer is set but oidc_client_id (HANGAR_OIDC_CLIENT_ID) is not")
            }
            (None, Some(_)) => {
                bail!("oidc_client_id is set but oidc_issuer (HANGAR_OIDC_ISSUER) is not")
            }
        };

        let gh_id = string("github_client_id", file.github_client_id);
        let gh_secret = var("github_client_secret")
            .map(|v| Secret::new(v.clone()))
            .or(file.github_client_secret)
            .filter(|s| !s.expose().is_empty());
        let github = match (gh_id, gh_secret) {
            (None, None) => None,
            (Some(client_id), Some(client_secret)) => Some(GitHubSettings {
                client_id,
                client_secret,
                url: string("github_url", file.github_url)
                    .unwrap_or_else(|| "https://github.com".into())
                    .trim_end_matches('/')
                    .to_string(),
                api_url: string("github_api_url", file.github_api_url)
                    .unwrap_or_else(|| "https://api.github.com".into())
                    .trim_end_matches('/')
                    .to_string(),
            }),
            _ => bail!(
                "GitHub login needs both github_client_id and github_client_secret (HANGAR_GITHUB_CLIENT_ID, HANGAR_GITHUB_CLIENT_SECRET)"
            ),
        };

        let roles = if file.roles.is_empty() {
            vec![RoleGrant {
                group: "admins".into(),
                role: "admin".into(),
                repos: Vec::new(),
            }]
        } else {
            file.roles
        };
        Ok(IdentityConfig {
            oidc,
            github,
            session_idle_timeout: duration(
                "session_idle_timeout",
                file.session_idle_timeout,
                Duration::from_secs(8 * 3600),
            )?,
            session_absolute_timeout: duration(
                "session_absolute_timeout",
                file.session_absolute_timeout,
                Duration::from_secs(7 * 86400),
            )?,
            session_revalidate: duration(
                "session_revalidate",
                file.session_revalidate,
                Duration::from_secs(300),
            )?,
            session_revalidate_grace: duration(
                "session_revalidate_grace",
                file.session_revalidate_grace,
                Duration::from_secs(1800),
            )?,
            admin_password: var("admin_password")
                .map(|v| Secret::new(v.clone()))
                .or(file.admin_password)
                .filter(|s| !s.expose().is_empty()),
            roles,
            policy_file: var("policy_file").map(PathBuf::from).or(file.policy_file),
            protected_targets: var("protected_targets")
                .map(|v| list(v))
                .or(file.protected_targets.map(value_list))
                .unwrap_or_else(|| vec!["production".into()]),
            token_max_expiry: duration(
                "token_max_expiry",
                file.token_max_expiry,
                Duration::from_secs(90 * 86400),
            )?,
            device_poll_interval: duration(
                "device_poll_interval",
                file.device_poll_interval,
                Duration::from_secs(5),
            )?,
            secret_key_file: var("secret_key_file")
                .map(PathBuf::from)
                .or(file.secret_key_file)
                .unwrap_or_else(|| data_dir.join("secret.key")),
            scim_match_claim: string("scim_match_claim", file.scim_match_claim)
                .map(|c| c.trim().to_string())
                .unwrap_or_else(|| "sub".into()),
            allowed_groups: var("allowed_groups")
                .map(|v| list(v))
                .or(file.allowed_groups.map(value_list))
                .unwrap_or_default(),
            allowed_email_domains: var("allowed_email_domains")
                .map(|v| list(v))
                .or(file.allowed_email_domains.map(value_list))
                .unwrap_or_default()
                .into_iter()
                .map(|d| d.trim_start_matches('@').to_ascii_lowercase())
                .collect(),
            audit_retention: Some(duration(
                "audit_retention",
                file.audit_retention,
                Duration::ZERO,
            )?)
            .filter(|d| !d.is_zero()),
            audit_sinks: AuditSinks {
                file: var("audit_file")
                    .map(PathBuf::from)
                    .or(file.audit_file)
                    .filter(|p| !p.as_os_str().is_empty()),
                http_url: string("audit_http_url", file.audit_http_url),
                syslog: string("audit_syslog", file.audit_syslog),
            },
        })
    }
}

impl IdentityConfig {
    /// The identity settings when nothing is configured: the embedded provider, the shipped
    /// roles and policy, the key file under `data_dir`.
    pub fn defaults(data_dir: &Path) -> IdentityConfig {
        match IdentityConfig::load(FileIdentity::default(), &Default::default(), data_dir) {
            Ok(c) => c,
            Err(_) => unreachable_defaults(data_dir),
        }
    }
}

/// Never reached (the defaults always load); spelled out so no code path panics.
fn unreachable_defaults(data_dir: &Path) -> IdentityConfig {
    IdentityConfig {
        oidc: None,
        github: None,
        session_idle_timeout: Duration::from_secs(8 * 3600),
        session_absolute_timeout: Duration::from_secs(7 * 86400),
        session_revalidate: Duration::from_secs(300),
        session_revalidate_grace: Duration::from_secs(1800),
        admin_password: None,
        roles: Vec::new(),
        policy_file: None,
        protected_targets: vec!["production".into()],
        token_max_expiry: Duration::from_secs(90 * 86400),
        device_poll_interval: Duration::from_secs(5),
        secret_key_file: data_dir.join("secret.key"),
        scim_match_claim: "sub".into(),
        allowed_groups: Vec::new(),
        allowed_email_domains: Vec::new(),
        audit_retention: None,
        audit_sinks: AuditSinks::default(),
    }
}
