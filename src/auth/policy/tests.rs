//! The shipped roles and policy, the operator's policy file, visibility, scopes and the
//! decision cache, told as sentences.

use super::*;
use crate::config::RoleGrant;
use crate::domain::Visibility;

fn grant(group: &str, role: &str, repos: &[&str]) -> RoleGrant {
    RoleGrant {
        group: group.into(),
        role: role.into(),
        repos: repos.iter().map(|r| r.to_string()).collect(),
    }
}

fn standard_grants() -> Vec<RoleGrant> {
    vec![
        grant("admins", "admin", &[]),
        grant("developers", "developer", &["acme/*"]),
        grant("maintainers", "maintainer", &["acme/*"]),
        grant("readers", "viewer", &["acme/api"]),
        grant("audit", "auditor", &[]),
    ]
}

fn authz_with(file: Option<&str>) -> Authz {
    let grants = standard_grants();
    Authz::from_sources(&Sources {
        roles: &grants,
        protected_targets: &["production".to_string()],
        file: file.map(|t| ("extra.cedar", t)),
    })
    .expect("the policy loads")
}

fn authz() -> Authz {
    authz_with(None)
}

fn user(login: &str, groups: &[&str]) -> Principal {
    Principal::hypothetical(
        login,
        groups.iter().map(|g| g.to_string()).collect(),
        false,
        None,
    )
    .expect("principal")
}

fn private(slug: &str) -> Option<RepoRef<'_>> {
    Some(RepoRef {
        slug,
        visibility: Visibility::Private,
    })
}

fn may(authz: &Authz, who: &Principal, action: Action, slug: &str) -> bool {
    authz.decide(who, action, private(slug), None).allowed
}

#[test]
fn a_viewer_may_read_but_not_trigger() {
    let a = authz();
    let reader = user("rita", &["readers"]);
    assert!(may(&a, &reader, Action::RepoRead, "acme/api"));
    assert!(!may(&a, &reader, Action::BuildTrigger, "acme/api"));
    assert!(!may(&a, &reader, Action::RepoRead, "acme/web"));
}

#[test]
fn a_developer_may_trigger_but_not_promote() {
    let a = authz();
    let dev = user("dev1", &["developers"]);
    for action in [
        Action::RepoRead,
        Action::BuildTrigger,
        Action::BuildCancel,
        Action::BuildRestart,
        Action::SecretList,
    ] {
        assert!(may(&a, &dev, action, "acme/api"), "{action}");
    }
    for action in [
        Action::BuildPromote,
        Action::BuildApprove,
        Action::RepoAdmin,
        Action::SecretWrite,
        Action::CronWrite,
    ] {
        assert!(!may(&a, &dev, action, "acme/api"), "{action}");
    }
    let promote = a.decide(
        &dev,
        Action::BuildPromote,
        private("acme/api"),
        Some("staging"),
    );
    assert!(!promote.allowed);
}

#[test]
fn a_maintainer_may_not_promote_to_production() {
    let a = authz();
    let m = user("mia", &["maintainers"]);
    let staging = a.decide(
        &m,
        Action::BuildPromote,
        private("acme/api"),
        Some("staging"),
    );
    assert!(staging.allowed);
    assert_eq!(staging.policy(), Some("maintainer.promote"));
    let production = a.decide(
        &m,
        Action::BuildPromote,
        private("acme/api"),
        Some("production"),
    );
    assert!(!production.allowed);
    assert_eq!(production.reason, Reason::NotPermitted);
    for action in [
        Action::BuildApprove,
        Action::RepoAdmin,
        Action::SecretWrite,
        Action::CronWrite,
        Action::BuildTrigger,
    ] {
        assert!(may(&a, &m, action, "acme/api"), "{action}");
    }
    assert!(!may(&a, &m, Action::UserManage, "acme/api"));
}

#[test]
fn the_protected_targets_come_from_the_configuration() {
    let grants = standard_grants();
    let a = Authz::from_sources(&Sources {
        roles: &grants,
        protected_targets: &["prod-eu".to_string()],
        file: None,
    })
    .expect("loads");
    let m = user("mia", &["maintainers"]);
    assert!(
        a.decide(
            &m,
            Action::BuildPromote,
            private("acme/api"),
            Some("production")
        )
        .allowed
    );
    assert!(
        !a.decide(
            &m,
            Action::BuildPromote,
            private("acme/api"),
            Some("prod-eu")
        )
        .allowed
    );
}

