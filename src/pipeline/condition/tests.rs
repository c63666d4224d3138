use super::*;

fn include(patterns: &[&str]) -> Condition {
    Condition {
        include: patterns.iter().map(|p| p.to_string()).collect(),
        exclude: Vec::new(),
    }
}

fn exclude(patterns: &[&str]) -> Condition {
    Condition {
        include: Vec::new(),
        exclude: patterns.iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn an_empty_condition_matches_everything() {
    let condition = Condition::default();
    assert!(condition.matches("main"));
    assert!(condition.matches(""));
}

#[test]
fn an_include_list_matches_only_its_values() {
    let condition = include(&["main", "develop"]);
    assert!(condition.matches("main"));
    assert!(condition.matches("develop"));
    assert!(!condition.matches("feature"));
}

#[test]
fn an_exclude_list_matches_everything_else() {
    let condition = exclude(&["tag"]);
    assert!(condition.matches("push"));
    assert!(!condition.matches("tag"));
}

#[test]
fn exclude_wins_over_include() {
    let condition = Condition {
        include: vec!["feature/*".into()],
        exclude: vec!["feature/wip".into()],
    };
    assert!(condition.matches("feature/a"));
    assert!(!condition.matches("feature/wip"));
    assert!(!condition.matches("main"));
}

#[test]
fn a_single_star_stays_within_one_segment() {
    let condition = include(&["feature/*"]);
    assert!(condition.matches("feature/a"));
    assert!(!condition.matches("feature/a/b"));
    assert!(!condition.matches("feature"));
}

#[test]
fn a_double_star_spans_segments() {
    let condition = include(&["feature/**"]);
    assert!(condition.matches("feature/a"));
    assert!(condition.matches("feature/a/b"));
    // As in doublestar: a trailing `/**` needs something after the slash.
    assert!(!condition.matches("feature"));
    assert!(include(&["**"]).matches("a/b/c"));
    assert!(include(&["a/**/b"]).matches("a/b"));
    assert!(include(&["a/**/b"]).matches("a/x/y/b"));
    assert!(include(&["refs/tags/**"]).matches("refs/tags/v1.2/rc"));
}

#[test]
fn globs_support_classes_alternatives_and_escapes() {
    assert!(include(&["v[0-9]*"]).matches("v1.0"));
    assert!(!include(&["ab[^c]"]).matches("abc"));
    assert!(include(&["{push,tag}"]).matches("tag"));
    assert!(include(&["release-?"]).matches("release-1"));
    assert!(include(&["a\\*"]).matches("a*"));
    assert!(!include(&["a\\*"]).matches("ab"));
}

#[test]
fn an_include_list_does_not_match_an_empty_value() {
    // A build without a deploy target does not pass `target: [production]`.
    assert!(!include(&["production"]).matches(""));
    assert!(exclude(&["production"]).matches(""));
    // A pattern that matches the empty string does.
    assert!(include(&["*"]).matches(""));
}

#[test]
fn an_invalid_pattern_is_reported_and_never_matches() {
    assert!(check_pattern("[abc").is_err());
    assert!(check_pattern("\\").is_err());
    assert!(check_pattern("feature/*").is_ok());
    assert!(check_pattern("main").is_ok());
    assert!(!include(&["[abc"]).matches("[abc"));
}

fn ctx() -> MatchContext<'static> {
    MatchContext {
        branch: "main",
        event: "push",
        git_ref: "refs/heads/main",
        repo: "octo/hello",
        instance: "ci.example.com",
        target: "",
        cron: "",
        action: "",
    }
}

#[test]
fn a_trigger_matches_when_every_key_matches() {
    let trigger = Conditions {
        branch: include(&["main"]),
        event: include(&["push", "pull_request"]),
        repo: include(&["octo/*"]),
        git_ref: include(&["refs/heads/**"]),
        ..Conditions::default()
    };
    assert!(trigger.matches_trigger(&ctx()));
    let tag = MatchContext {
        event: "tag",
        ..ctx()
    };
    assert!(!trigger.matches_trigger(&tag));
}

#[test]
fn a_trigger_ignores_instance_paths_and_status() {
    let trigger = Conditions {
        instance: include(&["elsewhere.example.com"]),
        paths: include(&["docs/**"]),
        status: include(&["failure"]),
        ..Conditions::default()
    };
    assert!(trigger.matches_trigger(&ctx()));
}

#[test]
fn a_when_checks_instance_but_not_paths_or_status() {
    let when = Conditions {
        instance: include(&["elsewhere.example.com"]),
        ..Conditions::default()
    };
    assert!(!when.matches_when(&ctx()));
    let when = Conditions {
        paths: include(&["docs/**"]),
        status: include(&["failure"]),
        ..Conditions::default()
    };
    assert!(when.matches_when(&ctx()));
}

#[test]
fn a_cron_condition_matches_only_cron_builds_with_that_name() {
    let when = Conditions {
        cron: include(&["nightly"]),
        ..Conditions::default()
    };
    assert!(!when.matches_when(&ctx()));
    let nightly = MatchContext {
        event: "cron",
        cron: "nightly",
        ..ctx()
    };
    assert!(when.matches_when(&nightly));
    assert!(when.matches_trigger(&nightly));
}

#[test]
fn without_status_a_step_runs_on_success_only() {
    let when = Conditions::default();
    assert!(when.on_success());
    assert!(!when.on_failure());
}

#[test]
fn status_failure_runs_only_on_failure() {
    let when = Conditions {
        status: include(&["failure"]),
        ..Conditions::default()
    };
    assert!(!when.on_success());
    assert!(when.on_failure());
}

#[test]
fn status_success_and_failure_runs_always() {
    let when = Conditions {
        status: include(&["success", "failure"]),
        ..Conditions::default()
    };
    assert!(when.on_success());
    assert!(when.on_failure());
}

#[test]
fn status_excluding_success_runs_only_on_failure() {
    let when = Conditions {
        status: exclude(&["success"]),
        ..Conditions::default()
    };
    assert!(!when.on_success());
    assert!(when.on_failure());
}
