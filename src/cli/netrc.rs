//! `hangar repo netrc set|show|rm`: a private repository's clone credentials, through the API.
//! The token is read from standard input (never an argument: arguments show in `ps`).

use super::{print, split_slug};
use crate::client::Client;
use anyhow::{Context, bail};
use clap::Subcommand;
use reqwest::Method;
use serde_json::json;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum NetrcCommand {
    /// Set the credentials git uses for the repository (the token is read from stdin).
    Set {
        /// owner/name
        slug: String,
        #[arg(long)]
        username: String,
    },
    /// Say whether the repository has credentials (never their token).
    Show { slug: String },
    /// Remove the repository's credentials.
    Rm { slug: String },
}

pub async fn run(client: &Client, cmd: NetrcCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        NetrcCommand::Set { slug, username } => {
            let mut token = String::new();
            std::io::stdin()
                .read_line(&mut token)
                .context("reading the token from standard input")?;
            let token = token.trim_end_matches(['\n', '\r']);
            if token.is_empty() {
                bail!(
                    "no token on standard input (e.g. `printf %s \"$TOKEN\" | hangar repo netrc set {slug} --username {username}`)"
                );
            }
            let path = format!("/api/repos/{}/netrc", split_slug(&slug)?);
            let body = json!({ "username": username, "password": token });
            print(&client.call(Method::PUT, &path, Some(&body)).await?)
        }
        NetrcCommand::Show { slug } => {
            let path = format!("/api/repos/{}/netrc", split_slug(&slug)?);
            print(&client.call(Method::GET, &path, None).await?)
        }
        NetrcCommand::Rm { slug } => {
            let path = format!("/api/repos/{}/netrc", split_slug(&slug)?);
            client.call(Method::DELETE, &path, None).await?;
            println!("removed the clone credentials of {slug}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