#[test]
fn an_admin_may_do_everything_and_promote_to_production() {
    let a = authz();
    let boss = user("root", &["admins"]);
    for action in Action::ALL {
        let repo = if action.on_repo() {
            private("any/repo")
        } else {
            None
        };
        let target = (action == Action::BuildPromote).then_some("production");
        let d = a.decide(&boss, action, repo, target);
        assert!(d.allowed, "{action}");
        assert_eq!(d.policy(), Some("admin"));
    }
    assert!(a.is_admin(&boss));
    assert!(!a.is_admin(&user("mia", &["maintainers"])));
}

#[test]
fn the_admin_flag_makes_an_admin_without_any_group() {
    let a = authz();
    let bootstrap = Principal::hypothetical("bootstrap-admin", vec![], true, None).expect("p");
    assert!(a.is_admin(&bootstrap));
    assert!(a.decide(&bootstrap, Action::UserManage, None, None).allowed);
}

#[test]
fn an_auditor_reads_everything_and_the_audit_trail_but_changes_nothing() {
    let a = authz();
    let auditor = user("al", &["audit"]);
    assert!(may(&a, &auditor, Action::RepoRead, "other/thing"));
    assert!(a.decide(&auditor, Action::AuditRead, None, None).allowed);
    assert!(!may(&a, &auditor, Action::BuildTrigger, "acme/api"));
    assert!(!a.decide(&auditor, Action::UserManage, None, None).allowed);
}

#[test]
fn a_role_granted_on_some_repositories_reaches_no_server_action() {
    let grants = vec![grant("ops", "admin", &["ops/*"])];
    let a = Authz::from_sources(&Sources {
        roles: &grants,
        protected_targets: &[],
        file: None,
    })
    .expect("loads");
    let ops = user("olga", &["ops"]);
    assert!(may(&a, &ops, Action::RepoAdmin, "ops/infra"));
    assert!(!may(&a, &ops, Action::RepoRead, "acme/api"));
    assert!(!a.decide(&ops, Action::UserManage, None, None).allowed);
    assert!(!a.is_admin(&ops));
}

#[test]
fn a_private_repo_is_invisible_to_a_user_without_a_grant() {
    let a = authz();
    let dev = user("dev1", &["developers"]);
    let denial = a
        .check(&dev, Action::BuildTrigger, private("other/api"), None)
        .expect_err("denied");
    assert!(
        matches!(denial.error, Error::NotFound(_)),
        "{:?}",
        denial.error
    );
    let denial = a
        .check(&dev, Action::RepoRead, private("other/api"), None)
        .expect_err("denied");
    assert!(matches!(denial.error, Error::NotFound(_)));
}

#[test]
fn a_readable_repo_with_a_denied_action_is_forbidden() {
    let a = authz();
    let dev = user("dev1", &["developers"]);
    let denial = a
        .check(
            &dev,
            Action::BuildPromote,
            private("acme/api"),
            Some("production"),
        )
        .expect_err("denied");
    assert!(
        matches!(denial.error, Error::Forbidden(_)),
        "{:?}",
        denial.error
    );
    assert_eq!(denial.decision.reason, Reason::NotPermitted);
    assert!(
        a.check(&dev, Action::BuildTrigger, private("acme/api"), None)
            .is_ok()
    );
}

#[test]
fn a_public_repo_is_readable_anonymously_and_nothing_more() {
    let a = authz();
    let anonymous = Principal::anonymous();
    let public = Some(RepoRef {
        slug: "acme/site",
        visibility: Visibility::Public,
    });
    let read = a
        .check(&anonymous, Action::RepoRead, public, None)
        .expect("readable");
    assert_eq!(read.policy(), Some("visibility.public"));
    let denial = a
        .check(&anonymous, Action::BuildTrigger, public, None)
        .expect_err("denied");
    assert!(matches!(denial.error, Error::Unauthenticated(_)));
    let denial = a
        .check(&anonymous, Action::RepoRead, private("acme/api"), None)
        .expect_err("denied");
    assert!(matches!(denial.error, Error::Unauthenticated(_)));
}

