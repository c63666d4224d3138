//! The environment a step's process gets: Drone 1.x's variables, named and valued as Drone's exec
//! runner sets them (`reference/drone-env.md` is the list), so existing `.drone.yml` files and
//! plugins find what they expect.
//!
//! Everything here is pure: the caller passes the domain values, the live failure state and the
//! current time, and gets a map back. Spawning the process, reading the runner's own environment
//! and the clock happen elsewhere.
//!
//! # Layers (later wins)
//!
//! Drone builds a step's environment in layers, and the order decides who may override whom:
//!
//! 1. runner-wide variables: the **caller** starts from these;
//! 2. build parameters (`build.params`),
//! 3. the pipeline-level `environment:` map,
//! 4. the proxy variables copied from the runner ([`proxy_variables`]), then the system,
//!    repository, build, stage and link groups, then the git identity,
//! 5. the exec runner's own values (`DRONE_WORKSPACE`, `DRONE_HOME`, `HOME`, ...) and the step
//!    group: [`step_environment`] returns layers 2 to 5 merged;
//! 6. the step's own `environment:` (plain values and secrets): the **caller** lays these over
//!    the result.
//!
//! So build parameters and the pipeline's `environment:` can add variables but never change a
//! `DRONE_*` value, while a step's own `environment:` can. Layers 3 and 4 sit between things this
//! module owns, which is why they are inputs of [`StepContext`] rather than left to the caller.
//!
//! Not here: the `.netrc` variables (credentials, given by whoever holds them), the clone
//! settings (`GIT_SSL_NO_VERIFY`, `GIT_TRACE`, `PLUGIN_*`), and the docker-only variables.

use crate::domain::{Build, Event, Repo, Stage};
use std::collections::BTreeMap;

/// A step's environment: variable name to value.
pub type Environment = BTreeMap<String, String>;

/// The Hangar server as steps see it (`DRONE_SYSTEM_*`), read once from the public server URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct System {
    /// `http` or `https`.
    pub proto: String,
    /// Host, with `:port` when the URL names a non-default port.
    pub host: String,
    /// Hangar's version, given as `DRONE_SYSTEM_VERSION`.
    pub version: String,
}

impl System {
    /// Reads the scheme and `host[:port]` of the server's public URL. `None` when the URL does
    /// not parse or has no host. A path in the URL is dropped, as Drone drops it.
    pub fn from_server_url(server_url: &str, version: &str) -> Option<System> {
        let url = url::Url::parse(server_url).ok()?;
        let host = url.host_str()?;
        let host = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        Some(System {
            proto: url.scheme().to_string(),
            host,
            version: version.to_string(),
        })
    }
}

/// Everything a step's environment is computed from. Built just before each step starts, so the
/// failure state is the live one.
#[derive(Debug, Clone, Copy)]
pub struct StepContext<'a> {
    /// The server, for `DRONE_SYSTEM_*` and `DRONE_BUILD_LINK`.
    pub system: &'a System,
    /// The repository being built.
    pub repo: &'a Repo,
    /// The build as stored; its own status only feeds the legacy `CI_BUILD_STATUS`.
    pub build: &'a Build,
    /// The running stage; `DRONE_STAGE_DEPENDS_ON` comes from its `depends_on`.
    pub stage: &'a Stage,
    /// The step about to run: `DRONE_STEP_NAME`.
    pub step_name: &'a str,
    /// 1-based, counting the clone step and services first, as Drone numbers steps.
    pub step_number: i64,
    /// Absolute path of the checkout: `DRONE_WORKSPACE` and `DRONE_HOME`.
    pub workspace: &'a str,
    /// The build's temporary home directory: `HOME`, `HOMEPATH`, `USERPROFILE`.
    pub home: &'a str,
    /// Names of this stage's steps that failed so far, leaving out steps with
    /// `failure: ignore`.
    pub failed_steps: &'a [String],
    /// Names of this build's other stages that failed so far. The current stage is added here
    /// once one of its steps failed, as it then counts as failing.
    pub failed_stages: &'a [String],
    /// The pipeline-level `environment:` map (plain values).
    pub pipeline_environment: &'a Environment,
    /// The proxy variables copied from the runner's own environment: [`proxy_variables`].
    pub proxy: &'a Environment,
    /// The current time, Unix milliseconds: stands in for start and finish times not yet set.
    pub now_ms: i64,
}

