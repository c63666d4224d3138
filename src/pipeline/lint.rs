//! The rules a parsed manifest must follow before it runs, as Drone's linter has them: unique
//! names, known dependencies without cycles, supported platforms, an image (or commands) for
//! every step, reserved names and paths left alone, and trusted-only features refused in
//! untrusted repositories.
//!
//! What does not live here: type errors in values (`parse`), deciding whether a repository is
//! trusted (the repository's settings).

use std::collections::HashSet;

use super::plan::order;
use super::{Error, Manifest, Pipeline, PipelineType, Step};

/// Checks `manifest`; the first error in file order.
pub fn lint(manifest: &Manifest, trusted: bool) -> Result<(), Error> {
    match lint_all(manifest, trusted).into_iter().next() {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Every error of `manifest`, in file order.
pub fn lint_all(manifest: &Manifest, trusted: bool) -> Vec<Error> {
    let mut errors = Vec::new();
    pipelines(manifest, &mut errors);
    for p in &manifest.pipelines {
        platform(p, &mut errors);
        steps(p, &mut errors);
        volumes(p, &mut errors);
        if !trusted {
            for (pos, feature) in &p.trusted_only {
                errors.push(Error::at(
                    *pos,
                    format!("{feature} requires a trusted repository"),
                ));
            }
        }
    }
    errors.sort_by_key(|e| (e.pos.line, e.pos.column));
    errors
}

/// Names, dependencies and cycles among the pipelines of the file.
fn pipelines(manifest: &Manifest, errors: &mut Vec<Error>) {
    let mut names = HashSet::new();
    for p in &manifest.pipelines {
        if !names.insert(p.name.as_str()) {
            errors.push(Error::at(
                p.name_pos,
                format!("duplicate pipeline name `{}`", p.name),
            ));
        }
    }
    for p in &manifest.pipelines {
        for (dep, pos) in p.depends_on.iter().zip(&p.depends_on_pos) {
            if !names.contains(dep.as_str()) {
                errors.push(Error::at(
                    *pos,
                    format!("pipeline `{}` depends on unknown pipeline `{dep}`", p.name),
                ));
            }
        }
    }
    let graph: Vec<(&str, &[String])> = manifest
        .pipelines
        .iter()
        .map(|p| (p.name.as_str(), p.depends_on.as_slice()))
        .collect();
    if let Err(e) = order(&graph) {
        let names: Vec<&str> = e.cycle.iter().map(|&i| graph[i].0).collect();
        if let Some(&first) = e.cycle.first() {
            errors.push(Error::at(
                manifest.pipelines[first].name_pos,
                format!("dependency cycle among pipelines: {}", cycle_text(&names)),
            ));
        }
    }
}

/// `a -> b -> a`: a waits for b, which waits for a.
fn cycle_text(names: &[&str]) -> String {
    let mut text = names.join(" -> ");
    if let Some(first) = names.first() {
        text.push_str(" -> ");
        text.push_str(first);
    }
    text
}

/// The operating systems and architectures Drone's linter allows for container pipelines.
const CONTAINER_OS: &[&str] = &["linux", "windows"];
const CONTAINER_ARCH: &[&str] = &["arm", "arm64", "amd64", "ppc64le", "s390x"];
/// Pipelines that run on a host (`exec`, `ssh`, cloud machines) may target any system Go's
/// runners are built for.
const HOST_OS: &[&str] = &[
    "linux",
    "windows",
    "darwin",
    "freebsd",
    "netbsd",
    "openbsd",
    "dragonfly",
    "solaris",
];
const HOST_ARCH: &[&str] = &["arm", "arm64", "amd64", "386", "ppc64", "ppc64le", "s390x"];

fn platform(p: &Pipeline, errors: &mut Vec<Error>) {
    let containers = matches!(
        p.pipeline_type,
        PipelineType::Docker | PipelineType::Kubernetes
    );
    let (os, arch) = if containers {
        (CONTAINER_OS, CONTAINER_ARCH)
    } else {
        (HOST_OS, HOST_ARCH)
    };
    let kind = p.pipeline_type.as_str();
    if !os.contains(&p.platform.os.as_str()) {
        errors.push(Error::at(
            p.os_pos,
            format!(
                "unsupported os `{}` for `type: {kind}` (expected {})",
                p.platform.os,
                os.join(", ")
            ),
        ));
    }
    if !arch.contains(&p.platform.arch.as_str()) {
        errors.push(Error::at(
            p.arch_pos,
            format!(
                "unsupported architecture `{}` for `type: {kind}` (expected {})",
                p.platform.arch,
                arch.join(", ")
            ),
        ));
    }
}

/// Names, images, commands, dependencies and mounts of steps and services.
fn steps(p: &Pipeline, errors: &mut Vec<Error>) {
    let mut names: HashSet<&str> = HashSet::new();
    let services = p.services.iter().map(|s| (s, true));
    for (s, is_service) in p.steps.iter().map(|s| (s, false)).chain(services) {
        if s.name.is_empty() {
            errors.push(Error::at(s.pos, "a step needs a `name`"));
        } else if s.name == "clone" && !p.clone.disable {
            errors.push(Error::at(
                s.name_pos,
                "step name `clone` is reserved for the clone step (unless `clone: {disable: true}`)",
            ));
        } else if !names.insert(&s.name) {
            errors.push(Error::at(
                s.name_pos,
                format!("duplicate step name `{}`", s.name),
            ));
        }
        requirements(p, s, is_service, errors);
        mounts(s, errors);
    }
    let step_names: HashSet<&str> = p.steps.iter().map(|s| s.name.as_str()).collect();
    for s in &p.steps {
        for (dep, pos) in s.depends_on.iter().zip(&s.depends_on_pos) {
            let known = step_names.contains(dep.as_str()) || (dep == "clone" && !p.clone.disable);
            if !known {
                errors.push(Error::at(
                    *pos,
                    format!("step `{}` depends on unknown step `{dep}`", s.name),
                ));
            }
        }
    }
    let graph = p.step_graph();
    if let Err(e) = order(&graph) {
        let names: Vec<&str> = e.cycle.iter().map(|&i| graph[i].0).collect();
        if let Some(&first) = e.cycle.first() {
            errors.push(Error::at(
                p.steps[first].name_pos,
                format!("dependency cycle among steps: {}", cycle_text(&names)),
            ));
        }
    }
}

/// Container steps and services need an image; host steps need commands (host runners
/// ignore services).
fn requirements(p: &Pipeline, s: &Step, is_service: bool, errors: &mut Vec<Error>) {
    let name = &s.name;
    match p.pipeline_type {
        PipelineType::Docker | PipelineType::Kubernetes => match &s.build_image {
            Some(image) if image.is_empty() => errors.push(Error::at(
                s.pos,
                format!("step `{name}`: `build` needs an `image` to tag"),
            )),
            Some(_) => {}
            None if s.image.is_empty() => {
                errors.push(Error::at(s.pos, format!("step `{name}` has no `image`")));
            }
            None => {}
        },
        PipelineType::Exec | PipelineType::Ssh => {
            if s.commands.is_empty() && !is_service {
                errors.push(Error::at(s.pos, format!("step `{name}` has no `commands`")));
            }
        }
        PipelineType::Other(_) => {}
    }
}

/// Volume names the runner uses itself.
const RESERVED_VOLUMES: &[&str] = &["workspace", "_workspace", "_docker_socket"];

fn mounts(s: &Step, errors: &mut Vec<Error>) {
    for m in &s.volumes {
        if RESERVED_VOLUMES.contains(&m.name.as_str()) {
            errors.push(Error::at(
                m.pos,
                format!("volume name `{}` is reserved", m.name),
            ));
        }
        let path = m.path.trim_end_matches('/');
        if path == "/run/drone" || path.starts_with("/run/drone/") {
            errors.push(Error::at(
                m.pos,
                format!(
                    "a volume may not be mounted at `{}`: the runner uses /run/drone",
                    m.path
                ),
            ));
        }
    }
}

fn volumes(p: &Pipeline, errors: &mut Vec<Error>) {
    for v in &p.volumes {
        if RESERVED_VOLUMES.contains(&v.name.as_str()) {
            errors.push(Error::at(
                v.pos,
                format!("volume name `{}` is reserved", v.name),
            ));
        }
    }
}

#[cfg(test)]
mod tests;
