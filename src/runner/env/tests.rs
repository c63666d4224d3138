use super::*;
use crate::domain::{BuildId, RepoId, StageId, Status, UserId, Visibility};

const NOW_MS: i64 = 1_700_000_100_500;

/// The owned values a step context borrows: a push of `main` on `acme/api`, stage `default`
/// running, nothing failed yet. Tests change fields, then call [`Fixture::env`].
struct Fixture {
    system: System,
    repo: Repo,
    build: Build,
    stage: Stage,
    failed_steps: Vec<String>,
    failed_stages: Vec<String>,
    pipeline_environment: Environment,
    proxy: Environment,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            system: System::from_server_url("https://ci.example.com:8443", "0.1.0")
                .expect("server url"),
            repo: Repo {
                id: RepoId(1),
                uid: "77".into(),
                user_id: UserId(1),
                namespace: "acme".into(),
                name: "api".into(),
                slug: "acme/api".into(),
                scm: "git".into(),
                git_http_url: "https://git.example.com/acme/api.git".into(),
                git_ssh_url: "git@git.example.com:acme/api.git".into(),
                link: "https://git.example.com/acme/api".into(),
                default_branch: "main".into(),
                private: true,
                visibility: Visibility::Private,
                active: true,
                config_path: ".drone.yml".into(),
                trusted: false,
                protected: false,
                ignore_forks: false,
                ignore_pull_requests: false,
                auto_cancel_pull_requests: false,
                auto_cancel_pushes: false,
                auto_cancel_running: false,
                timeout: 60,
                counter: 7,
                synced: 0,
                created: 0,
                updated: 0,
                version: 1,
                archived: false,
                webhook_secret: Default::default(),
                trigger_policy: Default::default(),
                verify_commits: false,
                untrusted_id_tokens: false,
            },
            build: Build {
                id: BuildId(10),
                repo_id: RepoId(1),
                trigger: "@hook".into(),
                number: 7,
                parent: 0,
                status: Status::Running,
                error: String::new(),
                event: Event::Push,
                action: String::new(),
                link: "https://git.example.com/acme/api/commit/abc123".into(),
                timestamp: 0,
                title: String::new(),
                message: "Fix the parser\n".into(),
                before: "0000111".into(),
                after: "abc123".into(),
                git_ref: "refs/heads/main".into(),
                source_repo: "acme/api".into(),
                source: "main".into(),
                target: "main".into(),
                author_login: "ada".into(),
                author_name: "Ada Lovelace".into(),
                author_email: "ada@example.com".into(),
                author_avatar: "https://git.example.com/avatars/ada".into(),
                sender: "ada".into(),
                params: BTreeMap::new(),
                cron: String::new(),
                deploy_to: String::new(),
                deploy_id: 0,
                started: 1_700_000_050_000,
                finished: 0,
                created: 1_700_000_000_999,
                updated: 0,
                version: 3,
                delivery_id: String::new(),
                actor: None,
                blocked_reason: String::new(),
                approved_by: String::new(),
                warnings: Vec::new(),
                stages: vec![],
                statuses: vec![],
            },
            stage: Stage {
                id: StageId(20),
                repo_id: RepoId(1),
                build_id: BuildId(10),
                number: 2,
                name: "default".into(),
                kind: "pipeline".into(),
                stage_type: "exec".into(),
                status: Status::Running,
                error: String::new(),
                errignore: false,
                exit_code: 0,
                machine: "runner-1".into(),
                os: "linux".into(),
                arch: "amd64".into(),
                variant: String::new(),
                kernel: String::new(),
                limit: 0,
                started: 1_700_000_060_000,
                stopped: 0,
                created: 0,
                updated: 0,
                version: 4,
                on_success: true,
                on_failure: false,
                depends_on: vec!["lint".into(), "build".into()],
                labels: BTreeMap::new(),
                steps: vec![],
            },
            failed_steps: vec![],
            failed_stages: vec![],
            pipeline_environment: Environment::new(),
            proxy: Environment::new(),
        }
    }

    fn env(&self) -> Environment {
        step_environment(&StepContext {
            system: &self.system,
            repo: &self.repo,
            build: &self.build,
            stage: &self.stage,
            step_name: "test",
            step_number: 3,
            workspace: "/tmp/hangar-build-7/drone/src",
            home: "/tmp/hangar-build-7/home",
            failed_steps: &self.failed_steps,
            failed_stages: &self.failed_stages,
            pipeline_environment: &self.pipeline_environment,
            proxy: &self.proxy,
            now_ms: NOW_MS,
        })
    }

    fn with_tag(mut self, tag: &str) -> Fixture {
        self.build.event = Event::Tag;
        self.build.git_ref = format!("refs/tags/{tag}");
        self
    }
}

