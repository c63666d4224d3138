//! Refresh tokens of API access, and revocation (RFC 7009).
//!
//! A refresh token is used once: each use answers a new access token and the refresh token's
//! successor, and revokes it. A revoked refresh token that comes back means two holders (one of
//! them a thief): its whole chain (every refresh token descended from the same device approval)
//! and every access token issued from the chain are revoked at once, and the event is audited.
//! A chain lives at most `token_max_expiry` from its approval, however often it is refreshed.

use super::{
    CLI_CLIENT_ID, DEVICE_ACCESS_TTL_MS, OAuth, TokenAnswer, asked_scopes, mint_access, narrowed,
    public_client, scope_text,
};
use crate::auth::Authenticator;
use crate::auth::issuer::{OAuthError, Params};
use crate::auth::token::{self, Format, Shape};
use crate::domain::{Actor, AuditAction, UserId};
use crate::error::Result;
use crate::store::{ApiRefresh, NewRefresh};

impl OAuth {
    /// Revokes `row`'s whole chain and drops its access tokens from the cache.
    async fn revoke_chain(
        &self,
        auth: &Authenticator,
        row: &ApiRefresh,
        action: AuditAction,
        actor: &Actor,
    ) -> Result<()> {
        let now = self.now();
        let ids = self
            .store
            .revoke_api_refresh_family(&row.family, &row.client_id, action, actor, now)
            .await?;
        for id in ids {
            auth.forget_token(id);
        }
        Ok(())
    }

    /// `POST /oauth/token` with `grant_type=refresh_token`.
    pub(super) async fn refresh(
        &self,
        auth: &Authenticator,
        authorization: Option<&str>,
        params: &Params,
    ) -> Result<TokenAnswer, OAuthError> {
        public_client(authorization, params)?;
        let presented = params
            .one("refresh_token")
            .ok()
            .flatten()
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
        let now = self.now();
        let hash = token::hash(presented);
        let Some(row) = self.store.find_api_refresh(&hash).await? else {
            return Err(OAuthError::invalid_grant("unknown refresh token"));
        };
        if row.client_id != CLI_CLIENT_ID {
            return Err(OAuthError::invalid_grant(
                "the refresh token belongs to another client",
            ));
        }
        let reused = "the refresh token was used already: every token of this login is revoked; \
                      run hangar login again";
        if row.revoked != 0 {
            self.revoke_chain(auth, &row, AuditAction::RefreshReused, &Actor::system())
                .await?;
            return Err(OAuthError::invalid_grant(reused));
        }
        if row.expires <= now {
            return Err(OAuthError::invalid_grant(
                "the refresh token has expired: run hangar login again",
            ));
        }
        let user = match self.store.find_user_by_id(UserId(row.user_id)).await? {
            Some(u) if u.active => u,
            _ => return Err(OAuthError::invalid_grant("the user can no longer sign in")),
        };
        let parent: Option<Vec<String>> = row
            .scopes
            .as_deref()
            .map(|s| serde_json::from_str(s).unwrap_or_default());
        let scopes = narrowed(parent.as_deref(), asked_scopes(params)?)?;
        let expires = (now + DEVICE_ACCESS_TTL_MS).min(row.expires);
        let (access, secret) = mint_access("hangar login", scopes.clone(), expires);
        let successor_secret = token::mint();
        let successor = NewRefresh {
            hash: token::hash(&successor_secret),
            family: row.family.clone(),
            client_id: row.client_id.clone(),
            scopes: row.scopes.clone(),
            expires: row.expires,
        };
        if self
            .store
            .rotate_api_refresh(&hash, &user, &access, &successor, now)
            .await?
            .is_none()
        {
            self.revoke_chain(auth, &row, AuditAction::RefreshReused, &Actor::system())
                .await?;
            return Err(OAuthError::invalid_grant(reused));
        }
        Ok(TokenAnswer {
            access_token: secret.expose().to_string(),
            token_type: "Bearer",
            expires_in: (expires - now).div_euclid(1000),
            refresh_token: Some(successor_secret),
            scope: scope_text(&scopes),
        })
    }

    /// `POST /oauth/revoke` (RFC 7009): an `hgr_at_` access token is revoked alone; a refresh
    /// token takes its whole chain with it. Unknown tokens are not an error (§2.2).
    pub async fn revoke(
        &self,
        auth: &Authenticator,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<(), OAuthError> {
        let params = Params::parse(body);
        if let Some(name) = params.repeated() {
            return Err(OAuthError::invalid_request(format!("{name} is repeated")));
        }
        public_client(authorization, &params)?;
        let presented = params
            .one("token")
            .ok()
            .flatten()
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        if token::parse(presented) == Shape::Valid(Format::Access) {
            if let Some(identity) = auth.authenticate(presented).await? {
                auth.revoke_token(&identity.actor(), identity.token).await?;
            }
            return Ok(());
        }
        if let Some(row) = self.store.find_api_refresh(&token::hash(presented)).await?
            && row.revoked == 0
        {
            let actor = match self.store.find_user_by_id(UserId(row.user_id)).await? {
                Some(u) => Actor::user(u.id, &u.login, None),
                None => Actor::system(),
            };
            self.revoke_chain(auth, &row, AuditAction::RefreshRevoked, &actor)
                .await?;
        }
        Ok(())
    }
}
