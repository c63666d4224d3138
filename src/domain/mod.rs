//! The nouns of Hangar and their rules: repositories, builds, stages, steps, statuses, events,
//! users, tokens, secrets and audit events. Plain data and pure functions only: no I/O, no HTTP, no SQL.

pub mod audit;
pub mod build;
pub mod commit_status;
pub mod cron;
pub mod identity;
pub mod ids;
pub mod log;
pub mod repo;
pub mod runner;
pub mod secret;
pub mod status;
pub mod token;
pub mod user;

pub use audit::{Actor, AuditAction, AuditEvent, LoginFailure, Outcome};
pub use build::{Build, Event, Stage, Step};
pub use commit_status::{CommitState, CommitStatus, Delivery, ForgeKind};
pub use cron::{Cron, Schedule};
pub use identity::{BuildActor, Ending, TriggerPolicy};
pub use ids::{BuildId, RepoId, RunnerId, SessionId, StageId, StepId, TokenId, UserId};
pub use repo::{Repo, Slug, Visibility};
pub use runner::Runner;
pub use secret::{Secret, SecretUse};
pub use status::Status;
pub use token::{Token, TokenKind};
pub use user::User;

/// Checks the name of a `what` (a secret, a cron job): 1 to `max` letters, digits, `_`, `-`
/// and `.`.
pub fn check_name(what: &str, name: &str, max: usize) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{what} {name:?} must be 1 to {max} letters, digits, `_`, `-` or `.`"
        ))
    }
}
