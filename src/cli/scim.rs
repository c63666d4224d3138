//! `hangar scim token create`: a bearer token for an identity provider's SCIM client (Okta,
//! Entra ID), made on the server's machine like `hangar user add`: it opens the database with
//! the server's configuration, no server needs to run. The token is printed once, alone on
//! stdout; only its hash is stored.

use crate::auth::token::{self, Format};
use crate::config::Config;
use crate::domain::Actor;
use crate::store::Store;
use anyhow::bail;
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum ScimCommand {
    /// SCIM bearer tokens.
    #[command(subcommand)]
    Token(ScimTokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum ScimTokenCommand {
    /// Make a SCIM token and print it (shown only this once).
    Create {
        /// Which provisioning client it is for (shown in the audit trail).
        #[arg(long, default_value = "scim")]
        name: String,
    },
}

/// Runs a `hangar scim` command against the configured database.
pub async fn run(config: &Config, command: ScimCommand) -> anyhow::Result<ExitCode> {
    let ScimCommand::Token(ScimTokenCommand::Create { name }) = command;
    let name = name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        bail!("--name must be 1 to 100 printable characters");
    }
    let store = Store::open(&config.database_url).await?;
    let now = crate::clock::system().now_ms();
    let minted = token::mint_token(Format::Scim);
    let mut actor = Actor::system();
    actor.name = "@cli".into();
    store
        .create_scim_token(&actor, name, &minted.hash, &minted.prefix, now)
        .await?;
    eprintln!(
        "SCIM token {:?} ({}...): give it to the provider with the base URL {}/scim/v2",
        name, minted.prefix, config.server_url
    );
    println!("{}", minted.secret.expose());
    Ok(ExitCode::SUCCESS)
}
