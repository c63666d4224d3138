//! The store's story, told once and run on both databases: on SQLite always, on PostgreSQL when
//! `HANGAR_TEST_DATABASE_URL` names a server (and in CI it must). Each `story_*` function is one
//! chapter; `story!` turns it into a `sqlite_*` and a `postgres_*` test.

use crate::support::database::TestDatabase;
use hangar::Error;
use hangar::domain::{
    Actor, Build, BuildId, Event, Repo, RepoId, Slug, Stage, StageId, Status, Step, StepId, UserId,
    Visibility,
};
use hangar::store::{
    ClaimFilter, Created, Finished, Identity, LogChunk, NewBuild, NewRepo, NewStage, NewStep,
    Preparation, RepoPatch, StepReport, Store, TokenKind,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The fixed clock of every story; steps of a story move it on by hand.
const NOW: i64 = 1_700_000_000_000;

/// A migrated store on a database of its own, and the URL it was opened with.
struct Fixture {
    store: Store,
    url: String,
    _data: tempfile::TempDir,
    _database: TestDatabase,
}

impl std::ops::Deref for Fixture {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

impl Fixture {
    async fn open(database: TestDatabase) -> Fixture {
        let data = tempfile::tempdir().expect("temporary folder");
        let url = database.url(data.path());
        let store = Store::open(&url).await.expect("the store opens");
        Fixture {
            store,
            url,
            _data: data,
            _database: database,
        }
    }

    async fn sqlite() -> Fixture {
        Fixture::open(TestDatabase::sqlite()).await
    }

    /// A store on a fresh PostgreSQL database; `None` (the test is skipped) when no server is
    /// named, except in CI, where a silent skip would hide the dialect the story exists for.
    async fn postgres() -> Option<Fixture> {
        let named = std::env::var("HANGAR_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty());
        if !named {
            assert!(
                std::env::var_os("CI").is_none(),
                "HANGAR_TEST_DATABASE_URL is not set, but CI is: the store story must run on \
                 PostgreSQL in CI"
            );
            println!("skipped: HANGAR_TEST_DATABASE_URL is not set");
            return None;
        }
        let database = TestDatabase::postgres()
            .await
            .expect("HANGAR_TEST_DATABASE_URL is set");
        Some(Fixture::open(database).await)
    }

    async fn close(self) {
        self.store.close().await;
    }
}

/// One story as a pair of tests: `$sqlite` always, `$postgres` when a server is named.
macro_rules! story {
    ($story:ident => $sqlite:ident, $postgres:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            let db = Fixture::sqlite().await;
            $story(&db).await;
            db.close().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            let Some(db) = Fixture::postgres().await else {
                return;
            };
            $story(&db).await;
            db.close().await;
        }
    };
}

story!(story_migrations =>
    sqlite_opening_a_migrated_database_again_changes_nothing,
    postgres_opening_a_migrated_database_again_changes_nothing);
story!(story_repositories =>
    sqlite_a_repository_is_active_once_changed_field_by_field_and_reactivated_with_a_new_secret,
    postgres_a_repository_is_active_once_changed_field_by_field_and_reactivated_with_a_new_secret);
story!(story_builds =>
    sqlite_builds_are_numbered_per_repository_and_a_redelivery_points_at_the_first_build,
    postgres_builds_are_numbered_per_repository_and_a_redelivery_points_at_the_first_build);
story!(story_dag =>
    sqlite_a_finished_stage_releases_its_dependants_and_the_last_one_finishes_the_build,
    postgres_a_finished_stage_releases_its_dependants_and_the_last_one_finishes_the_build);
story!(story_fan_in =>
    sqlite_stages_finishing_at_once_release_the_stage_that_waits_on_both,
    postgres_stages_finishing_at_once_release_the_stage_that_waits_on_both);
story!(story_runners_and_cancels_at_once =>
    sqlite_runners_and_cancels_at_once_neither_deadlock_nor_strand_a_stage,
    postgres_runners_and_cancels_at_once_neither_deadlock_nor_strand_a_stage);
story!(story_concurrency_limit =>
    sqlite_a_stage_over_its_concurrency_limit_waits_until_the_running_one_finishes,
    postgres_a_stage_over_its_concurrency_limit_waits_until_the_running_one_finishes);
story!(story_concurrency_limit_under_contention =>
    sqlite_runners_claiming_at_once_never_run_more_stages_than_the_limit,
    postgres_runners_claiming_at_once_never_run_more_stages_than_the_limit);
story!(story_cancel =>
    sqlite_a_cancelled_build_kills_what_runs_skips_what_waits_and_ignores_late_reports,
    postgres_a_cancelled_build_kills_what_runs_skips_what_waits_and_ignores_late_reports);
story!(story_recovery =>
    sqlite_recovery_errors_only_the_named_runners_stages_and_finishes_their_builds,
    postgres_recovery_errors_only_the_named_runners_stages_and_finishes_their_builds);
story!(story_logs =>
    sqlite_log_chunks_are_kept_once_per_seq_and_read_back_byte_for_byte,
    postgres_log_chunks_are_kept_once_per_seq_and_read_back_byte_for_byte);
story!(story_tokens =>
    sqlite_only_the_latest_bootstrap_token_is_live_and_expired_tokens_are_refused,
    postgres_only_the_latest_bootstrap_token_is_live_and_expired_tokens_are_refused);
story!(story_listings =>
    sqlite_the_pages_lists_show_each_repositorys_newest_build_and_filter_by_branch_and_event,
    postgres_the_pages_lists_show_each_repositorys_newest_build_and_filter_by_branch_and_event);
story!(story_claims =>
    sqlite_runners_claiming_at_once_take_every_stage_exactly_once,
    postgres_runners_claiming_at_once_take_every_stage_exactly_once);

// ---------------------------------------------------------------------------------------------
// The stories.

async fn story_migrations(db: &Fixture) {
    let repo = activate(db, "acme/api", "s3cret").await;

    let again = Store::open(&db.url)
        .await
        .expect("opening a migrated database again");
    again.migrate().await.expect("migrating twice");
    let found = again
        .find_repo_by_slug("acme/api")
        .await
        .expect("read")
        .expect("the repository is still there");
    assert_eq!(found.id, repo.id);
    again.close().await;
}

/// Needs no database: what the two folders hold is the contract.
#[test]
fn both_dialects_carry_the_same_migration_versions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let names = |dialect: &str| -> BTreeSet<String> {
        std::fs::read_dir(root.join(dialect))
            .unwrap_or_else(|e| panic!("reading migrations/{dialect}: {e}"))
            .map(|entry| {
                entry
                    .expect("a directory entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    };
    let sqlite = names("sqlite");
    let postgres = names("postgres");
    assert!(!sqlite.is_empty(), "there are migrations");
    assert_eq!(
        sqlite, postgres,
        "migrations/sqlite and migrations/postgres list the same versions"
    );
    for name in &sqlite {
        let (version, rest) = name.split_once('_').unwrap_or(("", ""));
        assert!(
            version.len() == 4 && version.bytes().all(|b| b.is_ascii_digit()),
            "{name} starts with a four-digit version"
        );
        assert!(rest.ends_with(".sql"), "{name} is an .sql file");
    }
}

/// Keeps the convention true: SQL is written only in `src/store/`.
#[test]
fn no_sql_is_written_outside_the_store() {
    fn walk(dir: &Path, store: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("reading src") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                if path != store {
                    walk(&path, store, found);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("reading a source file");
                for (n, line) in text.lines().enumerate() {
                    if line.contains("sqlx::query") || line.contains("sqlx::raw_sql") {
                        found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    walk(&src, &src.join("store"), &mut found);
    assert!(
        found.is_empty(),
        "SQL outside src/store/:\n{}",
        found.join("\n")
    );
}

async fn story_repositories(store: &Store) {
    let alice = alice();
    let repo = activate(store, "acme/api", "secret-1").await;
    assert!(repo.active);
    assert_eq!(repo.slug, "acme/api");
    assert_eq!(repo.namespace, "acme");
    assert_eq!(repo.webhook_secret.0, "secret-1");
    assert_eq!(repo.visibility, Visibility::Private);
    assert!(repo.private);
    assert!(!repo.trusted);

    let twice = store
        .activate_repo(&new_repo("acme/api", "secret-2"), &alice, NOW + 1)
        .await;
    assert!(
        matches!(twice, Err(Error::Conflict(_))),
        "activating an active slug is a conflict: {twice:?}"
    );

    // Read through the cache first, so the update below must drop the cached copy.
    let cached = store.cached_repo_by_slug("acme/api").await.expect("read");
    assert_eq!(cached.map(|r| r.timeout), Some(60));

    let patch = RepoPatch {
        timeout: Some(90),
        trusted: Some(true),
        visibility: Some(Visibility::Public),
        ..RepoPatch::default()
    };
    let updated = store
        .update_repo(repo.id, &patch, &alice, NOW + 2)
        .await
        .expect("update");
    assert_eq!(updated.timeout, 90);
    assert!(updated.trusted);
    assert_eq!(updated.visibility, Visibility::Public);
    assert!(!updated.private, "a public repository is not private");
    assert_eq!(updated.protected, repo.protected);
    assert_eq!(updated.config_path, repo.config_path);
    assert_eq!(updated.default_branch, repo.default_branch);
    assert_eq!(updated.git_http_url, repo.git_http_url);
    assert_eq!(updated.webhook_secret, repo.webhook_secret);
    assert_eq!(updated.updated, NOW + 2);
    assert_eq!(updated.version, repo.version + 1);
    let cached = store.cached_repo_by_slug("acme/api").await.expect("read");
    assert_eq!(cached.map(|r| r.timeout), Some(90), "the cache was dropped");

    let nowhere = store
        .update_repo(RepoId(repo.id.0 + 1000), &patch, &alice, NOW + 2)
        .await;
    assert!(matches!(nowhere, Err(Error::NotFound(_))), "{nowhere:?}");

    let off = store
        .deactivate_repo(repo.id, false, &alice, NOW + 3)
        .await
        .expect("deactivate");
    assert!(!off.active);
    assert!(store.list_repos().await.expect("list").is_empty());
    assert!(
        store
            .cached_repo_by_slug("acme/api")
            .await
            .expect("read")
            .is_none()
    );
    let kept = store
        .find_repo_by_slug("acme/api")
        .await
        .expect("read")
        .expect("a deactivated repository stays readable");
    assert!(!kept.active);

    let back = store
        .activate_repo(&new_repo("acme/api", "secret-3"), &alice, NOW + 4)
        .await
        .expect("activating a deactivated repository again");
    assert_eq!(back.id, repo.id, "the same repository comes back");
    assert!(back.active);
    assert_eq!(back.webhook_secret.0, "secret-3", "with a new secret");
    let listed: Vec<String> = store
        .list_repos()
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.slug)
        .collect();
    assert_eq!(listed, ["acme/api"]);

    let web = activate(store, "acme/web", "secret-web").await;
    store
        .deactivate_repo(web.id, true, &alice, NOW + 5)
        .await
        .expect("remove");
    assert!(
        store
            .find_repo_by_slug("acme/web")
            .await
            .expect("read")
            .is_none(),
        "a removed repository is gone"
    );

    assert_eq!(
        audit_actions(store, "repo:acme/api").await,
        [
            "repo.activated",
            "repo.updated",
            "repo.deleted",
            "repo.activated"
        ],
        "one audit event per change, none for the refused activation"
    );
    assert_eq!(
        audit_actions(store, "repo:acme/web").await,
        ["repo.activated", "repo.deleted"]
    );
    let activated = audit(store, "repo:acme/api").await.remove(0);
    assert_eq!(activated.actor_kind, "user");
    assert_eq!(activated.actor_name, "alice");
    assert_eq!(activated.actor_id, Some(7));
    assert_eq!(activated.time, NOW);
    assert!(
        !activated.detail.contains("secret-1"),
        "the audit trail never holds a secret: {}",
        activated.detail
    );
}

async fn story_builds(store: &Store) {
    let api = activate(store, "acme/api", "s1").await;
    let web = activate(store, "acme/web", "s2").await;

    let group = [
        new_build(&api, "d-1"),
        new_build(&web, "d-2"),
        new_build(&api, "d-3"),
        new_build(&api, "d-4"),
        new_build(&web, "d-5"),
    ];
    let created = store.create_builds(&group, NOW).await.expect("a group");
    let numbers: Vec<(RepoId, i64)> = created
        .iter()
        .map(|c| match c {
            Created::New(b) => (b.repo_id, b.number),
            Created::Duplicate(b) => panic!("nothing in the first group is a duplicate: {b:?}"),
        })
        .collect();
    assert_eq!(
        numbers,
        [
            (api.id, 1),
            (web.id, 1),
            (api.id, 2),
            (api.id, 3),
            (web.id, 2)
        ]
    );
    let first = new_of(&created[0]);
    assert_eq!(first.status, Status::Pending);
    assert_eq!(first.event, Event::Push);
    assert_eq!(first.delivery_id, "d-1");
    assert_eq!(first.created, NOW);
    assert_eq!(first.params.get("DEPLOY"), Some(&"yes".to_string()));

    // A redelivery of the first group, and one delivery twice within the group. The same id
    // from another repository's forge is another delivery.
    let group = [
        new_build(&web, "d-6"),
        new_build(&web, "d-6"),
        new_build(&api, "d-1"),
        new_build(&api, "d-6"),
    ];
    let created = store
        .create_builds(&group, NOW + 1)
        .await
        .expect("a group with redeliveries");
    let web3 = new_of(&created[0]);
    assert_eq!((web3.repo_id, web3.number), (web.id, 3));
    match &created[1] {
        Created::Duplicate(b) => assert_eq!(b.id, web3.id, "points at the first of the pair"),
        Created::New(b) => panic!("a delivery twice in a group built twice: {b:?}"),
    }
    match &created[2] {
        Created::Duplicate(b) => assert_eq!(b.id, first.id, "points at the stored build"),
        Created::New(b) => panic!("a redelivery built again: {b:?}"),
    }
    let api4 = new_of(&created[3]);
    assert_eq!((api4.repo_id, api4.number), (api.id, 4));

    let api_builds = store.list_builds(api.id, None, 1, 50).await.expect("list");
    assert_eq!(
        api_builds.iter().map(|b| b.number).collect::<Vec<_>>(),
        [4, 3, 2, 1],
        "no extra rows, newest first"
    );
    let web_builds = store.list_builds(web.id, None, 1, 50).await.expect("list");
    assert_eq!(web_builds.len(), 3);
    let page = store.list_builds(api.id, None, 2, 3).await.expect("list");
    assert_eq!(page.iter().map(|b| b.number).collect::<Vec<_>>(), [1]);
    let on_main = store
        .list_builds(api.id, Some("main"), 1, 50)
        .await
        .expect("list");
    assert_eq!(on_main.len(), 4);
    assert!(
        store
            .list_builds(api.id, Some("other"), 1, 50)
            .await
            .expect("list")
            .is_empty()
    );

    let latest = store
        .latest_build(api.id, Some("main"), Some("refs/heads/main"))
        .await
        .expect("read")
        .expect("a latest build");
    assert_eq!(latest.number, 4);
    let found = store
        .find_build(web.id, 2)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(found.delivery_id, "d-5");
    assert!(store.find_build(web.id, 9).await.expect("read").is_none());
    let unprepared = store.list_unprepared_builds(100).await.expect("list");
    assert_eq!(unprepared.len(), 7, "every new build waits to be prepared");

    let audit = audit(store, "build:").await;
    assert!(audit.iter().all(|e| e.action == "build.created"));
    let targets: Vec<&str> = audit.iter().map(|e| e.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "build:acme/api#1",
            "build:acme/web#1",
            "build:acme/api#2",
            "build:acme/api#3",
            "build:acme/web#2",
            "build:acme/web#3",
            "build:acme/api#4"
        ],
        "one build.created per new build, none for duplicates"
    );
    assert_eq!(audit[0].actor_kind, "hook");
}

async fn story_dag(store: &Store) {
    let repo = activate(store, "acme/api", "s").await;
    let build = create_build(store, &repo, "d-1").await;
    let stages = vec![
        stage(1, "A", Status::Pending, &[]),
        stage(2, "B", Status::WaitingOnDependencies, &["A"]),
        NewStage {
            on_success: false,
            on_failure: true,
            ..stage(3, "C", Status::WaitingOnDependencies, &["A"])
        },
    ];
    let prep = Preparation {
        config: Some("kind: pipeline\nname: A\n".into()),
        status: Status::Pending,
        error: String::new(),
        stages,
    };
    let prepared = store
        .prepare_build(&build, &repo.slug, &prep, NOW + 1)
        .await
        .expect("prepare");
    assert_eq!(prepared.status, Status::Pending);
    assert_eq!(
        statuses(&prepared.stages),
        [
            ("A", Status::Pending),
            ("B", Status::WaitingOnDependencies),
            ("C", Status::WaitingOnDependencies)
        ]
    );
    let c = &prepared.stages[2];
    assert!(!c.on_success && c.on_failure, "conditions round-trip");
    assert_eq!(c.depends_on, ["A"]);
    assert_eq!(
        store
            .find_build_config(build.id)
            .await
            .expect("read")
            .as_deref(),
        Some("kind: pipeline\nname: A\n")
    );
    assert!(
        store
            .list_unprepared_builds(10)
            .await
            .expect("list")
            .is_empty()
    );
    let again = store
        .prepare_build(&build, &repo.slug, &prep, NOW + 2)
        .await
        .expect("prepare again");
    assert_eq!(again.stages.len(), 3, "a build is prepared once");

    for other in [
        ClaimFilter {
            types: vec!["docker".into()],
            ..filter("runner-1")
        },
        ClaimFilter {
            labels: BTreeMap::from([("region".into(), "eu".into())]),
            ..filter("runner-1")
        },
        ClaimFilter {
            arch: "arm64".into(),
            ..filter("runner-1")
        },
        ClaimFilter {
            types: vec![],
            ..filter("runner-1")
        },
    ] {
        let claimed = store.claim_stage(&other, NOW + 3).await.expect("claim");
        assert!(claimed.is_none(), "{other:?} matches nothing");
    }

    let (a, running) = claim(store, "runner-1", NOW + 3)
        .await
        .expect("A is claimed");
    assert_eq!(a.name, "A");
    assert_eq!(a.status, Status::Running);
    assert_eq!(a.machine, "runner-1");
    assert_eq!(a.started, NOW + 3);
    assert_eq!(running.status, Status::Running);
    assert_eq!(running.started, NOW + 3);
    assert!(
        claim(store, "runner-2", NOW + 3).await.is_none(),
        "B and C wait on A"
    );

    let steps = create_steps(store, a.id, &["clone", "test"]).await;
    assert_eq!(
        steps
            .iter()
            .map(|s| (s.number, s.name.as_str(), s.status))
            .collect::<Vec<_>>(),
        [(1, "clone", Status::Pending), (2, "test", Status::Pending)]
    );
    assert!(report(store, &steps[0], Status::Running, 0, NOW + 4).await);
    assert!(report(store, &steps[0], Status::Success, 0, NOW + 5).await);
    assert!(
        !report(store, &steps[0], Status::Running, 0, NOW + 6).await,
        "a finished step stays finished"
    );

    let finished = finish(store, a.id, Status::Success, 0, NOW + 7).await;
    assert!(finished.applied);
    assert_eq!(finished.released, 1);
    assert!(finished.build.is_none(), "B still has to run");
    let now = stages_of(store, build.id).await;
    assert_eq!(
        statuses(&now),
        [
            ("A", Status::Success),
            ("B", Status::Pending),
            ("C", Status::Skipped)
        ]
    );
    assert_eq!(now[0].steps[0].status, Status::Success);
    assert_eq!(now[0].steps[0].started, NOW + 4);
    assert_eq!(now[0].steps[0].stopped, NOW + 5);
    assert_eq!(
        now[0].steps[1].status,
        Status::Skipped,
        "a step that never started is skipped when its stage ends"
    );
    assert_eq!(now[2].stopped, NOW + 7);

    let (b, _) = claim(store, "runner-2", NOW + 8)
        .await
        .expect("B is claimed");
    assert_eq!(b.name, "B");
    let finished = finish(store, b.id, Status::Failure, 2, NOW + 9).await;
    assert!(finished.applied);
    let done = finished.build.expect("the last stage finishes the build");
    assert_eq!(done.status, Status::Failure);
    assert_eq!(done.finished, NOW + 9);
    let stored = read_build(store, build.id).await;
    assert_eq!(stored.status, Status::Failure);
    assert_eq!(stored.finished, NOW + 9);
    assert_eq!(stored.stages[1].exit_code, 2);
    assert_eq!(
        store.build_status(build.id).await.expect("read"),
        Some(Status::Failure)
    );

    let actions = audit_actions(store, "build:acme/api#1").await;
    assert_eq!(
        actions,
        [
            "build.created",
            "stage.queued",
            "stage.queued",
            "stage.queued",
            "stage.leased",
            "build.started",
            "stage.finished",
            "stage.leased",
            "stage.finished",
            "build.finished"
        ]
    );
}

async fn story_fan_in(store: &Store) {
    let repo = activate(store, "acme/api", "s").await;
    let mut builds = Vec::new();
    for n in 0..8 {
        builds.push(prepared_build(store, &repo, &format!("d-{n}"), fan_in()).await);
    }
    let mut running = Vec::new();
    while let Some((stage, _)) = claim(store, "runner-1", NOW + 1).await {
        running.push(stage.id);
    }
    assert_eq!(running.len(), 16, "lint and test of every build run");

    // Both parallel stages of each build end at the same moment.
    let finishing: Vec<_> = running
        .into_iter()
        .map(|id| {
            let store = store.clone();
            tokio::spawn(async move { finish(&store, id, Status::Success, 0, NOW + 2).await })
        })
        .collect();
    let mut released = 0;
    for task in finishing {
        let finished = task.await.expect("the task ends");
        assert!(finished.applied);
        released += finished.released;
    }
    assert_eq!(released, 8, "each publish stage was released once");
    for build in &builds {
        let stages = stages_of(store, build.id).await;
        assert_eq!(
            statuses(&stages),
            [
                ("lint", Status::Success),
                ("test", Status::Success),
                ("publish", Status::Pending)
            ],
            "build {}",
            build.number
        );
    }
}

async fn story_runners_and_cancels_at_once(store: &Store) {
    let repo = activate(store, "acme/api", "s").await;
    let mut builds = Vec::new();
    for n in 0..24 {
        builds.push(prepared_build(store, &repo, &format!("d-{n}"), fan_in()).await);
    }

    let runners: Vec<_> = (0..4)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let runner = Actor::runner(&format!("runner-{n}"));
                loop {
                    match store.claim_stage(&filter(&runner.name), NOW + 1).await {
                        Ok(Some((stage, _))) => {
                            store
                                .finish_stage(stage.id, Status::Success, 0, "", &runner, NOW + 2)
                                .await
                                .unwrap_or_else(|e| panic!("finishing {stage:?}: {e:?}"));
                        }
                        Ok(None) => {
                            if store.count_pending_stages().await.expect("count") == 0 {
                                return;
                            }
                            tokio::task::yield_now().await;
                        }
                        Err(e) => panic!("{} failed to claim: {e:?}", runner.name),
                    }
                }
            })
        })
        .collect();
    // Every other build is cancelled while the runners work, newest first.
    let cancels: Vec<_> = builds
        .iter()
        .rev()
        .step_by(2)
        .map(|build| {
            let store = store.clone();
            let id = build.id;
            tokio::spawn(async move {
                store
                    .cancel_build(id, "acme/api", &alice(), "", NOW + 3)
                    .await
                    .unwrap_or_else(|e| panic!("cancelling build {id}: {e:?}"))
                    .is_some()
            })
        })
        .collect();
    let mut cancelled = 0;
    for cancel in cancels {
        cancelled += usize::from(cancel.await.expect("the cancel ends"));
    }
    for runner in runners {
        runner.await.expect("the runner ends");
    }

    let mut killed = 0;
    for build in &builds {
        let after = read_build(store, build.id).await;
        assert!(
            after.stages.iter().all(|s| s.status.is_done()),
            "build {} left a stage behind: {:?}",
            after.number,
            statuses(&after.stages)
        );
        match after.status {
            Status::Success => assert!(after.stages.iter().all(|s| s.status == Status::Success)),
            Status::Killed => killed += 1,
            other => panic!("build {} ended {other}", after.number),
        }
    }
    assert_eq!(
        killed, cancelled,
        "a build is killed when its cancel came in time"
    );
}

async fn story_concurrency_limit(store: &Store) {
    let repo = activate(store, "acme/api", "s").await;
    let other = activate(store, "acme/web", "s").await;
    let limited = |name: &str| NewStage {
        limit: 1,
        ..stage(1, name, Status::Pending, &[])
    };
    let first = prepared_build(store, &repo, "d-1", vec![limited("deploy")]).await;
    let second = prepared_build(store, &repo, "d-2", vec![limited("deploy")]).await;
    let elsewhere = prepared_build(store, &other, "d-3", vec![limited("deploy")]).await;
    let unlimited = prepared_build(
        store,
        &repo,
        "d-4",
        vec![stage(1, "test", Status::Pending, &[])],
    )
    .await;

    let (running, _) = claim(store, "runner-1", NOW + 1)
        .await
        .expect("the first deploy is claimed");
    assert_eq!(running.build_id, first.id);
    let mut claimed = Vec::new();
    while let Some((stage, _)) = claim(store, "runner-2", NOW + 2).await {
        claimed.push(stage.build_id);
    }
    assert_eq!(
        claimed,
        [elsewhere.id, unlimited.id],
        "the limit holds per repository and per stage name"
    );

    finish(store, running.id, Status::Success, 0, NOW + 3).await;
    let (next, _) = claim(store, "runner-1", NOW + 4)
        .await
        .expect("the second deploy is claimed once the first is done");
    assert_eq!(next.build_id, second.id);
}

async fn story_concurrency_limit_under_contention(store: &Store) {
    let repo = activate(store, "acme/api", "s").await;
    for n in 0..6 {
        let stages = vec![NewStage {
            limit: 1,
            ..stage(1, "deploy", Status::Pending, &[])
        }];
        prepared_build(store, &repo, &format!("d-{n}"), stages).await;
    }
    let tasks: Vec<_> = (0..6)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .claim_stage(&filter(&format!("runner-{n}")), NOW + 1)
                    .await
                    .expect("claim")
                    .map(|(stage, _)| stage.id)
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(task.await.expect("the task ends"));
    }
    assert_eq!(
        claimed.len(),
        1,
        "six runners at once claimed {claimed:?} of stages limited to one at a time"
    );
}

async fn story_cancel(store: &Store) {
    let repo = activate(store, "acme/api", "s").await;
    let build = prepared_build(
        store,
        &repo,
        "d-1",
        vec![
            stage(1, "build", Status::Pending, &[]),
            stage(2, "lint", Status::Pending, &[]),
        ],
    )
    .await;
    let (running, _) = claim(store, "runner-1", NOW + 1)
        .await
        .expect("a stage is claimed");
    assert_eq!(running.name, "build");
    let steps = create_steps(store, running.id, &["compile", "package"]).await;
    assert!(report(store, &steps[0], Status::Running, 0, NOW + 2).await);

    let alice = alice();
    let cancelled = store
        .cancel_build(build.id, &repo.slug, &alice, "", NOW + 3)
        .await
        .expect("cancel")
        .expect("a running build is cancelled");
    assert_eq!(cancelled.status, Status::Killed);
    assert_eq!(cancelled.finished, NOW + 3);
    let stages = stages_of(store, build.id).await;
    assert_eq!(
        statuses(&stages),
        [("build", Status::Killed), ("lint", Status::Skipped)]
    );
    let steps_now: Vec<Status> = stages[0].steps.iter().map(|s| s.status).collect();
    assert_eq!(steps_now, [Status::Killed, Status::Skipped]);
    assert_eq!(stages[0].steps[0].stopped, NOW + 3);

    assert!(
        store
            .cancel_build(build.id, &repo.slug, &alice, "", NOW + 4)
            .await
            .expect("cancel")
            .is_none(),
        "a finished build is not cancelled again"
    );

    let late = finish(store, running.id, Status::Success, 0, NOW + 5).await;
    assert!(!late.applied, "the killed stage stays killed");
    assert!(late.build.is_none());
    assert!(!report(store, &steps[0], Status::Success, 0, NOW + 5).await);
    let after = read_build(store, build.id).await;
    assert_eq!(after.status, Status::Killed);
    assert_eq!(after.finished, NOW + 3);
    assert_eq!(
        statuses(&after.stages),
        [("build", Status::Killed), ("lint", Status::Skipped)]
    );
    assert_eq!(after.stages[0].stopped, NOW + 3);
    assert_eq!(after.stages[0].steps[0].status, Status::Killed);
    assert!(
        claim(store, "runner-2", NOW + 6).await.is_none(),
        "nothing of a cancelled build is claimable"
    );

    let actions = audit_actions(store, "build:acme/api#1").await;
    assert_eq!(
        actions.iter().filter(|a| *a == "build.cancelled").count(),
        1
    );
    assert!(!actions.contains(&"stage.finished".to_string()));
}

async fn story_recovery(store: &Store) {
    let repo = activate(store, "acme/api", "s").await;
    let one = |name: &str| vec![stage(1, name, Status::Pending, &[])];
    let lost = prepared_build(store, &repo, "d-1", one("build")).await;
    let kept = prepared_build(store, &repo, "d-2", one("build")).await;
    let queued = prepared_build(store, &repo, "d-3", one("build")).await;

    let (m1_stage, _) = claim(store, "m1", NOW + 1).await.expect("m1 claims");
    assert_eq!(m1_stage.build_id, lost.id);
    let (m2_stage, _) = claim(store, "m2", NOW + 1).await.expect("m2 claims");
    assert_eq!(m2_stage.build_id, kept.id);
    let m1_steps = create_steps(store, m1_stage.id, &["compile", "test"]).await;
    assert!(report(store, &m1_steps[0], Status::Running, 0, NOW + 2).await);
    let m2_steps = create_steps(store, m2_stage.id, &["compile"]).await;
    assert!(report(store, &m2_steps[0], Status::Running, 0, NOW + 2).await);

    let recovery = store
        .recover_stages("m1", "server restarted", NOW + 3)
        .await
        .expect("recover");
    assert_eq!(recovery.stages, 1);
    assert_eq!(recovery.builds, [lost.id]);

    let errored = read_build(store, lost.id).await;
    assert_eq!(errored.status, Status::Error);
    assert_eq!(errored.error, "server restarted");
    assert_eq!(errored.finished, NOW + 3);
    let stage = &errored.stages[0];
    assert_eq!(stage.status, Status::Error);
    assert_eq!(stage.error, "server restarted");
    assert_eq!(
        stage
            .steps
            .iter()
            .map(|s| (s.status, s.error.as_str()))
            .collect::<Vec<_>>(),
        [(Status::Error, "server restarted"), (Status::Skipped, "")]
    );

    let untouched = read_build(store, kept.id).await;
    assert_eq!(untouched.status, Status::Running);
    assert_eq!(untouched.stages[0].status, Status::Running);
    assert_eq!(untouched.stages[0].machine, "m2");
    assert_eq!(untouched.stages[0].steps[0].status, Status::Running);
    let waiting = read_build(store, queued.id).await;
    assert_eq!(
        waiting.stages[0].status,
        Status::Pending,
        "queued stays queued"
    );

    assert_eq!(
        store
            .recover_stages("m1", "server restarted", NOW + 4)
            .await
            .expect("recover again"),
        hangar::store::Recovery::default(),
        "recovery is idempotent"
    );
    assert_eq!(
        audit_actions(store, "runner:m1").await,
        ["server.recovered"; 2]
    );
    let finished = audit(store, "build:acme/api#1").await;
    assert_eq!(
        finished.last().map(|e| e.action.as_str()),
        Some("build.finished")
    );
}

async fn story_logs(store: &Store) {
    let repo = activate(store, "acme/api", "s").await;
    let build = prepared_build(
        store,
        &repo,
        "d-1",
        vec![stage(1, "build", Status::Pending, &[])],
    )
    .await;
    let (stage, _) = claim(store, "runner-1", NOW + 1).await.expect("claimed");
    let steps = create_steps(store, stage.id, &["compile"]).await;
    let step = steps[0].id;
    assert_eq!(
        store.find_step_id(build.id, 1, 1).await.expect("read"),
        Some((step, false))
    );
    assert!(
        store
            .find_step_id(build.id, 1, 2)
            .await
            .expect("read")
            .is_none()
    );

    let chunk = |seq: i64, data: &[u8]| LogChunk {
        seq,
        first_pos: (seq - 1) * 10,
        line_count: 10,
        byte_count: data.len() as i64,
        data: data.to_vec(),
    };
    let not_utf8: &[u8] = &[0xff, 0xfe, 0x00, b'\n', 0xc3, 0x28, 0x80];
    let written = [
        chunk(1, b"first\n"),
        chunk(2, not_utf8),
        chunk(3, b"third\n"),
    ];
    for c in &written {
        store.append_log(step, c).await.expect("append");
    }
    store
        .append_log(step, &chunk(2, b"a retry with other bytes"))
        .await
        .expect("a retried append is accepted");

    let page = store.list_log_chunks(step, 0, 2).await.expect("read");
    assert_eq!(page, written[..2], "the retry did not replace chunk 2");
    let rest = store.list_log_chunks(step, 2, 2).await.expect("read");
    assert_eq!(rest, written[2..]);
    assert!(
        store
            .list_log_chunks(step, 3, 2)
            .await
            .expect("read")
            .is_empty()
    );
    assert!(
        store
            .list_log_chunks(StepId(step.0 + 1000), 0, 10)
            .await
            .expect("read")
            .is_empty()
    );

    let large: Vec<u8> = (0..2 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    store
        .append_log(step, &chunk(4, &large))
        .await
        .expect("append 2 MiB");
    let read = store.list_log_chunks(step, 3, 10).await.expect("read");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].byte_count, large.len() as i64);
    assert!(read[0].data == large, "2 MiB read back byte for byte");

    assert!(!store.step_done(step).await.expect("read"));
    assert!(report(store, &steps[0], Status::Success, 0, NOW + 2).await);
    assert!(store.step_done(step).await.expect("read"));
    assert_eq!(
        store.find_step_id(build.id, 1, 1).await.expect("read"),
        Some((step, true))
    );
}

async fn story_tokens(db: &Fixture) {
    let store: &Store = db;
    assert!(identity(store, "h1", NOW).await.is_none());

    store
        .set_bootstrap_token(Some("h1"), NOW)
        .await
        .expect("set");
    let admin = identity(store, "h1", NOW)
        .await
        .expect("the bootstrap token is live");
    assert_eq!(admin.user.login, "bootstrap-admin");
    assert!(admin.user.machine && admin.user.admin && admin.user.active);
    assert_eq!(admin.kind, TokenKind::Bootstrap);
    assert_eq!(
        store
            .find_user("bootstrap-admin")
            .await
            .expect("read")
            .map(|u| u.id),
        Some(admin.user.id)
    );
    let events = audit(store, "").await.len();
    store
        .set_bootstrap_token(Some("h1"), NOW + 1)
        .await
        .expect("set the same");
    assert_eq!(
        audit(store, "").await.len(),
        events,
        "setting the same token again changes nothing"
    );

    store
        .set_bootstrap_token(Some("h2"), NOW + 2)
        .await
        .expect("replace");
    assert!(
        identity(store, "h1", NOW + 2).await.is_none(),
        "the old token is revoked"
    );
    let second = identity(store, "h2", NOW + 2)
        .await
        .expect("the new token is live");
    assert_eq!(second.user.id, admin.user.id, "the same account");
    assert_ne!(second.token, admin.token);

    // Tokens with an expiry are made by no store method yet; write one as a later one would.
    execute(
        db,
        "UPDATE tokens SET expires = $1 WHERE hash = $2",
        NOW + 100,
        "h2",
    )
    .await;
    assert!(identity(store, "h2", NOW + 99).await.is_some());
    assert!(
        identity(store, "h2", NOW + 100).await.is_none(),
        "an expired token is refused"
    );
    execute(
        db,
        "UPDATE tokens SET expires = $1 WHERE hash = $2",
        0,
        "h2",
    )
    .await;

    store
        .set_bootstrap_token(None, NOW + 3)
        .await
        .expect("unset");
    assert!(identity(store, "h2", NOW + 3).await.is_none());
    assert!(identity(store, "h1", NOW + 3).await.is_none());

    let actions = audit_actions(store, "").await;
    assert_eq!(
        actions,
        [
            "user.created",
            "token.created",
            "token.revoked",
            "token.created",
            "token.revoked"
        ]
    );
}

async fn story_claims(store: &Store) {
    let repo = activate(store, "acme/api", "s").await;
    let mut all = BTreeSet::new();
    for b in 0..4 {
        let stages = (1..=5)
            .map(|n| stage(n, &format!("stage-{n}"), Status::Pending, &[]))
            .collect();
        let build = prepared_build(store, &repo, &format!("d-{b}"), stages).await;
        all.extend(build.stages.iter().map(|s| s.id));
    }
    assert_eq!(all.len(), 20);

    let runners: Vec<_> = (0..8)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let machine = format!("runner-{n}");
                let mut mine = Vec::new();
                loop {
                    match store.claim_stage(&filter(&machine), NOW + 1).await {
                        Ok(Some((stage, _))) => {
                            assert_eq!(stage.machine, machine);
                            mine.push(stage.id);
                        }
                        Ok(None) => {
                            let left = store.count_pending_stages().await.expect("count");
                            if left == 0 {
                                return mine;
                            }
                            // Another runner held the row for a moment: ask again.
                            tokio::task::yield_now().await;
                        }
                        Err(e) => panic!("{machine} failed to claim: {e:?}"),
                    }
                }
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for runner in runners {
        claimed.extend(runner.await.expect("the runner ends"));
    }
    let unique: BTreeSet<StageId> = claimed.iter().copied().collect();
    assert_eq!(
        claimed.len(),
        unique.len(),
        "no stage was claimed twice: {claimed:?}"
    );
    assert_eq!(unique, all, "every stage was claimed");
    assert_eq!(
        audit_actions(store, "build:")
            .await
            .iter()
            .filter(|a| *a == "stage.leased")
            .count(),
        20
    );
}

// ---------------------------------------------------------------------------------------------
// The vocabulary of the stories.

fn alice() -> Actor {
    Actor::user(UserId(7), "alice", None)
}

fn new_repo(slug: &str, secret: &str) -> NewRepo {
    NewRepo {
        slug: Slug::parse(slug).expect("a slug"),
        clone_url: format!("https://git.example.com/{slug}.git"),
        default_branch: "main".into(),
        config_path: ".drone.yml".into(),
        visibility: Visibility::Private,
        user_id: UserId(7),
        webhook_secret: secret.into(),
    }
}

async fn activate(store: &Store, slug: &str, secret: &str) -> Repo {
    store
        .activate_repo(&new_repo(slug, secret), &alice(), NOW)
        .await
        .expect("activate")
}

async fn story_listings(store: &Store) {
    let api = activate(store, "acme/api", "s1").await;
    let web = activate(store, "acme/web", "s2").await;
    let quiet = activate(store, "acme/quiet", "s3").await;
    let mut tag = new_build(&api, "l-3");
    tag.event = Some(Event::Tag);
    let mut other = new_build(&api, "l-4");
    other.target = "release".into();
    store
        .create_builds(
            &[new_build(&api, "l-1"), new_build(&web, "l-2"), tag, other],
            NOW,
        )
        .await
        .expect("builds");
    let latest = store
        .list_latest_builds(&[api.id, web.id, quiet.id])
        .await
        .expect("latest");
    assert_eq!(latest[&api.id].number, 3);
    assert_eq!(latest[&web.id].number, 1);
    assert!(!latest.contains_key(&quiet.id), "no build, no entry");
    let only_web = store.list_latest_builds(&[web.id]).await.expect("latest");
    assert_eq!(only_web.len(), 1, "only the repositories asked for");
    assert!(
        store
            .list_latest_builds(&[])
            .await
            .expect("none")
            .is_empty()
    );
    let numbers = |builds: Vec<Build>| builds.iter().map(|b| b.number).collect::<Vec<_>>();
    let filter = |branch: Option<&str>, event| hangar::store::BuildFilter {
        branch: branch.map(str::to_string),
        event,
    };
    let tags = store
        .list_builds_matching(api.id, &filter(None, Some(Event::Tag)), 1, 10)
        .await
        .expect("tags");
    assert_eq!(numbers(tags), [2]);
    let pushes_to_main = store
        .list_builds_matching(api.id, &filter(Some("main"), Some(Event::Push)), 1, 10)
        .await
        .expect("pushes");
    assert_eq!(numbers(pushes_to_main), [1]);
    let second_page = store
        .list_builds_matching(api.id, &filter(None, None), 2, 2)
        .await
        .expect("a page");
    assert_eq!(numbers(second_page), [1]);
    let listed = store.list_repos_cached().await.expect("listed");
    assert_eq!(listed.len(), 3);
    activate(store, "acme/new", "s4").await;
    let listed = store.list_repos_cached().await.expect("listed again");
    assert_eq!(
        listed.len(),
        4,
        "a repository activated since shows at once"
    );
}

fn new_build(repo: &Repo, delivery: &str) -> NewBuild {
    NewBuild {
        repo_id: repo.id,
        repo_slug: repo.slug.clone(),
        trigger: "@hook".into(),
        event: Some(Event::Push),
        action: String::new(),
        git_ref: "refs/heads/main".into(),
        source: "main".into(),
        target: "main".into(),
        after: "0123456789abcdef0123456789abcdef01234567".into(),
        message: "a change".into(),
        sender: "alice".into(),
        params: BTreeMap::from([("DEPLOY".into(), "yes".into())]),
        delivery_id: delivery.into(),
        ..NewBuild::default()
    }
}

fn new_of(created: &Created) -> &Build {
    match created {
        Created::New(b) => b,
        Created::Duplicate(b) => panic!("expected a new build, got a duplicate of {b:?}"),
    }
}

async fn create_build(store: &Store, repo: &Repo, delivery: &str) -> Build {
    let created = store
        .create_builds(&[new_build(repo, delivery)], NOW)
        .await
        .expect("create a build");
    new_of(&created[0]).clone()
}

fn stage(number: i64, name: &str, status: Status, depends_on: &[&str]) -> NewStage {
    NewStage {
        number,
        name: name.into(),
        kind: "pipeline".into(),
        stage_type: "exec".into(),
        status,
        error: String::new(),
        os: "linux".into(),
        arch: "amd64".into(),
        variant: String::new(),
        limit: 0,
        on_success: true,
        on_failure: false,
        depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
        labels: BTreeMap::new(),
    }
}

/// Two stages side by side, and a third that waits on both.
fn fan_in() -> Vec<NewStage> {
    vec![
        stage(1, "lint", Status::Pending, &[]),
        stage(2, "test", Status::Pending, &[]),
        stage(
            3,
            "publish",
            Status::WaitingOnDependencies,
            &["lint", "test"],
        ),
    ]
}

/// A build of `repo`, prepared with `stages`.
async fn prepared_build(
    store: &Store,
    repo: &Repo,
    delivery: &str,
    stages: Vec<NewStage>,
) -> Build {
    let build = create_build(store, repo, delivery).await;
    let prep = Preparation {
        config: Some("kind: pipeline\n".into()),
        status: Status::Pending,
        error: String::new(),
        stages,
    };
    store
        .prepare_build(&build, &repo.slug, &prep, NOW)
        .await
        .expect("prepare")
}

fn filter(machine: &str) -> ClaimFilter {
    ClaimFilter {
        types: vec!["exec".into()],
        os: "linux".into(),
        arch: "amd64".into(),
        labels: BTreeMap::new(),
        machine: machine.into(),
    }
}

async fn claim(store: &Store, machine: &str, now: i64) -> Option<(Stage, Build)> {
    store
        .claim_stage(&filter(machine), now)
        .await
        .expect("claim")
}

async fn create_steps(store: &Store, stage: StageId, names: &[&str]) -> Vec<Step> {
    let steps: Vec<NewStep> = names
        .iter()
        .zip(1..)
        .map(|(name, number)| NewStep {
            number,
            name: name.to_string(),
            errignore: false,
            depends_on: vec![],
            detached: false,
        })
        .collect();
    store
        .create_steps(stage, &steps, NOW)
        .await
        .expect("create steps")
}

/// A runner's report on `step`; whether it was taken.
async fn report(store: &Store, step: &Step, status: Status, exit_code: i64, now: i64) -> bool {
    let report = StepReport {
        step: step.id,
        status,
        exit_code,
        error: String::new(),
        target: format!("step:{}", step.name),
    };
    store
        .update_step(&report, &Actor::runner("runner"), now)
        .await
        .expect("report a step")
}

/// A runner's report that a stage has ended.
async fn finish(
    store: &Store,
    stage: StageId,
    status: Status,
    exit_code: i64,
    now: i64,
) -> Finished {
    store
        .finish_stage(stage, status, exit_code, "", &Actor::runner("runner"), now)
        .await
        .expect("finish a stage")
}

async fn read_build(store: &Store, id: BuildId) -> Build {
    store
        .find_build_by_id(id)
        .await
        .expect("read a build")
        .expect("the build exists")
}

async fn identity(store: &Store, hash: &str, now: i64) -> Option<Identity> {
    store.find_identity(hash, now).await.expect("read a token")
}

async fn stages_of(store: &Store, build: BuildId) -> Vec<Stage> {
    store.list_stages(build).await.expect("list stages")
}

fn statuses(stages: &[Stage]) -> Vec<(&str, Status)> {
    stages.iter().map(|s| (s.name.as_str(), s.status)).collect()
}

/// The audit trail of targets starting with `prefix`, oldest first.
async fn audit(store: &Store, prefix: &str) -> Vec<hangar::store::AuditRecord> {
    store
        .list_audit(0, 10_000)
        .await
        .expect("read the audit trail")
        .into_iter()
        .filter(|e| e.target.starts_with(prefix))
        .collect()
}

async fn audit_actions(store: &Store, prefix: &str) -> Vec<String> {
    audit(store, prefix)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect()
}

/// Runs one statement the store has no method for, on the story's database.
async fn execute(db: &Fixture, sql: &str, n: i64, text: &str) {
    match db.dialect() {
        "sqlite" => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.expect("connect");
            sqlx::query(sql)
                .bind(n)
                .bind(text)
                .execute(&pool)
                .await
                .expect("execute");
            pool.close().await;
        }
        _ => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
            sqlx::query(sql)
                .bind(n)
                .bind(text)
                .execute(&pool)
                .await
                .expect("execute");
            pool.close().await;
        }
    }
}

