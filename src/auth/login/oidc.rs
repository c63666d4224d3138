//! An external OpenID Connect provider: its metadata (`discovery.rs`, cached an hour), the
//! authorization request, the code exchange with the ID token checked in full (`idtoken.rs`),
//! groups from the ID token or userinfo (whose subject must be the ID token's), refreshing a
//! session's groups with the refresh token, and RP-initiated logout.

use super::discovery::{self, Discovered, METADATA_MAX_AGE_MS};
use super::groups;
use super::idtoken::{self, Expect};
use super::outbound::{Outbound, Spent};
use super::secret::ClientSecret;
use super::{Failure, Grant, Reason, Refresh};
use crate::config::OidcSettings;
use crate::store::{ProviderAccount, ScimMatch};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreGenderClaim,
};
use openidconnect::{
    AccessToken, AuthorizationCode, ClientId, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RefreshToken, RequestTokenError, Scope, UserInfoClaims,
};
use serde_json::Value;
use std::sync::{Arc, RwLock};

type UserInfo = UserInfoClaims<idtoken::Extra, CoreGenderClaim>;

/// A client made from discovered metadata: authorization endpoint set, token and userinfo
/// endpoints as the metadata has them.
type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// One configured OpenID provider.
#[derive(Debug)]
pub struct Oidc {
    pub settings: OidcSettings,
    /// The claim a first login is matched by to a user provisioned over SCIM.
    match_claim: String,
    secret: ClientSecret,
    redirect: RedirectUrl,
    discovered: RwLock<Option<Arc<Discovered>>>,
    discovering: tokio::sync::Mutex<()>,
}

/// What came back for a transaction: the code, and the transaction's verifier and nonce.
pub struct Returned<'a> {
    pub code: &'a str,
    pub verifier: String,
    pub nonce: &'a str,
}

/// The authorization request, ready to send the browser to.
pub struct Authorize {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

impl Oidc {
    pub fn new(settings: &OidcSettings, redirect: RedirectUrl, match_claim: &str) -> Oidc {
        Oidc {
            match_claim: match_claim.to_string(),
            secret: ClientSecret::new(&settings.client_secret),
            settings: settings.clone(),
            redirect,
            discovered: RwLock::new(None),
            discovering: tokio::sync::Mutex::new(()),
        }
    }

    pub fn reload_secret(&self) {
        self.secret.reload();
    }

    fn cached(&self) -> Option<Arc<Discovered>> {
        self.discovered.read().ok().and_then(|d| d.clone())
    }

    /// The provider's metadata, discovered on first use and again when old (a failed
    /// rediscovery keeps the old metadata).
    pub async fn discover(
        &self,
        http: &Outbound,
        spent: &Spent,
        now: i64,
    ) -> Result<Arc<Discovered>, Failure> {
        if let Some(d) = self.cached()
            && now - d.fetched < METADATA_MAX_AGE_MS
        {
            return Ok(d);
        }
        let _one = self.discovering.lock().await;
        let old = self.cached();
        if let Some(d) = &old
            && now - d.fetched < METADATA_MAX_AGE_MS
        {
            return Ok(d.clone());
        }
        match discovery::fetch(&self.settings, http, spent, now).await {
            Ok(d) => {
                let d = Arc::new(d);
                if let Ok(mut slot) = self.discovered.write() {
                    *slot = Some(d.clone());
                }
                Ok(d)
            }
            Err(e) => match old {
                Some(d) if e.reason == Reason::Unavailable => Ok(d),
                _ => Err(e),
            },
        }
    }

    fn client(&self, d: &Discovered, with_secret: bool) -> Result<Client, Failure> {
        let secret = if with_secret {
            let s = self.secret.current().map_err(|e| {
                Failure::new(Reason::Misconfigured, format!("the client secret: {e:#}"))
            })?;
            Some(openidconnect::ClientSecret::new(s.expose().to_string()))
        } else {
            None
        };
        Ok(CoreClient::from_provider_metadata(
            d.metadata.clone(),
            ClientId::new(self.settings.client_id.clone()),
            secret,
        )
        .set_redirect_uri(self.redirect.clone()))
    }

