//! Shipping the audit trail as it is chained: to a JSON Lines file, an HTTP endpoint (`POST`
//! of JSON Lines) or a syslog collector (UDP, RFC 5424). Each sink reads the chain in order
//! from the position it last delivered, which is saved in the database after each delivery:
//! nothing is lost across restarts, and an entry may come twice after a crash between delivery
//! and save (each carries its `id` to deduplicate). A failed delivery is retried with backoff
//! and never holds up anything else. Syslog over UDP can itself lose datagrams; use the file or
//! HTTP sink where that matters. Each line carries the actor's provider `iss` and `sub`, so a
//! SIEM can join it with the provider's own logs.

use crate::config::AuditSinks;
use crate::store::Store;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

const PAGE: i64 = 500;
const IDLE: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Where one sink delivers.
pub enum Destination {
    File(PathBuf),
    Http {
        client: reqwest::Client,
        url: String,
    },
    Syslog {
        address: String,
        host: String,
    },
}

impl Destination {
    /// The name its position is saved under.
    fn name(&self) -> String {
        match self {
            Destination::File(p) => format!("file:{}", p.display()),
            Destination::Http { url, .. } => format!("http:{url}"),
            Destination::Syslog { address, .. } => format!("syslog:{address}"),
        }
    }

    async fn deliver(&self, entries: &[Value]) -> Result<(), String> {
        match self {
            Destination::File(path) => {
                let mut file = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .await
                    .map_err(|e| format!("opening {}: {e}", path.display()))?;
                file.write_all(json_lines(entries).as_bytes())
                    .await
                    .map_err(|e| format!("writing {}: {e}", path.display()))?;
                file.sync_data()
                    .await
                    .map_err(|e| format!("syncing {}: {e}", path.display()))
            }
            Destination::Http { client, url } => {
                let resp = client
                    .post(url)
                    .header("content-type", "application/x-ndjson")
                    .body(json_lines(entries))
                    .send()
                    .await
                    .map_err(|e| format!("posting to {url}: {e}"))?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("{url} answered {}", resp.status()))
                }
            }
            Destination::Syslog { address, host } => {
                let socket = tokio::net::UdpSocket::bind("0.0.0.0:0")
                    .await
                    .map_err(|e| format!("opening a UDP socket: {e}"))?;
                for e in entries {
                    socket
                        .send_to(syslog_line(host, e).as_bytes(), address)
                        .await
                        .map_err(|err| format!("sending to {address}: {err}"))?;
                }
                Ok(())
            }
        }
    }
}

fn json_lines(entries: &[Value]) -> String {
    let mut body = String::new();
    for e in entries {
        body.push_str(&e.to_string());
        body.push('\n');
    }
    body
}

/// An RFC 5424 message: facility log audit (13), severity informational (6).
pub fn syslog_line(host: &str, entry: &Value) -> String {
    let time = entry["time"].as_str().unwrap_or("-");
    let id = entry["id"].as_i64().unwrap_or(0);
    format!("<110>1 {time} {host} hangar - audit{id} - {entry}")
}

/// The destinations `sinks` configures.
pub fn destinations(sinks: &AuditSinks) -> Vec<Destination> {
    let mut out = Vec::new();
    if let Some(path) = &sinks.file {
        out.push(Destination::File(path.clone()));
    }
    if let Some(url) = &sinks.http_url {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        out.push(Destination::Http {
            client,
            url: url.clone(),
        });
    }
    if let Some(address) = &sinks.syslog {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "hangar".into());
        out.push(Destination::Syslog {
            address: address.clone(),
            host,
        });
    }
    out
}

/// Delivers the next page after the saved position; returns how many entries went.
pub async fn ship_once(store: &Store, to: &Destination) -> Result<usize, String> {
    let name = to.name();
    let position = store.sink_position(&name).await.map_err(|e| e.detail())?;
    let page = store
        .list_chain(position, PAGE)
        .await
        .map_err(|e| e.detail())?;
    let Some((last, _)) = page.last() else {
        return Ok(0);
    };
    let last = last.seq;
    let mut ids: Vec<i64> = page
        .iter()
        .filter_map(|(_, e)| e.as_ref()?.actor_id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let identities = store
        .provider_identities(&ids)
        .await
        .map_err(|e| e.detail())?;
    let entries: Vec<Value> = page
        .iter()
        .filter_map(|(_, e)| e.as_ref())
        .map(|e| {
            let (iss, sub) = e
                .actor_id
                .and_then(|id| identities.get(&id))
                .map_or((None, None), |(iss, sub)| (iss.as_deref(), sub.as_deref()));
            super::entry_json(e, iss, sub)
        })
        .collect();
    if !entries.is_empty() {
        to.deliver(&entries).await?;
    }
    store
        .set_sink_position(&name, last)
        .await
        .map_err(|e| e.detail())?;
    Ok(entries.len())
}

/// Runs one sink until `shutdown`.
pub async fn run(store: Store, to: Destination, shutdown: CancellationToken) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let wait = match ship_once(&store, &to).await {
            Ok(0) => IDLE,
            Ok(_) => {
                backoff = Duration::from_secs(1);
                Duration::ZERO
            }
            Err(err) => {
                tracing::warn!(sink = %to.name(), error = %err, retry_in = ?backoff, "audit delivery failed");
                let wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
