//! Steps, services and pipeline volumes, and the trusted-only features they use (privileged
//! mode, devices, host networking, host ports and paths, in-memory volumes), recorded with
//! their position for `lint` to refuse in untrusted repositories.

use super::super::tree::{Entry, Node, Value};
use super::super::{Error, Failure, Position, Step, Volume, VolumeMount, VolumeSource, Warning};
use super::value::{boolean, conditions, entries, env, settings, string, strings, strings_at};
use super::{list, unknown};

/// Keys of Drone's docker runner that Hangar accepts without using them.
const ACCEPTED_STEP_KEYS: &[&str] = &["push", "resources", "mem_limit", "memswap_limit"];

/// Reads one entry of `steps:` or `services:`.
pub(super) fn step(
    node: &Node,
    trusted_only: &mut Vec<(Position, String)>,
    warnings: &mut Vec<Warning>,
) -> Result<Step, Error> {
    let Value::Map(fields) = &node.value else {
        return Err(Error::at(
            node.pos,
            "a step must be a mapping (`- name: ...`)",
        ));
    };
    let mut s = Step {
        pos: node.pos,
        name_pos: node.pos,
        ..Step::default()
    };
    let mut trusted = |pos: Position, feature: &str| trusted_only.push((pos, feature.to_string()));
    for e in fields {
        let value = &*e.value;
        match e.key.as_str() {
            "name" => {
                s.name = string(value, "name")?;
                s.name_pos = value.pos;
            }
            "image" => s.image = string(value, "image")?,
            "pull" => s.pull = string(value, "pull")?,
            "commands" => s.commands = strings(value, "commands")?,
            "command" => s.command = strings(value, "command")?,
            "entrypoint" => s.entrypoint = strings(value, "entrypoint")?,
            "shell" => s.shell = string(value, "shell")?,
            "environment" => s.environment = env(value)?,
            "settings" => s.settings = settings(value)?,
            "when" => s.when = conditions(value, "when", warnings)?,
            "depends_on" => {
                (s.depends_on, s.depends_on_pos) =
                    strings_at(value, "depends_on")?.into_iter().unzip();
            }
            "detach" => s.detach = boolean(value, "detach")?,
            "failure" => s.failure = failure(value, warnings)?,
            "privileged" => {
                s.privileged = boolean(value, "privileged")?;
                if s.privileged {
                    trusted(value.pos, "privileged mode");
                }
            }
            "user" => s.user = string(value, "user")?,
            "working_dir" => s.working_dir = string(value, "working_dir")?,
            "volumes" => {
                s.volumes = list(value, "volumes", "a list of `{name, path}` mounts")?
                    .iter()
                    .map(|m| mount(m, warnings))
                    .collect::<Result<_, _>>()?;
            }
            "devices" => {
                if !list(value, "devices", "a list of `{name, path}` devices")?.is_empty() {
                    trusted(value.pos, "mounting devices");
                }
            }
            key @ ("dns" | "dns_search" | "extra_hosts") => {
                if !strings(value, key)?.is_empty() {
                    trusted(value.pos, &format!("`{key}`"));
                }
            }
            "network_mode" => {
                if !string(value, "network_mode")?.is_empty() {
                    trusted(value.pos, "`network_mode`");
                }
            }
            "shm_size" => {
                if !matches!(string(value, "shm_size")?.as_str(), "" | "0") {
                    trusted(value.pos, "`shm_size`");
                }
            }
            "ports" => {
                for port in list(value, "ports", "a list of ports")? {
                    if maps_host_port(port)? {
                        trusted(port.pos, "mapping a host port");
                    }
                }
            }
            "build" => s.build_image = build_image(value)?,
            key if key.starts_with("cpu_") || ACCEPTED_STEP_KEYS.contains(&key) => {}
            _ => unknown(warnings, e, "step"),
        }
    }
    Ok(s)
}

