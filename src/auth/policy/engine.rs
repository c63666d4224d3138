//! One loaded policy version and how it decides: the Cedar policy set (shipped + operator's),
//! the compiled grants, and the evaluation of one request. No caching here (see `cache.rs`).

use super::action::{Action, ActionSet};
use super::grants::{Grants, RoleSet};
use crate::domain::Visibility;
use cedar_policy::{
    Authorizer, Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicySet, Request,
    RestrictedExpression,
};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

/// A repository as authorization sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepoRef<'a> {
    /// `owner/name`
    pub slug: &'a str,
    pub visibility: Visibility,
}

impl<'a> From<&'a crate::domain::Repo> for RepoRef<'a> {
    fn from(repo: &'a crate::domain::Repo) -> RepoRef<'a> {
        RepoRef {
            slug: &repo.slug,
            visibility: repo.visibility,
        }
    }
}

/// Why a decision went the way it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// At least one policy permitted it and none forbade it (`policies`: the permits).
    Permitted,
    /// A policy forbade it (`policies`: the forbids).
    Forbidden,
    /// No policy permitted it: denied by default.
    NotPermitted,
    /// The owner may, but the token's scopes do not cover it.
    OutOfScope,
}

/// The answer to one authorization question, with what decided it (for the audit trail, the
/// error message and `hangar policy test`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: Reason,
    /// Ids of the deciding policies, sorted.
    pub policies: Arc<[Arc<str>]>,
}

impl Decision {
    pub(super) fn out_of_scope() -> Decision {
        Decision {
            allowed: false,
            reason: Reason::OutOfScope,
            policies: Arc::from([Arc::from("token-scope")]),
        }
    }

    /// The policy that decided (the first of several), if any.
    pub fn policy(&self) -> Option<&str> {
        self.policies.first().map(|p| &**p)
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = self.policies.join(", ");
        match self.reason {
            Reason::Permitted => write!(f, "ALLOW (permitted by policy {list})"),
            Reason::Forbidden => write!(f, "DENY (forbidden by policy {list})"),
            Reason::NotPermitted => write!(f, "DENY (no policy permits it)"),
            Reason::OutOfScope => write!(f, "DENY (the token's scopes do not cover it)"),
        }
    }
}

/// Who asks, as Cedar sees it.
pub(super) struct Who<'a> {
    pub login: &'a str,
    pub signed_in: bool,
    pub groups: &'a [String],
}

/// The policies of a version: all of them, and split by whether they look at which repository
/// it is (its slug or id), so that lists can decide the others once per group of repositories.
pub(super) struct PolicySets {
    pub all: PolicySet,
    pub general: PolicySet,
    pub by_repo: PolicySet,
}

/// Which of a version's policies to ask.
#[derive(Debug, Clone, Copy)]
pub(super) enum Part {
    All,
    General,
    ByRepo,
}

/// What a part of the policies said: whether a permit held, whether a forbid held (when a
/// forbid holds, whether a permit did is not known, and does not matter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fired {
    pub permit: bool,
    pub forbid: bool,
}

impl Fired {
    /// The decision of two disjoint parts together, as Cedar would make it for their union.
    pub fn with(self, other: Fired) -> bool {
        !(self.forbid || other.forbid) && (self.permit || other.permit)
    }
}

/// One policy version, ready to decide.
pub(super) struct Engine {
    pub version: u64,
    /// By action index: the policies that may apply to that action.
    pub policies: Vec<PolicySets>,
    pub grants: Grants,
    pub protected_targets: Vec<String>,
    /// Some policy names a particular user: cache decisions per user, not per group set.
    pub per_user: bool,
    /// Actions some policy decides by which repository it is (its slug or entity id); for the
    /// others the decision depends only on the roles held there and the visibility.
    pub per_repo: ActionSet,
    /// Policy ids with the file they came from, for `hangar policy check`.
    pub sources: Vec<(String, String)>,
    /// Each policy file of this version (the shipped one first) with its text, for reading.
    pub texts: Vec<(String, String)>,
    authorizer: Authorizer,
    names: Names,
}

/// Cedar names made once per version.
struct Names {
    user: EntityTypeName,
    repo: EntityTypeName,
    actions: Vec<EntityUid>,
    roles: Vec<EntityUid>,
    server: EntityUid,
}

fn type_name(name: &str) -> Result<EntityTypeName, String> {
    name.parse::<EntityTypeName>()
        .map_err(|e| format!("entity type {name}: {e}"))
}

impl Engine {
    pub(super) fn new(
        version: u64,
        policies: Vec<PolicySets>,
        grants: Grants,
        protected_targets: Vec<String>,
        per_user: bool,
        per_repo: ActionSet,
        sources: Vec<(String, String)>,
    ) -> Result<Engine, String> {
        let action = type_name("Action")?;
        let role = type_name("Role")?;
        let names = Names {
            user: type_name("User")?,
            repo: type_name("Repo")?,
            actions: Action::ALL
                .iter()
                .map(|a| {
                    EntityUid::from_type_name_and_id(action.clone(), EntityId::new(a.as_str()))
                })
                .collect(),
            roles: grants
                .role_names()
                .iter()
                .map(|r| EntityUid::from_type_name_and_id(role.clone(), EntityId::new(&**r)))
                .collect(),
            server: EntityUid::from_type_name_and_id(type_name("Server")?, EntityId::new("hangar")),
        };
        Ok(Engine {
            version,
            policies,
            grants,
            protected_targets,
            per_user,
            per_repo,
            sources,
            texts: Vec::new(),
            authorizer: Authorizer::new(),
            names,
        })
    }

