//! Builds, their stages and steps, serialised with Drone's field names so Drone clients work.

use super::ids::{BuildId, RepoId, StageId, StepId};
use super::status::Status;
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// Serialises a Unix-millisecond timestamp as Drone's Unix seconds.
pub(crate) fn secs<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(ms.div_euclid(1000))
}

/// Reads Drone's Unix seconds back as Unix milliseconds (a remote runner reads its lease).
pub(crate) fn from_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let secs = i64::deserialize(d)?;
    Ok(secs.saturating_mul(1000))
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// What caused a build, as Drone names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Push,
    PullRequest,
    Tag,
    Promote,
    Rollback,
    Cron,
    Custom,
}

impl Event {
    pub const ALL: [Event; 7] = [
        Event::Push,
        Event::PullRequest,
        Event::Tag,
        Event::Promote,
        Event::Rollback,
        Event::Cron,
        Event::Custom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::Push => "push",
            Event::PullRequest => "pull_request",
            Event::Tag => "tag",
            Event::Promote => "promote",
            Event::Rollback => "rollback",
            Event::Cron => "cron",
            Event::Custom => "custom",
        }
    }

    pub fn parse(s: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// Whether `[ci skip]` in the commit message skips builds of this event (Drone: not for tags,
    /// cron, custom, promote or rollback).
    pub fn honours_skip_markers(self) -> bool {
        matches!(self, Event::Push | Event::PullRequest)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One run of a repository's pipelines for one commit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Build {
    pub id: BuildId,
    pub repo_id: RepoId,
    /// `@hook`, `@cron`, or the login of whoever started it.
    pub trigger: String,
    pub number: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub parent: i64,
    pub status: Status,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    pub event: Event,
    pub action: String,
    pub link: String,
    pub timestamp: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    pub message: String,
    pub before: String,
    pub after: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub source_repo: String,
    pub source: String,
    pub target: String,
    pub author_login: String,
    pub author_name: String,
    pub author_email: String,
    pub author_avatar: String,
    pub sender: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cron: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub deploy_to: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub deploy_id: i64,
    #[serde(serialize_with = "secs", deserialize_with = "from_secs")]
    pub started: i64,
    #[serde(serialize_with = "secs", deserialize_with = "from_secs")]
    pub finished: i64,
    #[serde(serialize_with = "secs", deserialize_with = "from_secs")]
    pub created: i64,
    #[serde(serialize_with = "secs", deserialize_with = "from_secs")]
    pub updated: i64,
    pub version: i64,
    /// Who the build acts as (beside `author_login`, who wrote the commit, and `sender`, who
    /// pushed it); absent on builds made before identities were recorded.
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub actor: Option<super::identity::BuildActor>,
    /// Why the build waits for approval (while `blocked`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub blocked_reason: String,
    /// Who approved (or declined) it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub approved_by: String,
    /// What the starter should know, such as a token that expires before the build's timeout.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The forge's delivery id, so a redelivered webhook does not build twice.
    #[serde(skip)]
    pub delivery_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<Stage>,
    /// The commit statuses sent to the forge for this build, per context, and how each went.
    #[serde(skip_deserializing, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<super::commit_status::CommitStatus>,
}

/// One `kind: pipeline` document of a build, scheduled on its own.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stage {
    pub id: StageId,
    pub repo_id: RepoId,
    pub build_id: BuildId,
    pub number: i64,
    pub name: String,
    pub kind: String,
    #[serde(rename = "type")]
    pub stage_type: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    pub errignore: bool,
    pub exit_code: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub machine: String,
    pub os: String,
    pub arch: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kernel: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: i64,
    #[serde(serialize_with = "secs", deserialize_with = "from_secs")]
    pub started: i64,
    #[serde(serialize_with = "secs", deserialize_with = "from_secs")]
    pub stopped: i64,
    #[serde(serialize_with = "secs", deserialize_with = "from_secs")]
    pub created: i64,
    #[serde(serialize_with = "secs", deserialize_with = "from_secs")]
    pub updated: i64,
    pub version: i64,
    pub on_success: bool,
    pub on_failure: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
}

/// One entry of a pipeline's `steps:` (or the clone), as run by a runner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub id: StepId,
    /// Holds the stage id; Drone's misnomer, kept so Drone clients read it.
    pub step_id: StageId,
    pub number: i64,
    pub name: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub errignore: bool,
    pub exit_code: i64,
    #[serde(
        serialize_with = "secs",
        deserialize_with = "from_secs",
        default,
        skip_serializing_if = "is_zero"
    )]
    pub started: i64,
    #[serde(
        serialize_with = "secs",
        deserialize_with = "from_secs",
        default,
        skip_serializing_if = "is_zero"
    )]
    pub stopped: i64,
    pub version: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub detached: bool,
}

/// The status a build takes from its stages: the build fails when any stage failed (stages with
/// `failure: ignore` never fail it), is killed or errored as its stages were, and succeeds
/// otherwise. Returns `None` while some stage is not finished.
pub fn build_status_from_stages(stages: &[Stage]) -> Option<Status> {
    if stages.iter().any(|s| !s.status.is_done()) {
        return None;
    }
    let mut status = Status::Success;
    for stage in stages {
        let candidate = match stage.status {
            Status::Failure if !stage.errignore => Status::Failure,
            Status::Killed => Status::Killed,
            Status::Error => Status::Error,
            _ => continue,
        };
        // Error outranks killed, which outranks failure.
        let rank = |s: Status| match s {
            Status::Error => 3,
            Status::Killed => 2,
            Status::Failure => 1,
            _ => 0,
        };
        if rank(candidate) > rank(status) {
            status = candidate;
        }
    }
    if status == Status::Success && stages.iter().all(|s| s.status == Status::Skipped) {
        return Some(Status::Skipped);
    }
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(status: Status) -> Stage {
        Stage {
            id: StageId(1),
            repo_id: RepoId(1),
            build_id: BuildId(1),
            number: 1,
            name: "default".into(),
            kind: "pipeline".into(),
            stage_type: "exec".into(),
            status,
            error: String::new(),
            errignore: false,
            exit_code: 0,
            machine: String::new(),
            os: "linux".into(),
            arch: "amd64".into(),
            variant: String::new(),
            kernel: String::new(),
            limit: 0,
            started: 0,
            stopped: 0,
            created: 0,
            updated: 0,
            version: 1,
            on_success: true,
            on_failure: false,
            depends_on: vec![],
            labels: BTreeMap::new(),
            steps: vec![],
        }
    }

    #[test]
    fn a_build_is_unfinished_while_a_stage_runs() {
        assert_eq!(
            build_status_from_stages(&[stage(Status::Success), stage(Status::Running)]),
            None
        );
    }

    #[test]
    fn one_failed_stage_fails_the_build() {
        assert_eq!(
            build_status_from_stages(&[stage(Status::Success), stage(Status::Failure)]),
            Some(Status::Failure)
        );
    }

    #[test]
    fn skipped_stages_beside_a_success_make_a_success() {
        assert_eq!(
            build_status_from_stages(&[stage(Status::Success), stage(Status::Skipped)]),
            Some(Status::Success)
        );
        assert_eq!(
            build_status_from_stages(&[stage(Status::Skipped)]),
            Some(Status::Skipped)
        );
    }

    #[test]
    fn timestamps_serialise_as_drone_seconds() {
        let mut s = stage(Status::Success);
        s.started = 1_700_000_000_999;
        let json = serde_json::to_value(&s).expect("json");
        assert_eq!(json["started"], 1_700_000_000);
        assert_eq!(json["type"], "exec");
    }
}
