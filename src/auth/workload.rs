//! Builds' workload identity: Hangar as an OpenID issuer for builds (issuer = the server URL,
//! discovery and JWKS under `/.well-known/`), signing short-lived ID tokens with the same
//! ES256 keys as the embedded provider (sealed in the database, rotated with an overlap), and
//! what a step receives when it starts: the secrets it names and its ID-token grant.
//!
//! A step's grant is a random bearer (`HANGAR_ID_TOKEN_REQUEST_TOKEN`) stored only as its
//! SHA-256 hash, bound to the build and step. It is honoured while the build's credential holds
//! (`Scheduler::build_credential_valid`); the grant's facts are kept in memory for the fast
//! path and read back from the store on another server or after a restart.
//!
//! Not here: HTTP (`http/workload.rs`), SQL (`store/secrets.rs`), deciding whether the build's
//! credential still holds (`scheduler.rs`).

use crate::auth::issuer::signing::SigningKeys;
use crate::auth::keys::SecretBox;
use crate::config::Secret;
use crate::domain::secret::is_fork;
use crate::domain::{Actor, AuditAction, AuditEvent, Build, BuildId, Event, Repo, SecretUse};
use crate::error::{Error, Result};
use crate::runner::{Assignment, StepAsk, StepGrant};
use crate::store::{IdTokenGrant, Store};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

/// Lifetime of a workload ID token.
pub const ID_TOKEN_TTL_MS: i64 = 300_000;
/// Where steps ask for ID tokens, under the server URL.
pub const REQUEST_PATH: &str = "/workload/id-token";
/// Longest audience accepted.
const MAX_AUDIENCE: usize = 512;

/// The claims of a workload ID token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub repository: String,
    pub repository_id: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub sha: String,
    pub event: String,
    pub build_number: i64,
    pub pipeline: String,
    pub step: String,
    pub target: String,
    pub trusted: bool,
    pub actor: String,
    pub actor_sub: String,
    pub actor_iss: String,
}

/// Escapes `%` and `:` inside a `sub` component, so `:` only ever separates.
fn escape(value: &str) -> String {
    value.replace('%', "%25").replace(':', "%3A")
}

/// The `sub` of a build's tokens: `repo:OWNER/NAME:environment:TARGET` for promotions and
/// rollbacks, `repo:OWNER/NAME:ref:REF` otherwise.
pub fn subject(repo: &str, build: &Build) -> String {
    if matches!(build.event, Event::Promote | Event::Rollback) && !build.deploy_to.is_empty() {
        format!(
            "repo:{}:environment:{}",
            escape(repo),
            escape(&build.deploy_to)
        )
    } else {
        format!("repo:{}:ref:{}", escape(repo), escape(&build.git_ref))
    }
}

/// Checks an audience: required, one value, no wildcard, no spaces or control characters.
pub fn check_audience(aud: &str) -> Result<()> {
    if aud.is_empty() {
        return Err(Error::invalid("audience is required (?audience=...)"));
    }
    if aud.len() > MAX_AUDIENCE
        || aud.contains('*')
        || aud.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::invalid(
            "audience must be one value of at most 512 characters, without `*` or spaces",
        ));
    }
    Ok(())
}

/// A grant's facts: everything of its tokens' claims but the audience and the times.
struct Grant {
    build: BuildId,
    base: WorkloadClaims,
}

/// The workload issuer and the hand-out of step credentials.
pub struct Workload {
    store: Store,
    secrets: SecretBox,
    keys: SigningKeys,
    issuer: String,
    grants: RwLock<HashMap<String, Arc<Grant>>>,
}

impl fmt::Debug for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workload")
            .field("issuer", &self.issuer)
            .finish()
    }
}

/// A granted bearer, as the HTTP side resolves it. `Debug` shows the build only.
pub struct Granted(Arc<Grant>);

impl Granted {
    pub fn build(&self) -> BuildId {
        self.0.build
    }
}

impl fmt::Debug for Granted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Granted(build {})", self.0.build)
    }
}

impl Workload {
    pub fn new(store: Store, secrets: SecretBox, server_url: &str) -> Workload {
        Workload {
            keys: SigningKeys::new(store.clone(), secrets.clone()),
            store,
            secrets,
            issuer: server_url.trim_end_matches('/').to_string(),
            grants: RwLock::new(HashMap::new()),
        }
    }

