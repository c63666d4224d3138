//! Secrets as the API shows them (never their value), and the rule deciding which build may
//! receive one. Drone's JSON shape: `name`, `pull_request`, `pull_request_push`; Hangar adds
//! optional limits, `branches` and `targets` (globs), so a secret can be kept to `main` or to
//! promotions to `production`.

use super::build::{Build, Event};
use super::ids::RepoId;
use crate::pipeline::Condition;
use serde::Serialize;

/// A stored secret's description. The value is not here: it stays sealed in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Secret {
    pub id: i64,
    /// The owner the secret belongs to (for a repository secret: its repository's owner).
    pub namespace: String,
    /// 0 for an organisation secret.
    #[serde(skip_serializing_if = "is_org")]
    pub repo_id: RepoId,
    pub name: String,
    /// Pull requests, forks included, may receive it.
    pub pull_request: bool,
    /// Pull requests from a branch of the same repository may receive it.
    pub pull_request_push: bool,
    /// Branch globs the build's target branch must match (empty: any branch).
    pub branches: Vec<String>,
    /// Deploy-target globs the build's `deploy_to` must match (empty: any build).
    pub targets: Vec<String>,
    #[serde(serialize_with = "super::build::secs")]
    pub created: i64,
    #[serde(serialize_with = "super::build::secs")]
    pub updated: i64,
}

fn is_org(id: &RepoId) -> bool {
    id.0 == 0
}

/// The facts about a build that decide which secrets it gets.
#[derive(Debug, Clone, Copy)]
pub struct SecretUse<'a> {
    pub event: Event,
    /// The target branch.
    pub branch: &'a str,
    /// `deploy_to` (promotions).
    pub target: &'a str,
    /// A pull request from another repository.
    pub fork: bool,
}

impl<'a> SecretUse<'a> {
    /// The facts of `build` of the repository `slug`.
    pub fn of(build: &'a Build, slug: &str) -> SecretUse<'a> {
        SecretUse {
            event: build.event,
            branch: &build.target,
            target: &build.deploy_to,
            fork: is_fork(build, slug),
        }
    }
}

/// Whether `build` is a pull request from a repository other than `slug`.
pub fn is_fork(build: &Build, slug: &str) -> bool {
    build.event == Event::PullRequest
        && !build.source_repo.is_empty()
        && !build.source_repo.eq_ignore_ascii_case(slug)
}

impl Secret {
    /// Whether a build with these facts may receive this secret. Pull requests get nothing
    /// unless the secret says so (forks only with `pull_request`); a `branches` or `targets`
    /// limit must match.
    pub fn allows(&self, u: &SecretUse<'_>) -> bool {
        if u.event == Event::PullRequest {
            let allowed = self.pull_request || (self.pull_request_push && !u.fork);
            if !allowed {
                return false;
            }
        }
        let within = |globs: &[String], value: &str| {
            globs.is_empty()
                || Condition {
                    include: globs.to_vec(),
                    exclude: Vec::new(),
                }
                .matches(value)
        };
        within(&self.branches, u.branch) && within(&self.targets, u.target)
    }
}

/// Checks a secret's name: letters, digits, `_`, `-` and `.`, at most 128 characters.
pub fn check_name(name: &str) -> Result<(), String> {
    super::check_name("secret name", name, 128)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret {
            id: 1,
            namespace: "acme".into(),
            repo_id: RepoId(1),
            name: "token".into(),
            pull_request: false,
            pull_request_push: false,
            branches: Vec::new(),
            targets: Vec::new(),
            created: 0,
            updated: 0,
        }
    }

    fn used(event: Event, branch: &'static str, target: &'static str) -> SecretUse<'static> {
        SecretUse {
            event,
            branch,
            target,
            fork: false,
        }
    }

    #[test]
    fn pull_requests_get_no_secret_unless_it_allows_them() {
        let mut s = secret();
        assert!(s.allows(&used(Event::Push, "main", "")));
        assert!(!s.allows(&used(Event::PullRequest, "main", "")));
        s.pull_request_push = true;
        assert!(s.allows(&used(Event::PullRequest, "main", "")));
        let fork = SecretUse {
            fork: true,
            ..used(Event::PullRequest, "main", "")
        };
        assert!(
            !s.allows(&fork),
            "pull_request_push is for branches of the repo"
        );
        s.pull_request = true;
        assert!(s.allows(&fork));
    }

    #[test]
    fn a_secret_limited_to_branches_or_targets_reaches_only_those() {
        let mut s = secret();
        s.branches = vec!["main".into(), "release/*".into()];
        assert!(s.allows(&used(Event::Push, "main", "")));
        assert!(s.allows(&used(Event::Push, "release/1.0", "")));
        assert!(!s.allows(&used(Event::Push, "feature", "")));
        s.branches.clear();
        s.targets = vec!["production".into()];
        assert!(s.allows(&used(Event::Promote, "main", "production")));
        assert!(!s.allows(&used(Event::Promote, "main", "staging")));
        assert!(!s.allows(&used(Event::Push, "main", "")));
    }

    #[test]
    fn secret_names_are_plain_words() {
        assert!(check_name("docker_password").is_ok());
        assert!(check_name("a.b-c").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("has space").is_err());
        assert!(check_name("$(x)").is_err());
    }
}
