//! Grants, compiled: which roles a caller holds on a given repository. Configuration maps groups
//! to roles (`[[roles]] group, role, repos`); a grant with repository globs applies to the
//! repositories they match, one without applies everywhere (and to the server as a whole). The
//! `users.admin` flag (the bootstrap machine account) is the `admin` role everywhere.
//!
//! Cedar has no glob over entity ids, so the globs are matched here and only the resulting role
//! set is handed to Cedar, as the principal's parents.

use super::scope::RepoPattern;
use crate::config::RoleGrant;
use std::collections::HashMap;
use std::sync::Arc;

/// The roles Hangar ships policies for, in their bit order.
pub const BUILT_IN_ROLES: [&str; 5] = ["viewer", "developer", "maintainer", "admin", "auditor"];
const ADMIN: usize = 3;

/// A set of roles, one bit per role index (built-ins first, then the configuration's own).
pub(super) type RoleSet = u64;

struct Grant {
    role: usize,
    /// Empty: everywhere.
    repos: Vec<RepoPattern>,
}

/// One `[[roles]]` entry as it is in force: `group` holds `role` on the repositories matching
/// `repos` (everywhere, and on the server as a whole, when empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantInForce {
    pub group: String,
    pub role: String,
    pub repos: Vec<String>,
}

/// Every grant of the configuration, by group.
pub(super) struct Grants {
    roles: Vec<Arc<str>>,
    by_group: HashMap<String, Vec<Grant>>,
    /// The grants in configuration order, for those who read them.
    listing: Vec<GrantInForce>,
}

impl Grants {
    /// Compiles `grants`; a bad glob, or more than 64 distinct roles, is an error naming it.
    pub(super) fn compile(grants: &[RoleGrant]) -> Result<Grants, String> {
        let mut roles: Vec<Arc<str>> = BUILT_IN_ROLES.iter().map(|r| Arc::from(*r)).collect();
        let mut by_group: HashMap<String, Vec<Grant>> = HashMap::new();
        let mut listing = Vec::new();
        for g in grants {
            if g.group.is_empty() || g.role.is_empty() {
                return Err("a [[roles]] entry needs both group and role".into());
            }
            let role = match roles.iter().position(|r| **r == *g.role) {
                Some(i) => i,
                None => {
                    roles.push(Arc::from(g.role.as_str()));
                    roles.len() - 1
                }
            };
            if role >= 64 {
                return Err("at most 64 distinct roles may be granted".into());
            }
            let repos = g
                .repos
                .iter()
                .map(|p| {
                    RepoPattern::parse(p).map_err(|e| format!("[[roles]] group {:?}: {e}", g.group))
                })
                .collect::<Result<Vec<_>, _>>()?;
            listing.push(GrantInForce {
                group: g.group.clone(),
                role: g.role.clone(),
                repos: repos.iter().map(|p| p.as_str().to_string()).collect(),
            });
            by_group
                .entry(g.group.clone())
                .or_default()
                .push(Grant { role, repos });
        }
        Ok(Grants {
            roles,
            by_group,
            listing,
        })
    }

    /// The grants in configuration order.
    pub(super) fn listing(&self) -> &[GrantInForce] {
        &self.listing
    }

    /// Role names by index.
    pub(super) fn role_names(&self) -> &[Arc<str>] {
        &self.roles
    }

    /// The grants a caller with `groups` (and the admin flag) holds, collected once so that
    /// many repositories can be matched against them.
    pub(super) fn of<'a>(&'a self, groups: &[String], admin: bool) -> Held<'a> {
        let mut held = Held {
            global: if admin { 1 << ADMIN } else { 0 },
            scoped: Vec::new(),
        };
        for group in groups {
            for g in self.by_group.get(group).into_iter().flatten() {
                if g.repos.is_empty() {
                    held.global |= 1 << g.role;
                } else {
                    held.scoped.push((g.role, &g.repos));
                }
            }
        }
        held
    }
}

/// The grants one caller holds.
pub(super) struct Held<'a> {
    global: RoleSet,
    scoped: Vec<(usize, &'a [RepoPattern])>,
}

impl Held<'_> {
    /// The roles that apply to repository `slug`, or with `None` to the server as a whole
    /// (only grants without repository globs reach that far).
    pub(super) fn roles_on(&self, slug: Option<&str>) -> RoleSet {
        let mut set = self.global;
        if let Some(slug) = slug {
            for (role, repos) in &self.scoped {
                if set & (1 << role) == 0 && repos.iter().any(|p| p.matches(slug)) {
                    set |= 1 << role;
                }
            }
        }
        set
    }

    /// Whether the caller is an administrator everywhere.
    pub(super) fn is_admin(&self) -> bool {
        self.global & (1 << ADMIN) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(group: &str, role: &str, repos: &[&str]) -> RoleGrant {
        RoleGrant {
            group: group.into(),
            role: role.into(),
            repos: repos.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn a_grant_with_globs_applies_only_to_matching_repositories() {
        let grants = Grants::compile(&[
            grant("developers", "developer", &["acme/*"]),
            grant("ops", "viewer", &[]),
        ])
        .expect("valid");
        let held = grants.of(&["developers".into()], false);
        assert_eq!(held.roles_on(Some("acme/api")), 1 << 1);
        assert_eq!(held.roles_on(Some("other/api")), 0);
        assert_eq!(held.roles_on(None), 0);
        let both = grants.of(&["developers".into(), "ops".into()], false);
        assert_eq!(both.roles_on(Some("other/api")), 1);
        assert_eq!(both.roles_on(None), 1);
    }

    #[test]
    fn the_admin_flag_is_the_admin_role_everywhere() {
        let grants = Grants::compile(&[]).expect("valid");
        let held = grants.of(&[], true);
        assert!(held.is_admin());
        assert_eq!(held.roles_on(None), 1 << ADMIN);
    }

    #[test]
    fn a_bad_glob_in_a_grant_names_the_group() {
        let err = Grants::compile(&[grant("devs", "developer", &["acme/["])])
            .err()
            .expect("refused");
        assert!(err.contains("\"devs\""), "{err}");
    }
}