fn get<'a>(env: &'a Environment, name: &str) -> Option<&'a str> {
    env.get(name).map(String::as_str)
}

fn assert_vars(env: &Environment, expected: &[(&str, &str)]) {
    for (name, value) in expected {
        assert_eq!(get(env, name), Some(*value), "{name}");
    }
}

#[test]
fn a_push_build_gives_the_core_drone_variables() {
    let env = Fixture::new().env();
    assert_vars(
        &env,
        &[
            ("CI", "true"),
            ("DRONE", "true"),
            ("DRONE_SYSTEM_PROTO", "https"),
            ("DRONE_SYSTEM_HOST", "ci.example.com:8443"),
            ("DRONE_SYSTEM_HOSTNAME", "ci.example.com:8443"),
            ("DRONE_SYSTEM_VERSION", "0.1.0"),
            ("DRONE_REPO", "acme/api"),
            ("DRONE_REPO_OWNER", "acme"),
            ("DRONE_REPO_NAMESPACE", "acme"),
            ("DRONE_REPO_NAME", "api"),
            ("DRONE_REPO_SCM", "git"),
            ("DRONE_REPO_LINK", "https://git.example.com/acme/api"),
            ("DRONE_REPO_BRANCH", "main"),
            ("DRONE_REPO_PRIVATE", "true"),
            ("DRONE_REPO_VISIBILITY", "private"),
            ("DRONE_REMOTE_URL", "https://git.example.com/acme/api.git"),
            ("DRONE_GIT_HTTP_URL", "https://git.example.com/acme/api.git"),
            ("DRONE_GIT_SSH_URL", "git@git.example.com:acme/api.git"),
            ("DRONE_BRANCH", "main"),
            ("DRONE_SOURCE_BRANCH", "main"),
            ("DRONE_TARGET_BRANCH", "main"),
            ("DRONE_COMMIT", "abc123"),
            ("DRONE_COMMIT_SHA", "abc123"),
            ("DRONE_COMMIT_AFTER", "abc123"),
            ("DRONE_COMMIT_BEFORE", "0000111"),
            ("DRONE_COMMIT_REF", "refs/heads/main"),
            ("DRONE_COMMIT_BRANCH", "main"),
            ("DRONE_COMMIT_MESSAGE", "Fix the parser\n"),
            ("DRONE_COMMIT_AUTHOR", "ada"),
            ("DRONE_COMMIT_AUTHOR_NAME", "Ada Lovelace"),
            ("DRONE_COMMIT_AUTHOR_EMAIL", "ada@example.com"),
            ("DRONE_BUILD_NUMBER", "7"),
            ("DRONE_BUILD_PARENT", "0"),
            ("DRONE_BUILD_EVENT", "push"),
            ("DRONE_BUILD_STATUS", "success"),
            ("DRONE_BUILD_TRIGGER", "@hook"),
            ("DRONE_BUILD_CREATED", "1700000000"),
            ("DRONE_BUILD_STARTED", "1700000050"),
            // Not finished yet: the current time stands in.
            ("DRONE_BUILD_FINISHED", "1700000100"),
            ("DRONE_BUILD_LINK", "https://ci.example.com:8443/acme/api/7"),
            ("DRONE_DEPLOY_TO", ""),
            ("DRONE_DEPLOY_ID", "0"),
            ("DRONE_STAGE_KIND", "pipeline"),
            ("DRONE_STAGE_TYPE", "exec"),
            ("DRONE_STAGE_NAME", "default"),
            ("DRONE_STAGE_NUMBER", "2"),
            ("DRONE_STAGE_MACHINE", "runner-1"),
            ("DRONE_STAGE_OS", "linux"),
            ("DRONE_STAGE_ARCH", "amd64"),
            ("DRONE_STAGE_VARIANT", ""),
            ("DRONE_STAGE_VERSION", "4"),
            ("DRONE_STAGE_STATUS", "success"),
            ("DRONE_STAGE_STARTED", "1700000060"),
            ("DRONE_STAGE_FINISHED", "1700000100"),
            ("DRONE_STAGE_DEPENDS_ON", "lint,build"),
            ("DRONE_CARD_PATH", "/dev/stdout"),
            ("DRONE_STEP_NAME", "test"),
            ("DRONE_STEP_NUMBER", "3"),
            ("DRONE_WORKSPACE", "/tmp/hangar-build-7/drone/src"),
            ("DRONE_HOME", "/tmp/hangar-build-7/drone/src"),
            ("HOME", "/tmp/hangar-build-7/home"),
            ("HOMEPATH", "/tmp/hangar-build-7/home"),
            ("USERPROFILE", "/tmp/hangar-build-7/home"),
            ("GIT_AUTHOR_NAME", "Ada Lovelace"),
            ("GIT_AUTHOR_EMAIL", "ada@example.com"),
            ("GIT_COMMITTER_NAME", "Ada Lovelace"),
            ("GIT_COMMITTER_EMAIL", "ada@example.com"),
            ("GIT_TERMINAL_PROMPT", "0"),
        ],
    );
    for absent in [
        "DRONE_TAG",
        "DRONE_SEMVER",
        "DRONE_SEMVER_ERROR",
        "DRONE_CALVER",
        "DRONE_PULL_REQUEST",
        "DRONE_CRON",
        "DRONE_FAILED_STAGES",
        "DRONE_FAILED_STEPS",
        "CI_WORKSPACE",
    ] {
        assert_eq!(get(&env, absent), None, "{absent}");
    }
}

