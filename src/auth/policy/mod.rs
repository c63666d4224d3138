//! Authorization: roles and policy as code, in Cedar. Every API route asks
//! [`Authz::check`] (through `http::auth::require`); what is not permitted is denied.
//!
//! # The model
//! - **Principal**: `User::"<login>"` with `signed_in` and `groups`; the anonymous caller is
//!   `User::"@anonymous"`, not signed in, without roles.
//! - **Roles** are `Role::"<name>"` entities and are the principal's parents. Which roles a
//!   principal holds depends on the resource: the configuration grants a role to a group,
//!   optionally limited to repository globs (`[[roles]] group, role, repos`). Cedar has no glob
//!   over entity ids, so `grants.rs` matches the globs and passes only the roles that apply to
//!   *this* repository; a policy then says `principal in Role::"developer"` and means "a
//!   developer here". Grants without globs apply everywhere and are the only ones that reach
//!   the server as a whole (`Server::"hangar"`: `user.manage`, `policy.manage`, `token.manage`,
//!   `audit.read`, `metrics.read`). The `users.admin` flag is the `admin` role everywhere.
//! - **Resources**: `Repo::"<owner/name>"` with `slug` and `visibility`, or `Server::"hangar"`.
//! - **Context**: `target` (the deploy target of `build.promote`, else empty) and
//!   `target_protected` (whether the configuration lists it in `protected_targets`).
//! - **Policies**: `policy/default.cedar` (built-in roles, visibility) plus the operator's
//!   `policy_file`; both validated against `policy/schema.cedarschema` in strict mode. A
//!   policy's `@id` annotation is its id in decisions; unannotated ones are `FILE#N`.
//! - **Token scopes** (`scope.rs`) are checked after Cedar: a scoped token may do what its
//!   owner may *and* one of its scopes covers.
//!
//! # Speed
//! Decisions are cached (`cache.rs`) per principal group set and admin flag (and per login,
//! only if some policy names a user), policy version, repository and visibility, action and
//! target. Listing what a principal may do to many repositories ([`Authz::decide_many`]) groups
//! the repositories by the roles held there and their visibility, and asks Cedar once per
//! group. Policies that look at which repository it is (its slug or id) are the exception:
//! those few are asked per repository, and their answer is combined with the group's as Cedar
//! would combine them (a forbid anywhere denies; otherwise a permit anywhere allows).
//!
//! What does not live here: reading credentials (`http::auth`), who a token belongs to
//! (`auth::Authenticator`), writing audit events (`store`).

pub mod action;
mod cache;
pub mod cli;
mod engine;
mod grants;
mod load;
pub mod scope;
#[cfg(test)]
mod tests;

pub use action::{Action, ActionSet};
pub use engine::{Decision, Reason, RepoRef};
pub use grants::{BUILT_IN_ROLES, GrantInForce};
pub use load::{DEFAULT_POLICY, PolicyError, SCHEMA, Sources};

use crate::auth::principal::Principal;
use crate::config::IdentityConfig;
use crate::error::Error;
use arc_swap::ArcSwap;
use cache::{DecisionCache, Key};
use engine::{Engine, Fired, Part, Who};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A denied request: the decision (for the audit trail) and the error to answer with (404 when
/// the caller may not even see the repository, 403 when they may see it but not do this, 401
/// for anonymous callers).
#[derive(Debug)]
pub struct Denial {
    pub decision: Decision,
    pub error: Error,
}

/// The authorization service: the policy version in force and the decision cache.
pub struct Authz {
    engine: ArcSwap<Engine>,
    cache: DecisionCache,
    versions: AtomicU64,
}

/// Reads the configured policy file, if any.
fn read_policy_file(identity: &IdentityConfig) -> Result<Option<(String, String)>, PolicyError> {
    let Some(path) = &identity.policy_file else {
        return Ok(None);
    };
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
        file: Some(name.clone()),
        position: None,
        message: format!("cannot read the policy file (policy_file, HANGAR_POLICY_FILE): {e}"),
    })?;
    Ok(Some((name, text)))
}

impl Authz {
    /// Loads the roles and policy file of `identity`; an invalid policy is an error.
    pub fn load(identity: &IdentityConfig) -> Result<Authz, PolicyError> {
        let file = read_policy_file(identity)?;
        Authz::from_sources(&Sources {
            roles: &identity.roles,
            protected_targets: &identity.protected_targets,
            file: file.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
        })
    }

