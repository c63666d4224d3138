//! The client-credentials grant (RFC 6749 §4.4) for service accounts: the client is the service
//! account (`client_id` = its login), its secret one of the account's live `hgr_sa_` tokens
//! (HTTP Basic or the form). The answer is an `hgr_at_` access token of at most 15 minutes,
//! never outliving the token it comes from, with that token's scopes or fewer.

use super::{
    CLIENT_CREDENTIALS_TTL_MS, OAuth, TokenAnswer, asked_scopes, mint_access, narrowed, scope_text,
};
use crate::auth::Authenticator;
use crate::auth::issuer::{OAuthError, Params, client_auth};
use crate::auth::token::{self, Shape};
use crate::domain::TokenKind;

const REFUSED: &str = "client authentication failed: send the service account's login as \
                       client_id and one of its live hgr_sa_ tokens as client_secret";

impl OAuth {
    pub(super) async fn client_credentials(
        &self,
        auth: &Authenticator,
        authorization: Option<&str>,
        params: &Params,
    ) -> Result<TokenAnswer, OAuthError> {
        let Some((login, Some(secret))) = client_auth(authorization, params)? else {
            return Err(OAuthError::invalid_client(REFUSED));
        };
        let identity = match token::parse(&secret) {
            Shape::Valid(_) => auth.authenticate(&secret).await?,
            Shape::Malformed | Shape::Foreign => None,
        };
        let Some(identity) = identity.filter(|i| i.user.login == login) else {
            return Err(OAuthError::invalid_client(REFUSED));
        };
        if !identity.user.machine || identity.kind != TokenKind::Service {
            return Err(OAuthError::new(
                400,
                "unauthorized_client",
                "only service accounts (machine users) may use client_credentials, with one of \
                 their hgr_sa_ tokens",
            ));
        }
        let scopes = narrowed(identity.scopes.as_deref(), asked_scopes(params)?)?;
        let now = self.now();
        let mut expires = now + CLIENT_CREDENTIALS_TTL_MS;
        if identity.expires != 0 {
            expires = expires.min(identity.expires);
        }
        let (new, secret) = mint_access("client_credentials", scopes.clone(), expires);
        self.store
            .create_token(&identity.actor(), &identity.user, &new, now)
            .await?;
        Ok(TokenAnswer {
            access_token: secret.expose().to_string(),
            token_type: "Bearer",
            expires_in: (expires - now).div_euclid(1000),
            refresh_token: None,
            scope: scope_text(&scopes),
        })
    }
}