    /// Asks Cedar: may `who`, holding `roles` on this resource, do `action` to `repo` (or, with
    /// `None`, to the server)? Errors building the request deny.
    pub(super) fn evaluate(
        &self,
        who: &Who<'_>,
        roles: RoleSet,
        action: Action,
        repo: Option<RepoRef<'_>>,
        target: Option<&str>,
    ) -> Decision {
        self.evaluate_part(who, roles, action, repo, target, Part::All)
    }

    /// What one part of the policies says (for lists).
    pub(super) fn fired(
        &self,
        who: &Who<'_>,
        roles: RoleSet,
        action: Action,
        repo: RepoRef<'_>,
        part: Part,
    ) -> Fired {
        let d = self.evaluate_part(who, roles, action, Some(repo), None, part);
        Fired {
            permit: d.allowed,
            forbid: d.reason == Reason::Forbidden,
        }
    }

    fn evaluate_part(
        &self,
        who: &Who<'_>,
        roles: RoleSet,
        action: Action,
        repo: Option<RepoRef<'_>>,
        target: Option<&str>,
        part: Part,
    ) -> Decision {
        match self.try_evaluate(who, roles, action, repo, target, part) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, %action, "authorization request could not be built; denied");
                Decision {
                    allowed: false,
                    reason: Reason::NotPermitted,
                    policies: Arc::from([]),
                }
            }
        }
    }

    fn try_evaluate(
        &self,
        who: &Who<'_>,
        roles: RoleSet,
        action: Action,
        repo: Option<RepoRef<'_>>,
        target: Option<&str>,
        part: Part,
    ) -> Result<Decision, String> {
        let parents: HashSet<EntityUid> = self
            .names
            .roles
            .iter()
            .enumerate()
            .filter(|(i, _)| roles & (1 << i) != 0)
            .map(|(_, uid)| uid.clone())
            .collect();
        let principal_uid =
            EntityUid::from_type_name_and_id(self.names.user.clone(), EntityId::new(who.login));
        let principal = Entity::new(
            principal_uid.clone(),
            HashMap::from([
                (
                    "signed_in".to_string(),
                    RestrictedExpression::new_bool(who.signed_in),
                ),
                (
                    "groups".to_string(),
                    RestrictedExpression::new_set(
                        who.groups
                            .iter()
                            .map(|g| RestrictedExpression::new_string(g.clone())),
                    ),
                ),
            ]),
            parents,
        )
        .map_err(|e| e.to_string())?;
        let (resource_uid, resource) = match repo {
            Some(r) => {
                let uid = EntityUid::from_type_name_and_id(
                    self.names.repo.clone(),
                    EntityId::new(r.slug),
                );
                let entity = Entity::new(
                    uid.clone(),
                    HashMap::from([
                        (
                            "slug".to_string(),
                            RestrictedExpression::new_string(r.slug.to_string()),
                        ),
                        (
                            "visibility".to_string(),
                            RestrictedExpression::new_string(r.visibility.as_str().to_string()),
                        ),
                    ]),
                    HashSet::new(),
                )
                .map_err(|e| e.to_string())?;
                (uid, entity)
            }
            None => (
                self.names.server.clone(),
                Entity::new_no_attrs(self.names.server.clone(), HashSet::new()),
            ),
        };
        let target_text = target.unwrap_or("");
        let protected = target.is_some_and(|t| self.protected_targets.iter().any(|p| p == t));
        let context = Context::from_pairs([
            (
                "target".to_string(),
                RestrictedExpression::new_string(target_text.to_string()),
            ),
            (
                "target_protected".to_string(),
                RestrictedExpression::new_bool(protected),
            ),
        ])
        .map_err(|e| e.to_string())?;
        let request = Request::new(
            principal_uid,
            self.names.actions[action.index()].clone(),
            resource_uid,
            context,
            None,
        )
        .map_err(|e| e.to_string())?;
        let entities =
            Entities::from_entities([principal, resource], None).map_err(|e| e.to_string())?;
        let sets = self
            .policies
            .get(action.index())
            .ok_or_else(|| format!("no policies for {action}"))?;
        let set = match part {
            Part::All => &sets.all,
            Part::General => &sets.general,
            Part::ByRepo => &sets.by_repo,
        };
        let response = self.authorizer.is_authorized(&request, set, &entities);
        for err in response.diagnostics().errors() {
            tracing::warn!(error = %err, %action, "a policy failed to evaluate and was skipped");
        }
        let mut ids: Vec<Arc<str>> = response
            .diagnostics()
            .reason()
            .map(|id| Arc::from(id.to_string()))
            .collect();
        ids.sort();
        let allowed = response.decision() == cedar_policy::Decision::Allow;
        let reason = match (allowed, ids.is_empty()) {
            (true, _) => Reason::Permitted,
            (false, false) => Reason::Forbidden,
            (false, true) => Reason::NotPermitted,
        };
        Ok(Decision {
            allowed,
            reason,
            policies: Arc::from(ids),
        })
    }
}
