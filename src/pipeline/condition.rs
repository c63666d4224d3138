//! Matching `trigger:` and `when:` conditions against a build, with Drone's rules: an excluded
//! value never matches, an included one always does, and a condition without an include list
//! matches everything it does not exclude. Patterns are doublestar globs: `*` stays within one
//! `/`-separated segment, `**` spans segments.
//!
//! What does not live here: reading conditions from YAML (`parse`), deciding which stages and
//! steps of a build run (`trigger`, `runner`).

use globset::{Glob, GlobBuilder};

use super::{Condition, Conditions, MatchContext};

impl Condition {
    /// Whether `value` passes this condition.
    pub fn matches(&self, value: &str) -> bool {
        if self.excludes(value) {
            return false;
        }
        if self.includes(value) {
            return true;
        }
        self.include.is_empty()
    }

    /// Whether some include pattern matches `value`.
    pub fn includes(&self, value: &str) -> bool {
        self.include
            .iter()
            .any(|pattern| glob_matches(pattern, value))
    }

    /// Whether some exclude pattern matches `value`.
    pub fn excludes(&self, value: &str) -> bool {
        self.exclude
            .iter()
            .any(|pattern| glob_matches(pattern, value))
    }

    /// No include and no exclude list: the condition was not written.
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }
}

impl Conditions {
    /// The server-side check of a pipeline's `trigger:`. `instance`, `paths` and `status` are
    /// not checked here, as in Drone: `status` only sets [`Conditions::on_success`] and
    /// [`Conditions::on_failure`].
    pub fn matches_trigger(&self, ctx: &MatchContext<'_>) -> bool {
        self.branch.matches(ctx.branch)
            && self.event.matches(ctx.event)
            && self.action.matches(ctx.action)
            && self.git_ref.matches(ctx.git_ref)
            && self.repo.matches(ctx.repo)
            && self.target.matches(ctx.target)
            && self.cron.matches(ctx.cron)
    }

    /// The runner-side check of a step's `when:` that does not depend on how earlier steps went
    /// (`status` is checked with [`Conditions::on_success`] / [`Conditions::on_failure`];
    /// `paths` is not checked, as in Drone).
    pub fn matches_when(&self, ctx: &MatchContext<'_>) -> bool {
        self.cron.matches(ctx.cron)
            && self.git_ref.matches(ctx.git_ref)
            && self.repo.matches(ctx.repo)
            && self.instance.matches(ctx.instance)
            && self.target.matches(ctx.target)
            && self.event.matches(ctx.event)
            && self.branch.matches(ctx.branch)
            && self.action.matches(ctx.action)
    }

    /// Runs when everything before it passed: true without `status`, else whether `status`
    /// admits `success`.
    pub fn on_success(&self) -> bool {
        self.status.is_empty() || self.status.matches("success")
    }

    /// Runs when something before it failed: false without `status`, else whether `status`
    /// admits `failure`.
    pub fn on_failure(&self) -> bool {
        !self.status.is_empty() && self.status.matches("failure")
    }
}

/// Checks that `pattern` is a valid glob, so that a typo is reported where it is written
/// instead of silently never matching.
pub(crate) fn check_pattern(pattern: &str) -> Result<(), String> {
    if is_literal(pattern) {
        return Ok(());
    }
    glob(pattern).map(|_| ()).map_err(|e| e.kind().to_string())
}

fn glob(pattern: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
}

pub(crate) fn is_literal(pattern: &str) -> bool {
    !pattern.contains(['*', '?', '[', ']', '{', '}', '\\'])
}

/// Most patterns are plain words (`push`, `main`): compare those directly and compile a glob
/// only for the rest. A pattern that does not compile (only possible if it bypassed `parse`)
/// matches nothing, as in Drone.
fn glob_matches(pattern: &str, value: &str) -> bool {
    if is_literal(pattern) {
        return pattern == value;
    }
    glob(pattern).is_ok_and(|glob| glob.compile_matcher().is_match(value))
}

#[cfg(test)]
mod tests;
