//! GitHub (or GitHub Enterprise) as a login provider, through its OAuth web flow: authorize at
//! `{url}/login/oauth/authorize` (with `state`, and PKCE S256, which GitHub accepts), exchange
//! the code at `{url}/login/oauth/access_token`, then read `GET {api_url}/user`,
//! `/user/orgs` and `/user/teams`: each organisation `org` and each team `org/team` becomes a
//! group. Accounts are keyed on (`{url}`, the numeric user id), never on the login, which a
//! GitHub user can change. GitHub issues no ID token and (for OAuth apps) no refresh token:
//! revalidation asks the API again with the access token, and a 401 means it was revoked.
//!
//! The tests run this against a local stand-in speaking GitHub's documented shapes, since
//! GitHub itself cannot be reached from the test machines.

use super::outbound::{Outbound, Spent};
use super::{Failure, Grant, Reason, Refresh};
use crate::config::GitHubSettings;
use crate::store::ProviderAccount;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use serde::Deserialize;

/// Scopes asked for: the profile, the email, and organisation and team memberships.
pub const SCOPES: [&str; 3] = ["read:user", "user:email", "read:org"];
/// Pages of organisations or teams read at most (100 each).
const MAX_PAGES: usize = 10;

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The configured GitHub.
#[derive(Debug)]
pub struct GitHub {
    pub settings: GitHubSettings,
    redirect: RedirectUrl,
    /// The claim first logins are matched by to users provisioned over SCIM.
    match_claim: String,
}

#[derive(Deserialize)]
struct User {
    id: u64,
    login: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    avatar_url: Option<String>,
}

#[derive(Deserialize)]
struct Org {
    login: String,
}

#[derive(Deserialize)]
struct Team {
    slug: String,
    organization: Org,
}

/// How an API call went wrong.
enum ApiError {
    /// 401: the token is no longer valid.
    Revoked,
    /// Anything else: unreachable, 5xx, unreadable.
    Failed(String),
}

impl GitHub {
    pub fn new(settings: &GitHubSettings, redirect: RedirectUrl, match_claim: &str) -> GitHub {
        GitHub {
            settings: settings.clone(),
            redirect,
            match_claim: match_claim.to_string(),
        }
    }

    /// The issuer accounts are keyed on: the web URL.
    pub fn issuer(&self) -> &str {
        &self.settings.url
    }

    fn client(&self) -> Result<Client, Failure> {
        let bad =
            |e: url::ParseError| Failure::new(Reason::Misconfigured, format!("github_url: {e}"));
        Ok(
            BasicClient::new(ClientId::new(self.settings.client_id.clone()))
                .set_client_secret(ClientSecret::new(
                    self.settings.client_secret.expose().to_string(),
                ))
                .set_auth_uri(
                    AuthUrl::new(format!("{}/login/oauth/authorize", self.settings.url))
                        .map_err(bad)?,
                )
                .set_token_uri(
                    TokenUrl::new(format!("{}/login/oauth/access_token", self.settings.url))
                        .map_err(bad)?,
                )
                .set_redirect_uri(self.redirect.clone())
                .set_auth_type(AuthType::RequestBody),
        )
    }

