//! `hangar bench authz`: the authorization decision, measured in process (it involves no I/O):
//! a cached decision, a cold Cedar decision with 25 policies, and listing the repositories a
//! user may read out of 1,000.

use super::quantile;
use crate::auth::policy::{Action, Authz, RepoRef, Sources};
use crate::auth::principal::Principal;
use crate::config::RoleGrant;
use crate::domain::Visibility;
use std::time::Instant;

fn grant(group: &str, role: &str, repos: &[&str]) -> RoleGrant {
    RoleGrant {
        group: group.into(),
        role: role.into(),
        repos: repos.iter().map(|r| r.to_string()).collect(),
    }
}

/// 17 operator policies on top of the 8 shipped ones: forbids by repository and target,
/// permits by group, a custom role. None decides `repo.read` by slug.
fn operator_policies() -> String {
    let mut text = String::new();
    for i in 0..8 {
        text.push_str(&format!(
            "@id(\"frozen-{i}\")\nforbid (principal, action in [Action::\"build.trigger\", Action::\"build.promote\"], resource is Repo)\nwhen {{ resource.slug like \"legacy-{i}/*\" }};\n"
        ));
    }
    for i in 0..6 {
        text.push_str(&format!(
            "@id(\"oncall-{i}\")\npermit (principal, action in [Action::\"build.cancel\", Action::\"build.restart\"], resource is Repo)\nwhen {{ principal.groups.contains(\"oncall-{i}\") && resource.visibility != \"public\" }};\n"
        ));
    }
    text.push_str("@id(\"no-prod-from-bots\")\nforbid (principal, action == Action::\"build.promote\", resource is Repo)\nwhen { context.target == \"production\" && principal.groups.contains(\"bots\") };\n");
    text.push_str("@id(\"releasers\")\npermit (principal in Role::\"releaser\", action == Action::\"build.promote\", resource is Repo);\n");
    text.push_str("@id(\"read-only-friday\")\nforbid (principal in Role::\"releaser\", action == Action::\"secret.write\", resource);\n");
    text
}

/// Runs the benchmark and prints each figure beside its target.
pub fn run() -> anyhow::Result<()> {
    let grants = vec![
        grant("admins", "admin", &[]),
        grant("developers", "developer", &["acme/*", "tools/*"]),
        grant("maintainers", "maintainer", &["acme/api*"]),
        grant("readers", "viewer", &["*/docs"]),
        grant("release", "releaser", &["acme/*"]),
    ];
    let file = operator_policies();
    let authz = Authz::from_sources(&Sources {
        roles: &grants,
        protected_targets: &["production".into()],
        file: Some(("bench.cedar", &file)),
    })?;
    let policies = authz.policy_ids().len();
    let dev = Principal::hypothetical(
        "dev1",
        vec!["developers".into(), "readers".into(), "oncall-3".into()],
        false,
        None,
    )
    .map_err(anyhow::Error::msg)?;
    let repo = Some(RepoRef {
        slug: "acme/api",
        visibility: Visibility::Private,
    });

    // Cached: the same question again and again (the first answer fills the cache).
    let _ = authz.decide(&dev, Action::BuildTrigger, repo, None);
    let mut cached = Vec::with_capacity(100_000);
    for _ in 0..100_000 {
        let t = Instant::now();
        let d = authz.decide(&dev, Action::BuildTrigger, repo, None);
        cached.push(t.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(d);
    }

    // Cold: Cedar itself, every time a different repository.
    let slugs: Vec<String> = (0..20_000).map(|i| format!("acme/app-{i}")).collect();
    let mut cold = Vec::with_capacity(slugs.len());
    for slug in &slugs {
        let r = Some(RepoRef {
            slug,
            visibility: Visibility::Private,
        });
        let t = Instant::now();
        let d = authz.decide_uncached(&dev, Action::BuildTrigger, r, None);
        cold.push(t.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(d);
    }

    // Listing: 1,000 repositories of mixed owners and visibility, with the three permissions
    // the repo JSON shows.
    let owners = ["acme", "tools", "legacy-2", "other", "corp"];
    let names: Vec<String> = (0..1_000)
        .map(|i| {
            let name = if i % 17 == 0 {
                "docs".to_string()
            } else {
                format!("svc-{i}")
            };
            format!("{}/{name}", owners[i % owners.len()])
        })
        .collect();
    let visibilities = [
        Visibility::Private,
        Visibility::Internal,
        Visibility::Public,
    ];
    let repos: Vec<RepoRef<'_>> = names
        .iter()
        .enumerate()
        .map(|(i, slug)| RepoRef {
            slug,
            visibility: visibilities[(i / 5) % 3],
        })
        .collect();
    let mut listing = Vec::new();
    let mut readable = 0;
    for _ in 0..200 {
        let t = Instant::now();
        let sets = authz.decide_many(&dev, &repos, &[Action::RepoRead]);
        listing.push(t.elapsed().as_secs_f64() * 1e3);
        readable = sets.iter().filter(|s| s.contains(Action::RepoRead)).count();
    }
    // As `GET /api/repos` does: the readable ones, then their write and admin permissions
    // (build.trigger is decided per repository here: the frozen-* policies test the slug).
    let mut with_permissions = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let sets = authz.decide_many(&dev, &repos, &[Action::RepoRead]);
        let visible: Vec<RepoRef<'_>> = repos
            .iter()
            .zip(&sets)
            .filter(|(_, s)| s.contains(Action::RepoRead))
            .map(|(r, _)| *r)
            .collect();
        std::hint::black_box(authz.decide_many(
            &dev,
            &visible,
            &[Action::BuildTrigger, Action::RepoAdmin],
        ));
        with_permissions.push(t.elapsed().as_secs_f64() * 1e3);
    }

    println!(
        "authz: cached decision p50 {:.2} us (target <= 5 us), p99 {:.2} us over 100,000",
        quantile(&mut cached, 0.5),
        quantile(&mut cached, 0.99)
    );
    println!(
        "authz: cold Cedar decision with {policies} policies p50 {:.1} us (target <= 30 us), p99 {:.1} us over 20,000 ({} of them may apply to build.trigger and are evaluated)",
        quantile(&mut cold, 0.5),
        quantile(&mut cold, 0.99),
        authz.policies_for(Action::BuildTrigger)
    );
    println!(
        "authz: listing the repos a user may read out of 1,000 p50 {:.2} ms (target <= 10 ms), p99 {:.2} ms; {readable} readable",
        quantile(&mut listing, 0.5),
        quantile(&mut listing, 0.99)
    );
    println!(
        "authz: the same with the write/admin permissions of each readable repo, as GET /api/repos shows them: p50 {:.2} ms",
        quantile(&mut with_permissions, 0.5)
    );

    // The slow path, for the record: a policy that decides repo.read by slug makes listing
    // one Cedar decision per repository.
    let by_slug = format!(
        "{file}@id(\"hide-legacy\")\nforbid (principal, action == Action::\"repo.read\", resource is Repo)\nwhen {{ resource.slug like \"legacy-*\" }};\n"
    );
    let slow = Authz::from_sources(&Sources {
        roles: &grants,
        protected_targets: &["production".into()],
        file: Some(("bench.cedar", &by_slug)),
    })?;
    let mut per_repo = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        std::hint::black_box(slow.decide_many(&dev, &repos, &[Action::RepoRead]));
        per_repo.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "authz: listing out of 1,000 when a policy decides repo.read by slug (one Cedar decision per repository): p50 {:.2} ms",
        quantile(&mut per_repo, 0.5)
    );
    Ok(())
}
