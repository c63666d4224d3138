//! The bodies of the remote runner protocol (`/api/runner`), shared by the server's handlers
//! (`http/api/runner.rs`) and the runner's link (`remote.rs`). Assignments, step reports, step
//! asks and stage results travel as their own types; what needs a shape of its own is here.

use super::StepGrant;
use crate::auth::netrc::Netrc;
use crate::config::Secret;
use crate::store::{ClaimFilter, LogChunk};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a runner asks a lease for: what it can run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseAsk {
    pub types: Vec<String>,
    pub os: String,
    pub arch: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl LeaseAsk {
    pub fn from_filter(filter: &ClaimFilter) -> LeaseAsk {
        LeaseAsk {
            types: filter.types.clone(),
            os: filter.os.clone(),
            arch: filter.arch.clone(),
            labels: filter.labels.clone(),
        }
    }

    /// The filter the server leases with (the machine is the runner's registered name).
    pub fn filter(&self, machine: &str) -> ClaimFilter {
        ClaimFilter {
            types: self.types.clone(),
            os: self.os.clone(),
            arch: self.arch.clone(),
            labels: self.labels.clone(),
            machine: machine.to_string(),
        }
    }
}

/// A runner's heartbeat: what it says of itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heartbeat {
    pub os: String,
    pub arch: String,
    pub capacity: i64,
    #[serde(default)]
    pub version: String,
    /// The leases it is running: `(stage, lease)`. A lease the server handed out that the
    /// runner does not know (its answer never arrived) ends once it is a timeout old.
    #[serde(default)]
    pub leases: Vec<(crate::domain::StageId, i64)>,
}

/// The server's answer to a heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeartbeatAnswer {
    /// The runner's registered name.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Send the next heartbeat within this many milliseconds.
    pub interval_ms: u64,
}

/// The answer of a lease's watch: why the runner must stop the stage, or nothing yet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WatchAnswer {
    pub stop: Option<String>,
}

/// A log chunk's framing, sent as query parameters beside its bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChunkHeader {
    pub seq: i64,
    pub first_pos: i64,
    pub line_count: i64,
    pub byte_count: i64,
}

impl ChunkHeader {
    pub fn of(chunk: &LogChunk) -> ChunkHeader {
        ChunkHeader {
            seq: chunk.seq,
            first_pos: chunk.first_pos,
            line_count: chunk.line_count,
            byte_count: chunk.byte_count,
        }
    }

    pub fn with_data(self, data: Vec<u8>) -> LogChunk {
        LogChunk {
            seq: self.seq,
            first_pos: self.first_pos,
            line_count: self.line_count,
            byte_count: self.byte_count,
            data,
        }
    }
}

/// A step's credentials on the wire. `Debug` shows names only, never a value.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Grant {
    pub secrets: Vec<(String, String)>,
    pub request: Option<(String, String)>,
    pub id_tokens: Vec<(String, String)>,
    /// machine, username, password.
    pub netrc: Option<(String, String, String)>,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field(
                "secrets",
                &self.secrets.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("request", &self.request.as_ref().map(|(url, _)| url))
            .field(
                "id_tokens",
                &self.id_tokens.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn pairs(values: &[(String, Secret)]) -> Vec<(String, String)> {
    values
        .iter()
        .map(|(k, v)| (k.clone(), v.expose().to_string()))
        .collect()
}

fn secrets(values: Vec<(String, String)>) -> Vec<(String, Secret)> {
    values
        .into_iter()
        .map(|(k, v)| (k, Secret::new(v)))
        .collect()
}

impl From<&StepGrant> for Grant {
    fn from(g: &StepGrant) -> Grant {
        Grant {
            secrets: pairs(&g.secrets),
            request: g
                .request
                .as_ref()
                .map(|(url, t)| (url.clone(), t.expose().to_string())),
            id_tokens: pairs(&g.id_tokens),
            netrc: g.netrc.as_ref().map(|n| {
                (
                    n.machine.clone(),
                    n.username.clone(),
                    n.password.expose().to_string(),
                )
            }),
        }
    }
}

impl From<Grant> for StepGrant {
    fn from(g: Grant) -> StepGrant {
        StepGrant {
            secrets: secrets(g.secrets),
            request: g.request.map(|(url, t)| (url, Secret::new(t))),
            id_tokens: secrets(g.id_tokens),
            netrc: g.netrc.map(|(machine, username, password)| Netrc {
                machine,
                username,
                password: Secret::new(password),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_crosses_the_wire_whole_and_its_debug_shows_no_value() {
        let grant = StepGrant {
            secrets: vec![("deploy_key".into(), Secret::new("s3cr3t-value"))],
            request: Some(("https://ci/workload".into(), Secret::new("grant-t0ken"))),
            id_tokens: vec![("ID".into(), Secret::new("eyJ-token"))],
            netrc: Some(Netrc {
                machine: "git.example.com".into(),
                username: "bot".into(),
                password: Secret::new("clone-pw"),
            }),
        };
        let wire = Grant::from(&grant);
        let shown = format!("{wire:?}");
        for value in ["s3cr3t-value", "grant-t0ken", "eyJ-token", "clone-pw"] {
            assert!(!shown.contains(value), "{shown}");
        }
        let text = serde_json::to_string(&wire).expect("json");
        let back: StepGrant = serde_json::from_str::<Grant>(&text).expect("grant").into();
        let mut values: Vec<&str> = back.values().collect();
        values.sort_unstable();
        assert_eq!(
            values,
            ["clone-pw", "eyJ-token", "grant-t0ken", "s3cr3t-value"]
        );
    }
}
