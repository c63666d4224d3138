//! `hangar runner`: without a subcommand, runs a remote runner (configured from the
//! environment: HANGAR_SERVER_URL, HANGAR_RUNNER_TOKEN, HANGAR_RUNNER_CAPACITY,
//! HANGAR_RUNNER_LABELS, and the data folder, log limit, cancel grace and sandbox keys of the
//! server's configuration). `register`, `ls` and `rm` manage runners through the server's API
//! (HANGAR_SERVER, HANGAR_TOKEN: an administrator's); a new runner's token is printed once,
//! alone on stdout.

use crate::client::Client;
use crate::config::{Config, Secret};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct RunnerArgs {
    #[command(subcommand)]
    pub command: Option<RunnerCommand>,
}

#[derive(Debug, Subcommand)]
pub enum RunnerCommand {
    /// Register a runner and print its token (shown only this once).
    Register {
        name: String,
        /// key=value,... : the runner leases exactly the pipelines whose `node:` is these.
        #[arg(long, default_value = "")]
        labels: String,
        /// Limit the runner to a repository (owner/name; `*` within a part: acme/*); repeat
        /// for more.
        #[arg(long = "repo")]
        repos: Vec<String>,
    },
    /// List the live runners: name, labels, last heartbeat, running stages.
    #[command(alias = "list")]
    Ls,
    /// Revoke a runner: its token stops working and its stages end at once.
    #[command(alias = "revoke")]
    Rm { name: String },
}

/// Runs `hangar runner [register|ls|rm]`.
pub async fn run(args: RunnerArgs, config: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let Some(command) = args.command else {
        serve(config).await?;
        return Ok(ExitCode::SUCCESS);
    };
    let client = Client::from_env().await?;
    match command {
        RunnerCommand::Register {
            name,
            labels,
            repos,
        } => {
            crate::domain::runner::parse_labels(&labels)
                .map_err(anyhow::Error::msg)
                .context("--labels")?;
            let body = json!({ "name": name, "labels": labels, "repos": repos });
            let made = client
                .call(Method::POST, "/api/runners", Some(&body))
                .await?;
            println!("{}", made["token"].as_str().unwrap_or_default());
            eprintln!(
                "runner {name} registered; start it with HANGAR_SERVER_URL={} HANGAR_RUNNER_TOKEN=<the token above> hangar runner (the token is shown only now)",
                client.server()
            );
            Ok(ExitCode::SUCCESS)
        }
        RunnerCommand::Ls => {
            let runners = client.call(Method::GET, "/api/runners", None).await?;
            println!(
                "{:<20} {:<24} {:<14} {:<20} RUNNING",
                "NAME", "LABELS", "PLATFORM", "LAST HEARTBEAT"
            );
            let now = crate::clock::system().now_ms();
            for r in runners.as_array().into_iter().flatten() {
                println!(
                    "{:<20} {:<24} {:<14} {:<20} {}",
                    r["name"].as_str().unwrap_or_default(),
                    labels(&r["labels"]),
                    format!(
                        "{}/{}",
                        r["os"].as_str().unwrap_or_default(),
                        r["arch"].as_str().unwrap_or_default()
                    ),
                    seen(r["last_seen"].as_i64().unwrap_or(0), now),
                    running(&r["running"]),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        RunnerCommand::Rm { name } => {
            client
                .call(Method::DELETE, &format!("/api/runners/{name}"), None)
                .await?;
            println!("revoked runner {name}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn labels(v: &Value) -> String {
    let text = v
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    if text.is_empty() { "-".into() } else { text }
}

fn seen(at: i64, now: i64) -> String {
    if at == 0 {
        return "never".into();
    }
    format!("{} s ago", (now - at).max(0) / 1000)
}

fn running(v: &Value) -> String {
    let stages: Vec<&str> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if stages.is_empty() {
        "-".into()
    } else {
        stages.join(" ")
    }
}

/// Runs the remote runner with the configuration of the environment.
async fn serve(file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let loaded = Config::from_env(file)?;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let config = loaded.config;
    let token = std::env::var("HANGAR_RUNNER_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .context("set HANGAR_RUNNER_TOKEN to the token `hangar runner register NAME` printed")?;
    if !crate::auth::token::is_runner_token(&token) {
        bail!("HANGAR_RUNNER_TOKEN is not a runner token (they start with hgr_rn_)");
    }
    let labels = crate::domain::runner::parse_labels(
        &std::env::var("HANGAR_RUNNER_LABELS").unwrap_or_default(),
    )
    .map_err(anyhow::Error::msg)
    .context("HANGAR_RUNNER_LABELS")?;
    if config.runner_capacity == 0 {
        bail!("HANGAR_RUNNER_CAPACITY must be at least 1 for a runner");
    }
    let data_dir = std::path::absolute(&config.data_dir)
        .with_context(|| format!("resolving the data folder {}", config.data_dir.display()))?;
    let sandbox = crate::runner::sandbox::Sandbox::detect(
        config.sandbox,
        crate::runner::sandbox::hidden_paths(&config),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    crate::runner::remote::serve(crate::runner::remote::RemoteSettings {
        server_url: config.server_url.clone(),
        token: Secret::new(token),
        capacity: config.runner_capacity,
        labels,
        work_dir: data_dir.join("runner"),
        log_limit: config.log_limit,
        cancel_grace: config.cancel_grace,
        sandbox,
    })
    .await
}