    /// The issuer: the server URL.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The discovery document (`/.well-known/openid-configuration`).
    pub fn discovery(&self) -> serde_json::Value {
        let iss = &self.issuer;
        serde_json::json!({
            "issuer": iss,
            "jwks_uri": format!("{iss}/.well-known/jwks.json"),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "scopes_supported": ["openid"],
            "claims_supported": [
                "iss", "sub", "aud", "exp", "iat", "nbf", "jti", "repository", "repository_id",
                "ref", "sha", "event", "build_number", "pipeline", "step", "target", "trusted",
                "actor", "actor_sub", "actor_iss"
            ],
        })
    }

    /// The published keys.
    pub async fn jwks(&self, now: i64) -> Result<serde_json::Value> {
        self.keys.jwks(now).await
    }

    /// What a step about to start receives. The caller has checked the build's credential.
    pub async fn step_credentials(
        &self,
        a: &Assignment,
        ask: &StepAsk,
        now: i64,
    ) -> Result<StepGrant> {
        let netrc = if ask.clone {
            crate::auth::netrc::CloneCredentials::new(self.store.clone(), self.secrets.clone())
                .find(&a.repo)
                .await?
        } else {
            None
        };
        let mut grant = StepGrant {
            secrets: self.secrets_for(a, &ask.secrets).await?,
            netrc,
            ..StepGrant::default()
        };
        self.record_secrets_granted(a, ask, &grant, now).await?;
        // Pull requests from forks, and senders taken at the forge's word, get no ID tokens
        // unless the repository allows it.
        let unverified = a.build.actor.as_ref().is_some_and(|actor| !actor.verified);
        if (is_fork(&a.build, &a.repo.slug) || unverified) && !a.repo.untrusted_id_tokens {
            return Ok(grant);
        }
        let bearer = crate::auth::token::mint();
        let stored = IdTokenGrant {
            hash: crate::auth::token::hash(&bearer),
            build: a.build.id,
            step: ask.step,
            stage_name: a.stage.name.clone(),
            step_name: ask.name.clone(),
        };
        self.store.create_id_token_grant(&stored, now).await?;
        let base = self
            .base_claims(&a.repo, &a.build, &a.stage.name, &ask.name)
            .await?;
        let context = Arc::new(Grant {
            build: a.build.id,
            base,
        });
        if let Ok(mut grants) = self.grants.write() {
            grants.insert(stored.hash, context.clone());
        }
        for (variable, aud) in &ask.id_tokens {
            let token = self.issue(&Granted(context.clone()), aud, now).await?;
            grant.id_tokens.push((variable.clone(), Secret::new(token)));
        }
        grant.request = Some((
            format!("{}{REQUEST_PATH}", self.issuer),
            Secret::new(bearer),
        ));
        Ok(grant)
    }

    /// Records in the audit trail which secrets (by name) the runner holding `a` was handed
    /// for the step `ask` names.
    async fn record_secrets_granted(
        &self,
        a: &Assignment,
        ask: &StepAsk,
        grant: &StepGrant,
        now: i64,
    ) -> Result<()> {
        if grant.secrets.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = grant.secrets.iter().map(|(n, _)| n.as_str()).collect();
        let event = AuditEvent::new(
            &Actor::runner(&a.stage.machine),
            AuditAction::StepSecretsGranted,
            format!(
                "build:{}#{}/{}/{}",
                a.repo.slug, a.build.number, a.stage.name, ask.name
            ),
        )
        .with_detail(serde_json::json!({ "secrets": names, "lease": a.lease }));
        self.store.record_audit(&event, now).await
    }

    /// The secrets among `names` the build may receive: encrypted `kind: secret` documents of
    /// its configuration first (as in Drone), then the repository's, then its organisation's.
    async fn secrets_for(&self, a: &Assignment, names: &[String]) -> Result<Vec<(String, Secret)>> {
        let facts = SecretUse::of(&a.build, &a.repo.slug);
        let mut out = Vec::new();
        let documents = if names.is_empty() {
            Vec::new()
        } else {
            crate::pipeline::parse(&a.config)
                .map(|m| m.secrets)
                .unwrap_or_default()
        };
        for doc in documents.iter().filter(|d| names.contains(&d.name)) {
            if out.iter().any(|(n, _): &(String, Secret)| *n == doc.name) {
                continue;
            }
            let Some((value, pull_requests)) =
                crate::auth::encrypted::decrypt(&self.secrets, a.repo.id, &doc.data)
            else {
                continue;
            };
            if facts.event == Event::PullRequest && !pull_requests {
                continue;
            }
            out.push((doc.name.clone(), Secret::new(value)));
        }
        let names: Vec<String> = names
            .iter()
            .filter(|n| !out.iter().any(|(o, _)| o == *n))
            .cloned()
            .collect();
        let found = self
            .store
            .find_secrets_for(&a.repo.namespace, a.repo.id, &names)
            .await?;
        for s in found {
            if !s.secret.allows(&facts) {
                continue;
            }
            let Some(plain) = self.secrets.open(&s.sealed) else {
                return Err(Error::internal(anyhow::anyhow!(
                    "secret {} (key {}) does not open with this server's key (key {})",
                    s.secret.name,
                    s.key_id,
                    self.secrets.key_id()
                )));
            };
            let value = String::from_utf8(plain).map_err(|_| {
                Error::internal(anyhow::anyhow!("secret {} is not text", s.secret.name))
            })?;
            out.push((s.secret.name, Secret::new(value)));
        }
        Ok(out)
    }

