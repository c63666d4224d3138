//! The provider connected from the browser (`/admin/identity`): a draft's fields checked,
//! a stored row turned into settings (its secret opened with the server key), the provider in
//! force switched at run time, test logins of the draft (the real code flow with PKCE, `state`
//! and `nonce`, whose callback makes no session), the health of discovery and signing keys, and
//! the scopes granted at logins.
//!
//! What does not live here: SQL (`store/providers.rs`), HTTP (`http/api/identity.rs`).

use super::discovery::{self, Discovered};
use super::oidc::{Authorize, Oidc};
use super::outbound::Spent;
use super::{Begun, Failure, Grant, Login, Reason};
use crate::auth::keys::SecretBox;
use crate::config::{OidcSettings, ProviderOrigin, Secret, SecretSource};
use crate::store::{Slot, StoredProvider};
use openidconnect::core::CoreJsonWebKeySet;
use std::sync::Arc;
use std::time::Duration;

/// The transaction provider name of a test login: `test:{revision}`.
pub const TEST: &str = "test:";
/// How long the health check and a draft's discovery wait on the provider.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Where a test login's window lands: the page showing what came back.
pub const TEST_RESULT_PATH: &str = "/admin/identity/test";

/// How often a server looks for a provider another server switched on or off.
pub const FOLLOW_EVERY: Duration = Duration::from_secs(5);

/// The version of the stored active provider last put in force (`revision`, `updated`), or
/// `None` when none was stored.
pub type Seen = Option<(i64, i64)>;

/// The draft being tried: its revision and a relying party made from it.
#[derive(Debug)]
pub struct Draft {
    pub revision: i64,
    pub oidc: Arc<Oidc>,
}

/// The revision a transaction's provider name tests, if it is a test login.
pub fn test_revision(provider: &str) -> Option<i64> {
    provider.strip_prefix(TEST)?.parse().ok()
}

/// How one probe of the provider went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    pub ok: bool,
    pub detail: String,
}

impl Check {
    fn ok(detail: impl Into<String>) -> Check {
        Check {
            ok: true,
            detail: detail.into(),
        }
    }

    fn failed(detail: impl Into<String>) -> Check {
        Check {
            ok: false,
            detail: detail.into(),
        }
    }
}

/// Discovery and the signing keys of the provider in force, fetched now.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Health {
    pub issuer: String,
    pub discovery: Check,
    pub jwks: Check,
}

/// The issuer: an `https://` URL, or `http://` on this machine only (a provider under test).
pub fn check_issuer(issuer: &str) -> Result<String, String> {
    let issuer = issuer.trim();
    let url =
        url::Url::parse(issuer).map_err(|e| format!("issuer {issuer:?} is not a URL ({e})"))?;
    let local = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if local => {}
        _ => {
            return Err(format!(
                "issuer {issuer:?} must be an https:// URL (http:// only for 127.0.0.1 or localhost)"
            ));
        }
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err("issuer must have no query, fragment or credentials".into());
    }
    Ok(issuer.to_string())
}