/// The environment of one step: build parameters, the pipeline's `environment:`, proxy
/// variables, then every `DRONE_*`, `CI_*` and git variable Drone's exec runner sets (see the
/// module docs for the order). The caller lays the step's own `environment:` and secrets over
/// the result, and passes the whole map to the process.
pub fn step_environment(ctx: &StepContext<'_>) -> Environment {
    let mut env = Environment::new();
    // Lowest first: the system groups below overwrite any `DRONE_*` name these set.
    env.extend(clone_pairs(&ctx.build.params));
    env.extend(clone_pairs(ctx.pipeline_environment));
    env.extend(clone_pairs(ctx.proxy));

    let mut set = |name: &str, value: String| {
        env.insert(name.to_string(), value);
    };
    system_group(&mut set, ctx.system);
    repo_group(&mut set, ctx.repo);
    build_group(&mut set, ctx);
    stage_group(&mut set, ctx);
    set(
        "DRONE_BUILD_LINK",
        build_link(ctx.system, ctx.repo, ctx.build.number),
    );
    git_identity(&mut set, ctx.build);
    set("DRONE_WORKSPACE", ctx.workspace.to_string());
    set("DRONE_HOME", ctx.workspace.to_string());
    // HOMEPATH and USERPROFILE are where Windows tools look for the home directory.
    for name in ["HOME", "HOMEPATH", "USERPROFILE"] {
        set(name, ctx.home.to_string());
    }
    set("DRONE_STEP_NAME", ctx.step_name.to_string());
    set("DRONE_STEP_NUMBER", ctx.step_number.to_string());
    env
}

/// The web page of a build: `{proto}://{host}/{owner}/{name}/{number}` (`DRONE_BUILD_LINK`).
pub fn build_link(system: &System, repo: &Repo, number: i64) -> String {
    format!(
        "{}://{}/{}/{}",
        system.proto, system.host, repo.slug, number
    )
}

/// The proxy variables to copy from the runner's own environment into every step: for each of
/// `http_proxy`, `https_proxy`, `no_proxy` and `all_proxy`, the lower-case spelling if set and
/// non-empty, else the upper-case one, given under both spellings. Pass `std::env::vars()`.
pub fn proxy_variables<I, K, V>(runner_environment: I) -> Environment
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    const NAMES: [&str; 4] = ["http_proxy", "https_proxy", "no_proxy", "all_proxy"];
    let mut found = Environment::new();
    for (name, value) in runner_environment {
        let (name, value) = (name.as_ref(), value.as_ref());
        if !value.is_empty() && NAMES.contains(&name.to_ascii_lowercase().as_str()) {
            found.insert(name.to_string(), value.to_string());
        }
    }
    let mut out = Environment::new();
    for lower in NAMES {
        let upper = lower.to_ascii_uppercase();
        let value = found.get(lower).or_else(|| found.get(&upper));
        if let Some(value) = value {
            out.insert(lower.to_string(), value.clone());
            out.insert(upper, value.clone());
        }
    }
    out
}

fn clone_pairs(map: &Environment) -> impl Iterator<Item = (String, String)> + '_ {
    map.iter().map(|(k, v)| (k.clone(), v.clone()))
}

/// Drone's timestamps are Unix seconds; the domain keeps milliseconds.
fn secs(ms: i64) -> String {
    ms.div_euclid(1000).to_string()
}

/// A stored time, or the current time while it is still unset (0), as Drone reports it.
fn secs_or_now(ms: i64, now_ms: i64) -> String {
    secs(if ms == 0 { now_ms } else { ms })
}

fn system_group(set: &mut impl FnMut(&str, String), system: &System) {
    set("CI", "true".into());
    set("DRONE", "true".into());
    set("DRONE_SYSTEM_PROTO", system.proto.clone());
    set("DRONE_SYSTEM_HOST", system.host.clone());
    set("DRONE_SYSTEM_HOSTNAME", system.host.clone());
    set("DRONE_SYSTEM_VERSION", system.version.clone());
}

