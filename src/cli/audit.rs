//! `hangar audit tail` and `hangar audit export`: the audit trail through the API (for whoever
//! may `audit.read`), as JSON Lines on stdout.

use crate::client::Client;
use anyhow::Context;
use reqwest::Method;
use serde_json::Value;
use std::io::Write;
use std::time::Duration;

/// The most entries the server answers at once.
const MAX_LIMIT: i64 = 1000;

/// Which entries (the filters of `GET /api/audit`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Filter {
    /// From this time on: Unix seconds or RFC 3339.
    #[arg(long)]
    since: Option<String>,
    /// Before this time.
    #[arg(long)]
    until: Option<String>,
    /// The acting login.
    #[arg(long)]
    actor: Option<String>,
    /// An action, or a family such as `build.*`.
    #[arg(long)]
    action: Option<String>,
    /// Entries about this repository and its builds (OWNER/NAME).
    #[arg(long)]
    repo: Option<String>,
}

impl Filter {
    fn query(&self, extra: &[(&str, String)]) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("since", &self.since),
            ("until", &self.until),
            ("actor", &self.actor),
            ("action", &self.action),
            ("repo", &self.repo),
        ] {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
        for (k, v) in extra {
            q.append_pair(k, v);
        }
        q.finish()
    }
}

#[derive(Debug, clap::Args)]
pub struct Tail {
    #[command(flatten)]
    filter: Filter,
    /// How many of the latest entries to show first.
    #[arg(short = 'n', long, default_value_t = 20)]
    lines: i64,
    /// Keep printing new entries as they are written.
    #[arg(short, long)]
    follow: bool,
}

async fn page(
    client: &Client,
    filter: &Filter,
    extra: &[(&str, String)],
) -> anyhow::Result<Vec<Value>> {
    let path = format!("/api/audit?{}", filter.query(extra));
    let answer = client.call(Method::GET, &path, None).await?;
    serde_json::from_value(answer).context("the audit answer is not a list")
}

fn emit(out: &mut impl Write, entries: &[Value]) -> anyhow::Result<i64> {
    let mut last = 0;
    for e in entries {
        writeln!(out, "{e}")?;
        last = e["id"].as_i64().unwrap_or(last);
    }
    out.flush()?;
    Ok(last)
}

/// Prints the latest `lines` entries, oldest first, then (with `--follow`) every new one.
pub async fn tail(client: &Client, args: &Tail) -> anyhow::Result<()> {
    let lines = args.lines.clamp(1, MAX_LIMIT);
    let mut latest = page(
        client,
        &args.filter,
        &[("order", "desc".into()), ("limit", lines.to_string())],
    )
    .await?;
    latest.reverse();
    let mut out = std::io::stdout().lock();
    let mut after = emit(&mut out, &latest)?;
    if !args.follow {
        return Ok(());
    }
    loop {
        let limit = MAX_LIMIT;
        let next = page(
            client,
            &args.filter,
            &[("after", after.to_string()), ("limit", limit.to_string())],
        )
        .await?;
        if next.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        after = emit(&mut out, &next)?.max(after);
    }
}

/// Prints every matching entry, oldest first, a page at a time.
pub async fn export(client: &Client, filter: &Filter) -> anyhow::Result<()> {
    let limit = MAX_LIMIT;
    let mut out = std::io::stdout().lock();
    let mut after = 0;
    loop {
        let next = page(
            client,
            filter,
            &[("after", after.to_string()), ("limit", limit.to_string())],
        )
        .await?;
        after = emit(&mut out, &next)?.max(after);
        if (next.len() as i64) < limit {
            return Ok(());
        }
    }
}
