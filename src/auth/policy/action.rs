//! The actions a caller may be allowed: their names (as in policies, scopes and the CLI), and
//! whether they act on a repository or on the server as a whole.

use std::fmt;

/// Something a caller asks to do. Named in Cedar as `Action::"repo.read"` and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// See a repository, its builds and their logs.
    RepoRead,
    /// Change a repository's settings, see its webhook secret, activate or deactivate it.
    RepoAdmin,
    BuildTrigger,
    BuildCancel,
    BuildRestart,
    BuildApprove,
    /// Deploy a build to a target environment (the target is in the request's context).
    BuildPromote,
    SecretList,
    SecretWrite,
    CronWrite,
    /// Manage other users' tokens.
    TokenManage,
    UserManage,
    PolicyManage,
    AuditRead,
    /// Read the server's Prometheus metrics.
    MetricsRead,
}

impl Action {
    /// Every action, in a fixed order (their index is their bit in an [`ActionSet`]).
    pub const ALL: [Action; 15] = [
        Action::RepoRead,
        Action::RepoAdmin,
        Action::BuildTrigger,
        Action::BuildCancel,
        Action::BuildRestart,
        Action::BuildApprove,
        Action::BuildPromote,
        Action::SecretList,
        Action::SecretWrite,
        Action::CronWrite,
        Action::TokenManage,
        Action::UserManage,
        Action::PolicyManage,
        Action::AuditRead,
        Action::MetricsRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::RepoRead => "repo.read",
            Action::RepoAdmin => "repo.admin",
            Action::BuildTrigger => "build.trigger",
            Action::BuildCancel => "build.cancel",
            Action::BuildRestart => "build.restart",
            Action::BuildApprove => "build.approve",
            Action::BuildPromote => "build.promote",
            Action::SecretList => "secret.list",
            Action::SecretWrite => "secret.write",
            Action::CronWrite => "cron.write",
            Action::TokenManage => "token.manage",
            Action::UserManage => "user.manage",
            Action::PolicyManage => "policy.manage",
            Action::AuditRead => "audit.read",
            Action::MetricsRead => "metrics.read",
        }
    }

    /// The action named `name`; the error names it and lists the known ones.
    pub fn parse(name: &str) -> Result<Action, String> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == name)
            .ok_or_else(|| {
                format!(
                    "unknown action {name:?} (known: {})",
                    Action::ALL.map(Action::as_str).join(", ")
                )
            })
    }

    /// Whether the action is done to a repository (else to the server as a whole).
    pub fn on_repo(self) -> bool {
        !matches!(
            self,
            Action::TokenManage
                | Action::UserManage
                | Action::PolicyManage
                | Action::AuditRead
                | Action::MetricsRead
        )
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of actions, one bit each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ActionSet(u32);

impl ActionSet {
    pub fn contains(self, action: Action) -> bool {
        self.0 & (1 << action.index()) != 0
    }

    pub fn insert(&mut self, action: Action) {
        self.0 |= 1 << action.index();
    }
}

impl FromIterator<Action> for ActionSet {
    fn from_iter<I: IntoIterator<Item = Action>>(iter: I) -> ActionSet {
        let mut set = ActionSet::default();
        for a in iter {
            set.insert(a);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_parses_back_from_its_name() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Ok(a));
            assert_eq!(Action::ALL[a.index()], a);
        }
    }

    #[test]
    fn an_unknown_action_is_named_in_the_error() {
        let err = Action::parse("build.delete").expect_err("unknown");
        assert!(err.contains("\"build.delete\""), "{err}");
        assert!(err.contains("build.trigger"), "{err}");
    }

    #[test]
    fn token_scopes_name_the_same_actions_as_policies() {
        let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(crate::domain::token::ACTIONS, names.as_slice());
        let global: Vec<&str> = Action::ALL
            .iter()
            .filter(|a| !a.on_repo())
            .map(|a| a.as_str())
            .collect();
        assert_eq!(crate::domain::token::GLOBAL_ACTIONS, global.as_slice());
    }
}