fn repo_group(set: &mut impl FnMut(&str, String), repo: &Repo) {
    let private = repo.private.to_string();
    for (name, value) in [
        ("DRONE_REPO", &repo.slug),
        ("DRONE_REPO_SCM", &repo.scm),
        ("DRONE_REPO_OWNER", &repo.namespace),
        ("DRONE_REPO_NAMESPACE", &repo.namespace),
        ("DRONE_REPO_NAME", &repo.name),
        ("DRONE_REPO_LINK", &repo.link),
        ("DRONE_REPO_BRANCH", &repo.default_branch),
        ("DRONE_REMOTE_URL", &repo.git_http_url),
        ("DRONE_GIT_HTTP_URL", &repo.git_http_url),
        ("DRONE_GIT_SSH_URL", &repo.git_ssh_url),
        ("DRONE_REPO_PRIVATE", &private),
        // Drone 0.8 names, still set by Drone 1.x. CI_REPO_NAME is the full slug there too.
        ("CI_REPO", &repo.slug),
        ("CI_REPO_NAME", &repo.slug),
        ("CI_REPO_LINK", &repo.link),
        ("CI_REPO_REMOTE", &repo.git_http_url),
        ("CI_REMOTE_URL", &repo.git_http_url),
        ("CI_REPO_PRIVATE", &private),
    ] {
        set(name, value.clone());
    }
    set("DRONE_REPO_VISIBILITY", repo.visibility.as_str().into());
}

fn build_group(set: &mut impl FnMut(&str, String), ctx: &StepContext<'_>) {
    let b = ctx.build;
    let number = b.number.to_string();
    let parent = b.parent.to_string();
    for (name, value) in [
        ("DRONE_BRANCH", &b.target),
        ("DRONE_SOURCE_BRANCH", &b.source),
        ("DRONE_TARGET_BRANCH", &b.target),
        ("DRONE_COMMIT", &b.after),
        ("DRONE_COMMIT_SHA", &b.after),
        ("DRONE_COMMIT_BEFORE", &b.before),
        ("DRONE_COMMIT_AFTER", &b.after),
        ("DRONE_COMMIT_REF", &b.git_ref),
        ("DRONE_COMMIT_BRANCH", &b.target),
        ("DRONE_COMMIT_LINK", &b.link),
        ("DRONE_COMMIT_MESSAGE", &b.message),
        ("DRONE_COMMIT_AUTHOR", &b.author_login),
        ("DRONE_COMMIT_AUTHOR_NAME", &b.author_name),
        ("DRONE_COMMIT_AUTHOR_EMAIL", &b.author_email),
        ("DRONE_COMMIT_AUTHOR_AVATAR", &b.author_avatar),
        ("DRONE_BUILD_NUMBER", &number),
        ("DRONE_BUILD_PARENT", &parent),
        ("DRONE_BUILD_ACTION", &b.action),
        ("DRONE_BUILD_TRIGGER", &b.trigger),
        ("DRONE_DEPLOY_TO", &b.deploy_to),
        // Drone 0.8 names. CI_BUILD_LINK is the forge's commit link, not the build page.
        ("CI_BUILD_NUMBER", &number),
        ("CI_PARENT_BUILD_NUMBER", &parent),
        ("CI_BUILD_LINK", &b.link),
        ("CI_BUILD_TARGET", &b.deploy_to),
        ("CI_COMMIT_SHA", &b.after),
        ("CI_COMMIT_REF", &b.git_ref),
        ("CI_COMMIT_BRANCH", &b.target),
        ("CI_COMMIT_MESSAGE", &b.message),
        ("CI_COMMIT_AUTHOR", &b.author_login),
        ("CI_COMMIT_AUTHOR_NAME", &b.author_name),
        ("CI_COMMIT_AUTHOR_EMAIL", &b.author_email),
        ("CI_COMMIT_AUTHOR_AVATAR", &b.author_avatar),
    ] {
        set(name, value.clone());
    }
    set("DRONE_BUILD_EVENT", b.event.as_str().into());
    set("CI_BUILD_EVENT", b.event.as_str().into());
    set("DRONE_DEPLOY_ID", b.deploy_id.to_string());
    // Hangar has no debug restarts (Drone uses them for tmate sessions).
    set("DRONE_BUILD_DEBUG", "false".into());
    set("DRONE_BUILD_CREATED", secs(b.created));
    set("DRONE_BUILD_STARTED", secs_or_now(b.started, ctx.now_ms));
    set("DRONE_BUILD_FINISHED", secs_or_now(b.finished, ctx.now_ms));
    // The legacy names keep the raw values: 0 while unset, the stored status.
    set("CI_BUILD_CREATED", secs(b.created));
    set("CI_BUILD_STARTED", secs(b.started));
    set("CI_BUILD_FINISHED", secs(b.finished));
    set("CI_BUILD_STATUS", b.status.as_str().into());

    let mut failed_stages: Vec<&str> = ctx.failed_stages.iter().map(String::as_str).collect();
    if !ctx.failed_steps.is_empty() && !failed_stages.contains(&ctx.stage.name.as_str()) {
        failed_stages.push(&ctx.stage.name);
    }
    if failed_stages.is_empty() {
        set("DRONE_BUILD_STATUS", "success".into());
    } else {
        set("DRONE_BUILD_STATUS", "failure".into());
        set("DRONE_FAILED_STAGES", failed_stages.join(","));
    }

    if b.event == Event::PullRequest {
        set("DRONE_PULL_REQUEST", first_number(&b.git_ref).into());
        set("DRONE_PULL_REQUEST_TITLE", b.title.clone());
    }
    if let Some(tag) = b.git_ref.strip_prefix("refs/tags/") {
        set("DRONE_TAG", tag.into());
        semver_group(set, tag);
        if let Some(calver) = Calver::parse(tag) {
            calver_group(set, &calver);
        }
    }
    if !b.cron.is_empty() {
        set("DRONE_CRON", b.cron.clone());
    }
}

