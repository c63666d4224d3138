//! Reading typed values out of YAML nodes: text, booleans, counts, lists, environment maps,
//! plugin settings and conditions. Each reader names the key in its error and points at the
//! node that has the wrong type. Readers borrow text from the tree and copy only what the
//! manifest keeps.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::super::tree::{Entries, Node, Value, is_null_text};
use super::super::{Condition, Conditions, EnvValue, Error, Position};
use super::Context;

/// The entries of a mapping-valued key; null is an empty mapping.
pub(super) fn entries<'t>(node: Node<'t>, key: &str) -> Result<Entries<'t>, Error> {
    match node.value() {
        Value::Map(entries) => Ok(entries),
        _ if node.is_null() => Ok(Entries::empty(node)),
        _ => Err(Error::at(node.pos(), format!("`{key}` must be a mapping"))),
    }
}

/// A scalar's text, borrowed from the tree: numbers and booleans keep their spelling, null is
/// empty.
pub(super) fn text<'t>(node: Node<'t>, key: &str) -> Result<&'t str, Error> {
    scalar(node).ok_or_else(|| Error::at(node.pos(), format!("`{key}` must be a string")))
}

/// Like [`text`], as an owned string for the manifest.
pub(super) fn string(node: Node<'_>, key: &str) -> Result<String, Error> {
    text(node, key).map(str::to_owned)
}

pub(super) fn scalar(node: Node<'_>) -> Option<&str> {
    match node.value() {
        Value::Scalar { text, plain } if plain && is_null_text(text) => Some(""),
        Value::Scalar { text, .. } => Some(text),
        _ => None,
    }
}

/// A boolean, with the spellings Drone's YAML library accepts (`true`, `yes`, `on`, ...), in
/// any case.
pub(super) fn boolean(node: Node<'_>, key: &str) -> Result<bool, Error> {
    if node.is_null() {
        return Ok(false);
    }
    let spelled = |text: &str, words: &[&str]| words.iter().any(|w| text.eq_ignore_ascii_case(w));
    let parsed = match node.value() {
        Value::Scalar { text, .. } if spelled(text, &["true", "yes", "y", "on"]) => Some(true),
        Value::Scalar { text, .. } if spelled(text, &["false", "no", "n", "off"]) => Some(false),
        _ => None,
    };
    parsed.ok_or_else(|| Error::at(node.pos(), format!("`{key}` must be true or false")))
}

/// A whole number from 0 up; null is 0.
pub(super) fn count(node: Node<'_>, key: &str) -> Result<u32, Error> {
    if node.is_null() {
        return Ok(0);
    }
    match node.value() {
        Value::Scalar { text, .. } => text.trim().parse::<u32>().ok(),
        _ => None,
    }
    .ok_or_else(|| {
        Error::at(
            node.pos(),
            format!("`{key}` must be a whole number from 0 up"),
        )
    })
}

/// Calls `each` with every string of a list of strings, and where it is; a single string is a
/// list of one, null an empty list. Returns how many there were.
pub(super) fn each_string<'t>(
    node: Node<'t>,
    key: &str,
    mut each: impl FnMut(&'t str, Position),
) -> Result<usize, Error> {
    let not_strings = |pos| {
        let hint = if key.contains("command") {
            " (quote a command that contains `: `)"
        } else {
            ""
        };
        Error::at(pos, format!("`{key}` must be a list of strings{hint}"))
    };
    match node.value() {
        _ if node.is_null() => Ok(0),
        Value::Scalar { .. } => {
            each(text(node, key)?, node.pos());
            Ok(1)
        }
        Value::Seq(items) => {
            for item in items.iter() {
                each(
                    scalar(item).ok_or_else(|| not_strings(item.pos()))?,
                    item.pos(),
                );
            }
            Ok(items.len())
        }
        Value::Map(_) => Err(not_strings(node.pos())),
    }
}

/// How many strings a list of strings may hold: the size to reserve for it.
fn list_len(node: Node<'_>) -> usize {
    match node.value() {
        Value::Seq(items) => items.len(),
        _ if node.is_null() => 0,
        _ => 1,
    }
}

/// A list of strings; a single string is a list of one, null an empty list.
pub(super) fn strings(node: Node<'_>, key: &str) -> Result<Vec<String>, Error> {
    let mut strings = Vec::with_capacity(list_len(node));
    each_string(node, key, |text, _| strings.push(text.to_owned()))?;
    Ok(strings)
}

/// Like [`strings`], with where each string is.
pub(super) fn strings_at(node: Node<'_>, key: &str) -> Result<(Vec<String>, Vec<Position>), Error> {
    let mut strings = Vec::with_capacity(list_len(node));
    let mut positions = Vec::with_capacity(list_len(node));
    each_string(node, key, |text, pos| {
        strings.push(text.to_owned());
        positions.push(pos);
    })?;
    Ok((strings, positions))
}