#[test]
fn an_internal_repo_is_readable_by_anyone_signed_in() {
    let a = authz();
    let internal = Some(RepoRef {
        slug: "corp/handbook",
        visibility: Visibility::Internal,
    });
    let nobody = user("newcomer", &[]);
    assert!(a.decide(&nobody, Action::RepoRead, internal, None).allowed);
    assert!(
        !a.decide(&nobody, Action::BuildTrigger, internal, None)
            .allowed
    );
    assert!(
        !a.decide(&Principal::anonymous(), Action::RepoRead, internal, None)
            .allowed
    );
}

const NO_PROMOTE_ON_LEGACY: &str = r#"
@id("legacy-frozen")
forbid (principal, action == Action::"build.trigger", resource is Repo)
when { resource.slug like "acme/legacy-*" };
"#;

#[test]
fn a_forbid_rule_in_the_policy_file_overrides_a_grant() {
    let a = authz_with(Some(NO_PROMOTE_ON_LEGACY));
    let boss = user("root", &["admins"]);
    let d = a.decide(
        &boss,
        Action::BuildTrigger,
        private("acme/legacy-app"),
        None,
    );
    assert!(!d.allowed);
    assert_eq!(d.reason, Reason::Forbidden);
    assert_eq!(d.policy(), Some("legacy-frozen"));
    assert!(may(&a, &boss, Action::BuildTrigger, "acme/api"));
    assert!(may(&a, &boss, Action::RepoRead, "acme/legacy-app"));
}

#[test]
fn a_broken_policy_file_is_refused_and_the_old_policy_stays() {
    let a = authz_with(Some(NO_PROMOTE_ON_LEGACY));
    let boss = user("root", &["admins"]);
    let before = a.version();
    let grants = standard_grants();
    let broken = "// fine so far\n\npermit (principal, action == Action::\"repo.read\", resource)\nwhen { resource.slug == };\n";
    let err = a
        .reload_from(&Sources {
            roles: &grants,
            protected_targets: &[],
            file: Some(("extra.cedar", broken)),
        })
        .expect_err("refused");
    assert_eq!(err.file.as_deref(), Some("extra.cedar"));
    assert_eq!(err.position.map(|(line, _)| line), Some(4), "{err}");
    assert!(err.to_string().starts_with("extra.cedar:4:"), "{err}");
    assert_eq!(a.version(), before);
    assert!(!may(&a, &boss, Action::BuildTrigger, "acme/legacy-app"));
}

#[test]
fn a_policy_that_breaks_the_schema_is_refused_with_its_line() {
    let text = "\n@id(\"typo\")\npermit (principal, action == Action::\"repo.read\", resource is Repo)\nwhen { resource.visibilty == \"public\" };\n";
    let grants = standard_grants();
    let err = Authz::from_sources(&Sources {
        roles: &grants,
        protected_targets: &[],
        file: Some(("typo.cedar", text)),
    })
    .err()
    .expect("refused");
    assert_eq!(err.position.map(|(line, _)| line), Some(4), "{err}");
    let unknown_action = "permit (principal, action == Action::\"build.deploy\", resource);";
    assert!(
        Authz::from_sources(&Sources {
            roles: &grants,
            protected_targets: &[],
            file: Some(("a.cedar", unknown_action)),
        })
        .is_err()
    );
}

#[test]
fn a_policy_id_may_not_be_taken_twice() {
    let text = "@id(\"admin\")\nforbid (principal, action, resource);";
    let grants = standard_grants();
    let err = Authz::from_sources(&Sources {
        roles: &grants,
        protected_targets: &[],
        file: Some(("a.cedar", text)),
    })
    .err()
    .expect("refused");
    assert!(err.message.contains("\"admin\""), "{err}");
}

#[test]
fn a_granted_role_must_be_built_in_or_named_by_a_policy() {
    let grants = vec![grant("release", "releaser", &["acme/*"])];
    let err = Authz::from_sources(&Sources {
        roles: &grants,
        protected_targets: &[],
        file: None,
    })
    .err()
    .expect("refused");
    assert!(err.message.contains("\"releaser\""), "{err}");
    let text = "@id(\"releasers\")\npermit (principal in Role::\"releaser\", action in [Action::\"repo.read\", Action::\"build.promote\"], resource is Repo);";
    let a = Authz::from_sources(&Sources {
        roles: &grants,
        protected_targets: &["production".into()],
        file: Some(("r.cedar", text)),
    })
    .expect("loads");
    let r = user("rel", &["release"]);
    let d = a.decide(
        &r,
        Action::BuildPromote,
        private("acme/api"),
        Some("production"),
    );
    assert!(d.allowed);
    assert_eq!(d.policy(), Some("releasers"));
    assert!(!may(&a, &r, Action::BuildPromote, "other/api"));
}