/// `failure:`: `ignore`, or one of the spellings of the default.
fn failure(node: &Node, warnings: &mut Vec<Warning>) -> Result<Failure, Error> {
    match string(node, "failure")?.as_str() {
        "ignore" => Ok(Failure::Ignore),
        "" | "fail" | "fast" | "fail-fast" | "fail_fast" | "always" => Ok(Failure::Fail),
        other => {
            warnings.push(Warning {
                pos: node.pos,
                message: format!(
                    "unknown `failure` value `{other}` (expected ignore); the step's failure fails the stage"
                ),
            });
            Ok(Failure::Fail)
        }
    }
}

/// A `ports:` entry: a port, or `{port, host, protocol}` where a non-zero `host` binds the
/// runner's own port.
fn maps_host_port(node: &Node) -> Result<bool, Error> {
    match &node.value {
        Value::Scalar { .. } => Ok(false),
        Value::Map(fields) => match fields.iter().find(|e| e.key == "host") {
            Some(e) => Ok(!matches!(string(&e.value, "host")?.as_str(), "" | "0")),
            None => Ok(false),
        },
        Value::Seq(_) => Err(Error::at(
            node.pos,
            "a port must be a number or `{port, host, protocol}`",
        )),
    }
}

/// `build:` is either the image name or `{image, context, dockerfile, ...}`.
fn build_image(node: &Node) -> Result<Option<String>, Error> {
    match &node.value {
        _ if node.is_null() => Ok(None),
        Value::Scalar { .. } => Ok(Some(string(node, "build")?)),
        Value::Map(fields) => match fields.iter().find(|e| e.key == "image") {
            Some(e) => Ok(Some(string(&e.value, "image")?)),
            None => Ok(Some(String::new())),
        },
        Value::Seq(_) => Err(Error::at(
            node.pos,
            "`build` must be an image name or a mapping",
        )),
    }
}

/// A step's volume mount: `{name, path}`.
fn mount(node: &Node, warnings: &mut Vec<Warning>) -> Result<VolumeMount, Error> {
    let mut mount = VolumeMount {
        pos: node.pos,
        ..VolumeMount::default()
    };
    for e in entries(node, "volumes")? {
        match e.key.as_str() {
            "name" => mount.name = string(&e.value, "name")?,
            "path" => mount.path = string(&e.value, "path")?,
            _ => unknown(warnings, e, "volume mount"),
        }
    }
    Ok(mount)
}

/// A pipeline `volumes:` entry: `{name, temp: {medium, size_limit}}`, `{name, host: {path}}`,
/// or a kubernetes source.
pub(super) fn volume(
    node: &Node,
    trusted_only: &mut Vec<(Position, String)>,
    warnings: &mut Vec<Warning>,
) -> Result<Volume, Error> {
    let mut volume = Volume {
        pos: node.pos,
        ..Volume::default()
    };
    for e in entries(node, "volumes")? {
        match e.key.as_str() {
            "name" => volume.name = string(&e.value, "name")?,
            "temp" => {
                if medium(e, warnings)? == "memory" {
                    volume.source = VolumeSource::Memory;
                    trusted_only.push((e.value.pos, "an in-memory volume".into()));
                }
            }
            "host" => {
                let mut path = String::new();
                for h in entries(&e.value, "host")? {
                    match h.key.as_str() {
                        "path" => path = string(&h.value, "path")?,
                        _ => unknown(warnings, h, "host volume"),
                    }
                }
                volume.source = VolumeSource::Host(path);
                trusted_only.push((e.value.pos, "a host path volume".into()));
            }
            "claim" | "config_map" | "secret" => volume.source = VolumeSource::Other(e.key.clone()),
            _ => unknown(warnings, e, "volume"),
        }
    }
    Ok(volume)
}

fn medium(temp: &Entry, warnings: &mut Vec<Warning>) -> Result<String, Error> {
    let mut medium = String::new();
    for e in entries(&temp.value, "temp")? {
        match e.key.as_str() {
            "medium" => medium = string(&e.value, "medium")?,
            "size_limit" => {}
            _ => unknown(warnings, e, "temp volume"),
        }
    }
    Ok(medium)
}
