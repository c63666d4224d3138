//! Interoperability: the certified `openidconnect` crate, used as any relying party would use it
//! against any provider, signs in at the embedded provider with Hangar's built-in confidential
//! client: discovery, an authorization URL with PKCE, state and nonce, the login form, the code
//! exchange (client_secret_basic), ID token validation (signature, issuer, audience, nonce,
//! at_hash), a refresh, and userinfo.

use super::provider::{ADMIN_PASSWORD, Provider, location, param};
use openidconnect::core::{
    CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, RefreshToken, Scope,
    TokenResponse,
};
use reqwest::StatusCode;

#[tokio::test]
async fn an_off_the_shelf_oidc_client_signs_in_and_validates_the_id_token() {
    let p = Provider::start().await;
    let http = p.http.clone();
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(p.issuer.clone()).expect("issuer URL"),
        &http,
    )
    .await
    .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(p.hangar.client_id.clone()),
        Some(ClientSecret::new(
            p.hangar.client_secret.expose().to_string(),
        )),
    )
    .set_redirect_uri(RedirectUrl::new(p.hangar.redirect_uri.clone()).expect("redirect"));

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("groups".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();

    let form = p.open_form(url.as_str()).await;
    let resp = p.post_form(&form, "admin", ADMIN_PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let back = location(&resp);
    assert!(back.starts_with(&p.hangar.redirect_uri), "{back}");
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(param(&back, "iss").as_deref(), Some(p.issuer.as_str()));
    let code = param(&back, "code").expect("a code");

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("a token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange succeeds");
    let id_token = tokens.id_token().expect("an ID token");
    let id_verifier = client
        .id_token_verifier()
        .set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("the ID token validates");
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str()),
        Some("admin")
    );
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().expect("alg"),
        id_token.signing_key(&id_verifier).expect("key"),
    )
    .expect("hash");
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));

    // A wrong nonce is caught by the library too.
    assert!(
        id_token
            .claims(&id_verifier, &Nonce::new("other".into()))
            .is_err()
    );

    let refreshed = client
        .exchange_refresh_token(&RefreshToken::new(
            tokens
                .refresh_token()
                .expect("a refresh token")
                .secret()
                .clone(),
        ))
        .expect("a token endpoint")
        .request_async(&http)
        .await
        .expect("the refresh succeeds");
    assert_ne!(
        refreshed.refresh_token().map(|r| r.secret()),
        tokens.refresh_token().map(|r| r.secret())
    );

    let info: CoreUserInfoClaims = client
        .user_info(
            refreshed.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .expect("a userinfo endpoint")
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.subject(), claims.subject());
}
