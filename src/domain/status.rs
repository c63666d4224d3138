//! Drone's status values for builds, stages and steps, and the rules between them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The state of a build, a stage or a step, spelled as Drone spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Skipped,
    Blocked,
    Declined,
    WaitingOnDependencies,
    Pending,
    Running,
    Success,
    Failure,
    Killed,
    Error,
}

impl Status {
    /// Every status, for metrics and tests.
    pub const ALL: [Status; 10] = [
        Status::Skipped,
        Status::Blocked,
        Status::Declined,
        Status::WaitingOnDependencies,
        Status::Pending,
        Status::Running,
        Status::Success,
        Status::Failure,
        Status::Killed,
        Status::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Skipped => "skipped",
            Status::Blocked => "blocked",
            Status::Declined => "declined",
            Status::WaitingOnDependencies => "waiting_on_dependencies",
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Success => "success",
            Status::Failure => "failure",
            Status::Killed => "killed",
            Status::Error => "error",
        }
    }

    /// A finished status: nothing will change it any more (Drone's `IsDone`).
    pub fn is_done(self) -> bool {
        matches!(
            self,
            Status::Skipped
                | Status::Declined
                | Status::Success
                | Status::Failure
                | Status::Killed
                | Status::Error
        )
    }

    /// A finished status that counts as a failure for the build and for dependants.
    pub fn is_failed(self) -> bool {
        matches!(self, Status::Failure | Status::Killed | Status::Error)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown status {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_name() {
        for st in Status::ALL {
            assert_eq!(st.as_str().parse::<Status>(), Ok(st));
        }
    }

    #[test]
    fn only_terminal_statuses_are_done() {
        assert!(Status::Success.is_done());
        assert!(Status::Skipped.is_done());
        assert!(!Status::Running.is_done());
        assert!(!Status::Blocked.is_done());
        assert!(!Status::WaitingOnDependencies.is_done());
    }

    #[test]
    fn skipped_is_not_a_failure_but_killed_is() {
        assert!(!Status::Skipped.is_failed());
        assert!(Status::Killed.is_failed());
    }
}
