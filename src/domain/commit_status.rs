//! Commit statuses as forges show them on commits and pull requests: which forge API a
//! repository reports to, the state a build or stage status becomes, the context names, and the
//! record of each post kept on the build. Pure.

use super::build::Event;
use super::status::Status;
use serde::Serialize;

/// The forge API a repository's statuses go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgeKind {
    /// GitHub or GitHub Enterprise: `POST {api}/repos/{owner}/{repo}/statuses/{sha}`.
    GitHub,
    /// Gitea or Forgejo: `POST {base}/api/v1/repos/{owner}/{repo}/statuses/{sha}`.
    Gitea,
}

impl ForgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ForgeKind::GitHub => "github",
            ForgeKind::Gitea => "gitea",
        }
    }

    /// `github`, or `gitea` (`forgejo` is the same API).
    pub fn parse(s: &str) -> Option<ForgeKind> {
        match s {
            "github" => Some(ForgeKind::GitHub),
            "gitea" | "forgejo" => Some(ForgeKind::Gitea),
            _ => None,
        }
    }
}

/// A commit status state, in the words both GitHub and Gitea accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CommitState {
    Pending,
    Success,
    Failure,
    Error,
}

impl CommitState {
    /// The state a build or stage status shows as. A cancelled (killed) build shows as
    /// `error`, as Drone reports cancellations to GitHub; `failure` is kept for builds whose
    /// steps failed.
    pub fn of(status: Status) -> CommitState {
        match status {
            Status::Pending | Status::Running | Status::Blocked | Status::WaitingOnDependencies => {
                CommitState::Pending
            }
            Status::Success | Status::Skipped => CommitState::Success,
            Status::Failure | Status::Declined => CommitState::Failure,
            Status::Killed | Status::Error => CommitState::Error,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CommitState::Pending => "pending",
            CommitState::Success => "success",
            CommitState::Failure => "failure",
            CommitState::Error => "error",
        }
    }

    /// Whether nothing follows this state.
    pub fn is_final(self) -> bool {
        self != CommitState::Pending
    }
}

/// The description shown beside the state (Drone's wording).
pub fn description(status: Status) -> &'static str {
    match status {
        Status::Pending | Status::WaitingOnDependencies => "Build is pending",
        Status::Running => "Build is running",
        Status::Blocked => "Build is pending approval",
        Status::Success => "Build is passing",
        Status::Skipped => "Build was skipped",
        Status::Failure => "Build is failing",
        Status::Declined => "Build was rejected",
        Status::Killed => "Build was cancelled",
        Status::Error => "Build encountered an error",
    }
}

/// The context of the whole build: `continuous-integration/hangar/{event}`.
pub fn build_context(event: Event) -> String {
    format!("continuous-integration/hangar/{}", event.as_str())
}

/// The context of one pipeline (stage): `continuous-integration/hangar/{event}/{stage}`.
pub fn stage_context(event: Event, stage: &str) -> String {
    format!("{}/{stage}", build_context(event))
}

/// How the post of a status went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// Being sent for the first time.
    Sending,
    /// An attempt failed; another follows after a pause.
    Retrying,
    /// The forge accepted it.
    Posted,
    /// Every attempt failed, or the forge refused it for good (the error says why).
    Failed,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Sending => "sending",
            Delivery::Retrying => "retrying",
            Delivery::Posted => "posted",
            Delivery::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Delivery> {
        [
            Delivery::Sending,
            Delivery::Retrying,
            Delivery::Posted,
            Delivery::Failed,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// The latest status of one context of a build and how its post went: the `statuses` of the
/// build JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitStatus {
    pub context: String,
    pub state: String,
    pub description: String,
    pub delivery: Delivery,
    pub attempts: i64,
    /// The last failed attempt's error (never a token).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
    #[serde(serialize_with = "super::build::secs")]
    pub updated: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_build_shows_as_an_error_and_a_failed_one_as_a_failure() {
        assert_eq!(CommitState::of(Status::Killed), CommitState::Error);
        assert_eq!(CommitState::of(Status::Failure), CommitState::Failure);
        assert_eq!(CommitState::of(Status::Running), CommitState::Pending);
        assert!(!CommitState::of(Status::Running).is_final());
    }

    #[test]
    fn contexts_name_the_event_and_the_pipeline() {
        assert_eq!(
            build_context(Event::Push),
            "continuous-integration/hangar/push"
        );
        assert_eq!(
            stage_context(Event::PullRequest, "test"),
            "continuous-integration/hangar/pull_request/test"
        );
    }

    #[test]
    fn forgejo_speaks_gitea() {
        assert_eq!(ForgeKind::parse("forgejo"), Some(ForgeKind::Gitea));
        assert_eq!(ForgeKind::parse("gitlab"), None);
    }
}