#[test]
fn a_semver_tag_gives_every_drone_semver_part() {
    let env = Fixture::new().with_tag("v1.2.3-rc.1+build.5").env();
    assert_vars(
        &env,
        &[
            ("DRONE_TAG", "v1.2.3-rc.1+build.5"),
            ("DRONE_SEMVER", "1.2.3-rc.1+build.5"),
            ("DRONE_SEMVER_MAJOR", "1"),
            ("DRONE_SEMVER_MINOR", "2"),
            ("DRONE_SEMVER_PATCH", "3"),
            ("DRONE_SEMVER_PRERELEASE", "rc.1"),
            ("DRONE_SEMVER_BUILD", "build.5"),
            ("DRONE_SEMVER_SHORT", "1.2.3"),
        ],
    );
    assert_eq!(get(&env, "DRONE_SEMVER_ERROR"), None);
    // A one-digit major is no calendar year.
    assert_eq!(get(&env, "DRONE_CALVER"), None);
}

#[test]
fn a_plain_semver_tag_has_no_prerelease_or_build_variables() {
    let env = Fixture::new().with_tag("2.0.0").env();
    assert_eq!(get(&env, "DRONE_SEMVER"), Some("2.0.0"));
    assert_eq!(get(&env, "DRONE_SEMVER_PRERELEASE"), None);
    assert_eq!(get(&env, "DRONE_SEMVER_BUILD"), None);
}

#[test]
fn a_tag_that_is_not_semver_gives_an_error_and_no_semver() {
    let env = Fixture::new().with_tag("release-candidate").env();
    assert_eq!(get(&env, "DRONE_TAG"), Some("release-candidate"));
    let error = get(&env, "DRONE_SEMVER_ERROR").expect("an error");
    assert!(!error.is_empty());
    for absent in ["DRONE_SEMVER", "DRONE_SEMVER_MAJOR", "DRONE_SEMVER_SHORT"] {
        assert_eq!(get(&env, absent), None, "{absent}");
    }
}

#[test]
fn a_calver_tag_gives_the_drone_calver_parts() {
    let env = Fixture::new().with_tag("2020.01.3-beta").env();
    assert_vars(
        &env,
        &[
            ("DRONE_CALVER", "2020.01.3-beta"),
            ("DRONE_CALVER_SHORT", "2020.01.3"),
            ("DRONE_CALVER_MAJOR_MINOR", "2020.01"),
            ("DRONE_CALVER_MAJOR", "2020"),
            ("DRONE_CALVER_MINOR", "01"),
            ("DRONE_CALVER_MICRO", "3"),
            ("DRONE_CALVER_MODIFIER", "beta"),
        ],
    );
    // The leading zero makes it no semantic version.
    assert!(get(&env, "DRONE_SEMVER_ERROR").is_some());
}

#[test]
fn a_short_year_calver_is_also_semver() {
    let env = Fixture::new().with_tag("19.1.0").env();
    assert_eq!(get(&env, "DRONE_CALVER"), Some("19.1.0"));
    assert_eq!(get(&env, "DRONE_CALVER_MODIFIER"), None);
    assert_eq!(get(&env, "DRONE_SEMVER"), Some("19.1.0"));
}

