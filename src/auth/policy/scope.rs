//! Token scopes: what a token may do on behalf of its owner. A scope is `ACTION` (that action
//! wherever the owner may do it) or `ACTION:REPO_GLOB` (only on repositories whose `owner/name`
//! matches the glob, e.g. `build.trigger:acme/*`). A request through a scoped token is allowed
//! only when both the owner's rights and one of the token's scopes allow it. Pure: parsing and
//! matching only.

use super::action::Action;
use globset::{GlobBuilder, GlobMatcher};
use std::fmt;

/// A glob over repository slugs (`acme/*`, `*/api`, `acme/api-{web,cli}`). `*` never crosses the
/// `/` between owner and name.
#[derive(Clone)]
pub struct RepoPattern {
    text: String,
    matcher: GlobMatcher,
}

impl RepoPattern {
    /// Parses a glob; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<RepoPattern, String> {
        if text.is_empty() || text.contains(char::is_whitespace) {
            return Err(format!(
                "repository pattern {text:?} must be a glob like acme/* without spaces"
            ));
        }
        let glob = GlobBuilder::new(text)
            .literal_separator(true)
            .build()
            .map_err(|e| format!("repository pattern {text:?} is not a valid glob: {e}"))?;
        Ok(RepoPattern {
            text: text.to_string(),
            matcher: glob.compile_matcher(),
        })
    }

    /// Whether `slug` (`owner/name`) matches.
    pub fn matches(&self, slug: &str) -> bool {
        self.matcher.is_match(slug)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for RepoPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepoPattern({:?})", self.text)
    }
}

impl PartialEq for RepoPattern {
    fn eq(&self, other: &RepoPattern) -> bool {
        self.text == other.text
    }
}

/// One scope of a token.
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    pub action: Action,
    /// The repositories it is limited to; `None` = wherever the owner may do the action.
    pub repos: Option<RepoPattern>,
}

impl Scope {
    /// Parses `ACTION` or `ACTION:REPO_GLOB`, strictly: an unknown action, a bad glob, or a glob
    /// on an action that concerns no repository is an error naming it.
    pub fn parse(text: &str) -> Result<Scope, String> {
        let (name, glob) = match text.split_once(':') {
            Some((name, glob)) => (name, Some(glob)),
            None => (text, None),
        };
        let action = Action::parse(name.trim()).map_err(|e| format!("scope {text:?}: {e}"))?;
        let repos = match glob {
            None => None,
            Some(g) if !action.on_repo() => {
                return Err(format!(
                    "scope {text:?}: {action} concerns no repository; write it without :{g}"
                ));
            }
            Some(g) => Some(RepoPattern::parse(g).map_err(|e| format!("scope {text:?}: {e}"))?),
        };
        Ok(Scope { action, repos })
    }

    /// Whether this scope covers `action` on `repo` (a slug; `None` for server-wide actions).
    pub fn allows(&self, action: Action, repo: Option<&str>) -> bool {
        self.action == action
            && match (&self.repos, repo) {
                (None, _) => true,
                (Some(p), Some(slug)) => p.matches(slug),
                (Some(_), None) => false,
            }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repos {
            Some(p) => write!(f, "{}:{}", self.action, p.as_str()),
            None => f.write_str(self.action.as_str()),
        }
    }
}

impl Scope {
    /// Whether everything `narrower` allows, this scope allows too: the same action, and either
    /// no repository limit here, the same pattern, a pattern for every repository (`*/*`, `**`),
    /// or a single repository (no wildcard) that this pattern matches.
    pub fn covers(&self, narrower: &Scope) -> bool {
        if self.action != narrower.action {
            return false;
        }
        match (&self.repos, &narrower.repos) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(mine), Some(theirs)) => {
                let every = matches!(mine.as_str(), "*/*" | "**");
                let literal = !theirs.as_str().contains(['*', '?', '[', '{']);
                mine == theirs || every || (literal && mine.matches(theirs.as_str()))
            }
        }
    }
}