fn stage_group(set: &mut impl FnMut(&str, String), ctx: &StepContext<'_>) {
    let s = ctx.stage;
    for (name, value) in [
        ("DRONE_STAGE_KIND", &s.kind),
        ("DRONE_STAGE_TYPE", &s.stage_type),
        ("DRONE_STAGE_NAME", &s.name),
        ("DRONE_STAGE_MACHINE", &s.machine),
        ("DRONE_STAGE_OS", &s.os),
        ("DRONE_STAGE_ARCH", &s.arch),
        ("DRONE_STAGE_VARIANT", &s.variant),
    ] {
        set(name, value.clone());
    }
    set("DRONE_STAGE_NUMBER", s.number.to_string());
    set("DRONE_STAGE_VERSION", s.version.to_string());
    set("DRONE_STAGE_STARTED", secs_or_now(s.started, ctx.now_ms));
    set("DRONE_STAGE_FINISHED", secs_or_now(s.stopped, ctx.now_ms));
    set("DRONE_STAGE_DEPENDS_ON", s.depends_on.join(","));
    // Drone's "adaptive cards": a step writes card JSON here; on an exec runner that is the log.
    set("DRONE_CARD_PATH", "/dev/stdout".into());
    if ctx.failed_steps.is_empty() {
        set("DRONE_STAGE_STATUS", "success".into());
    } else {
        set("DRONE_STAGE_STATUS", "failure".into());
        set("DRONE_FAILED_STEPS", ctx.failed_steps.join(","));
    }
}

/// Commits made by a step are attributed to the build's author, or to `drone` when the forge
/// gave none.
fn git_identity(set: &mut impl FnMut(&str, String), build: &Build) {
    let name = non_empty_or(&build.author_name, "drone");
    let email = non_empty_or(&build.author_email, "noreply@drone");
    set("GIT_AUTHOR_NAME", name.clone());
    set("GIT_COMMITTER_NAME", name);
    set("GIT_AUTHOR_EMAIL", email.clone());
    set("GIT_COMMITTER_EMAIL", email);
    // A step has no terminal: a credential prompt would hang it until the stage times out.
    set("GIT_TERMINAL_PROMPT", "0".into());
}

fn non_empty_or(value: &str, fallback: &str) -> String {
    if value.is_empty() { fallback } else { value }.to_string()
}

