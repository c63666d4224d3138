//! `.drone.yml` (Drone 1.x) into a validated, executable plan. Pure: no I/O, no clock.
//!
//! - `tree`: YAML events -> a small tree with positions; aliases and merge keys resolved under
//!   budgets (10 MiB of input, 100,000 nodes and 32 MiB of text once aliases are expanded, 64
//!   levels of nesting), so hostile input fails fast instead of eating memory.
//! - `parse`: the tree -> [`Manifest`] (every `kind: pipeline` document), with positions on every
//!   error and warnings for unknown keys. Unlike Drone, which reads an unknown `kind` as a
//!   pipeline, an unknown `kind` is an error: it is almost always a typo.
//! - `lint`: the rules Drone's linter applies (duplicates, unknown dependencies, cycles,
//!   platforms, and the features only trusted repositories may use).
//! - `condition`: `trigger:` and `when:` conditions (string, list, or include/exclude globs).
//! - `plan`: the resolved order of steps and stages, as `hangar lint --format json` prints it.
//!
//! What does not live here: reading the file from git (`forge`/`trigger`), deciding which
//! stages of a build run (`trigger`), running steps (`runner`).

use std::collections::BTreeMap;
use std::fmt;

mod condition;
mod lint;
mod parse;
mod plan;
mod tree;

#[cfg(test)]
mod tests;

pub(crate) use condition::check_pattern;
pub use lint::{lint, lint_all};
pub use parse::parse;
pub use plan::{Plan, PlanPipeline, PlanStep, TopologicalError, plan, topological_order};

/// A place in the YAML text: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// A parse or validation error, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Error {
    pub pos: Position,
    pub message: String,
}

impl Error {
    /// An error at `pos`.
    pub fn at(pos: Position, message: impl Into<String>) -> Error {
        Error {
            pos,
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.pos.line, self.pos.column, self.message
        )
    }
}

impl std::error::Error for Error {}

/// Something worth telling that does not stop the pipeline (an unknown key, say).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    pub pos: Position,
    pub message: String,
}

/// Every `kind: pipeline` document of a file, in file order, and its encrypted `kind: secret`
/// documents. Other kinds (`signature`, `registry`, `cron`, `template`) are recognised and set
/// aside.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Manifest {
    pub pipelines: Vec<Pipeline>,
    pub secrets: Vec<SecretDocument>,
    pub warnings: Vec<Warning>,
}

/// A `kind: secret` document holding a value encrypted for this repository
/// (`POST /api/repos/{owner}/{name}/encrypt`): `name` and `data`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretDocument {
    pub name: String,
    /// The encrypted value, as the encrypt endpoint printed it.
    pub data: String,
    pub pos: Position,
}

/// Which kind of runner a pipeline needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum PipelineType {
    Exec,
    #[default]
    Docker,
    Kubernetes,
    Ssh,
    /// Any other runner type Drone knows (`aws`, `digitalocean`, ...): parsed, never run here.
    Other(String),
}

impl PipelineType {
    /// The `type:` value: `exec`, `docker`, ...
    pub fn as_str(&self) -> &str {
        match self {
            PipelineType::Exec => "exec",
            PipelineType::Docker => "docker",
            PipelineType::Kubernetes => "kubernetes",
            PipelineType::Ssh => "ssh",
            PipelineType::Other(s) => s,
        }
    }
}

/// `platform:` — where a pipeline must run. Defaults: `linux`, `amd64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: String,
    pub version: String,
}

impl Default for Platform {
    fn default() -> Self {
        Platform {
            os: "linux".into(),
            arch: "amd64".into(),
            variant: String::new(),
            version: String::new(),
        }
    }
}

/// `clone:` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloneSettings {
    pub disable: bool,
    /// 0 = full history.
    pub depth: u32,
    pub retries: u32,
    pub skip_verify: bool,
    pub trace: bool,
}

/// `workspace:` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workspace {
    pub base: String,
    pub path: String,
}

