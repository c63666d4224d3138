//! A typed HTTP client for Hangar's API, used by the CLI's client commands. The server and
//! token come from `HANGAR_SERVER` / `HANGAR_TOKEN`, or Drone's `DRONE_SERVER` / `DRONE_TOKEN`;
//! without a token, from the login `hangar login` kept (`credentials.rs`), refreshed when its
//! access token is about to expire.

pub mod credentials;

use crate::config::Secret;
use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::Value;

/// A client bound to one server and token.
pub struct Client {
    http: reqwest::Client,
    server: String,
    token: Secret,
}

impl Client {
    /// Reads the server and token from the environment, else from the kept login. A kept
    /// login is only ever sent to the server it was made for.
    pub async fn from_env() -> anyhow::Result<Client> {
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
        };
        let server = var(&["HANGAR_SERVER", "DRONE_SERVER"]);
        if let Some(token) = var(&["HANGAR_TOKEN", "DRONE_TOKEN"]) {
            let server = server.context(
                "set HANGAR_SERVER (or DRONE_SERVER) to the server's URL, e.g. http://127.0.0.1:8080",
            )?;
            return Client::new(&server, Secret::new(token));
        }
        let Some(kept) = credentials::Credentials::load()? else {
            bail!(
                "not logged in: run hangar login --server URL, or set HANGAR_SERVER and HANGAR_TOKEN (or DRONE_SERVER and DRONE_TOKEN) to a server and an API token"
            );
        };
        if let Some(server) = server
            && server.trim_end_matches('/') != kept.server
        {
            bail!(
                "the kept login is for {}, not HANGAR_SERVER={server}: run hangar login --server {server}, or set HANGAR_TOKEN",
                kept.server
            );
        }
        let mut client = Client::new(&kept.server, Secret::new(""))?;
        let (_, token) = kept.fresh(&client.http).await?;
        client.token = token;
        Ok(client)
    }

    /// The server's URL, without a trailing `/`.
    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn new(server: &str, token: Secret) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the HTTP client")?;
        Ok(Client {
            http,
            server: server.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// Sends a request to `path` (starting with `/`) and returns the JSON answer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.server);
        let mut req = self
            .http
            .request(method, &url)
            .bearer_auth(self.token.expose());
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.with_context(|| format!("calling {url}"))?;
        let status = resp.status();
        let text = resp.text().await.context("reading the answer")?;
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
                .unwrap_or(text);
            bail!("{status}: {message}");
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("{url} did not answer JSON"))
    }
}
