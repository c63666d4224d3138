//! Reading typed values out of YAML nodes: text, booleans, counts, lists, environment maps,
//! plugin settings and conditions. Each reader names the key in its error and points at the
//! node that has the wrong type.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::super::condition::check_pattern;
use super::super::tree::{Entry, Node, Value, is_null_text};
use super::super::{Condition, Conditions, EnvValue, Error, Position, Warning};

/// The entries of a mapping-valued key; null is an empty mapping.
pub(super) fn entries<'a>(node: &'a Node, key: &str) -> Result<&'a [Entry], Error> {
    match &node.value {
        Value::Map(entries) => Ok(entries),
        _ if node.is_null() => Ok(&[]),
        _ => Err(Error::at(node.pos, format!("`{key}` must be a mapping"))),
    }
}

/// A scalar as text: numbers and booleans keep their spelling, null is empty.
pub(super) fn string(node: &Node, key: &str) -> Result<String, Error> {
    scalar(node).ok_or_else(|| Error::at(node.pos, format!("`{key}` must be a string")))
}

fn scalar(node: &Node) -> Option<String> {
    match &node.value {
        Value::Scalar { text, plain } if *plain && is_null_text(text) => Some(String::new()),
        Value::Scalar { text, .. } => Some(text.clone()),
        _ => None,
    }
}

/// A boolean, with the spellings Drone's YAML library accepts (`true`, `yes`, `on`, ...).
pub(super) fn boolean(node: &Node, key: &str) -> Result<bool, Error> {
    if node.is_null() {
        return Ok(false);
    }
    let parsed = match &node.value {
        Value::Scalar { text, .. } => match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "on" => Some(true),
            "false" | "no" | "n" | "off" => Some(false),
            _ => None,
        },
        _ => None,
    };
    parsed.ok_or_else(|| Error::at(node.pos, format!("`{key}` must be true or false")))
}

/// A whole number from 0 up; null is 0.
pub(super) fn count(node: &Node, key: &str) -> Result<u32, Error> {
    if node.is_null() {
        return Ok(0);
    }
    match &node.value {
        Value::Scalar { text, .. } => text.trim().parse::<u32>().ok(),
        _ => None,
    }
    .ok_or_else(|| {
        Error::at(
            node.pos,
            format!("`{key}` must be a whole number from 0 up"),
        )
    })
}

/// A list of strings; a single string is a list of one, null an empty list.
pub(super) fn strings(node: &Node, key: &str) -> Result<Vec<String>, Error> {
    Ok(strings_at(node, key)?
        .into_iter()
        .map(|(text, _)| text)
        .collect())
}

/// Like [`strings`], with where each string is.
pub(super) fn strings_at(node: &Node, key: &str) -> Result<Vec<(String, Position)>, Error> {
    let not_strings = |pos| {
        let hint = if key.contains("command") {
            " (quote a command that contains `: `)"
        } else {
            ""
        };
        Error::at(pos, format!("`{key}` must be a list of strings{hint}"))
    };
    match &node.value {
        _ if node.is_null() => Ok(Vec::new()),
        Value::Scalar { .. } => Ok(vec![(string(node, key)?, node.pos)]),
        Value::Seq(items) => items
            .iter()
            .map(|item| {
                scalar(item)
                    .map(|text| (text, item.pos))
                    .ok_or_else(|| not_strings(item.pos))
            })
            .collect(),
        Value::Map(_) => Err(not_strings(node.pos)),
    }
}

/// A mapping of names to plain text (`node:`, the pipeline's `environment:`).
pub(super) fn plain_map(node: &Node, key: &str) -> Result<BTreeMap<String, String>, Error> {
    entries(node, key)?
        .iter()
        .map(|e| {
            let text = scalar(&e.value).ok_or_else(|| {
                Error::at(
                    e.value.pos,
                    format!("`{key}` value `{}` must be a string", e.key),
                )
            })?;
            Ok((e.key.clone(), text))
        })
        .collect()
}

/// A step's `environment:`: each value text or `{from_secret: name}`.
pub(super) fn env(node: &Node) -> Result<BTreeMap<String, EnvValue>, Error> {
    entries(node, "environment")?
        .iter()
        .map(|e| {
            let value = if let Some(text) = scalar(&e.value) {
                EnvValue::Text(text)
            } else if let Some(secret) = from_secret(&e.value)? {
                secret
            } else {
                return Err(Error::at(
                    e.value.pos,
                    format!(
                        "environment variable `{}` must be a string or `{{from_secret: name}}`",
                        e.key
                    ),
                ));
            };
            Ok((e.key.clone(), value))
        })
        .collect()
}