/// One `kind: pipeline` document: a stage of a build.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pipeline {
    /// `name:`, `default` when absent.
    pub name: String,
    /// `type:`, `docker` when absent (as Drone's server sets it).
    pub pipeline_type: PipelineType,
    pub platform: Platform,
    /// `node:` labels; a runner must carry exactly these.
    pub node: BTreeMap<String, String>,
    /// `concurrency: {limit}`; 0 = unlimited.
    pub concurrency: u32,
    /// Names of pipelines that must finish first.
    pub depends_on: Vec<String>,
    pub trigger: Conditions,
    pub clone: CloneSettings,
    pub workspace: Workspace,
    /// Pipeline-level `environment:` (plain strings).
    pub environment: BTreeMap<String, String>,
    pub steps: Vec<Step>,
    /// `services:` (docker and kubernetes only); parsed and linted, not run by the exec runner.
    pub services: Vec<Step>,
    /// Trusted-only features the document uses (`privileged`, host volumes, ...), each with where
    /// it is, for `lint` to refuse in untrusted repositories.
    pub trusted_only: Vec<(Position, String)>,
    /// Where the document starts.
    pub pos: Position,
    /// `volumes:` declared for the steps to mount (docker and kubernetes).
    pub volumes: Vec<Volume>,
    /// `image_pull_secrets:`: names of secrets holding registry credentials.
    pub image_pull_secrets: Vec<String>,
    /// Where the `name:` value is (the document start when absent).
    pub name_pos: Position,
    /// Where each `depends_on` entry is; parallel to `depends_on`.
    pub depends_on_pos: Vec<Position>,
    /// Where `platform.os` is (the document start when absent).
    pub os_pos: Position,
    /// Where `platform.arch` is (the document start when absent).
    pub arch_pos: Position,
}

/// A pipeline-level volume (`volumes:` entry) that steps mount by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Volume {
    pub name: String,
    pub source: VolumeSource,
    pub pos: Position,
}

/// Where a pipeline volume's data lives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum VolumeSource {
    /// `temp: {}`: an empty directory for the stage's lifetime.
    #[default]
    Temp,
    /// `temp: {medium: memory}`: a tmpfs (trusted repositories only).
    Memory,
    /// `host: {path}`: a directory of the runner's host (trusted repositories only).
    Host(String),
    /// A kubernetes source (`claim`, `config_map`, `secret`), named by its key.
    Other(String),
}

/// A step's `volumes:` entry: mount pipeline volume `name` at `path`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VolumeMount {
    pub name: String,
    pub path: String,
    pub pos: Position,
}

/// What a step does when it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Failure {
    /// The stage fails (the default; also `fast` / `fail-fast`).
    #[default]
    Fail,
    /// `failure: ignore`: the step's failure does not fail the stage.
    Ignore,
}

/// An environment value: text, or `{from_secret: name}` (resolved when the step starts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Text(String),
    FromSecret(String),
}

/// One entry of `steps:` (or `services:`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Step {
    pub name: String,
    /// `image:`; empty for exec steps.
    pub image: String,
    pub commands: Vec<String>,
    /// `shell:`; empty = `sh`.
    pub shell: String,
    pub environment: BTreeMap<String, EnvValue>,
    pub when: Conditions,
    /// As written; see `plan` for the resolved list.
    pub depends_on: Vec<String>,
    pub failure: Failure,
    pub detach: bool,
    /// Where the step's mapping starts.
    pub pos: Position,
    /// `pull:` (`always`, `never`, `if-not-exists`); empty = the runner's default.
    pub pull: String,
    /// `entrypoint:` overriding the image's.
    pub entrypoint: Vec<String>,
    /// `command:` overriding the image's (as opposed to `commands:`, a shell script).
    pub command: Vec<String>,
    /// `settings:` of a plugin step, each encoded as Drone passes it in `PLUGIN_<KEY>`: text as
    /// is, a list of scalars joined with commas, anything else as JSON.
    pub settings: BTreeMap<String, EnvValue>,
    /// `id_tokens:`: variables to receive a workload ID token, each with its audience
    /// (`VAULT_TOKEN: {aud: https://vault.example}`).
    pub id_tokens: BTreeMap<String, String>,
    /// `privileged: true` (also listed in the pipeline's `trusted_only`).
    pub privileged: bool,
    pub user: String,
    pub working_dir: String,
    pub volumes: Vec<VolumeMount>,
    /// `build:` (an image built from a Dockerfile): the image to tag, `Some("")` when missing.
    pub build_image: Option<String>,
    /// Where the `name:` value is (the step's start when absent).
    pub name_pos: Position,
    /// Where each `depends_on` entry is; parallel to `depends_on`.
    pub depends_on_pos: Vec<Position>,
}

/// One condition key: a string, a list, or `{include, exclude}` of doublestar globs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Condition {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

/// The keys of `trigger:` and `when:`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    pub branch: Condition,
    pub event: Condition,
    pub git_ref: Condition,
    pub repo: Condition,
    pub instance: Condition,
    pub status: Condition,
    pub target: Condition,
    pub cron: Condition,
    pub action: Condition,
    pub paths: Condition,
}

/// The facts of a build that conditions are matched against.
#[derive(Debug, Clone, Default)]
pub struct MatchContext<'a> {
    /// The build's target branch.
    pub branch: &'a str,
    pub event: &'a str,
    pub git_ref: &'a str,
    /// `owner/name`.
    pub repo: &'a str,
    /// The server's host.
    pub instance: &'a str,
    /// `deploy_to`.
    pub target: &'a str,
    /// The cron job's name.
    pub cron: &'a str,
    pub action: &'a str,
}
