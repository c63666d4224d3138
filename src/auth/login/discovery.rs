//! OpenID discovery: the provider's metadata, which must name exactly the configured issuer
//! and offer PKCE with S256 (a provider without it is not used), the scopes to ask for, and the
//! first copy of its signing keys.

use super::jwks::Jwks;
use super::outbound::{Outbound, Spent};
use super::{Failure, Reason};
use crate::config::OidcSettings;
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{AdditionalProviderMetadata, IssuerUrl, ProviderMetadata};
use serde::{Deserialize, Serialize};

/// Metadata fields `openidconnect` does not read itself.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ExtraMetadata {
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: Option<bool>,
}

impl AdditionalProviderMetadata for ExtraMetadata {}

pub type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// Metadata is fetched again after this long.
pub const METADATA_MAX_AGE_MS: i64 = 3_600_000;

/// What discovery found.
#[derive(Debug)]
pub struct Discovered {
    pub metadata: Metadata,
    pub jwks: Jwks,
    pub scopes: Vec<String>,
    pub fetched: i64,
}

impl Discovered {
    /// Whether the provider promises an `iss` parameter in every authorization response.
    pub fn sends_iss(&self) -> bool {
        self.metadata
            .additional_metadata()
            .authorization_response_iss_parameter_supported
            == Some(true)
    }

    /// The JWKS cache (tests count its fetches).
    pub fn jwks(&self) -> &Jwks {
        &self.jwks
    }
}

/// Fetches and checks the metadata of the provider `settings` name.
pub async fn fetch(
    settings: &OidcSettings,
    http: &Outbound,
    spent: &Spent,
    now: i64,
) -> Result<Discovered, Failure> {
    let issuer = IssuerUrl::new(settings.issuer.clone())
        .map_err(|e| Failure::new(Reason::Misconfigured, format!("oidc_issuer: {e}")))?;
    let client = http.with(spent);
    let metadata = Metadata::discover_async(issuer, &client)
        .await
        .map_err(|e| {
            let reason = match e {
                openidconnect::DiscoveryError::Validation(_)
                | openidconnect::DiscoveryError::Parse(_) => Reason::Misconfigured,
                _ => Reason::Unavailable,
            };
            Failure::new(reason, format!("discovery at {}: {e}", settings.issuer))
        })?;
    if metadata.issuer().as_str() != settings.issuer {
        return Err(Failure::new(
            Reason::Misconfigured,
            format!(
                "the provider's metadata names the issuer {:?}, not the configured {:?}",
                metadata.issuer().as_str(),
                settings.issuer
            ),
        ));
    }
    let s256 = metadata
        .additional_metadata()
        .code_challenge_methods_supported
        .as_ref()
        .is_some_and(|m| m.iter().any(|m| m == "S256"));
    if !s256 {
        return Err(Failure::new(
            Reason::Misconfigured,
            "the provider does not list S256 in code_challenge_methods_supported: Hangar \
             requires PKCE with S256",
        ));
    }
    let scopes = match &settings.scopes {
        Some(scopes) => scopes.clone(),
        None => {
            let mut scopes: Vec<String> = ["openid", "profile", "email", "offline_access"]
                .map(String::from)
                .to_vec();
            let offers_groups = metadata
                .scopes_supported()
                .is_some_and(|s| s.iter().any(|s| s.as_str() == "groups"));
            if offers_groups {
                scopes.push("groups".into());
            }
            scopes
        }
    };
    let jwks = Jwks::new(metadata.jwks_uri().clone(), metadata.jwks().clone(), now);
    Ok(Discovered {
        metadata,
        jwks,
        scopes,
        fetched: now,
    })
}