    /// Builds from sources given directly (tests, benchmarks, `hangar policy`).
    pub fn from_sources(sources: &Sources<'_>) -> Result<Authz, PolicyError> {
        let engine = load::compile(1, sources)?;
        Ok(Authz {
            engine: ArcSwap::from_pointee(engine),
            cache: DecisionCache::default(),
            versions: AtomicU64::new(1),
        })
    }

    /// Loads `identity`'s roles and policy file again. On success the new version is in force
    /// (and every cached decision forgotten); on error the old one stays and the error says
    /// what is wrong (file:line where Cedar tells).
    pub fn reload(&self, identity: &IdentityConfig) -> Result<u64, PolicyError> {
        let file = read_policy_file(identity)?;
        self.reload_from(&Sources {
            roles: &identity.roles,
            protected_targets: &identity.protected_targets,
            file: file.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
        })
    }

    /// [`Authz::reload`] from sources given directly.
    pub fn reload_from(&self, sources: &Sources<'_>) -> Result<u64, PolicyError> {
        let version = self.versions.load(Ordering::SeqCst) + 1;
        let engine = load::compile(version, sources)?;
        self.versions.store(version, Ordering::SeqCst);
        self.engine.store(Arc::new(engine));
        self.cache.clear();
        tracing::info!(version, "authorization policy loaded");
        Ok(version)
    }

    /// The policy version in force.
    pub fn version(&self) -> u64 {
        self.engine.load().version
    }

    /// The ids of the policies in force, with the file each came from.
    pub fn policy_ids(&self) -> Vec<(String, String)> {
        self.engine.load().sources.clone()
    }

    /// The `[[roles]]` grants of the version in force, in configuration order.
    pub fn grants(&self) -> Vec<GrantInForce> {
        self.engine.load().grants.listing().to_vec()
    }

    /// The policy files of the version in force (the shipped one first), each with its text.
    pub fn policy_texts(&self) -> Vec<(String, String)> {
        self.engine.load().texts.clone()
    }

    /// The deploy targets the version in force treats as protected.
    pub fn protected_targets(&self) -> Vec<String> {
        self.engine.load().protected_targets.clone()
    }

    /// How many policies may apply to `action` (those whose scope names it, or any action).
    pub fn policies_for(&self, action: Action) -> usize {
        self.engine
            .load()
            .policies
            .get(action.index())
            .map_or(0, |sets| sets.all.policies().count())
    }

    /// Whether `principal` holds the `admin` role everywhere.
    pub fn is_admin(&self, principal: &Principal) -> bool {
        principal.signed_in()
            && self
                .engine
                .load()
                .grants
                .of(&principal.groups, principal.admin_flag())
                .is_admin()
    }

    /// May `principal` do `action` to `repo` (or, with `None`, to the server)? The owner's
    /// rights come from the cache or Cedar; a scoped token must also have a scope covering it.
    pub fn decide(
        &self,
        principal: &Principal,
        action: Action,
        repo: Option<RepoRef<'_>>,
        target: Option<&str>,
    ) -> Decision {
        let owner = self.decide_owner(principal, action, repo, target);
        if owner.allowed
            && let Some(scopes) = principal.scopes()
            && !scope::any_allows(scopes, action, repo.map(|r| r.slug))
        {
            return Decision::out_of_scope();
        }
        owner
    }

    /// What the principal's own rights allow, ignoring token scopes; cached.
    fn decide_owner(
        &self,
        principal: &Principal,
        action: Action,
        repo: Option<RepoRef<'_>>,
        target: Option<&str>,
    ) -> Decision {
        let engine = self.engine.load();
        let who = if engine.per_user {
            Arc::from(format!(
                "{}\u{1e}{}",
                principal.cache_key(),
                principal.login()
            ))
        } else {
            principal.cache_key().clone()
        };
        let key = Key {
            who,
            version: engine.version,
            repo: repo.map(|r| (Box::from(r.slug), r.visibility)),
            action,
            target: target.map(Box::from),
        };
        if let Some(d) = self.cache.get(&key) {
            return d;
        }
        let decision = Self::evaluate(&engine, principal, action, repo, target);
        self.cache.insert(key, decision.clone());
        decision
    }

    fn evaluate(
        engine: &Engine,
        principal: &Principal,
        action: Action,
        repo: Option<RepoRef<'_>>,
        target: Option<&str>,
    ) -> Decision {
        let roles = if principal.signed_in() {
            engine
                .grants
                .of(&principal.groups, principal.admin_flag())
                .roles_on(repo.map(|r| r.slug))
        } else {
            0
        };
        let who = Who {
            login: principal.login(),
            signed_in: principal.signed_in(),
            groups: &principal.groups,
        };
        engine.evaluate(&who, roles, action, repo, target)
    }

