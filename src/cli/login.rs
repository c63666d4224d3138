//! `hangar login --server URL` and `hangar logout`.
//!
//! Login is the OAuth device authorization grant (RFC 8628) served by Hangar: the CLI asks for a
//! code, prints where to approve it, and polls at the interval the server gives (5 s longer
//! after each `slow_down`) until the code is approved in a browser where the person is signed
//! in, refused, or expired. The tokens are kept in `credentials.json` (mode 0600, see
//! `client::credentials`) and used by the client commands whenever `HANGAR_TOKEN` is not set.
//! Logout revokes the login at the server (its refresh chain and access tokens) and forgets it.

use crate::client::credentials::{self, CLIENT_ID, Credentials};
use anyhow::{Context, bail};
use serde::Deserialize;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Deserialize)]
struct DeviceAnswer {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: Option<String>,
    expires_in: u64,
    interval: Option<u64>,
}

fn http() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the HTTP client")
}

/// `hangar login --server URL [--scope S]...`.
pub async fn login(server: &str, scopes: &[String]) -> anyhow::Result<ExitCode> {
    let server = server.trim_end_matches('/').to_string();
    let http = http()?;
    let scope = scopes.join(" ");
    let mut form = vec![("client_id", CLIENT_ID)];
    if !scope.is_empty() {
        form.push(("scope", scope.as_str()));
    }
    let (status, text) =
        credentials::post_form(&http, &server, "/oauth/device/code", &form).await?;
    if !status.is_success() {
        let why = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["error_description"].as_str().map(str::to_string))
            .unwrap_or(text);
        bail!("{server} refused to start a login ({status}): {why}");
    }
    let device: DeviceAnswer = serde_json::from_str(&text)
        .with_context(|| format!("{server} did not answer as a Hangar server"))?;
    eprintln!(
        "To log in, open {} in a browser and enter the code {}",
        device.verification_uri, device.user_code
    );
    if let Some(complete) = &device.verification_uri_complete {
        eprintln!("(or open {complete})");
    }
    eprintln!("Waiting for the code to be approved...");
    let mut interval = Duration::from_secs(device.interval.unwrap_or(5).max(1));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(device.expires_in);
    loop {
        tokio::time::sleep(interval).await;
        if tokio::time::Instant::now() > deadline {
            bail!("the code expired before it was approved; run hangar login again");
        }
        let answer = credentials::token_request(
            &http,
            &server,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", CLIENT_ID),
                ("device_code", &device.device_code),
            ],
        )
        .await?;
        match answer.error.as_deref() {
            None => {
                let creds = Credentials::from_answer(&server, answer)?;
                let path = creds.save()?;
                let client = crate::client::Client::new(
                    &server,
                    crate::config::Secret::new(creds.access_token.clone()),
                )?;
                let me = client.call(reqwest::Method::GET, "/api/user", None).await?;
                println!(
                    "Logged in to {server} as {}",
                    me["login"].as_str().unwrap_or("?")
                );
                eprintln!("(kept in {})", path.display());
                return Ok(ExitCode::SUCCESS);
            }
            Some("authorization_pending") => {}
            Some("slow_down") => interval += Duration::from_secs(5),
            Some("access_denied") => bail!("the login was refused in the browser"),
            Some("expired_token") => {
                bail!("the code expired before it was approved; run hangar login again")
            }
            Some(other) => bail!(
                "the login failed ({other}): {}",
                answer.error_description.unwrap_or_default()
            ),
        }
    }
}

/// `hangar logout`: revokes the kept login at its server (best effort) and forgets it.
pub async fn logout() -> anyhow::Result<ExitCode> {
    let Some(kept) = Credentials::load()? else {
        eprintln!("not logged in");
        return Ok(ExitCode::SUCCESS);
    };
    let http = http()?;
    let revoked = credentials::post_form(
        &http,
        &kept.server,
        "/oauth/revoke",
        &[
            ("client_id", CLIENT_ID),
            ("token", &kept.refresh_token),
            ("token_type_hint", "refresh_token"),
        ],
    )
    .await;
    match revoked {
        Ok((status, _)) if status.is_success() => {}
        Ok((status, _)) => eprintln!(
            "warning: {} did not revoke the login ({status})",
            kept.server
        ),
        Err(e) => eprintln!(
            "warning: could not reach {} to revoke the login: {e:#}",
            kept.server
        ),
    }
    Credentials::forget()?;
    println!("Logged out of {}", kept.server);
    Ok(ExitCode::SUCCESS)
}