/// A mapping of names to plain text (`node:`, the pipeline's `environment:`).
pub(super) fn plain_map(node: Node<'_>, key: &str) -> Result<BTreeMap<String, String>, Error> {
    let mut map = BTreeMap::new();
    for e in entries(node, key)?.iter() {
        let text = scalar(e.value).ok_or_else(|| {
            Error::at(
                e.value.pos(),
                format!("`{key}` value `{}` must be a string", e.key),
            )
        })?;
        map.insert(e.key.to_owned(), text.to_owned());
    }
    Ok(map)
}

/// A step's `environment:`: each value text or `{from_secret: name}`.
pub(super) fn env(node: Node<'_>) -> Result<BTreeMap<String, EnvValue>, Error> {
    let mut map = BTreeMap::new();
    for e in entries(node, "environment")?.iter() {
        let value = if let Some(text) = scalar(e.value) {
            EnvValue::Text(text.to_owned())
        } else if let Some(secret) = from_secret(e.value)? {
            secret
        } else {
            return Err(Error::at(
                e.value.pos(),
                format!(
                    "environment variable `{}` must be a string or `{{from_secret: name}}`",
                    e.key
                ),
            ));
        };
        map.insert(e.key.to_owned(), value);
    }
    Ok(map)
}

/// `{from_secret: name}`, if that is what `node` is.
fn from_secret(node: Node<'_>) -> Result<Option<EnvValue>, Error> {
    match node.value() {
        Value::Map(entries) if entries.len() == 1 => match entries.get("from_secret") {
            Some(e) => Ok(Some(EnvValue::FromSecret(string(e.value, "from_secret")?))),
            None => Ok(None),
        },
        _ => Ok(None),
    }
}

/// A plugin step's `settings:`, encoded as Drone hands them to the plugin: text as is,
/// `{from_secret}` by name, a list of scalars joined with commas, anything else as JSON.
pub(super) fn settings(node: Node<'_>) -> Result<BTreeMap<String, EnvValue>, Error> {
    let mut map = BTreeMap::new();
    for e in entries(node, "settings")?.iter() {
        let value = if let Some(text) = scalar(e.value) {
            EnvValue::Text(text.to_owned())
        } else if let Some(secret) = from_secret(e.value)? {
            secret
        } else if let Value::Seq(items) = e.value.value()
            && items.iter().all(|item| scalar(item).is_some())
        {
            let mut joined = String::new();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    joined.push(',');
                }
                joined.push_str(scalar(item).unwrap_or_default());
            }
            EnvValue::Text(joined)
        } else {
            EnvValue::Text(json(e.value).to_string())
        };
        map.insert(e.key.to_owned(), value);
    }
    Ok(map)
}

/// A node as JSON, resolving plain scalars as YAML does (null, booleans, numbers). The tree's
/// depth is bounded, so the recursion is too.
fn json(node: Node<'_>) -> Json {
    match node.value() {
        Value::Scalar { text, plain: false } => Json::String(text.to_owned()),
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
                Json::String(text.to_owned())
            }
        }
        Value::Seq(items) => Json::Array(items.iter().map(json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|e| (e.key.to_owned(), json(e.value)))
                .collect(),
        ),
    }
}

/// `trigger:` or `when:`.
pub(super) fn conditions<'t>(
    node: Node<'t>,
    within: &str,
    cx: &mut Context<'t>,
) -> Result<Conditions, Error> {
    let mut c = Conditions::default();
    for e in entries(node, within)?.iter() {
        let slot = match e.key {
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
                cx.warn(e.key_pos, format!("unknown key `{}` in {within}", e.key));
                continue;
            }
        };
        *slot = condition(e.value, e.key, cx)?;
    }
    Ok(c)
}

/// One condition: a pattern, a list of patterns, or `{include, exclude}`.
fn condition<'t>(node: Node<'t>, key: &str, cx: &mut Context<'t>) -> Result<Condition, Error> {
    let mut condition = Condition::default();
    match node.value() {
        Value::Map(entries) => {
            for e in entries.iter() {
                match e.key {
                    "include" => condition.include = patterns(e.value, key, cx)?,
                    "exclude" => condition.exclude = patterns(e.value, key, cx)?,
                    _ => cx.warn(
                        e.key_pos,
                        format!(
                            "unknown key `{}` in `{key}` (expected include or exclude)",
                            e.key
                        ),
                    ),
                }
            }
        }
        _ => condition.include = patterns(node, key, cx)?,
    }
    Ok(condition)
}

/// A list of globs. A non-string item is reported before an invalid glob, wherever each is.
fn patterns<'t>(node: Node<'t>, key: &str, cx: &mut Context<'t>) -> Result<Vec<String>, Error> {
    let mut patterns = Vec::with_capacity(list_len(node));
    let mut invalid = None;
    each_string(node, key, |pattern, pos| {
        patterns.push(pattern.to_owned());
        if invalid.is_none()
            && let Err(why) = cx.check_pattern(pattern)
        {
            invalid = Some(Error::at(
                pos,
                format!("invalid pattern `{pattern}` in `{key}`: {why}"),
            ));
        }
    })?;
    invalid.map_or(Ok(patterns), Err)
}