/// The first run of digits in a ref: the pull request number of `refs/pull/42/head` (GitHub,
/// Gitea) or `refs/merge-requests/42/head` (GitLab). Empty when there is none, as in Drone.
fn first_number(git_ref: &str) -> &str {
    let Some(start) = git_ref.find(|c: char| c.is_ascii_digit()) else {
        return "";
    };
    let rest = &git_ref[start..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    &rest[..end]
}

/// `DRONE_SEMVER*` for a tag, or `DRONE_SEMVER_ERROR` with the parser's message when the tag
/// (without a leading `v`) is not a semantic version.
fn semver_group(set: &mut impl FnMut(&str, String), tag: &str) {
    let text = tag.strip_prefix('v').unwrap_or(tag);
    match semver::Version::parse(text) {
        Ok(v) => {
            set("DRONE_SEMVER", v.to_string());
            set("DRONE_SEMVER_MAJOR", v.major.to_string());
            set("DRONE_SEMVER_MINOR", v.minor.to_string());
            set("DRONE_SEMVER_PATCH", v.patch.to_string());
            set(
                "DRONE_SEMVER_SHORT",
                format!("{}.{}.{}", v.major, v.minor, v.patch),
            );
            if !v.pre.is_empty() {
                set("DRONE_SEMVER_PRERELEASE", v.pre.to_string());
            }
            if !v.build.is_empty() {
                set("DRONE_SEMVER_BUILD", v.build.to_string());
            }
        }
        Err(e) => set("DRONE_SEMVER_ERROR", e.to_string()),
    }
}

fn calver_group(set: &mut impl FnMut(&str, String), calver: &Calver<'_>) {
    set("DRONE_CALVER", calver.full.into());
    set("DRONE_CALVER_SHORT", calver.short.into());
    set(
        "DRONE_CALVER_MAJOR_MINOR",
        format!("{}.{}", calver.major, calver.minor),
    );
    set("DRONE_CALVER_MAJOR", calver.major.into());
    set("DRONE_CALVER_MINOR", calver.minor.into());
    if let Some(micro) = calver.micro {
        set("DRONE_CALVER_MICRO", micro.into());
    }
    if let Some(modifier) = calver.modifier {
        set("DRONE_CALVER_MODIFIER", modifier.into());
    }
}

/// A calendar version read from a tag. The rules:
///
/// * an optional leading `v` is dropped;
/// * the first `-` splits the version from a modifier, which must then be non-empty and made of
///   ASCII letters, digits, `.`, `-`, `_` or `+` (`2020.01.3-beta`, `19.1.0-rc.1`);
/// * the version is `MAJOR.MINOR` or `MAJOR.MINOR.MICRO`, each part only ASCII digits;
/// * MAJOR is a year of 2019 or later: two digits `19`..`99` or four digits `2019` and up;
/// * MINOR is a month, `1`..`12`, with or without a leading zero;
/// * MICRO, when present, is any run of digits (a day or a counter).
///
/// Parts are reported as written, so `2020.01.3` keeps its `01`. The month rule keeps ordinary
/// semantic versions such as `20.15.0` from passing as calendar versions; versions like `19.1.0`
/// are both, and get both sets of variables.
#[derive(Debug, PartialEq, Eq)]
struct Calver<'a> {
    full: &'a str,
    short: &'a str,
    major: &'a str,
    minor: &'a str,
    micro: Option<&'a str>,
    modifier: Option<&'a str>,
}

impl<'a> Calver<'a> {
    fn parse(tag: &'a str) -> Option<Calver<'a>> {
        let full = tag.strip_prefix('v').unwrap_or(tag);
        let (short, modifier) = match full.split_once('-') {
            Some((short, modifier)) => (short, Some(modifier)),
            None => (full, None),
        };
        if let Some(modifier) = modifier {
            let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+');
            if modifier.is_empty() || !modifier.chars().all(allowed) {
                return None;
            }
        }
        let mut parts = short.split('.');
        let (major, minor, micro) = (parts.next()?, parts.next()?, parts.next());
        if parts.next().is_some() {
            return None;
        }
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(major) || !digits(minor) || !micro.is_none_or(digits) {
            return None;
        }
        let year: u32 = major.parse().ok()?;
        let year_ok = match major.len() {
            2 => year >= 19,
            4 => year >= 2019,
            _ => false,
        };
        let month: u32 = minor.parse().ok()?;
        if !year_ok || minor.len() > 2 || !(1..=12).contains(&month) {
            return None;
        }
        Some(Calver {
            full,
            short,
            major,
            minor,
            micro,
            modifier,
        })
    }
}

#[cfg(test)]
mod tests;
