//! `.drone.yml` text into a [`Manifest`]: which documents are pipelines, and what each pipeline
//! key means. Values are type-checked here, with the position of the offending node; unknown
//! keys become warnings, as Drone ignores them.
//!
//! What does not live here: YAML itself (`tree`), the steps (`parse::step`), the rules that span
//! several keys or documents (`lint`).

mod step;
mod value;

use super::condition::{check_pattern, is_literal};
use super::tree::{self, Entries, Entry, Items, Node, Value};
use super::{
    CloneSettings, Error, Manifest, Pipeline, PipelineType, Platform, Position, SecretDocument,
    Warning, Workspace,
};
use value::{boolean, count, entries, plain_map, string, strings, strings_at, text};

/// Parses a `.drone.yml` file: every `kind: pipeline` document, in file order.
///
/// Fails on the first YAML error, missing or unknown `kind`, or value of the wrong type; never
/// panics, whatever the input.
pub fn parse(text: &str) -> Result<Manifest, Error> {
    let tree = tree::documents(text)?;
    let mut cx = Context::default();
    let mut pipelines = Vec::new();
    let mut secrets = Vec::new();
    for root in tree.documents() {
        let Value::Map(fields) = root.value() else {
            return Err(Error::at(
                root.pos(),
                "a document must be a mapping of keys (`kind: pipeline`, `name: ...`)",
            ));
        };
        let Some(kind) = fields.get("kind") else {
            return Err(Error::at(root.pos(), "missing kind attribute"));
        };
        match value::text(kind.value, "kind")? {
            "pipeline" => pipelines.push(pipeline(root, fields, &mut cx)?),
            // Read by other parts of Drone (secrets, signatures, registries, cron jobs) or by
            // its template converter; nothing here for a stage.
            "secret" => secrets.extend(secret(root, fields, &mut cx)?),
            "signature" | "registry" | "cron" => {}
            "template" => cx.warn(
                kind.value.pos(),
                "`kind: template` documents are not supported; document ignored".into(),
            ),
            other => {
                return Err(Error::at(
                    kind.value.pos(),
                    format!(
                        "unknown kind `{other}` (expected pipeline, secret, signature, registry, cron or template)"
                    ),
                ));
            }
        }
    }
    Ok(Manifest {
        pipelines,
        secrets,
        warnings: cx.warnings,
    })
}

/// A `kind: secret` document: `name` and an encrypted `data`. One that reads from an external
/// secret store (`get:`) or lacks either is set aside, as Drone's own server sets aside what its
/// configured secret providers do not handle.
fn secret<'t>(
    root: Node<'t>,
    fields: Entries<'t>,
    cx: &mut Context<'t>,
) -> Result<Option<SecretDocument>, Error> {
    let mut doc = SecretDocument {
        pos: root.pos(),
        ..SecretDocument::default()
    };
    for e in fields.iter() {
        match e.key {
            "kind" | "type" | "get" => {}
            "name" => doc.name = string(e.value, "name")?,
            // Older formats (a map of values) are set aside too.
            "data" => doc.data = value::scalar(e.value).unwrap_or_default().to_owned(),
            _ => cx.unknown(e, "secret"),
        }
    }
    Ok((!doc.name.is_empty() && !doc.data.is_empty()).then_some(doc))
}

/// What reading a file gathers besides the pipelines: the warnings, and the globs already
/// found valid (a file repeats the same few, and checking one compiles it).
#[derive(Default)]
struct Context<'t> {
    warnings: Vec<Warning>,
    globs: Vec<&'t str>,
}

impl<'t> Context<'t> {
    /// Globs remembered: a file has a few distinct ones; past that, each is checked anew.
    const GLOBS: usize = 32;

    fn warn(&mut self, pos: Position, message: String) {
        self.warnings.push(Warning { pos, message });
    }

    /// Warns of an unknown key, unless its value carries an anchor: a key such as `x-defaults:
    /// &defaults` is there to be merged elsewhere, which Drone allows.
    fn unknown(&mut self, entry: Entry<'_>, within: &str) {
        if entry.value.anchored() {
            return;
        }
        self.warn(
            entry.key_pos,
            format!("unknown key `{}` in {within}", entry.key),
        );
    }

    /// Whether `pattern` is a valid glob, so that a typo is reported where it is written.
    fn check_pattern(&mut self, pattern: &'t str) -> Result<(), String> {
        if is_literal(pattern) || self.globs.contains(&pattern) {
            return Ok(());
        }
        check_pattern(pattern)?;
        if self.globs.len() < Self::GLOBS {
            self.globs.push(pattern);
        }
        Ok(())
    }
}

/// Keys Drone's runners read that Hangar accepts without using: ssh `server`, the kubernetes
/// settings, the aws runner's `pool`, and the file `version`.
const ACCEPTED_PIPELINE_KEYS: &[&str] = &[
    "version",
    "server",
    "metadata",
    "node_name",
    "node_selector",
    "service_account_name",
    "tolerations",
    "dns_config",
    "resources",
    "pool",
];