#[test]
fn a_token_scoped_to_acme_cannot_trigger_elsewhere() {
    let a = authz();
    let scopes = vec!["build.trigger:acme/*".to_string(), "repo.read".to_string()];
    let bot = Principal::hypothetical("bot", vec!["admins".into()], false, Some(&scopes))
        .expect("scopes parse");
    assert!(may(&a, &bot, Action::BuildTrigger, "acme/api"));
    let elsewhere = a.decide(&bot, Action::BuildTrigger, private("other/api"), None);
    assert!(!elsewhere.allowed);
    assert_eq!(elsewhere.reason, Reason::OutOfScope);
    assert!(!may(&a, &bot, Action::BuildCancel, "acme/api"));
    let denial = a
        .check(&bot, Action::BuildTrigger, private("other/api"), None)
        .expect_err("denied");
    assert!(matches!(denial.error, Error::Forbidden(_)));
}

#[test]
fn a_scope_never_widens_the_owners_rights() {
    let a = authz();
    let scopes = vec!["build.promote".to_string()];
    let dev = Principal::hypothetical("dev1", vec!["developers".into()], false, Some(&scopes))
        .expect("scopes parse");
    assert!(
        !a.decide(&dev, Action::BuildPromote, private("acme/api"), Some("qa"))
            .allowed
    );
    let denial = a
        .check(&dev, Action::RepoRead, private("other/x"), None)
        .expect_err("denied");
    assert!(matches!(denial.error, Error::NotFound(_)));
}

#[test]
fn a_cached_decision_is_forgotten_when_the_policy_changes() {
    let a = authz();
    let grants = standard_grants();
    let boss = user("root", &["admins"]);
    assert!(may(&a, &boss, Action::BuildTrigger, "acme/legacy-app"));
    a.reload_from(&Sources {
        roles: &grants,
        protected_targets: &[],
        file: Some(("extra.cedar", NO_PROMOTE_ON_LEGACY)),
    })
    .expect("reloads");
    assert!(!may(&a, &boss, Action::BuildTrigger, "acme/legacy-app"));
    let fewer = vec![grant("admins", "viewer", &[])];
    a.reload_from(&Sources {
        roles: &fewer,
        protected_targets: &[],
        file: None,
    })
    .expect("reloads");
    assert!(!may(&a, &boss, Action::BuildTrigger, "acme/api"));
    assert!(may(&a, &boss, Action::RepoRead, "acme/api"));
}

#[test]
fn a_policy_naming_a_user_is_decided_per_user_not_per_group_set() {
    let text = "@id(\"not-mallory\")\nforbid (principal == User::\"mallory\", action, resource);";
    let a = authz_with(Some(text));
    let alice = user("alice", &["developers"]);
    let mallory = user("mallory", &["developers"]);
    assert!(may(&a, &alice, Action::BuildTrigger, "acme/api"));
    let d = a.decide(&mallory, Action::BuildTrigger, private("acme/api"), None);
    assert!(!d.allowed);
    assert_eq!(d.policy(), Some("not-mallory"));
}

#[test]
fn the_cache_answers_as_cedar_does() {
    let a = authz_with(Some(NO_PROMOTE_ON_LEGACY));
    let dev = user("dev1", &["developers", "readers"]);
    for slug in ["acme/api", "acme/legacy-x", "other/api"] {
        for action in Action::ALL.into_iter().filter(|a| a.on_repo()) {
            let first = a.decide(&dev, action, private(slug), None);
            let cached = a.decide(&dev, action, private(slug), None);
            let cold = a.decide_uncached(&dev, action, private(slug), None);
            assert_eq!(first, cached);
            assert_eq!(first, cold, "{action} {slug}");
        }
    }
}

