//! The environment a step gets (`DRONE_*`, `CI_*`). Placeholder with the core variables until the
//! full set lands.

use crate::domain::{Build, Repo, Stage};

/// The server, as steps see it.
pub struct System<'a> {
    pub proto: &'a str,
    pub host: &'a str,
    pub version: &'a str,
}

/// Everything a step's environment is made of.
pub struct StepContext<'a> {
    pub system: &'a System<'a>,
    pub repo: &'a Repo,
    pub build: &'a Build,
    pub stage: &'a Stage,
    pub step_name: &'a str,
    pub step_number: i64,
    pub workspace: &'a str,
    pub home: &'a str,
    pub failed_steps: &'a [String],
    pub failed_stages: &'a [String],
    pub stage_depends_on: &'a [String],
    pub now_ms: i64,
}

/// The step's `DRONE_*` variables.
pub fn step_environment(ctx: &StepContext<'_>) -> Vec<(String, String)> {
    vec![
        ("CI".into(), "true".into()),
        ("DRONE".into(), "true".into()),
        ("DRONE_REPO".into(), ctx.repo.slug.clone()),
        ("DRONE_BRANCH".into(), ctx.build.target.clone()),
        ("DRONE_COMMIT".into(), ctx.build.after.clone()),
        ("DRONE_BUILD_NUMBER".into(), ctx.build.number.to_string()),
        ("DRONE_STEP_NAME".into(), ctx.step_name.into()),
        ("DRONE_WORKSPACE".into(), ctx.workspace.into()),
        ("HOME".into(), ctx.home.into()),
        ("DRONE_SYSTEM_HOST".into(), ctx.system.host.into()),
        ("DRONE_STAGE_NAME".into(), ctx.stage.name.clone()),
    ]
}
