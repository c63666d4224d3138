//! `hangar token create | list | revoke`: the caller's own API tokens, through the server's API
//! (`HANGAR_SERVER`, `HANGAR_TOKEN`). A new token is printed once, alone on stdout, so a script
//! can capture it; everything else goes to stderr.

use crate::client::Client;
use anyhow::Context;
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a personal access token and print it (it is shown only this once).
    Create {
        /// What the token is for (a machine, a bot, an agent).
        #[arg(long)]
        name: String,
        /// Lifetime: 90s, 12h, 30d... (at most the server's token_max_expiry).
        #[arg(long)]
        expires: String,
        /// Limit the token to ACTION or ACTION:REPO_GLOB (e.g. build.trigger:acme/*); repeat
        /// for more. Without any, the token has all of your rights.
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// List your tokens (never their secrets).
    #[command(alias = "ls")]
    List,
    /// Revoke one of your tokens by id.
    #[command(alias = "rm")]
    Revoke { id: i64 },
}

/// Runs a `hangar token` command.
pub async fn run(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    let client = Client::from_env().await?;
    match cmd {
        TokenCommand::Create {
            name,
            expires,
            scopes,
        } => {
            let lifetime = crate::config::parse_duration(&expires)
                .map_err(anyhow::Error::msg)
                .context("--expires")?;
            let mut body = json!({ "name": name, "expires_in": lifetime.as_secs() });
            if !scopes.is_empty() {
                body["scopes"] = json!(scopes);
            }
            let made = client
                .call(Method::POST, "/api/user/tokens", Some(&body))
                .await?;
            println!("{}", made["token"].as_str().unwrap_or_default());
            eprintln!(
                "token {} ({}) expires {}; it is shown only now",
                made["id"],
                made["name"].as_str().unwrap_or_default(),
                when(made["expires"].as_i64().unwrap_or(0), now_secs()),
            );
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::List => {
            let tokens = client.call(Method::GET, "/api/user/tokens", None).await?;
            let now = now_secs();
            println!(
                "{:<6} {:<20} {:<14} {:<10} {:<14} {:<14} SCOPES",
                "ID", "NAME", "PREFIX", "STATE", "EXPIRES", "LAST USED"
            );
            for t in tokens.as_array().into_iter().flatten() {
                println!(
                    "{:<6} {:<20} {:<14} {:<10} {:<14} {:<14} {}",
                    t["id"],
                    t["name"].as_str().unwrap_or_default(),
                    t["prefix"].as_str().unwrap_or_default(),
                    state(t, now),
                    when(t["expires"].as_i64().unwrap_or(0), now),
                    when(t["last_used"].as_i64().unwrap_or(0), now),
                    scopes_text(&t["scopes"]),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::Revoke { id } => {
            client
                .call(Method::DELETE, &format!("/api/user/tokens/{id}"), None)
                .await?;
            println!("revoked token {id}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn now_secs() -> i64 {
    crate::clock::system().now_ms() / 1000
}

fn state(t: &Value, now: i64) -> &'static str {
    let expires = t["expires"].as_i64().unwrap_or(0);
    if t["revoked"].as_i64().unwrap_or(0) != 0 {
        "revoked"
    } else if expires != 0 && expires <= now {
        "expired"
    } else {
        "live"
    }
}

fn scopes_text(scopes: &Value) -> String {
    match scopes.as_array() {
        Some(list) => list
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        None => "(all of your rights)".into(),
    }
}

/// A Unix time relative to `now`: `in 29d`, `3h ago`, `never` for 0.
fn when(at: i64, now: i64) -> String {
    if at == 0 {
        return "never".into();
    }
    let d = at - now;
    let n = d.abs();
    let text = match n {
        0..60 => format!("{n}s"),
        60..3600 => format!("{}m", n / 60),
        3600..86400 => format!("{}h", n / 3600),
        _ => format!("{}d", n / 86400),
    };
    if d >= 0 {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_relative_to_now() {
        assert_eq!(when(0, 100), "never");
        assert_eq!(when(100 + 30 * 86400, 100), "in 30d");
        assert_eq!(when(100 - 7200, 100), "2h ago");
        assert_eq!(when(130, 100), "in 30s");
    }

    #[test]
    fn a_token_without_scopes_has_all_of_its_owners_rights() {
        assert_eq!(scopes_text(&Value::Null), "(all of your rights)");
        assert_eq!(
            scopes_text(&json!(["repo.read", "build.trigger:acme/*"])),
            "repo.read,build.trigger:acme/*"
        );
    }
}