    /// Asks Cedar without the cache (benchmarks, and tests that the cache agrees).
    pub fn decide_uncached(
        &self,
        principal: &Principal,
        action: Action,
        repo: Option<RepoRef<'_>>,
        target: Option<&str>,
    ) -> Decision {
        Self::evaluate(&self.engine.load(), principal, action, repo, target)
    }

    /// The one authorization question every API route asks. Allowed: the decision. Denied:
    /// 404 if the caller may not read the repository, 403 if they may read it but not do
    /// this, 401 instead of either for anonymous callers.
    pub fn check(
        &self,
        principal: &Principal,
        action: Action,
        repo: Option<RepoRef<'_>>,
        target: Option<&str>,
    ) -> Result<Decision, Box<Denial>> {
        if let Some(r) = repo
            && action != Action::RepoRead
        {
            let read = self.decide_owner(principal, Action::RepoRead, repo, None);
            if !read.allowed {
                return Err(Box::new(hidden(principal, r, read)));
            }
        }
        let decision = self.decide(principal, action, repo, target);
        if decision.allowed {
            return Ok(decision);
        }
        if let Some(r) = repo
            && action == Action::RepoRead
            && decision.reason != Reason::OutOfScope
        {
            return Err(Box::new(hidden(principal, r, decision)));
        }
        let error = if principal.signed_in() {
            let on = repo.map_or(String::new(), |r| format!(" on {}", r.slug));
            Error::Forbidden(format!("{action}{on} is not allowed: {decision}"))
        } else {
            unauthenticated()
        };
        Err(Box::new(Denial { decision, error }))
    }

    /// For each repository, which of `actions` the principal may do to it (token scopes
    /// included), in one pass: Cedar is asked once per group of repositories that hold the same
    /// roles and visibility, unless a policy for that action looks at the repository's slug.
    pub fn decide_many(
        &self,
        principal: &Principal,
        repos: &[RepoRef<'_>],
        actions: &[Action],
    ) -> Vec<ActionSet> {
        let engine = self.engine.load();
        let held = engine.grants.of(&principal.groups, principal.admin_flag());
        let who = Who {
            login: principal.login(),
            signed_in: principal.signed_in(),
            groups: &principal.groups,
        };
        // For actions no policy decides by slug, one Cedar call per (roles, visibility) group
        // decides. For the others the slug-free policies are still asked once per group and
        // only the few that look at the slug are asked per repository.
        let mut classes: HashMap<(u64, Action, crate::domain::Visibility), Fired> = HashMap::new();
        let nothing = Fired {
            permit: false,
            forbid: false,
        };
        repos
            .iter()
            .map(|repo| {
                let roles = if principal.signed_in() {
                    held.roles_on(Some(repo.slug))
                } else {
                    0
                };
                let mut allowed = ActionSet::default();
                for &action in actions {
                    let by_repo = engine.per_repo.contains(action);
                    let part = if by_repo { Part::General } else { Part::All };
                    let general = *classes
                        .entry((roles, action, repo.visibility))
                        .or_insert_with(|| engine.fired(&who, roles, action, *repo, part));
                    let owner = if by_repo && !general.forbid {
                        general.with(engine.fired(&who, roles, action, *repo, Part::ByRepo))
                    } else {
                        general.with(nothing)
                    };
                    let scoped = principal
                        .scopes()
                        .is_none_or(|s| scope::any_allows(s, action, Some(repo.slug)));
                    if owner && scoped {
                        allowed.insert(action);
                    }
                }
                allowed
            })
            .collect()
    }

    /// The repositories of `repos` the principal may read, in one pass.
    pub fn readable<'r, R>(&self, principal: &Principal, repos: &'r [R]) -> Vec<&'r R>
    where
        for<'a> &'a R: Into<RepoRef<'a>>,
    {
        let refs: Vec<RepoRef<'_>> = repos.iter().map(Into::into).collect();
        let sets = self.decide_many(principal, &refs, &[Action::RepoRead]);
        repos
            .iter()
            .zip(sets)
            .filter(|(_, s)| s.contains(Action::RepoRead))
            .map(|(r, _)| r)
            .collect()
    }
}

fn unauthenticated() -> Error {
    Error::Unauthenticated("sign in or send an API token: Authorization: Bearer <token>".into())
}

/// The answer for a repository the caller may not see: as if it did not exist.
fn hidden(principal: &Principal, repo: RepoRef<'_>, decision: Decision) -> Denial {
    let error = if principal.signed_in() {
        Error::not_found(format!("repository {} is not active in Hangar", repo.slug))
    } else {
        unauthenticated()
    };
    Denial { decision, error }
}