/// `{from_secret: name}`, if that is what `node` is.
fn from_secret(node: &Node) -> Result<Option<EnvValue>, Error> {
    match &node.value {
        Value::Map(entries) if entries.len() == 1 && entries[0].key == "from_secret" => Ok(Some(
            EnvValue::FromSecret(string(&entries[0].value, "from_secret")?),
        )),
        _ => Ok(None),
    }
}

/// A plugin step's `settings:`, encoded as Drone hands them to the plugin: text as is,
/// `{from_secret}` by name, a list of scalars joined with commas, anything else as JSON.
pub(super) fn settings(node: &Node) -> Result<BTreeMap<String, EnvValue>, Error> {
    entries(node, "settings")?
        .iter()
        .map(|e| {
            let value = if let Some(text) = scalar(&e.value) {
                EnvValue::Text(text)
            } else if let Some(secret) = from_secret(&e.value)? {
                secret
            } else if let Value::Seq(items) = &e.value.value
                && let Some(texts) = items
                    .iter()
                    .map(|item| scalar(item))
                    .collect::<Option<Vec<_>>>()
            {
                EnvValue::Text(texts.join(","))
            } else {
                EnvValue::Text(json(&e.value).to_string())
            };
            Ok((e.key.clone(), value))
        })
        .collect()
}

/// A node as JSON, resolving plain scalars as YAML does (null, booleans, numbers). The tree's
/// depth is bounded, so the recursion is too.
fn json(node: &Node) -> Json {
    match &node.value {
        Value::Scalar { text, plain: false } => Json::String(text.clone()),
        Value::Scalar { text, plain: true } => {
            if is_null_text(text) {
                Json::Null
            } else if let Ok(b) = text.parse::<bool>() {
                Json::Bool(b)
            } else if let Ok(i) = text.parse::<i64>() {
                Json::from(i)
            } else if let Some(f) = text
                .parse::<f64>()
                .ok()
                .filter(|_| text.starts_with(|c: char| c.is_ascii_digit() || c == '-'))
                .and_then(serde_json::Number::from_f64)
            {
                Json::Number(f)
            } else {
                Json::String(text.clone())
            }
        }
        Value::Seq(items) => Json::Array(items.iter().map(|item| json(item)).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|e| (e.key.clone(), json(&e.value)))
                .collect(),
        ),
    }
}

/// `trigger:` or `when:`.
pub(super) fn conditions(
    node: &Node,
    within: &str,
    warnings: &mut Vec<Warning>,
) -> Result<Conditions, Error> {
    let mut c = Conditions::default();
    for e in entries(node, within)? {
        let slot = match e.key.as_str() {
            "branch" => &mut c.branch,
            "event" => &mut c.event,
            "ref" => &mut c.git_ref,
            "repo" => &mut c.repo,
            "instance" => &mut c.instance,
            "status" => &mut c.status,
            "target" => &mut c.target,
            "cron" => &mut c.cron,
            "action" => &mut c.action,
            "paths" => &mut c.paths,
            // Drone 0.8's matrix builds; no 1.x runner reads it.
            "matrix" => continue,
            _ => {
                warnings.push(Warning {
                    pos: e.key_pos,
                    message: format!("unknown key `{}` in {within}", e.key),
                });
                continue;
            }
        };
        *slot = condition(&e.value, &e.key, warnings)?;
    }
    Ok(c)
}

/// One condition: a pattern, a list of patterns, or `{include, exclude}`.
fn condition(node: &Node, key: &str, warnings: &mut Vec<Warning>) -> Result<Condition, Error> {
    let mut condition = Condition::default();
    match &node.value {
        Value::Map(entries) => {
            for e in entries {
                match e.key.as_str() {
                    "include" => condition.include = patterns(&e.value, key)?,
                    "exclude" => condition.exclude = patterns(&e.value, key)?,
                    _ => warnings.push(Warning {
                        pos: e.key_pos,
                        message: format!(
                            "unknown key `{}` in `{key}` (expected include or exclude)",
                            e.key
                        ),
                    }),
                }
            }
        }
        _ => condition.include = patterns(node, key)?,
    }
    Ok(condition)
}

fn patterns(node: &Node, key: &str) -> Result<Vec<String>, Error> {
    strings_at(node, key)?
        .into_iter()
        .map(|(pattern, pos)| {
            check_pattern(&pattern).map_err(|why| {
                Error::at(
                    pos,
                    format!("invalid pattern `{pattern}` in `{key}`: {why}"),
                )
            })?;
            Ok(pattern)
        })
        .collect()
}
