//! The token endpoint (`POST /oidc/token`) and userinfo.
//!
//! Clients authenticate with `client_secret_basic` or `client_secret_post` (confidential) or
//! not at all (`none`, public clients, which PKCE protects). Grants: `authorization_code` (used
//! once; a replay revokes what the code issued; the PKCE verifier and the redirect URI must
//! match; a verifier for a code without a challenge is refused) and `refresh_token` (rotated on
//! every use; a revoked one coming back revokes its whole chain). The password grant, and any
//! other, is `unsupported_grant_type`.

use super::claims::{self, IdTokenClaims};
use super::{ACCESS_TTL_MS, ID_TOKEN_TTL_MS, Issuer, OAuthError, Params, REFRESH_TTL_MS, pkce};
use crate::auth::token;
use crate::domain::{AuditAction, UserId};
use crate::store::{LocalAccount, NewTokens, OAuthClient};
use serde::Serialize;
use std::fmt;
use subtle::ConstantTimeEq;

/// A successful token response. `Debug` shows no token.
#[derive(Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub id_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("scope", &self.scope)
            .field("refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

/// What one grant's tokens are issued for.
struct Subject<'a> {
    client_id: &'a str,
    account: &'a LocalAccount,
    scope: &'a str,
    grant_id: &'a str,
    sid: &'a str,
    auth_time: i64,
    nonce: Option<&'a str>,
}

fn has_scope(scope: &str, name: &str) -> bool {
    scope.split(' ').any(|s| s == name)
}

impl Issuer {
    /// Who is calling the token endpoint.
    async fn client(
        &self,
        authorization: Option<&str>,
        params: &Params,
    ) -> Result<OAuthClient, OAuthError> {
        let (id, secret) = super::params::client_auth(authorization, params)?
            .ok_or_else(|| OAuthError::invalid_client("no client authentication"))?;
        let client = match self.store.find_oauth_client(&id).await? {
            Some(c) if c.revoked == 0 => c,
            _ => return Err(OAuthError::invalid_client("unknown client")),
        };
        let authenticated = match (client.secret_hash.is_empty(), secret) {
            (true, None) => true,
            (false, Some(secret)) => token::hash(&secret)
                .as_bytes()
                .ct_eq(client.secret_hash.as_bytes())
                .into(),
            _ => false,
        };
        if !authenticated {
            return Err(OAuthError::invalid_client("client authentication failed"));
        }
        Ok(client)
    }