story!(story_secrets =>
    sqlite_secrets_are_kept_sealed_per_scope_and_resealed_all_at_once,
    postgres_secrets_are_kept_sealed_per_scope_and_resealed_all_at_once);

async fn story_secrets(db: &Store) {
    use hangar::store::{NewSecret, Rekey, SecretPatch, SecretScope};
    let actor = Actor::system();
    let new = |repo: i64, name: &str, sealed: &[u8]| NewSecret {
        namespace: "acme".into(),
        repo_id: RepoId(repo),
        name: name.into(),
        sealed: sealed.to_vec(),
        key_id: "k1".into(),
        pull_request: false,
        pull_request_push: false,
        branches: vec!["main".into()],
        targets: Vec::new(),
    };
    let org = SecretScope {
        namespace: "acme",
        repo: RepoId(0),
        label: "acme",
    };
    let repo = SecretScope {
        namespace: "acme",
        repo: RepoId(5),
        label: "acme/api",
    };
    db.create_secret(&new(0, "shared", b"org-shared"), "acme", &actor, NOW)
        .await
        .expect("an org secret");
    db.create_secret(&new(0, "token", b"org-token"), "acme", &actor, NOW)
        .await
        .expect("an org secret");
    db.create_secret(&new(5, "token", b"repo-token"), "acme/api", &actor, NOW)
        .await
        .expect("a repo secret of the same name");
    let again = db
        .create_secret(&new(5, "token", b"x"), "acme/api", &actor, NOW)
        .await;
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
    assert_eq!(db.list_secrets(&org).await.expect("list").len(), 2);
    assert_eq!(db.list_secrets(&repo).await.expect("list").len(), 1);

    // The repository's own secret wins over its organisation's of the same name.
    let names = ["token".to_string(), "shared".into(), "missing".into()];
    let found = db
        .find_secrets_for("acme", RepoId(5), &names)
        .await
        .expect("found");
    let got: BTreeMap<&str, &[u8]> = found
        .iter()
        .map(|s| (s.secret.name.as_str(), s.sealed.as_slice()))
        .collect();
    assert_eq!(got.len(), 2);
    assert_eq!(got["token"], b"repo-token");
    assert_eq!(got["shared"], b"org-shared");

    let patch = SecretPatch {
        pull_request: Some(true),
        targets: Some(vec!["production".into()]),
        ..SecretPatch::default()
    };
    let changed = db
        .update_secret(&repo, "token", &patch, &actor, NOW + 1)
        .await
        .expect("update")
        .expect("it exists");
    assert!(changed.pull_request);
    assert_eq!(changed.branches, ["main"]);
    assert_eq!(changed.targets, ["production"]);
    assert!(
        db.update_secret(&repo, "nope", &patch, &actor, NOW)
            .await
            .expect("update")
            .is_none()
    );

    // Re-sealing changes every sealed value in one go; one that does not open changes nothing.
    let reverse = |b: &[u8]| Some(b.iter().rev().copied().collect::<Vec<u8>>());
    let resign = |_: i64, _: &str, _: i64, s: &str| Some(s.to_string());
    let rekey = Rekey {
        reseal: &reverse,
        resign: &resign,
        new_key_id: "k2",
    };
    assert!(
        db.reseal_all(&rekey, &actor, NOW + 2)
            .await
            .expect("resealed")
            >= 3
    );
    let found = db
        .find_secrets_for("acme", RepoId(5), &names)
        .await
        .expect("found");
    assert!(found.iter().all(|s| s.key_id == "k2"));
    let token = found
        .iter()
        .find(|s| s.secret.name == "token")
        .expect("token");
    assert_eq!(token.sealed, b"nekot-oper");
    let refuse = |_: &[u8]| None;
    let failing = Rekey {
        reseal: &refuse,
        resign: &resign,
        new_key_id: "k3",
    };
    assert!(db.reseal_all(&failing, &actor, NOW + 3).await.is_err());
    let after = db
        .find_secrets_for("acme", RepoId(5), &names)
        .await
        .expect("found");
    assert!(after.iter().all(|s| s.key_id == "k2"));

    assert!(
        db.delete_secret(&repo, "token", &actor, NOW)
            .await
            .expect("delete")
    );
    assert!(
        !db.delete_secret(&repo, "token", &actor, NOW)
            .await
            .expect("delete")
    );
    let found = db
        .find_secrets_for("acme", RepoId(5), &names[..1])
        .await
        .expect("found");
    assert_eq!(
        found[0].sealed, b"nekot-gro",
        "the organisation's shows through"
    );
}
