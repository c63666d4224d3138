//! `hangar repo forge set | show | rm`: the credentials a repository's commit statuses are
//! posted with, through the server's API. The token is read from stdin (so it stays out of
//! shell history and process lists) and never printed.

use crate::client::Client;
use anyhow::{Context, bail};
use clap::Subcommand;
use reqwest::Method;
use serde_json::json;
use std::io::Read;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum ForgeCommand {
    /// Set the forge credentials (the token comes from stdin, unless --github-app).
    Set {
        /// owner/name
        slug: String,
        /// github, gitea or forgejo.
        #[arg(long)]
        kind: String,
        /// The API base: GitHub Enterprise's https://HOST/api/v3, or a Gitea server's root URL
        /// (default: github_api_url for GitHub, the clone URL's server for Gitea).
        #[arg(long)]
        api_url: Option<String>,
        /// Post as the server's GitHub App with installation tokens (no token on stdin).
        #[arg(long)]
        github_app: bool,
        /// The App's installation for this repository (default: looked up on GitHub).
        #[arg(long, requires = "github_app")]
        installation_id: Option<i64>,
    },
    /// Show the forge settings (never the token).
    Show { slug: String },
    /// Remove the forge credentials: no more statuses are posted.
    #[command(alias = "remove")]
    Rm { slug: String },
}

pub async fn run(client: &Client, cmd: ForgeCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ForgeCommand::Set {
            slug,
            kind,
            api_url,
            github_app,
            installation_id,
        } => {
            let slug = super::split_slug(&slug)?;
            let mut body = if github_app {
                json!({ "kind": kind, "github_app": true, "installation_id": installation_id })
            } else {
                let mut token = String::new();
                std::io::stdin()
                    .read_to_string(&mut token)
                    .context("reading the forge token from stdin")?;
                let token = token.trim();
                if token.is_empty() {
                    bail!(
                        "give the forge token on stdin, e.g. `hangar repo forge set {slug} --kind github < token.txt`, or use --github-app"
                    );
                }
                json!({ "kind": kind, "token": token })
            };
            if let Some(url) = api_url {
                body["api_url"] = url.into();
            }
            let shown = client
                .call(
                    Method::PUT,
                    &format!("/api/repos/{slug}/forge"),
                    Some(&body),
                )
                .await?;
            super::print(&shown)
        }
        ForgeCommand::Show { slug } => {
            let slug = super::split_slug(&slug)?;
            super::print(
                &client
                    .call(Method::GET, &format!("/api/repos/{slug}/forge"), None)
                    .await?,
            )
        }
        ForgeCommand::Rm { slug } => {
            let slug = super::split_slug(&slug)?;
            client
                .call(Method::DELETE, &format!("/api/repos/{slug}/forge"), None)
                .await?;
            println!("forge credentials of {slug} removed");
            Ok(ExitCode::SUCCESS)
        }
    }
}