#[test]
fn calendar_versions_need_a_recent_year_and_a_month() {
    for yes in ["v2023.10", "24.04.1", "2019.12.31-rc.2"] {
        assert!(Calver::parse(yes).is_some(), "{yes}");
    }
    for no in [
        "18.1.0",
        "2018.01.1",
        "1.2.3",
        "20.15.0",
        "2020.0.1",
        "2020.01.3-",
        "2020",
        "2020.1.2.3",
        "20201.1.0",
        "2020.01.x",
        "2020.001.1",
        "beta",
    ] {
        assert_eq!(Calver::parse(no), None, "{no}");
    }
}

#[test]
fn a_pull_request_gives_its_number_from_the_ref_and_its_title() {
    let mut f = Fixture::new();
    f.build.event = Event::PullRequest;
    f.build.git_ref = "refs/pull/42/head".into();
    f.build.title = "Add a cache".into();
    f.build.source = "feature/cache".into();
    let env = f.env();
    assert_vars(
        &env,
        &[
            ("DRONE_PULL_REQUEST", "42"),
            ("DRONE_PULL_REQUEST_TITLE", "Add a cache"),
            ("DRONE_SOURCE_BRANCH", "feature/cache"),
            ("DRONE_BRANCH", "main"),
        ],
    );
}

#[test]
fn the_build_status_turns_to_failure_once_a_step_failed() {
    let mut f = Fixture::new();
    f.failed_steps = vec!["lint".into(), "unit".into()];
    let env = f.env();
    assert_vars(
        &env,
        &[
            ("DRONE_BUILD_STATUS", "failure"),
            ("DRONE_STAGE_STATUS", "failure"),
            ("DRONE_FAILED_STEPS", "lint,unit"),
            ("DRONE_FAILED_STAGES", "default"),
        ],
    );
}

#[test]
fn a_failed_stage_elsewhere_fails_the_build_but_not_this_stage() {
    let mut f = Fixture::new();
    f.failed_stages = vec!["windows".into()];
    let env = f.env();
    assert_vars(
        &env,
        &[
            ("DRONE_BUILD_STATUS", "failure"),
            ("DRONE_FAILED_STAGES", "windows"),
            ("DRONE_STAGE_STATUS", "success"),
        ],
    );
    assert_eq!(get(&env, "DRONE_FAILED_STEPS"), None);
}

#[test]
fn failed_steps_are_absent_while_the_stage_passes() {
    let env = Fixture::new().env();
    assert_eq!(get(&env, "DRONE_STAGE_STATUS"), Some("success"));
    assert_eq!(get(&env, "DRONE_FAILED_STEPS"), None);
}

#[test]
fn the_legacy_ci_names_carry_drone_08_values() {
    let mut f = Fixture::new();
    f.build.parent = 5;
    f.build.deploy_to = "production".into();
    let env = f.env();
    assert_vars(
        &env,
        &[
            ("CI_REPO", "acme/api"),
            ("CI_REPO_NAME", "acme/api"),
            ("CI_REPO_LINK", "https://git.example.com/acme/api"),
            ("CI_REPO_REMOTE", "https://git.example.com/acme/api.git"),
            ("CI_REMOTE_URL", "https://git.example.com/acme/api.git"),
            ("CI_REPO_PRIVATE", "true"),
            ("CI_BUILD_NUMBER", "7"),
            ("CI_PARENT_BUILD_NUMBER", "5"),
            ("CI_BUILD_CREATED", "1700000000"),
            ("CI_BUILD_STARTED", "1700000050"),
            // Raw: still 0, unlike DRONE_BUILD_FINISHED.
            ("CI_BUILD_FINISHED", "0"),
            ("CI_BUILD_STATUS", "running"),
            ("CI_BUILD_EVENT", "push"),
            // The forge's commit page, not the build page.
            (
                "CI_BUILD_LINK",
                "https://git.example.com/acme/api/commit/abc123",
            ),
            ("CI_BUILD_TARGET", "production"),
            ("CI_COMMIT_SHA", "abc123"),
            ("CI_COMMIT_REF", "refs/heads/main"),
            ("CI_COMMIT_BRANCH", "main"),
            ("CI_COMMIT_MESSAGE", "Fix the parser\n"),
            ("CI_COMMIT_AUTHOR", "ada"),
            ("CI_COMMIT_AUTHOR_NAME", "Ada Lovelace"),
            ("CI_COMMIT_AUTHOR_EMAIL", "ada@example.com"),
            (
                "CI_COMMIT_AUTHOR_AVATAR",
                "https://git.example.com/avatars/ada",
            ),
            ("DRONE_BUILD_PARENT", "5"),
            ("DRONE_DEPLOY_TO", "production"),
        ],
    );
    for absent in ["CI_WORKSPACE", "CI_WORKSPACE_BASE", "CI_WORKSPACE_PATH"] {
        assert_eq!(get(&env, absent), None, "{absent}");
    }
}

