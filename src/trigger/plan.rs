//! Which stages of a build run, decided on the server from the configuration and the build:
//! each pipeline's `trigger:` is matched; pipelines that do not match are left out, and
//! dependencies on them are replaced by their own dependencies, so the order of the rest holds.

use crate::domain::{Build, Repo, Status};
use crate::pipeline::{self, MatchContext, Pipeline};
use crate::store::{ClaimFilter, NewStage, Preparation};
use std::collections::{BTreeSet, HashMap};

fn failed(message: String, config: &str) -> Preparation {
    Preparation {
        config: Some(config.to_string()),
        status: Status::Error,
        error: message,
        stages: Vec::new(),
    }
}

/// Decides the stages of `build` from its configuration text. `runners` describes what the
/// attached runners can run; a stage none of them can run waits, with a message saying why.
pub fn plan_stages(
    config: &str,
    build: &Build,
    repo: &Repo,
    instance: &str,
    runners: &[ClaimFilter],
) -> Preparation {
    let manifest = match pipeline::parse(config) {
        Ok(m) => m,
        Err(e) => return failed(format!("{}: {e}", repo.config_path), config),
    };
    if let Err(e) = pipeline::lint(&manifest, repo.trusted) {
        return failed(format!("{}: {e}", repo.config_path), config);
    }
    if manifest.pipelines.is_empty() {
        return failed(
            format!("{}: no pipeline (kind: pipeline) found", repo.config_path),
            config,
        );
    }
    let ctx = MatchContext {
        branch: &build.target,
        event: build.event.as_str(),
        git_ref: &build.git_ref,
        repo: &repo.slug,
        instance,
        target: &build.deploy_to,
        cron: &build.cron,
        action: &build.action,
    };
    let included: Vec<&Pipeline> = manifest
        .pipelines
        .iter()
        .filter(|p| p.trigger.matches_trigger(&ctx))
        .collect();
    if included.is_empty() {
        return Preparation {
            config: Some(config.to_string()),
            status: Status::Skipped,
            error: "no pipeline's trigger matches this build".into(),
            stages: Vec::new(),
        };
    }
    let all: HashMap<&str, &Pipeline> = manifest
        .pipelines
        .iter()
        .map(|p| (p.name.as_str(), p))
        .collect();
    let kept: BTreeSet<&str> = included.iter().map(|p| p.name.as_str()).collect();
    let stages = included
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let depends_on = rewire(p, &all, &kept);
            let ty = p.pipeline_type.as_str();
            let error = unrunnable(p, runners).unwrap_or_default();
            NewStage {
                number: i as i64 + 1,
                name: p.name.clone(),
                kind: "pipeline".into(),
                stage_type: ty.to_string(),
                status: if depends_on.is_empty() {
                    Status::Pending
                } else {
                    Status::WaitingOnDependencies
                },
                error,
                os: p.platform.os.clone(),
                arch: p.platform.arch.clone(),
                variant: p.platform.variant.clone(),
                limit: i64::from(p.concurrency),
                on_success: p.trigger.on_success(),
                on_failure: p.trigger.on_failure(),
                depends_on,
                labels: p.node.clone(),
            }
        })
        .collect();
    Preparation {
        config: Some(config.to_string()),
        status: Status::Pending,
        error: String::new(),
        stages,
    }
}

/// Why no attached runner can run `p` (Drone's rule: same type, same platform, and labels
/// exactly equal to the pipeline's `node:`), or `None` if one can.
fn unrunnable(p: &Pipeline, runners: &[ClaimFilter]) -> Option<String> {
    let ty = p.pipeline_type.as_str();
    let of_type: Vec<&ClaimFilter> = runners
        .iter()
        .filter(|r| r.types.iter().any(|t| t == ty))
        .collect();
    if of_type.is_empty() {
        return Some(format!(
            "no runner of type {ty} is attached to this server; the stage waits until one is"
        ));
    }
    let (os, arch) = (&p.platform.os, &p.platform.arch);
    let on_platform: Vec<&&ClaimFilter> = of_type
        .iter()
        .filter(|r| &r.os == os && &r.arch == arch)
        .collect();
    if on_platform.is_empty() {
        return Some(format!(
            "no {ty} runner for {os}/{arch} is attached to this server; the stage waits until one is"
        ));
    }
    if !on_platform.iter().any(|r| r.labels == p.node) {
        let labels: Vec<String> = p.node.iter().map(|(k, v)| format!("{k}={v}")).collect();
        return Some(format!(
            "no {ty} runner with exactly the labels {{{}}} is attached to this server; the stage waits until one is",
            labels.join(", ")
        ));
    }
    None
}

/// `p`'s dependencies among the kept pipelines: a left-out dependency is replaced by its own.
fn rewire(p: &Pipeline, all: &HashMap<&str, &Pipeline>, kept: &BTreeSet<&str>) -> Vec<String> {
    let mut out = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut todo: Vec<&str> = p.depends_on.iter().map(String::as_str).collect();
    while let Some(dep) = todo.pop() {
        if !seen.insert(dep) {
            continue;
        }
        if kept.contains(dep) {
            out.insert(dep.to_string());
        } else if let Some(left_out) = all.get(dep) {
            todo.extend(left_out.depends_on.iter().map(String::as_str));
        }
    }
    // Keep the order the file gave where possible.
    let mut ordered: Vec<String> = p
        .depends_on
        .iter()
        .filter(|d| out.contains(*d))
        .cloned()
        .collect();
    ordered.extend(out.into_iter().filter(|d| !p.depends_on.contains(d)));
    ordered
}

#[cfg(test)]
mod tests;
