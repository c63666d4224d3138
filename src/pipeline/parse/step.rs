//! Steps, services and pipeline volumes, and the trusted-only features they use (privileged
//! mode, devices, host networking, host ports and paths, in-memory volumes), recorded with
//! their position for `lint` to refuse in untrusted repositories.

use super::super::tree::{Entry, Node, Value};
use super::super::{Error, Failure, Position, Step, Volume, VolumeMount, VolumeSource};
use super::value::{
    boolean, conditions, each_string, entries, env, settings, string, strings, strings_at, text,
};
use super::{Context, list};

/// Keys of Drone's docker runner that Hangar accepts without using them.
const ACCEPTED_STEP_KEYS: &[&str] = &["push", "resources", "mem_limit", "memswap_limit"];

/// Reads one entry of `steps:` or `services:`.
pub(super) fn step<'t>(
    node: Node<'t>,
    trusted_only: &mut Vec<(Position, String)>,
    cx: &mut Context<'t>,
) -> Result<Step, Error> {
    let Value::Map(fields) = node.value() else {
        return Err(Error::at(
            node.pos(),
            "a step must be a mapping (`- name: ...`)",
        ));
    };
    let mut s = Step {
        pos: node.pos(),
        name_pos: node.pos(),
        ..Step::default()
    };
    let mut trusted = |pos: Position, feature: &str| trusted_only.push((pos, feature.to_string()));
    for e in fields.iter() {
        let value = e.value;
        match e.key {
            "name" => {
                s.name = string(value, "name")?;
                s.name_pos = value.pos();
            }
            "image" => s.image = string(value, "image")?,
            "pull" => s.pull = string(value, "pull")?,
            "commands" => s.commands = strings(value, "commands")?,
            "command" => s.command = strings(value, "command")?,
            "entrypoint" => s.entrypoint = strings(value, "entrypoint")?,
            "shell" => s.shell = string(value, "shell")?,
            "environment" => s.environment = env(value)?,
            "settings" => s.settings = settings(value)?,
            "id_tokens" => s.id_tokens = id_tokens(value, cx)?,
            "when" => s.when = conditions(value, "when", cx)?,
            "depends_on" => (s.depends_on, s.depends_on_pos) = strings_at(value, "depends_on")?,
            "detach" => s.detach = boolean(value, "detach")?,
            "failure" => s.failure = failure(value, cx)?,
            "privileged" => {
                s.privileged = boolean(value, "privileged")?;
                if s.privileged {
                    trusted(value.pos(), "privileged mode");
                }
            }
            "user" => s.user = string(value, "user")?,
            "working_dir" => s.working_dir = string(value, "working_dir")?,
            "volumes" => {
                let items = list(value, "volumes", "a list of `{name, path}` mounts")?;
                s.volumes = Vec::with_capacity(items.len());
                for item in items.iter() {
                    s.volumes.push(mount(item, cx)?);
                }
            }
            "devices" => {
                if !list(value, "devices", "a list of `{name, path}` devices")?.is_empty() {
                    trusted(value.pos(), "mounting devices");
                }
            }
            key @ ("dns" | "dns_search" | "extra_hosts") => {
                if each_string(value, key, |_, _| {})? > 0 {
                    trusted(value.pos(), &format!("`{key}`"));
                }
            }
            "network_mode" => {
                if !text(value, "network_mode")?.is_empty() {
                    trusted(value.pos(), "`network_mode`");
                }
            }
            "shm_size" => {
                if !matches!(text(value, "shm_size")?, "" | "0") {
                    trusted(value.pos(), "`shm_size`");
                }
            }
            "ports" => {
                for port in list(value, "ports", "a list of ports")?.iter() {
                    if maps_host_port(port)? {
                        trusted(port.pos(), "mapping a host port");
                    }
                }
            }
            "build" => s.build_image = build_image(value)?,
            key if key.starts_with("cpu_") || ACCEPTED_STEP_KEYS.contains(&key) => {}
            _ => cx.unknown(e, "step"),
        }
    }
    Ok(s)
}

/// `id_tokens:`: `NAME: {aud: AUDIENCE}` for each variable to receive an ID token.
fn id_tokens<'t>(
    node: Node<'t>,
    cx: &mut Context<'t>,
) -> Result<std::collections::BTreeMap<String, String>, Error> {
    let mut out = std::collections::BTreeMap::new();
    for e in entries(node, "id_tokens")?.iter() {
        let valid_name = !e.key.is_empty()
            && e.key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !e.key.starts_with(|c: char| c.is_ascii_digit());
        if !valid_name {
            return Err(Error::at(
                e.value.pos(),
                format!(
                    "`id_tokens` name `{}` must be a variable name (letters, digits, _)",
                    e.key
                ),
            ));
        }
        let mut aud = String::new();
        for f in entries(e.value, "id_tokens")?.iter() {
            match f.key {
                "aud" => aud = string(f.value, "aud")?,
                _ => cx.unknown(f, "id token"),
            }
        }
        if aud.is_empty() || aud.contains('*') || aud.contains(char::is_whitespace) {
            return Err(Error::at(
                e.value.pos(),
                format!(
                    "`id_tokens.{}` needs `aud:`, one audience without `*` or spaces",
                    e.key
                ),
            ));
        }
        out.insert(e.key.to_owned(), aud);
    }
    Ok(out)
}

