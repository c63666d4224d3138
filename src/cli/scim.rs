//! `hangar scim token create | list | revoke`: bearer tokens for an identity provider's SCIM client (Okta,
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
    /// List SCIM tokens (never their secrets).
    List,
    /// Revoke a SCIM token by its id (from `list`); the provider's next request is refused.
    Revoke { id: i64 },
}

/// Runs a `hangar scim` command against the configured database.
pub async fn run(config: &Config, command: ScimCommand) -> anyhow::Result<ExitCode> {
    let ScimCommand::Token(command) = command;
    let store = Store::open(&config.database_url).await?;
    let now = crate::clock::system().now_ms();
    let mut actor = Actor::system();
    actor.name = "@cli".into();
    match command {
        ScimTokenCommand::Create { name } => {
            let name = name.trim();
            if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
                bail!("--name must be 1 to 100 printable characters");
            }
            let minted = token::mint_token(Format::Scim);
            store
                .create_scim_token(&actor, name, &minted.hash, &minted.prefix, now)
                .await?;
            eprintln!(
                "SCIM token {:?} ({}...): give it to the provider with the base URL {}/scim/v2",
                name, minted.prefix, config.server_url
            );
            println!("{}", minted.secret.expose());
        }
        ScimTokenCommand::List => {
            for (id, name, prefix, created, revoked) in store.list_scim_tokens().await? {
                let state = if revoked > 0 { "revoked" } else { "live" };
                println!(
                    "{id}\t{name}\t{prefix}...\tcreated {}\t{state}",
                    created / 1000
                );
            }
        }
        ScimTokenCommand::Revoke { id } => {
            if !store.revoke_scim_token(&actor, id, now).await? {
                bail!("there is no live SCIM token with id {id}");
            }
            println!("revoked SCIM token {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