    /// The authorization URL, its state and the PKCE verifier.
    pub fn authorize(&self) -> Result<(String, String, String), Failure> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.client()?;
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge);
        for scope in SCOPES {
            request = request.add_scope(Scope::new(scope.to_string()));
        }
        let (url, state) = request.url();
        Ok((
            url.to_string(),
            state.secret().clone(),
            verifier.secret().clone(),
        ))
    }

    /// Exchanges the code, then reads who logged in and their organisations and teams.
    pub async fn finish(
        &self,
        code: &str,
        verifier: String,
        http: &Outbound,
        spent: &Spent,
    ) -> Result<(ProviderAccount, Grant), Failure> {
        let send = http.with(spent);
        let token = self
            .client()?
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&send)
            .await
            .map_err(|e| {
                let detail = match e {
                    oauth2::RequestTokenError::ServerResponse(r) => {
                        format!("GitHub answered {}", r.error())
                    }
                    // GitHub answers errors with 200 and an `error` field, which does not
                    // read as a token.
                    oauth2::RequestTokenError::Parse(..) => {
                        "GitHub did not issue a token (a bad or used code)".to_string()
                    }
                    other => format!("the token request failed: {other}"),
                };
                Failure::new(Reason::TokenExchange, detail)
            })?;
        let access = token.access_token().secret().clone();
        let (user, groups) = self
            .profile(&access, http, spent)
            .await
            .map_err(|e| match e {
                ApiError::Revoked => Failure::new(Reason::UserInfo, "GitHub refused the new token"),
                ApiError::Failed(e) => Failure::new(Reason::UserInfo, e),
            })?;
        let account = ProviderAccount {
            provider: "github".into(),
            iss: self.settings.url.clone(),
            sub: user.id.to_string(),
            login_hint: user.login.clone(),
            display_name: user.name.unwrap_or_default(),
            // GitHub shows only a verified address as a profile's public email.
            email_verified: user.email.as_deref().is_some_and(|e| !e.is_empty()),
            email: user.email.unwrap_or_default(),
            avatar: user.avatar_url.unwrap_or_default(),
            groups,
            // Provisioned users are found by the numeric user id as externalId when the match
            // claim is `sub`.
            scim_match: (self.match_claim == "sub")
                .then(|| crate::store::ScimMatch::ExternalId(user.id.to_string())),
        };
        // The access token is kept (sealed) to ask for the groups again; GitHub's OAuth tokens
        // do not expire on their own.
        let grant = Grant {
            refresh_token: Some(access),
            ..Grant::default()
        };
        Ok((account, grant))
    }

    /// Asks GitHub again for the user's organisations and teams.
    pub async fn refresh(&self, token: &str, sub: &str, http: &Outbound, spent: &Spent) -> Refresh {
        match self.profile(token, http, spent).await {
            Ok((user, _)) if user.id.to_string() != sub => {
                Refresh::Revoked("the token now belongs to another GitHub user".into())
            }
            Ok((_, groups)) => Refresh::Ok {
                groups,
                refresh_token: None,
                expires: 0,
            },
            Err(ApiError::Revoked) => Refresh::Revoked("GitHub refused the token (401)".into()),
            Err(ApiError::Failed(e)) => Refresh::Unreachable(e),
        }
    }

    async fn profile(
        &self,
        token: &str,
        http: &Outbound,
        spent: &Spent,
    ) -> Result<(User, Vec<String>), ApiError> {
        let user: User = self
            .get(
                &format!("{}/user", self.settings.api_url),
                token,
                http,
                spent,
            )
            .await?
            .0;
        let mut groups = Vec::new();
        let orgs: Vec<Org> = self.pages("/user/orgs", token, http, spent).await?;
        for org in orgs {
            if !groups.contains(&org.login) {
                groups.push(org.login);
            }
        }
        let teams: Vec<Team> = self.pages("/user/teams", token, http, spent).await?;
        for team in teams {
            if !groups.contains(&team.organization.login) {
                groups.push(team.organization.login.clone());
            }
            groups.push(format!("{}/{}", team.organization.login, team.slug));
        }
        Ok((user, groups))
    }

    /// Every page of a list endpoint, following `Link: <...>; rel="next"` on the API's host.
    async fn pages<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        token: &str,
        http: &Outbound,
        spent: &Spent,
    ) -> Result<Vec<T>, ApiError> {
        let mut out = Vec::new();
        let mut next = Some(format!("{}{path}?per_page=100", self.settings.api_url));
        for _ in 0..MAX_PAGES {
            let Some(url) = next.take() else { break };
            let (page, link): (Vec<T>, Option<String>) = self.get(&url, token, http, spent).await?;
            out.extend(page);
            next = link.filter(|l| l.starts_with(&self.settings.api_url));
        }
        Ok(out)
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        token: &str,
        http: &Outbound,
        spent: &Spent,
    ) -> Result<(T, Option<String>), ApiError> {
        let request = http::Request::get(url)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header("Authorization", format!("Bearer {token}"))
            .body(Vec::new())
            .map_err(|e| ApiError::Failed(e.to_string()))?;
        let response = http
            .send(request, spent)
            .await
            .map_err(|e| ApiError::Failed(e.to_string()))?;
        let status = response.status();
        if status == http::StatusCode::UNAUTHORIZED {
            return Err(ApiError::Revoked);
        }
        if !status.is_success() {
            return Err(ApiError::Failed(format!("GitHub answered {status}")));
        }
        let next = response
            .headers()
            .get_all("link")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .find(|part| part.contains("rel=\"next\""))
            .and_then(|part| part.split(['<', '>']).nth(1))
            .map(str::to_string);
        let value = serde_json::from_slice(response.body())
            .map_err(|e| ApiError::Failed(format!("GitHub's answer is unreadable: {e}")))?;
        Ok((value, next))
    }
}