/// Whether `wider` (a token's scopes; `None` = all of its owner's rights) covers every one of
/// `narrower` (`None` = all of the owner's rights): a token derived from another never widens it.
pub fn all_covered(wider: Option<&[Scope]>, narrower: Option<&[Scope]>) -> bool {
    match (wider, narrower) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(w), Some(n)) => n.iter().all(|s| w.iter().any(|o| o.covers(s))),
    }
}

/// Parses every scope of a token; the first bad one is the error.
pub fn parse_all<S: AsRef<str>>(scopes: &[S]) -> Result<Vec<Scope>, String> {
    scopes.iter().map(|s| Scope::parse(s.as_ref())).collect()
}

/// Whether any of `scopes` covers `action` on `repo`.
pub fn any_allows(scopes: &[Scope], action: Action, repo: Option<&str>) -> bool {
    scopes.iter().any(|s| s.allows(action, repo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_names_an_action_and_optionally_repositories() {
        let s = Scope::parse("build.trigger:acme/*").expect("valid");
        assert_eq!(s.action, Action::BuildTrigger);
        assert_eq!(s.to_string(), "build.trigger:acme/*");
        let all = Scope::parse("repo.read").expect("valid");
        assert!(all.repos.is_none());
    }

    #[test]
    fn a_token_scoped_to_acme_cannot_trigger_elsewhere() {
        let scopes = parse_all(&["build.trigger:acme/*", "repo.read"]).expect("valid");
        assert!(any_allows(&scopes, Action::BuildTrigger, Some("acme/api")));
        assert!(!any_allows(
            &scopes,
            Action::BuildTrigger,
            Some("other/api")
        ));
        assert!(!any_allows(&scopes, Action::BuildCancel, Some("acme/api")));
        assert!(any_allows(&scopes, Action::RepoRead, Some("other/api")));
    }

    #[test]
    fn a_scope_covers_only_what_is_inside_it() {
        let wide = parse_all(&["repo.read", "build.trigger:acme/*"]).expect("valid");
        let ok = |n: &[&str]| all_covered(Some(&wide), Some(&parse_all(n).expect("valid")));
        assert!(ok(&["repo.read:acme/api"]));
        assert!(ok(&["repo.read", "build.trigger:acme/*"]));
        assert!(ok(&["build.trigger:acme/api"]));
        assert!(!ok(&["build.trigger"]), "unlimited is wider than acme/*");
        assert!(!ok(&["build.trigger:other/api"]));
        assert!(
            !ok(&["build.trigger:acme/a*"]),
            "another pattern is not compared"
        );
        assert!(!ok(&["build.cancel:acme/api"]));
        assert!(!all_covered(Some(&wide), None), "all rights are wider");
        assert!(all_covered(None, Some(&wide)));
    }

    #[test]
    fn a_glob_star_stays_inside_the_owner() {
        let p = RepoPattern::parse("acme*").expect("valid");
        assert!(!p.matches("acme/api"));
        let p = RepoPattern::parse("*/api").expect("valid");
        assert!(p.matches("acme/api") && p.matches("other/api"));
        assert!(!p.matches("acme/api-web"));
    }

    #[test]
    fn an_unknown_action_in_a_scope_is_refused_by_name() {
        let err = Scope::parse("build.deploy:acme/*").expect_err("unknown");
        assert!(err.contains("\"build.deploy\""), "{err}");
    }

    #[test]
    fn a_repository_glob_on_a_server_action_is_refused() {
        let err = Scope::parse("user.manage:acme/*").expect_err("no repo");
        assert!(err.contains("concerns no repository"), "{err}");
        assert!(Scope::parse("build.trigger:").is_err());
        assert!(Scope::parse("build.trigger:acme/[").is_err());
    }

    #[test]
    fn a_server_wide_scope_covers_no_repository_glob() {
        let s = Scope::parse("audit.read").expect("valid");
        assert!(s.allows(Action::AuditRead, None));
        let r = Scope::parse("repo.read:acme/*").expect("valid");
        assert!(!r.allows(Action::RepoRead, None));
    }
}