#[test]
fn listing_in_one_pass_agrees_with_one_decision_per_repository() {
    let by_slug = format!(
        "{NO_PROMOTE_ON_LEGACY}\n@id(\"ops-open\")\npermit (principal, action in [Action::\"repo.read\", Action::\"build.trigger\"], resource is Repo)\nwhen {{ principal.signed_in && resource.slug like \"ops/*\" }};\n@id(\"hide-7\")\nforbid (principal, action == Action::\"repo.read\", resource)\nwhen {{ resource == Repo::\"acme/app-8\" }};\n"
    );
    let a = authz_with(Some(&by_slug));
    let visibilities = [
        Visibility::Private,
        Visibility::Internal,
        Visibility::Public,
    ];
    let slugs: Vec<String> = (0..120)
        .map(|i| match i % 4 {
            0 => format!("acme/app-{i}"),
            1 => format!("acme/legacy-{i}"),
            2 => format!("other/app-{i}"),
            _ => format!("ops/tool-{i}"),
        })
        .collect();
    let repos: Vec<RepoRef<'_>> = slugs
        .iter()
        .enumerate()
        .map(|(i, slug)| RepoRef {
            slug,
            visibility: visibilities[(i / 4) % 3],
        })
        .collect();
    let scopes = vec!["repo.read:acme/*".to_string(), "build.trigger".to_string()];
    let principals = [
        user("dev1", &["developers"]),
        user("rita", &["readers"]),
        user("root", &["admins"]),
        user("newcomer", &[]),
        Principal::anonymous(),
        Principal::hypothetical("bot", vec!["maintainers".into()], false, Some(&scopes))
            .expect("p"),
    ];
    let actions = [Action::RepoRead, Action::BuildTrigger, Action::RepoAdmin];
    for p in &principals {
        let many = a.decide_many(p, &repos, &actions);
        for (repo, set) in repos.iter().zip(&many) {
            for action in actions {
                let one = a.decide(p, action, Some(*repo), None).allowed;
                assert_eq!(
                    set.contains(action),
                    one,
                    "{} {action} {} ({:?})",
                    p.login(),
                    repo.slug,
                    repo.visibility
                );
            }
        }
    }
    let dev = user("dev1", &["developers"]);
    let domain_repos: Vec<RepoRef<'_>> = repos.clone();
    let readable = a.decide_many(&dev, &domain_repos, &[Action::RepoRead]);
    assert!(readable.iter().any(|s| s.contains(Action::RepoRead)));
    assert!(readable.iter().any(|s| !s.contains(Action::RepoRead)));
}

#[test]
fn a_reload_reads_the_policy_file_again_and_refuses_a_broken_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("policy.cedar");
    std::fs::write(&path, NO_PROMOTE_ON_LEGACY).expect("written");
    let mut identity = crate::config::IdentityConfig::defaults(dir.path());
    identity.policy_file = Some(path.clone());
    let a = Authz::load(&identity).expect("loads");
    let boss = user("root", &["admins"]);
    assert!(!may(&a, &boss, Action::BuildTrigger, "acme/legacy-app"));

    std::fs::write(
        &path,
        "forbid (principal, action, resource)\nwhen { nonsense };\n",
    )
    .expect("written");
    let err = a.reload(&identity).expect_err("refused");
    assert!(
        err.to_string()
            .starts_with(&format!("{}:2:", path.display())),
        "{err}"
    );
    assert!(may(&a, &boss, Action::BuildTrigger, "acme/api"));
    assert!(!may(&a, &boss, Action::BuildTrigger, "acme/legacy-app"));

    std::fs::write(&path, "").expect("emptied");
    let version = a.reload(&identity).expect("reloads");
    assert_eq!(version, a.version());
    assert!(may(&a, &boss, Action::BuildTrigger, "acme/legacy-app"));
}

#[test]
fn the_grants_and_policy_text_read_are_those_of_the_version_in_force() {
    let a = authz_with(Some(
        "@id(\"extra\")\npermit(principal, action == Action::\"repo.read\", resource);\n",
    ));
    let grants = a.grants();
    assert_eq!(grants.len(), 5);
    assert_eq!(
        grants[1],
        GrantInForce {
            group: "developers".into(),
            role: "developer".into(),
            repos: vec!["acme/*".into()],
        }
    );
    let files: Vec<String> = a.policy_texts().into_iter().map(|(f, _)| f).collect();
    assert_eq!(files, ["policy/default.cedar", "extra.cedar"]);
    assert_eq!(a.protected_targets(), ["production"]);
    a.reload_from(&Sources {
        roles: &[grant("ops", "viewer", &[])],
        protected_targets: &[],
        file: None,
    })
    .expect("reloads");
    assert_eq!(a.grants().len(), 1, "the new version's grants");
    assert_eq!(
        a.policy_texts().len(),
        1,
        "the extra file is no longer in force"
    );
    assert!(a.policy_texts()[0].1.contains("permit"));
}
