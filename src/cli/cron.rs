//! `hangar cron ls | info | add | update | rm | exec`: a repository's cron jobs through the API,
//! like Drone's `drone cron` commands.

use super::{changes, print, split_slug};
use crate::client::Client;
use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum CronCommand {
    /// List a repository's cron jobs: name, expression, time zone, branch, next run, owner.
    Ls { slug: String },
    /// Show a cron job.
    Info { slug: String, name: String },
    /// Add a cron job: EXPR is five fields (minute hour day month weekday), six with seconds
    /// first as in Drone, or a descriptor such as @daily. Quote it.
    Add {
        slug: String,
        name: String,
        expr: String,
        /// The branch to build (default: the repository's default branch).
        #[arg(long)]
        branch: Option<String>,
        /// A deploy target for its builds.
        #[arg(long)]
        target: Option<String>,
        /// The IANA time zone EXPR is read in.
        #[arg(long, default_value = "UTC")]
        zone: String,
        /// Add it disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// Change a cron job (you become its owner: its builds act as you).
    Update {
        slug: String,
        name: String,
        #[arg(long)]
        expr: Option<String>,
        #[arg(long)]
        branch: Option<String>,
        #[arg(long)]
        target: Option<String>,
        #[arg(long)]
        zone: Option<String>,
        /// true to stop it, false to start it again.
        #[arg(long)]
        disabled: Option<bool>,
    },
    /// Delete a cron job.
    Rm { slug: String, name: String },
    /// Run a cron job now, outside its schedule.
    Exec { slug: String, name: String },
}

fn path(slug: &str, name: Option<&str>) -> anyhow::Result<String> {
    let slug = split_slug(slug)?;
    Ok(match name {
        Some(n) => format!(
            "/api/repos/{slug}/cron/{}",
            url::form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()
        ),
        None => format!("/api/repos/{slug}/cron"),
    })
}

/// `when` (Unix seconds) in the job's time zone, RFC 3339.
fn local_time(secs: i64, zone: &str) -> String {
    let Some(utc) = chrono::DateTime::from_timestamp(secs, 0) else {
        return secs.to_string();
    };
    match zone.parse::<chrono_tz::Tz>() {
        Ok(tz) => utc.with_timezone(&tz).to_rfc3339(),
        Err(_) => utc.to_rfc3339(),
    }
}

fn line(c: &Value) -> String {
    let zone = c["zone"].as_str().unwrap_or("UTC");
    let state = if c["disabled"].as_bool().unwrap_or(false) {
        "disabled".to_string()
    } else {
        format!("next {}", local_time(c["next"].as_i64().unwrap_or(0), zone))
    };
    let mut out = format!(
        "{:<20} {:<20} {:<16} {:<12} {} owner {}",
        c["name"].as_str().unwrap_or(""),
        c["expr"].as_str().unwrap_or(""),
        zone,
        c["branch"].as_str().unwrap_or(""),
        state,
        c["owner"]
            .as_str()
            .filter(|o| !o.is_empty())
            .unwrap_or("(none)"),
    );
    if let Some(err) = c["error"].as_str().filter(|e| !e.is_empty()) {
        out.push_str(&format!("\n    did not run: {err}"));
    }
    out
}

/// Sends `body` and prints the job the server answers with.
async fn show(
    client: &Client,
    method: Method,
    path: &str,
    body: &Value,
) -> anyhow::Result<ExitCode> {
    let job = client.call(method, path, Some(body)).await?;
    println!("{}", line(&job));
    Ok(ExitCode::SUCCESS)
}

pub async fn run(cmd: CronCommand) -> anyhow::Result<ExitCode> {
    let client = Client::from_env().await?;
    match cmd {
        CronCommand::Ls { slug } => {
            let jobs = client.call(Method::GET, &path(&slug, None)?, None).await?;
            for c in jobs.as_array().into_iter().flatten() {
                println!("{}", line(c));
            }
            Ok(ExitCode::SUCCESS)
        }
        CronCommand::Info { slug, name } => print(
            &client
                .call(Method::GET, &path(&slug, Some(&name))?, None)
                .await?,
        ),
        CronCommand::Add {
            slug,
            name,
            expr,
            branch,
            target,
            zone,
            disabled,
        } => {
            let body = changes([
                ("name", Some(name.into())),
                ("expr", Some(expr.into())),
                ("zone", Some(zone.into())),
                ("disabled", Some(disabled.into())),
                ("branch", branch.map(Value::from)),
                ("target", target.map(Value::from)),
            ]);
            show(&client, Method::POST, &path(&slug, None)?, &body).await
        }
        CronCommand::Update {
            slug,
            name,
            expr,
            branch,
            target,
            zone,
            disabled,
        } => {
            let body = changes([
                ("expr", expr.map(Value::from)),
                ("branch", branch.map(Value::from)),
                ("target", target.map(Value::from)),
                ("zone", zone.map(Value::from)),
                ("disabled", disabled.map(Value::from)),
            ]);
            show(&client, Method::PATCH, &path(&slug, Some(&name))?, &body).await
        }
        CronCommand::Rm { slug, name } => {
            client
                .call(Method::DELETE, &path(&slug, Some(&name))?, None)
                .await?;
            println!("deleted cron job {name} of {slug}");
            Ok(ExitCode::SUCCESS)
        }
        CronCommand::Exec { slug, name } => {
            let build = client
                .call(Method::POST, &path(&slug, Some(&name))?, None)
                .await?;
            println!(
                "started build #{} of {slug} ({} at {})",
                build["number"],
                build["target"].as_str().unwrap_or(""),
                build["after"]
                    .as_str()
                    .unwrap_or("")
                    .chars()
                    .take(8)
                    .collect::<String>()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_the_jobs_time_zone() {
        // 2026-03-02 08:00:00 UTC.
        assert_eq!(
            local_time(1_772_438_400, "Europe/Berlin"),
            "2026-03-02T09:00:00+01:00"
        );
        assert_eq!(
            local_time(1_772_438_400, "UTC"),
            "2026-03-02T08:00:00+00:00"
        );
    }
}
