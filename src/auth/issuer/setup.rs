//! What the provider sets up at server start: the built-in confidential client `hangar` that
//! Hangar's own relying party logs in with (its secret random, stored sealed with the server
//! key and as a hash; its redirect URIs follow `server_url`), local users' issuer following
//! `server_url`, and on a database without people, the first user `admin` in group `admins`.

use super::{HANGAR_CLIENT_ID, issuer_url, password};
use crate::auth::keys::SecretBox;
use crate::auth::token;
use crate::config::{Config, Secret};
use crate::domain::Actor;
use crate::error::Result;
use crate::store::{NewLocalUser, OAuthClient, Store};
use anyhow::bail;
use std::fmt;

/// How Hangar's relying party reaches the embedded provider. `Debug` hides the secret.
#[derive(Clone)]
pub struct ClientCredentials {
    /// The issuer URL, `{server_url}/oidc`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// `{server_url}/auth/callback`.
    pub redirect_uri: String,
    /// `{server_url}/`.
    pub post_logout_redirect_uri: String,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

fn uris(server_url: &str) -> (String, String) {
    let base = server_url.trim_end_matches('/');
    (format!("{base}/auth/callback"), format!("{base}/"))
}

/// The built-in client's credentials, once registered (for Hangar's relying party; the same
/// as [`super::Issuer::hangar_client`] without an `Issuer`).
pub async fn hangar_client(
    store: &Store,
    secrets: &SecretBox,
    server_url: &str,
) -> Result<Option<ClientCredentials>> {
    let Some(client) = store.find_oauth_client(HANGAR_CLIENT_ID).await? else {
        return Ok(None);
    };
    let Some(secret) = client
        .secret_sealed
        .as_deref()
        .and_then(|s| secrets.open(s))
        .and_then(|s| String::from_utf8(s).ok())
    else {
        return Ok(None);
    };
    let (redirect_uri, post_logout_redirect_uri) = uris(server_url);
    Ok(Some(ClientCredentials {
        issuer: issuer_url(server_url),
        client_id: client.client_id,
        client_secret: Secret::new(secret),
        redirect_uri,
        post_logout_redirect_uri,
    }))
}

/// Registers (or brings up to date) the built-in client, points local users at the current
/// issuer, and creates the first admin on a database without people. The admin's password is
/// `admin_password` from the configuration, or a generated one printed once to stderr (the
/// only place a password is ever shown; it never goes through the log).
pub async fn bootstrap(
    config: &Config,
    store: &Store,
    secrets: &SecretBox,
    now: i64,
) -> anyhow::Result<ClientCredentials> {
    let (redirect_uri, logout_uri) = uris(&config.server_url);
    let system = Actor::system();
    let existing = store.find_oauth_client(HANGAR_CLIENT_ID).await?;
    let readable = existing
        .as_ref()
        .and_then(|c| c.secret_sealed.as_deref())
        .and_then(|s| secrets.open(s))
        .is_some();
    match existing {
        Some(client) if readable => {
            if client.redirect_uris != [redirect_uri.clone()]
                || client.post_logout_redirect_uris != [logout_uri.clone()]
            {
                store
                    .update_oauth_client_uris(
                        HANGAR_CLIENT_ID,
                        std::slice::from_ref(&redirect_uri),
                        std::slice::from_ref(&logout_uri),
                        &system,
                        now,
                    )
                    .await?;
            }
        }
        Some(_) => bail!(
            "the built-in OpenID client's secret does not open with {}: was the secret key file replaced? Restore it",
            config.identity.secret_key_file.display()
        ),
        None => {
            let secret = token::mint();
            let client = OAuthClient {
                client_id: HANGAR_CLIENT_ID.into(),
                secret_hash: token::hash(&secret),
                name: "Hangar".into(),
                redirect_uris: vec![redirect_uri.clone()],
                post_logout_redirect_uris: vec![logout_uri.clone()],
                grant_types: vec!["authorization_code".into(), "refresh_token".into()],
                secret_sealed: Some(secrets.seal(secret.as_bytes())),
                created: now,
                revoked: 0,
            };
            match store.create_oauth_client(&client, &system, now).await {
                Ok(()) | Err(crate::Error::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let iss = issuer_url(&config.server_url);
    store.update_local_issuer(&iss, now).await?;
    first_admin(config, store, &iss, now).await?;
    hangar_client(store, secrets, &config.server_url)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the built-in OpenID client is missing after set-up"))
}

async fn first_admin(config: &Config, store: &Store, iss: &str, now: i64) -> anyhow::Result<()> {
    if store.count_people().await? > 0 {
        return Ok(());
    }
    let (password, generated) = match &config.identity.admin_password {
        Some(p) => {
            if let Err(e) = password::check_strength(p.expose()) {
                bail!("admin_password (HANGAR_ADMIN_PASSWORD): {e}");
            }
            (p.clone(), false)
        }
        None => (password::generate(), true),
    };
    let hash = {
        let password = password.clone();
        tokio::task::spawn_blocking(move || password::hash(password.expose())).await??
    };
    let sub = token::mint()[..32].to_string();
    let groups = vec!["admins".to_string()];
    let created = store
        .create_first_local_user(
            &NewLocalUser {
                login: "admin",
                display_name: "Administrator",
                email: "",
                groups: &groups,
                password_hash: &hash,
                iss,
                sub: &sub,
            },
            now,
        )
        .await?;
    if created && generated {
        // Shown once, to whoever started the server; deliberately not a log line.
        eprintln!(
            "\nhangar: created the first user \"admin\" (group admins) with the one-time password:\n\n    {}\n\nSign in at {}/ and change it with `hangar user passwd admin`.\n",
            password.expose(),
            config.server_url.trim_end_matches('/')
        );
    }
    Ok(())
}