#[test]
fn build_params_cannot_override_drone_branch() {
    let mut f = Fixture::new();
    f.build.params = BTreeMap::from([
        ("DRONE_BRANCH".to_string(), "evil".to_string()),
        ("DEPLOY_REGION".to_string(), "eu".to_string()),
    ]);
    let env = f.env();
    assert_eq!(get(&env, "DRONE_BRANCH"), Some("main"));
    assert_eq!(get(&env, "DEPLOY_REGION"), Some("eu"));
}

#[test]
fn the_pipeline_environment_overrides_params_but_not_drone_variables() {
    let mut f = Fixture::new();
    f.build.params = BTreeMap::from([("REGION".to_string(), "us".to_string())]);
    f.pipeline_environment = BTreeMap::from([
        ("REGION".to_string(), "eu".to_string()),
        ("DRONE_COMMIT".to_string(), "forged".to_string()),
    ]);
    let env = f.env();
    assert_eq!(get(&env, "REGION"), Some("eu"));
    assert_eq!(get(&env, "DRONE_COMMIT"), Some("abc123"));
}

#[test]
fn an_unset_author_falls_back_to_drone_for_git() {
    let mut f = Fixture::new();
    f.build.author_name.clear();
    f.build.author_email.clear();
    let env = f.env();
    assert_vars(
        &env,
        &[
            ("GIT_AUTHOR_NAME", "drone"),
            ("GIT_AUTHOR_EMAIL", "noreply@drone"),
            ("GIT_COMMITTER_NAME", "drone"),
            ("GIT_COMMITTER_EMAIL", "noreply@drone"),
            ("DRONE_COMMIT_AUTHOR_NAME", ""),
        ],
    );
}

#[test]
fn a_cron_build_names_its_cron_job() {
    let mut f = Fixture::new();
    f.build.event = Event::Cron;
    f.build.trigger = "@cron".into();
    f.build.cron = "nightly".into();
    let env = f.env();
    assert_eq!(get(&env, "DRONE_CRON"), Some("nightly"));
    assert_eq!(get(&env, "DRONE_BUILD_TRIGGER"), Some("@cron"));
}

#[test]
fn unset_start_times_read_as_now() {
    let mut f = Fixture::new();
    f.build.started = 0;
    f.stage.started = 0;
    let env = f.env();
    assert_eq!(get(&env, "DRONE_BUILD_STARTED"), Some("1700000100"));
    assert_eq!(get(&env, "DRONE_STAGE_STARTED"), Some("1700000100"));
    assert_eq!(get(&env, "CI_BUILD_STARTED"), Some("0"));
}

#[test]
fn proxy_variables_are_copied_under_both_spellings() {
    let runner = [
        ("https_proxy", "http://proxy:3128"),
        ("NO_PROXY", "localhost,.internal"),
        ("http_proxy", ""),
        ("HTTP_PROXY", "http://upper:3128"),
        ("PATH", "/usr/bin"),
    ];
    let proxy = proxy_variables(runner);
    let expected: Environment = [
        ("https_proxy", "http://proxy:3128"),
        ("HTTPS_PROXY", "http://proxy:3128"),
        ("no_proxy", "localhost,.internal"),
        ("NO_PROXY", "localhost,.internal"),
        // The empty lower-case value does not hide the upper-case one.
        ("http_proxy", "http://upper:3128"),
        ("HTTP_PROXY", "http://upper:3128"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(proxy, expected);

    let mut f = Fixture::new();
    f.proxy = proxy;
    assert_eq!(get(&f.env(), "HTTPS_PROXY"), Some("http://proxy:3128"));
}

#[test]
fn the_system_comes_from_the_server_url() {
    let system = System::from_server_url("http://127.0.0.1:8080/ci", "1.0.0").expect("url");
    assert_eq!(system.proto, "http");
    assert_eq!(system.host, "127.0.0.1:8080");
    let default_port = System::from_server_url("https://ci.example.com", "1.0.0").expect("url");
    assert_eq!(default_port.host, "ci.example.com");
    assert_eq!(System::from_server_url("not a url", "1.0.0"), None);
}

#[test]
fn the_pull_request_number_is_the_first_number_in_the_ref() {
    assert_eq!(first_number("refs/pull/42/head"), "42");
    assert_eq!(first_number("refs/merge-requests/7/head"), "7");
    assert_eq!(first_number("refs/heads/main"), "");
}