    /// `POST /oidc/token`.
    pub async fn token(
        &self,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<TokenResponse, OAuthError> {
        let params = Params::parse(body);
        if let Some(name) = params.repeated() {
            return Err(OAuthError::invalid_request(format!("{name} is repeated")));
        }
        let get = |name| params.one(name).ok().flatten();
        let grant_type = get("grant_type")
            .ok_or_else(|| OAuthError::invalid_request("grant_type is missing"))?;
        if !matches!(grant_type, "authorization_code" | "refresh_token") {
            return Err(OAuthError::new(
                400,
                "unsupported_grant_type",
                format!("{grant_type} is not supported"),
            ));
        }
        let client = self.client(authorization, &params).await?;
        if !client.grant_types.is_empty() && !client.grant_types.iter().any(|g| g == grant_type) {
            return Err(OAuthError::new(
                400,
                "unauthorized_client",
                format!("this client may not use {grant_type}"),
            ));
        }
        if grant_type == "authorization_code" {
            self.exchange_code(&client, &params).await
        } else {
            self.refresh(&client, &params).await
        }
    }

    async fn live_account(&self, user_id: i64) -> Result<LocalAccount, OAuthError> {
        match self.store.find_local_account_by_id(UserId(user_id)).await? {
            Some(a) if a.active => Ok(a),
            _ => Err(OAuthError::invalid_grant("the user can no longer sign in")),
        }
    }

    async fn exchange_code(
        &self,
        client: &OAuthClient,
        params: &Params,
    ) -> Result<TokenResponse, OAuthError> {
        let get = |name| params.one(name).ok().flatten();
        let code = get("code").ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
        let now = self.now();
        let Some(row) = self
            .store
            .find_authorization_code(&token::hash(code))
            .await?
        else {
            return Err(OAuthError::invalid_grant("unknown code"));
        };
        if row.used != 0 {
            self.store
                .revoke_grant(
                    &row.code_hash,
                    AuditAction::OidcCodeReplayed,
                    &row.client_id,
                    now,
                )
                .await?;
            return Err(OAuthError::invalid_grant("the code was used already"));
        }
        if row.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(
                "the code was issued to another client",
            ));
        }
        if row.expires <= now {
            return Err(OAuthError::invalid_grant("the code has expired"));
        }
        if get("redirect_uri") != Some(row.redirect_uri.as_str()) {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request",
            ));
        }
        match get("code_verifier") {
            Some(_) if row.code_challenge.is_empty() => {
                return Err(OAuthError::invalid_grant(
                    "code_verifier sent, but the authorization request had no code_challenge",
                ));
            }
            None => {
                return Err(OAuthError::invalid_request(
                    "code_verifier is missing (PKCE)",
                ));
            }
            Some(verifier) if !pkce::verify(&row.code_challenge, verifier) => {
                return Err(OAuthError::invalid_grant(
                    "the PKCE code_verifier does not match",
                ));
            }
            Some(_) => {}
        }
        let account = self.live_account(row.user_id).await?;
        let subject = Subject {
            client_id: &client.client_id,
            account: &account,
            scope: &row.scope,
            grant_id: &row.code_hash,
            sid: &row.provider_sid,
            auth_time: row.auth_time,
            nonce: (!row.nonce.is_empty()).then_some(row.nonce.as_str()),
        };
        let (response, access_hash, refresh_hash) = self.mint(&subject, now).await?;
        let tokens = NewTokens {
            client_id: subject.client_id,
            user_id: row.user_id,
            scope: subject.scope,
            grant_id: subject.grant_id,
            provider_sid: subject.sid,
            auth_time: subject.auth_time,
            access_hash: &access_hash,
            access_expires: now + ACCESS_TTL_MS,
            refresh: refresh_hash.as_deref().map(|h| (h, now + REFRESH_TTL_MS)),
        };
        if !self
            .store
            .redeem_authorization_code(&tokens, &account.login, now)
            .await?
        {
            self.store
                .revoke_grant(
                    &row.code_hash,
                    AuditAction::OidcCodeReplayed,
                    &row.client_id,
                    now,
                )
                .await?;
            return Err(OAuthError::invalid_grant("the code was used already"));
        }
        Ok(response)
    }

    async fn refresh(
        &self,
        client: &OAuthClient,
        params: &Params,
    ) -> Result<TokenResponse, OAuthError> {
        let get = |name| params.one(name).ok().flatten();
        let presented = get("refresh_token")
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
        let now = self.now();
        let hash = token::hash(presented);
        let Some(row) = self.store.find_refresh_token(&hash).await? else {
            return Err(OAuthError::invalid_grant("unknown refresh token"));
        };
        if row.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(
                "the refresh token belongs to another client",
            ));
        }
        if row.revoked != 0 {
            self.store
                .revoke_grant(
                    &row.grant_id,
                    AuditAction::OidcRefreshReused,
                    &row.client_id,
                    now,
                )
                .await?;
            return Err(OAuthError::invalid_grant("the refresh token was revoked"));
        }
        if row.expires <= now {
            return Err(OAuthError::invalid_grant("the refresh token has expired"));
        }
        let scope = match get("scope") {
            None => row.scope.clone(),
            Some(asked) => {
                if asked.split(' ').any(|s| !has_scope(&row.scope, s)) {
                    return Err(OAuthError::new(
                        400,
                        "invalid_scope",
                        "a refresh cannot widen the scope",
                    ));
                }
                asked.to_string()
            }
        };
        let account = self.live_account(row.user_id).await?;
        let subject = Subject {
            client_id: &client.client_id,
            account: &account,
            scope: &scope,
            grant_id: &row.grant_id,
            sid: &row.provider_sid,
            auth_time: row.auth_time,
            nonce: None,
        };
        let (mut response, access_hash, refresh_hash) = self.mint(&subject, now).await?;
        // A refresh always gets its successor, whatever the (possibly narrowed) scope says.
        let successor = match refresh_hash {
            Some(h) => h,
            None => {
                let fresh = token::mint();
                let h = token::hash(&fresh);
                response.refresh_token = Some(fresh);
                h
            }
        };
        let tokens = NewTokens {
            client_id: subject.client_id,
            user_id: row.user_id,
            scope: &row.scope,
            grant_id: &row.grant_id,
            provider_sid: &row.provider_sid,
            auth_time: row.auth_time,
            access_hash: &access_hash,
            access_expires: now + ACCESS_TTL_MS,
            refresh: Some((&successor, now + REFRESH_TTL_MS)),
        };
        if !self.store.rotate_refresh_token(&hash, &tokens, now).await? {
            self.store
                .revoke_grant(
                    &row.grant_id,
                    AuditAction::OidcRefreshReused,
                    &row.client_id,
                    now,
                )
                .await?;
            return Err(OAuthError::invalid_grant("the refresh token was revoked"));
        }
        Ok(response)
    }

    /// Mints an access token, a refresh token when `offline_access` was granted, and a signed
    /// ID token. Returns the response and the hashes to store.
    async fn mint(
        &self,
        s: &Subject<'_>,
        now: i64,
    ) -> Result<(TokenResponse, String, Option<String>), OAuthError> {
        let access = token::mint();
        let refresh = has_scope(s.scope, "offline_access").then(token::mint);
        let claims = IdTokenClaims {
            iss: self.url.clone(),
            sub: s.account.sub.clone(),
            aud: s.client_id.to_string(),
            exp: (now + ID_TOKEN_TTL_MS) / 1000,
            iat: now / 1000,
            auth_time: s.auth_time / 1000,
            nonce: s.nonce.map(str::to_string),
            at_hash: Some(claims::at_hash(&access)),
            sid: (!s.sid.is_empty()).then(|| s.sid.to_string()),
            jti: token::mint()[..32].to_string(),
            profile: claims::profile(s.account, s.scope),
        };
        let id_token = self.keys.sign(&claims, now).await?;
        let access_hash = token::hash(&access);
        let refresh_hash = refresh.as_deref().map(token::hash);
        Ok((
            TokenResponse {
                access_token: access,
                token_type: "Bearer",
                expires_in: ACCESS_TTL_MS / 1000,
                id_token,
                refresh_token: refresh,
                scope: s.scope.to_string(),
            },
            access_hash,
            refresh_hash,
        ))
    }

    /// `GET /oidc/userinfo` with `Authorization: Bearer ...`.
    pub async fn userinfo(
        &self,
        authorization: Option<&str>,
    ) -> Result<serde_json::Value, OAuthError> {
        let Some(bearer) = authorization.and_then(|h| h.strip_prefix("Bearer ")) else {
            return Err(OAuthError::invalid_token(
                "a bearer access token is required",
            ));
        };
        let now = self.now();
        let Some(grant) = self
            .store
            .find_access_token(&token::hash(bearer.trim()), now)
            .await?
        else {
            return Err(OAuthError::invalid_token("the access token is not valid"));
        };
        match self
            .store
            .find_local_account_by_id(UserId(grant.user_id))
            .await?
        {
            Some(a) if a.active => Ok(claims::userinfo(&a, &grant.scope)),
            _ => Err(OAuthError::invalid_token("the user can no longer sign in")),
        }
    }
}