    /// The authorization request: code flow, PKCE S256, fresh `state` and `nonce`.
    pub fn authorize(&self, d: &Discovered) -> Result<Authorize, Failure> {
        let client = self.client(d, false)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in d.scopes.iter().filter(|s| s.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        Ok(Authorize {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the code (with the PKCE verifier), checks the ID token, reads the groups.
    pub async fn finish(
        &self,
        d: &Discovered,
        returned: Returned<'_>,
        http: &Outbound,
        spent: &Spent,
        now: i64,
    ) -> Result<(ProviderAccount, Grant), Failure> {
        let Returned {
            code,
            verifier,
            nonce,
        } = returned;
        let client = self.client(d, true)?;
        let send = http.with(spent);
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| Failure::new(Reason::Misconfigured, e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&send)
            .await
            .map_err(|e| Failure::new(Reason::TokenExchange, token_error(&e)))?;
        let raw = response
            .extra_fields()
            .id_token()
            .map(|t| t.to_string())
            .ok_or_else(|| Failure::new(Reason::IdToken, "the provider sent no ID token"))?;
        let nonce = Nonce::new(nonce.to_string());
        let client_id = ClientId::new(self.settings.client_id.clone());
        let expect = Expect {
            issuer: d.metadata.issuer(),
            client_id: &client_id,
            nonce: Some(&nonce),
            access_token: Some(response.access_token()),
            subject: None,
            now,
        };
        let token = idtoken::verify(&raw, &expect, &d.jwks, http, spent)
            .await
            .map_err(|e| Failure::new(Reason::IdToken, e))?;
        let claims = self
            .claims(&client, &token, response.access_token(), http, spent)
            .await?;
        let text = |k: &str| {
            claims
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let groups = groups::claim(&claims, &self.settings.groups_claim)
            .map(groups::groups)
            .unwrap_or_default();
        let login_hint = [text("preferred_username"), text("nickname")]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or_else(|| text("email").split('@').next().unwrap_or("").to_string());
        let account = ProviderAccount {
            provider: "oidc".into(),
            iss: self.settings.issuer.clone(),
            sub: token.sub.clone(),
            login_hint,
            display_name: text("name"),
            email: text("email"),
            avatar: text("picture"),
            groups,
            email_verified: verified(&claims),
            scim_match: scim_match(&claims, &self.match_claim, &token.sub),
        };
        let refresh_token = response.refresh_token().map(|t| t.secret().clone());
        let (scopes, scopes_listed) = match response.scopes() {
            Some(granted) => (granted.iter().map(|s| s.to_string()).collect(), true),
            None => (d.scopes.clone(), false),
        };
        let grant = Grant {
            scopes,
            scopes_listed,
            claims,
            provider_expires: if refresh_token.is_none() {
                token.expires
            } else {
                0
            },
            refresh_token,
            id_token: Some(raw),
            sid: token.sid,
            jti: token.jti,
            auth_time: token.auth_time,
        };
        Ok((account, grant))
    }

    /// The ID token's claims, completed from userinfo when the token lacks the groups claim or a
    /// name (userinfo must be about the same subject; the ID token's groups win).
    async fn claims(
        &self,
        client: &Client,
        token: &idtoken::Verified,
        access_token: &AccessToken,
        http: &Outbound,
        spent: &Spent,
    ) -> Result<Value, Failure> {
        let mut claims = token.claims.clone();
        let has_groups = groups::claim(&claims, &self.settings.groups_claim).is_some();
        let has_name = claims.get("preferred_username").is_some() || claims.get("email").is_some();
        if has_groups && has_name {
            return Ok(claims);
        }
        let Ok(request) = client.user_info(access_token.clone(), None) else {
            return Ok(claims); // no userinfo endpoint
        };
        let send = http.with(spent);
        let info: UserInfo = request
            .request_async(&send)
            .await
            .map_err(|e| Failure::new(Reason::UserInfo, format!("userinfo: {e}")))?;
        if info.subject().as_str() != token.sub {
            return Err(Failure::new(
                Reason::UserInfo,
                "userinfo is about another subject than the ID token",
            ));
        }
        let info = serde_json::to_value(&info).unwrap_or_default();
        if let (Value::Object(all), Value::Object(info)) = (&mut claims, info) {
            for (k, v) in info {
                if k == self.settings.groups_claim && has_groups {
                    continue;
                }
                all.entry(k).or_insert(v);
            }
        }
        Ok(claims)
    }

    /// Asks the provider again with the session's refresh token: the groups it reports now, a
    /// revocation (`invalid_grant`), or a failure to reach it.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        sub: &str,
        http: &Outbound,
        spent: &Spent,
        now: i64,
    ) -> Refresh {
        let d = match self.discover(http, spent, now).await {
            Ok(d) => d,
            Err(e) => return Refresh::Unreachable(e.detail),
        };
        let client = match self.client(&d, true) {
            Ok(c) => c,
            Err(e) => return Refresh::Unreachable(e.detail),
        };
        let send = http.with(spent);
        let token = RefreshToken::new(refresh_token.to_string());
        let response = match client.exchange_refresh_token(&token) {
            Ok(r) => r.request_async(&send).await,
            Err(e) => return Refresh::Unreachable(e.to_string()),
        };
        let response = match response {
            Ok(r) => r,
            Err(RequestTokenError::ServerResponse(e))
                if matches!(
                    e.error(),
                    CoreErrorResponseType::InvalidGrant
                        | CoreErrorResponseType::InvalidClient
                        | CoreErrorResponseType::UnauthorizedClient
                ) =>
            {
                return Refresh::Revoked(format!(
                    "the provider refused the refresh: {}",
                    e.error()
                ));
            }
            Err(e) => return Refresh::Unreachable(token_error(&e)),
        };
        let client_id = ClientId::new(self.settings.client_id.clone());
        let mut claims = Value::Object(Default::default());
        let mut expires = 0;
        if let Some(raw) = response.extra_fields().id_token().map(|t| t.to_string()) {
            let expect = Expect {
                issuer: d.metadata.issuer(),
                client_id: &client_id,
                nonce: None,
                access_token: Some(response.access_token()),
                subject: Some(sub),
                now,
            };
            match idtoken::verify(&raw, &expect, &d.jwks, http, spent).await {
                Ok(t) => {
                    expires = t.expires;
                    claims = t.claims;
                }
                Err(e) => return Refresh::Revoked(format!("the refreshed ID token: {e}")),
            }
        }
        if groups::claim(&claims, &self.settings.groups_claim).is_none() {
            let Ok(request) = client.user_info(response.access_token().clone(), None) else {
                return Refresh::Ok {
                    groups: Vec::new(),
                    refresh_token: response.refresh_token().map(|t| t.secret().clone()),
                    expires,
                };
            };
            let info: UserInfo = match request.request_async(&send).await {
                Ok(info) => info,
                Err(e) => return Refresh::Unreachable(format!("userinfo: {e}")),
            };
            if info.subject().as_str() != sub {
                return Refresh::Revoked("userinfo names another subject".into());
            }
            claims = serde_json::to_value(&info).unwrap_or_default();
        }
        Refresh::Ok {
            groups: groups::claim(&claims, &self.settings.groups_claim)
                .map(groups::groups)
                .unwrap_or_default(),
            refresh_token: response.refresh_token().map(|t| t.secret().clone()),
            expires,
        }
    }

    /// Where to send the browser to log out at the provider, if it has an end-session endpoint.
    pub fn logout_url(&self, id_token: Option<&str>, post_logout: &str) -> Option<String> {
        let d = self.cached()?;
        let endpoint = d
            .metadata
            .additional_metadata()
            .end_session_endpoint
            .clone()?;
        let mut url = url::Url::parse(&endpoint).ok()?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(t) = id_token {
                q.append_pair("id_token_hint", t);
            }
            q.append_pair("client_id", &self.settings.client_id);
            q.append_pair("post_logout_redirect_uri", post_logout);
        }
        Some(url.to_string())
    }
}

/// A token endpoint failure, said without the response body (which may echo a code).
fn token_error<E: std::error::Error>(
    e: &RequestTokenError<E, openidconnect::StandardErrorResponse<CoreErrorResponseType>>,
) -> String {
    match e {
        RequestTokenError::ServerResponse(r) => format!("the provider answered {}", r.error()),
        RequestTokenError::Request(e) => format!("the provider could not be reached: {e}"),
        RequestTokenError::Parse(e, _) => format!("the provider's answer is unreadable: {e}"),
        RequestTokenError::Other(e) => format!("token request failed: {e}"),
    }
}

/// Whether the claims vouch for the email (`email_verified`, a boolean or Entra's string).
fn verified(claims: &Value) -> bool {
    match claims.get("email_verified") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// What a first login is matched by to a user provisioned over SCIM: the configured claim
/// (`sub`, `oid`, ...) against `externalId`, or with `email`, a verified email against the
/// userName or email.
pub fn scim_match(claims: &Value, claim: &str, sub: &str) -> Option<ScimMatch> {
    if claim.eq_ignore_ascii_case("email") {
        let email = claims.get("email").and_then(Value::as_str)?;
        return (verified(claims) && !email.is_empty())
            .then(|| ScimMatch::Email(email.to_string()));
    }
    if claim == "sub" {
        return Some(ScimMatch::ExternalId(sub.to_string()));
    }
    match groups::claim(claims, claim)? {
        Value::String(s) if !s.is_empty() => Some(ScimMatch::ExternalId(s.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod scim_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_subject_is_matched_with_the_external_id_by_default() {
        let c = json!({"sub": "00u1"});
        assert_eq!(
            scim_match(&c, "sub", "00u1"),
            Some(ScimMatch::ExternalId("00u1".into()))
        );
    }

    #[test]
    fn entra_id_is_matched_by_its_object_id() {
        let c = json!({"sub": "pairwise", "oid": "6f1c"});
        assert_eq!(
            scim_match(&c, "oid", "pairwise"),
            Some(ScimMatch::ExternalId("6f1c".into()))
        );
        assert_eq!(scim_match(&json!({}), "oid", "x"), None);
    }

    #[test]
    fn an_email_matches_only_when_verified() {
        let yes = json!({"email": "a@x", "email_verified": true});
        let no = json!({"email": "a@x", "email_verified": false});
        let text = json!({"email": "a@x", "email_verified": "True"});
        assert_eq!(
            scim_match(&yes, "email", "s"),
            Some(ScimMatch::Email("a@x".into()))
        );
        assert_eq!(scim_match(&no, "email", "s"), None);
        assert!(scim_match(&text, "email", "s").is_some());
    }
}