fn pipeline<'t>(
    root: Node<'t>,
    fields: Entries<'t>,
    cx: &mut Context<'t>,
) -> Result<Pipeline, Error> {
    let mut p = Pipeline {
        pos: root.pos(),
        name_pos: root.pos(),
        os_pos: root.pos(),
        arch_pos: root.pos(),
        ..Pipeline::default()
    };
    for entry in fields.iter() {
        let node = entry.value;
        match entry.key {
            "kind" => {}
            "type" => p.pipeline_type = pipeline_type(text(node, "type")?),
            "name" => {
                p.name = string(node, "name")?;
                p.name_pos = node.pos();
            }
            "platform" => platform(node, &mut p, cx)?,
            "node" => p.node = plain_map(node, "node")?,
            "concurrency" => {
                for e in entries(node, "concurrency")?.iter() {
                    match e.key {
                        "limit" => p.concurrency = count(e.value, "limit")?,
                        _ => cx.unknown(e, "concurrency"),
                    }
                }
            }
            "depends_on" => (p.depends_on, p.depends_on_pos) = strings_at(node, "depends_on")?,
            "trigger" => p.trigger = value::conditions(node, "trigger", cx)?,
            "clone" => p.clone = clone(node, cx)?,
            "workspace" => p.workspace = workspace(node, cx)?,
            "environment" => p.environment = plain_map(node, "environment")?,
            "steps" => {
                let items = list(node, "steps", "a list of steps")?;
                p.steps.reserve_exact(items.len());
                for item in items.iter() {
                    p.steps.push(step::step(item, &mut p.trusted_only, cx)?);
                }
            }
            "services" => {
                let items = list(node, "services", "a list of services")?;
                p.services.reserve_exact(items.len());
                for item in items.iter() {
                    p.services.push(step::step(item, &mut p.trusted_only, cx)?);
                }
            }
            "volumes" => {
                let items = list(node, "volumes", "a list of volumes")?;
                p.volumes = Vec::with_capacity(items.len());
                for item in items.iter() {
                    p.volumes.push(step::volume(item, &mut p.trusted_only, cx)?);
                }
            }
            "image_pull_secrets" => p.image_pull_secrets = strings(node, "image_pull_secrets")?,
            k if ACCEPTED_PIPELINE_KEYS.contains(&k) => {}
            _ => cx.unknown(entry, "pipeline"),
        }
    }
    if p.name.is_empty() {
        p.name = "default".into();
    }
    Ok(p)
}

fn pipeline_type(text: &str) -> PipelineType {
    match text {
        "" | "docker" => PipelineType::Docker,
        "exec" => PipelineType::Exec,
        "kubernetes" => PipelineType::Kubernetes,
        "ssh" => PipelineType::Ssh,
        other => PipelineType::Other(other.to_string()),
    }
}

/// `platform:`; an empty or absent value keeps Drone's default (`linux`, `amd64`).
fn platform<'t>(node: Node<'t>, p: &mut Pipeline, cx: &mut Context<'t>) -> Result<(), Error> {
    for e in entries(node, "platform")?.iter() {
        let text = text(e.value, e.key)?;
        match e.key {
            "os" => {
                p.platform.os = if text.is_empty() {
                    Platform::default().os
                } else {
                    text.to_owned()
                };
                p.os_pos = e.value.pos();
            }
            "arch" => {
                p.platform.arch = if text.is_empty() {
                    Platform::default().arch
                } else {
                    text.to_owned()
                };
                p.arch_pos = e.value.pos();
            }
            "variant" => p.platform.variant = text.to_owned(),
            "version" => p.platform.version = text.to_owned(),
            _ => cx.unknown(e, "platform"),
        }
    }
    Ok(())
}

fn clone<'t>(node: Node<'t>, cx: &mut Context<'t>) -> Result<CloneSettings, Error> {
    let mut clone = CloneSettings::default();
    for e in entries(node, "clone")?.iter() {
        match e.key {
            "disable" => clone.disable = boolean(e.value, "disable")?,
            "depth" => clone.depth = count(e.value, "depth")?,
            "retries" => clone.retries = count(e.value, "retries")?,
            "skip_verify" => clone.skip_verify = boolean(e.value, "skip_verify")?,
            "trace" => clone.trace = boolean(e.value, "trace")?,
            _ => cx.unknown(e, "clone"),
        }
    }
    Ok(clone)
}

fn workspace<'t>(node: Node<'t>, cx: &mut Context<'t>) -> Result<Workspace, Error> {
    let mut workspace = Workspace::default();
    for e in entries(node, "workspace")?.iter() {
        match e.key {
            "base" => workspace.base = string(e.value, "base")?,
            "path" => workspace.path = string(e.value, "path")?,
            _ => cx.unknown(e, "workspace"),
        }
    }
    Ok(workspace)
}

/// The items of a list-valued key (`steps`, `services`, `volumes`); null is an empty list.
fn list<'t>(node: Node<'t>, key: &str, expected: &str) -> Result<Items<'t>, Error> {
    match node.value() {
        Value::Seq(items) => Ok(items),
        _ if node.is_null() => Ok(Items::empty(node)),
        _ => Err(Error::at(node.pos(), format!("`{key}` must be {expected}"))),
    }
}

#[cfg(test)]
mod tests;