    async fn base_claims(
        &self,
        repo: &Repo,
        build: &Build,
        stage: &str,
        step: &str,
    ) -> Result<WorkloadClaims> {
        let actor = if build.trigger.starts_with('@') {
            String::new()
        } else {
            build.trigger.clone()
        };
        let (actor_iss, actor_sub) = if actor.is_empty() {
            Default::default()
        } else {
            self.store
                .find_user_provider_identity(&actor)
                .await?
                .unwrap_or_default()
        };
        Ok(WorkloadClaims {
            iss: self.issuer.clone(),
            sub: subject(&repo.slug, build),
            aud: String::new(),
            exp: 0,
            iat: 0,
            nbf: 0,
            jti: String::new(),
            repository: repo.slug.clone(),
            repository_id: repo.id.to_string(),
            git_ref: build.git_ref.clone(),
            sha: build.after.clone(),
            event: build.event.as_str().into(),
            build_number: build.number,
            pipeline: stage.into(),
            step: step.into(),
            target: build.deploy_to.clone(),
            trusted: repo.trusted,
            actor,
            actor_sub,
            actor_iss,
        })
    }

    /// The grant a bearer stands for; `None` for an unknown bearer.
    pub async fn grant(&self, bearer: &str) -> Result<Option<Granted>> {
        let hash = crate::auth::token::hash(bearer);
        if let Some(g) = self.grants.read().ok().and_then(|m| m.get(&hash).cloned()) {
            return Ok(Some(Granted(g)));
        }
        let Some(stored) = self.store.find_id_token_grant(&hash).await? else {
            return Ok(None);
        };
        let Some(build) = self.store.find_build_by_id(stored.build).await? else {
            return Ok(None);
        };
        let Some(repo) = self.store.find_repo(build.repo_id).await? else {
            return Ok(None);
        };
        let base = self
            .base_claims(&repo, &build, &stored.stage_name, &stored.step_name)
            .await?;
        let grant = Arc::new(Grant {
            build: build.id,
            base,
        });
        if let Ok(mut grants) = self.grants.write() {
            grants.insert(hash, grant.clone());
        }
        Ok(Some(Granted(grant)))
    }

    /// Signs an ID token for `aud` under a grant. The caller has checked the build's credential.
    pub async fn issue(&self, granted: &Granted, aud: &str, now: i64) -> Result<String> {
        check_audience(aud)?;
        let secs = now.div_euclid(1000);
        let claims = WorkloadClaims {
            aud: aud.to_string(),
            iat: secs,
            nbf: secs,
            exp: secs + ID_TOKEN_TTL_MS / 1000,
            jti: crate::auth::token::mint()[..32].to_string(),
            ..granted.0.base.clone()
        };
        self.keys.sign(&claims, now).await
    }

    /// Drops the in-memory grants of a build that ended (the store's copy stays, refused by the
    /// credential check).
    pub fn forget_build(&self, build: BuildId) {
        if let Ok(mut grants) = self.grants.write() {
            grants.retain(|_, g| g.build != build);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colons_inside_subject_values_are_escaped() {
        assert_eq!(escape("refs/heads/a:b%c"), "refs/heads/a%3Ab%25c");
    }

    #[test]
    fn an_audience_is_required_and_has_no_wildcard() {
        assert!(check_audience("https://vault.example").is_ok());
        assert!(check_audience("").is_err());
        assert!(check_audience("*").is_err());
        assert!(check_audience("https://*.example").is_err());
        assert!(check_audience("a b").is_err());
        assert!(check_audience(&"a".repeat(513)).is_err());
    }
}