/// `failure:`: `ignore`, or one of the spellings of the default.
fn failure(node: Node<'_>, cx: &mut Context<'_>) -> Result<Failure, Error> {
    match text(node, "failure")? {
        "ignore" => Ok(Failure::Ignore),
        "" | "fail" | "fast" | "fail-fast" | "fail_fast" | "always" => Ok(Failure::Fail),
        other => {
            cx.warn(
                node.pos(),
                format!(
                    "unknown `failure` value `{other}` (expected ignore); the step's failure fails the stage"
                ),
            );
            Ok(Failure::Fail)
        }
    }
}

/// A `ports:` entry: a port, or `{port, host, protocol}` where a non-zero `host` binds the
/// runner's own port.
fn maps_host_port(node: Node<'_>) -> Result<bool, Error> {
    match node.value() {
        Value::Scalar { .. } => Ok(false),
        Value::Map(fields) => match fields.get("host") {
            Some(e) => Ok(!matches!(text(e.value, "host")?, "" | "0")),
            None => Ok(false),
        },
        Value::Seq(_) => Err(Error::at(
            node.pos(),
            "a port must be a number or `{port, host, protocol}`",
        )),
    }
}

/// `build:` is either the image name or `{image, context, dockerfile, ...}`.
fn build_image(node: Node<'_>) -> Result<Option<String>, Error> {
    match node.value() {
        _ if node.is_null() => Ok(None),
        Value::Scalar { .. } => Ok(Some(string(node, "build")?)),
        Value::Map(fields) => match fields.get("image") {
            Some(e) => Ok(Some(string(e.value, "image")?)),
            None => Ok(Some(String::new())),
        },
        Value::Seq(_) => Err(Error::at(
            node.pos(),
            "`build` must be an image name or a mapping",
        )),
    }
}

/// A step's volume mount: `{name, path}`.
fn mount<'t>(node: Node<'t>, cx: &mut Context<'t>) -> Result<VolumeMount, Error> {
    let mut mount = VolumeMount {
        pos: node.pos(),
        ..VolumeMount::default()
    };
    for e in entries(node, "volumes")?.iter() {
        match e.key {
            "name" => mount.name = string(e.value, "name")?,
            "path" => mount.path = string(e.value, "path")?,
            _ => cx.unknown(e, "volume mount"),
        }
    }
    Ok(mount)
}

/// A pipeline `volumes:` entry: `{name, temp: {medium, size_limit}}`, `{name, host: {path}}`,
/// or a kubernetes source.
pub(super) fn volume<'t>(
    node: Node<'t>,
    trusted_only: &mut Vec<(Position, String)>,
    cx: &mut Context<'t>,
) -> Result<Volume, Error> {
    let mut volume = Volume {
        pos: node.pos(),
        ..Volume::default()
    };
    for e in entries(node, "volumes")?.iter() {
        match e.key {
            "name" => volume.name = string(e.value, "name")?,
            "temp" => {
                if medium(e, cx)? == "memory" {
                    volume.source = VolumeSource::Memory;
                    trusted_only.push((e.value.pos(), "an in-memory volume".into()));
                }
            }
            "host" => {
                let mut path = String::new();
                for h in entries(e.value, "host")?.iter() {
                    match h.key {
                        "path" => path = string(h.value, "path")?,
                        _ => cx.unknown(h, "host volume"),
                    }
                }
                volume.source = VolumeSource::Host(path);
                trusted_only.push((e.value.pos(), "a host path volume".into()));
            }
            "claim" | "config_map" | "secret" => {
                volume.source = VolumeSource::Other(e.key.to_owned());
            }
            _ => cx.unknown(e, "volume"),
        }
    }
    Ok(volume)
}

fn medium<'t>(temp: Entry<'t>, cx: &mut Context<'t>) -> Result<&'t str, Error> {
    let mut medium = "";
    for e in entries(temp.value, "temp")?.iter() {
        match e.key {
            "medium" => medium = text(e.value, "medium")?,
            "size_limit" => {}
            _ => cx.unknown(e, "temp volume"),
        }
    }
    Ok(medium)
}