/// A client id or a groups claim: present, short, printable, without spaces.
pub fn check_word(field: &str, value: &str, max: usize) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() || value.len() > max {
        return Err(format!("{field} must be 1 to {max} characters"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{field} may not hold spaces or control characters"));
    }
    Ok(value.to_string())
}

/// The client secret: 1 to 4096 characters, no line breaks or control characters.
pub fn check_secret(secret: &str) -> Result<(), String> {
    if secret.is_empty() || secret.len() > 4096 {
        return Err("client_secret must be 1 to 4096 characters".into());
    }
    if secret.chars().any(char::is_control) {
        return Err("client_secret may not hold line breaks or control characters".into());
    }
    Ok(())
}

/// The scopes asked for: RFC 6749 scope tokens, `openid` among them (empty: the default set).
pub fn check_scopes(scopes: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for s in scopes.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let fine = s
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\');
        if !fine || s.len() > 128 {
            return Err(format!("scope {s:?} is not a valid scope name"));
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    if !out.is_empty() && !out.iter().any(|s| s == "openid") {
        return Err("scopes must include openid (or be left empty for the default set)".into());
    }
    Ok(out)
}

/// The settings a stored row stands for, its secret opened with the server key.
pub fn settings(row: &StoredProvider, secrets: &SecretBox) -> anyhow::Result<OidcSettings> {
    let secret = secrets
        .open(&row.client_secret)
        .and_then(|s| String::from_utf8(s).ok())
        .ok_or_else(|| {
            anyhow::anyhow!("the stored client secret does not open with the server key")
        })?;
    Ok(OidcSettings {
        issuer: row.issuer.clone(),
        client_id: row.client_id.clone(),
        client_secret: SecretSource::Value(Secret::new(secret)),
        scopes: row.scope_list(),
        groups_claim: row.groups_claim.clone(),
        origin: ProviderOrigin::Database,
    })
}

impl Login {
    /// Whether the configuration (file or environment) sets the provider.
    pub fn fixed(&self) -> bool {
        self.fixed
    }

    /// The exact redirect URI to register at the provider.
    pub fn redirect_uri(&self) -> &str {
        self.redirect.as_str()
    }

    fn relying_party(&self, settings: &OidcSettings) -> Arc<Oidc> {
        Arc::new(Oidc::new(
            settings,
            self.redirect.clone(),
            &self.match_claim,
        ))
    }

    /// Puts `settings` in force (`None`: back to the embedded provider), for the next login.
    /// A provider set in the configuration is never replaced.
    pub fn switch(&self, settings: Option<&OidcSettings>) {
        if self.fixed {
            return;
        }
        self.oidc.store(settings.map(|s| self.relying_party(s)));
    }

    /// Puts the stored active provider in force when it differs from `seen` (never over a
    /// provider the configuration sets): at start, then every [`FOLLOW_EVERY`], so a switch
    /// made through another server reaches this one. A stored secret that does not open
    /// leaves the provider as it was, with an error logged once.
    pub async fn follow_stored(&self, seen: &mut Seen) {
        if self.fixed {
            return;
        }
        let row = match self.store.find_provider(Slot::Active).await {
            Ok(row) => row,
            Err(e) => {
                tracing::warn!(error = e.detail(), "reading the connected provider failed");
                return;
            }
        };
        let version = row.as_ref().map(|r| (r.revision, r.updated));
        if version == *seen {
            return;
        }
        *seen = version;
        match row.map(|r| settings(&r, &self.secrets)) {
            None => self.switch(None),
            Some(Ok(s)) => self.switch(Some(&s)),
            Some(Err(e)) => tracing::error!(
                error = format!("{e:#}"),
                "the provider connected from the browser cannot be used; the one in force stays"
            ),
        }
    }

    /// Makes `settings` (draft `revision`) the one test logins go through.
    pub fn try_draft(&self, revision: i64, settings: &OidcSettings) {
        self.draft.store(Some(Arc::new(Draft {
            revision,
            oidc: self.relying_party(settings),
        })));
    }

    /// The relying party of draft `revision`, if that is the one being tried.
    pub(super) fn draft_oidc(&self, revision: i64) -> Option<Arc<Oidc>> {
        self.draft
            .load_full()
            .filter(|d| d.revision == revision)
            .map(|d| d.oidc.clone())
    }

    /// Discovers a draft's provider now (within [`PROBE_TIMEOUT`]): what a save checks.
    pub async fn probe(&self, settings: &OidcSettings) -> Result<Discovered, Failure> {
        let spent = Spent::default();
        let now = self.clock.now_ms();
        tokio::time::timeout(
            PROBE_TIMEOUT,
            discovery::fetch(settings, &self.http, &spent, now),
        )
        .await
        .unwrap_or_else(|_| {
            Err(Failure::new(
                Reason::Unavailable,
                format!(
                    "discovery at {} gave no answer within {} s",
                    settings.issuer,
                    PROBE_TIMEOUT.as_secs()
                ),
            ))
        })
    }

    /// Starts a test login through draft `revision`: the real authorization-code flow; its
    /// callback shows what came back and makes no session.
    pub async fn begin_test(&self, revision: i64, spent: &Spent) -> Result<Begun, Failure> {
        let now = self.clock.now_ms();
        let Some(o) = self.draft_oidc(revision) else {
            return Err(Failure::new(
                Reason::UnknownProvider,
                "the draft changed: save it and test again",
            ));
        };
        let result = async {
            let d = o.discover(&self.http, spent, now).await?;
            let a = o.authorize(&d)?;
            self.remember(
                format!("{TEST}{revision}"),
                o.settings.issuer.clone(),
                a,
                Some(TEST_RESULT_PATH),
                now,
            )
            .await
        }
        .await;
        if let Err(f) = &result {
            self.refuse(&format!("{TEST}{revision}"), f, now).await;
        }
        result
    }

    /// Fetches the metadata and the signing keys of the provider in force.
    pub async fn health(&self) -> Health {
        let Some(o) = self.external().or_else(|| self.local.clone()) else {
            let none = Check::failed("no provider is configured");
            return Health {
                issuer: String::new(),
                discovery: none.clone(),
                jwks: none,
            };
        };
        let issuer = o.settings.issuer.clone();
        let d = match self.probe(&o.settings).await {
            Ok(d) => d,
            Err(f) => {
                return Health {
                    issuer,
                    discovery: Check::failed(f.detail),
                    jwks: Check::failed("not checked: discovery failed"),
                };
            }
        };
        let discovery = Check::ok(format!(
            "issuer matches, PKCE S256 offered; asking for {}",
            d.scopes.join(" ")
        ));
        let spent = Spent::default();
        let client = self.http.with(&spent);
        let uri = d.metadata.jwks_uri();
        let jwks =
            match tokio::time::timeout(PROBE_TIMEOUT, CoreJsonWebKeySet::fetch_async(uri, &client))
                .await
            {
                Ok(Ok(keys)) if keys.keys().is_empty() => {
                    Check::failed(format!("{} holds no keys", uri.as_str()))
                }
                Ok(Ok(keys)) => {
                    let n = keys.keys().len();
                    let plural = if n == 1 { "" } else { "s" };
                    Check::ok(format!("{n} key{plural} at {}", uri.as_str()))
                }
                Ok(Err(e)) => Check::failed(format!("{}: {e}", uri.as_str())),
                Err(_) => Check::failed(format!(
                    "{} gave no answer within {} s",
                    uri.as_str(),
                    PROBE_TIMEOUT.as_secs()
                )),
            };
        Health {
            issuer,
            discovery,
            jwks,
        }
    }

    /// Records the scopes a login through `issuer` was granted, when they changed.
    pub async fn note_granted(&self, issuer: &str, grant: &Grant, now: i64) {
        let fresh = (grant.scopes.clone(), grant.scopes_listed);
        let changed = match self.granted.lock() {
            Ok(mut seen) => seen.insert(issuer.to_string(), fresh.clone()) != Some(fresh),
            Err(_) => true,
        };
        if !changed {
            return;
        }
        if let Err(e) = self
            .store
            .record_granted_scopes(issuer, &grant.scopes, grant.scopes_listed, now)
            .await
        {
            tracing::error!(error = e.detail(), "recording the granted scopes failed");
            if let Ok(mut seen) = self.granted.lock() {
                seen.remove(issuer);
            }
        }
    }

    /// Stores a login transaction for the authorization request `a` through `name`.
    pub(super) async fn remember(
        &self,
        name: String,
        issuer: String,
        a: Authorize,
        return_to: Option<&str>,
        now: i64,
    ) -> Result<Begun, Failure> {
        let transaction = crate::store::LoginTransaction {
            state_hash: crate::auth::token::hash(&a.state),
            provider: name,
            issuer,
            nonce: a.nonce,
            pkce_verifier: self.secrets.seal(a.pkce_verifier.as_bytes()),
            return_to: super::return_to::safe(return_to),
            created: now,
            expires: now + super::TRANSACTION_MS,
        };
        self.store
            .create_login_transaction(&transaction, now)
            .await
            .map_err(|e| Failure::new(Reason::Unavailable, e.detail()))?;
        Ok(Begun {
            location: a.url,
            cookie_name: self.cookie_name(&a.state),
            cookie_value: a.state,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issuer_must_be_https_or_on_this_machine() {
        assert!(check_issuer("https://login.example.com").is_ok());
        assert!(check_issuer("http://127.0.0.1:4000").is_ok());
        assert!(check_issuer("http://localhost:4000/realms/x").is_ok());
        assert!(check_issuer("http://login.example.com").is_err());
        assert!(check_issuer("ftp://x").is_err());
        assert!(check_issuer("not a url").is_err());
        assert!(check_issuer("https://u:p@login.example.com").is_err());
    }

    #[test]
    fn scopes_must_name_openid_unless_left_to_the_default() {
        assert_eq!(check_scopes(&[]), Ok(vec![]));
        let asked = ["openid", "email", "openid"].map(String::from);
        assert_eq!(
            check_scopes(&asked),
            Ok(vec!["openid".into(), "email".into()])
        );
        assert!(check_scopes(&["email".into()]).is_err());
        assert!(check_scopes(&["openid".into(), "a\"b".into()]).is_err());
    }

    #[test]
    fn a_secret_with_a_line_break_or_a_client_id_with_a_space_is_refused() {
        assert!(check_secret("s3cret\n").is_err());
        assert!(check_secret("").is_err());
        assert!(check_secret("s3cret").is_ok());
        assert!(check_word("client_id", "my client", 255).is_err());
        assert_eq!(
            check_word("client_id", " hangar ", 255),
            Ok("hangar".into())
        );
    }

    #[test]
    fn only_test_transactions_carry_a_revision() {
        assert_eq!(test_revision("test:7"), Some(7));
        assert_eq!(test_revision("oidc"), None);
        assert_eq!(test_revision("test:x"), None);
    }
}
