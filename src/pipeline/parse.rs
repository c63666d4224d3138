//! `.drone.yml` text into a [`Manifest`]: which documents are pipelines, and what each pipeline
//! key means. Values are type-checked here, with the position of the offending node; unknown
//! keys become warnings, as Drone ignores them.
//!
//! What does not live here: YAML itself (`tree`), the steps (`parse::step`), the rules that span
//! several keys or documents (`lint`).

mod step;
mod value;

use std::rc::Rc;

use super::tree::{self, Entry, Node, Value};
use super::{CloneSettings, Error, Manifest, Pipeline, PipelineType, Platform, Warning, Workspace};
use value::{boolean, count, entries, plain_map, string, strings, strings_at};

/// Parses a `.drone.yml` file: every `kind: pipeline` document, in file order.
///
/// Fails on the first YAML error, missing or unknown `kind`, or value of the wrong type; never
/// panics, whatever the input.
pub fn parse(text: &str) -> Result<Manifest, Error> {
    let mut manifest = Manifest::default();
    for root in tree::documents(text)?.into_iter().flatten() {
        let Value::Map(fields) = &root.value else {
            return Err(Error::at(
                root.pos,
                "a document must be a mapping of keys (`kind: pipeline`, `name: ...`)",
            ));
        };
        let Some(kind) = fields.iter().find(|e| e.key == "kind") else {
            return Err(Error::at(root.pos, "missing kind attribute"));
        };
        match string(&kind.value, "kind")?.as_str() {
            "pipeline" => {
                let pipeline = pipeline(&root, fields, &mut manifest.warnings)?;
                manifest.pipelines.push(pipeline);
            }
            // Read by other parts of Drone (secrets, signatures, registries, cron jobs) or by
            // its template converter; nothing here for a stage.
            "secret" | "signature" | "registry" | "cron" => {}
            "template" => manifest.warnings.push(Warning {
                pos: kind.value.pos,
                message: "`kind: template` documents are not supported; document ignored".into(),
            }),
            other => {
                return Err(Error::at(
                    kind.value.pos,
                    format!(
                        "unknown kind `{other}` (expected pipeline, secret, signature, registry, cron or template)"
                    ),
                ));
            }
        }
    }
    Ok(manifest)
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

fn pipeline(root: &Node, fields: &[Entry], warnings: &mut Vec<Warning>) -> Result<Pipeline, Error> {
    let mut p = Pipeline {
        pos: root.pos,
        name_pos: root.pos,
        os_pos: root.pos,
        arch_pos: root.pos,
        ..Pipeline::default()
    };
    for entry in fields {
        let node = &entry.value;
        match entry.key.as_str() {
            "kind" => {}
            "type" => p.pipeline_type = pipeline_type(&string(node, "type")?),
            "name" => {
                p.name = string(node, "name")?;
                p.name_pos = node.pos;
            }
            "platform" => platform(node, &mut p, warnings)?,
            "node" => p.node = plain_map(node, "node")?,
            "concurrency" => {
                for e in entries(node, "concurrency")? {
                    match e.key.as_str() {
                        "limit" => p.concurrency = count(&e.value, "limit")?,
                        _ => unknown(warnings, e, "concurrency"),
                    }
                }
            }
            "depends_on" => {
                (p.depends_on, p.depends_on_pos) =
                    strings_at(node, "depends_on")?.into_iter().unzip();
            }
            "trigger" => p.trigger = value::conditions(node, "trigger", warnings)?,
            "clone" => p.clone = clone(node, warnings)?,
            "workspace" => p.workspace = workspace(node, warnings)?,
            "environment" => p.environment = plain_map(node, "environment")?,
            "steps" => {
                for item in list(node, "steps", "a list of steps")? {
                    p.steps
                        .push(step::step(item, &mut p.trusted_only, warnings)?);
                }
            }
            "services" => {
                for item in list(node, "services", "a list of services")? {
                    p.services
                        .push(step::step(item, &mut p.trusted_only, warnings)?);
                }
            }
            "volumes" => {
                p.volumes = list(node, "volumes", "a list of volumes")?
                    .iter()
                    .map(|v| step::volume(v, &mut p.trusted_only, warnings))
                    .collect::<Result<_, _>>()?;
            }
            "image_pull_secrets" => p.image_pull_secrets = strings(node, "image_pull_secrets")?,
            k if ACCEPTED_PIPELINE_KEYS.contains(&k) => {}
            _ => unknown(warnings, entry, "pipeline"),
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
fn platform(node: &Node, p: &mut Pipeline, warnings: &mut Vec<Warning>) -> Result<(), Error> {
    let defaults = Platform::default();
    for e in entries(node, "platform")? {
        let text = string(&e.value, &e.key)?;
        match e.key.as_str() {
            "os" => {
                p.platform.os = if text.is_empty() {
                    defaults.os.clone()
                } else {
                    text
                };
                p.os_pos = e.value.pos;
            }
            "arch" => {
                p.platform.arch = if text.is_empty() {
                    defaults.arch.clone()
                } else {
                    text
                };
                p.arch_pos = e.value.pos;
            }
            "variant" => p.platform.variant = text,
            "version" => p.platform.version = text,
            _ => unknown(warnings, e, "platform"),
        }
    }
    Ok(())
}

fn clone(node: &Node, warnings: &mut Vec<Warning>) -> Result<CloneSettings, Error> {
    let mut clone = CloneSettings::default();
    for e in entries(node, "clone")? {
        match e.key.as_str() {
            "disable" => clone.disable = boolean(&e.value, "disable")?,
            "depth" => clone.depth = count(&e.value, "depth")?,
            "retries" => clone.retries = count(&e.value, "retries")?,
            "skip_verify" => clone.skip_verify = boolean(&e.value, "skip_verify")?,
            "trace" => clone.trace = boolean(&e.value, "trace")?,
            _ => unknown(warnings, e, "clone"),
        }
    }
    Ok(clone)
}

fn workspace(node: &Node, warnings: &mut Vec<Warning>) -> Result<Workspace, Error> {
    let mut workspace = Workspace::default();
    for e in entries(node, "workspace")? {
        match e.key.as_str() {
            "base" => workspace.base = string(&e.value, "base")?,
            "path" => workspace.path = string(&e.value, "path")?,
            _ => unknown(warnings, e, "workspace"),
        }
    }
    Ok(workspace)
}

/// The items of a list-valued key (`steps`, `services`, `volumes`); null is an empty list.
fn list<'a>(node: &'a Node, key: &str, expected: &str) -> Result<&'a [Rc<Node>], Error> {
    match &node.value {
        Value::Seq(items) => Ok(items),
        _ if node.is_null() => Ok(&[]),
        _ => Err(Error::at(node.pos, format!("`{key}` must be {expected}"))),
    }
}

/// Warns of an unknown key, unless its value carries an anchor: a key such as `x-defaults:
/// &defaults` is there to be merged elsewhere, which Drone allows.
fn unknown(warnings: &mut Vec<Warning>, entry: &Entry, within: &str) {
    if entry.value.anchored {
        return;
    }
    warnings.push(Warning {
        pos: entry.key_pos,
        message: format!("unknown key `{}` in {within}", entry.key),
    });
}

#[cfg(test)]
mod tests;
