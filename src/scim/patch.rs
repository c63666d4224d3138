//! PATCH (RFC 7644 §3.5.2) as Okta and Entra ID send it: `op` in any case (`Replace`, `add`);
//! operations without `path` whose value is an object of attributes (dotted names such as
//! `name.givenName` included); value filters in paths (`emails[type eq "work"].value`,
//! `members[value eq "id"]`); and Entra ID's member removal with a value list instead of a
//! filter. A removal of `members` that names nobody is refused: it never clears a group.
//!
//! Users are patched as a JSON document (the resource as shown), which is then read again like
//! a PUT body; groups become a list of [`GroupOp`]s.

use super::Bad;
use super::filter::{self, Attr, Filter, Literal, Op, Resource};
use super::resource::member_ids;
use serde_json::{Map, Value};

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Add,
    Replace,
    Remove,
}

/// One operation of a PATCH request.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub kind: Kind,
    pub path: Option<String>,
    pub value: Option<Value>,
}

/// The most operations one request may carry.
const MAX_OPERATIONS: usize = 1000;

/// The operations of a PATCH body (`{"schemas": [...PatchOp], "Operations": [...]}`).
pub fn operations(body: &Value) -> Result<Vec<Operation>, Bad> {
    let obj = body
        .as_object()
        .ok_or_else(|| Bad::new("invalidSyntax", "a PATCH body must be a JSON object"))?;
    let ops = super::resource::get(obj, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| Bad::new("invalidSyntax", "a PATCH body needs an \"Operations\" list"))?;
    if ops.is_empty() || ops.len() > MAX_OPERATIONS {
        return Err(Bad::new(
            "invalidSyntax",
            format!("\"Operations\" must hold 1 to {MAX_OPERATIONS} operations"),
        ));
    }
    ops.iter()
        .map(|op| {
            let o = op
                .as_object()
                .ok_or_else(|| Bad::new("invalidSyntax", "each operation must be an object"))?;
            let name = super::resource::get(o, "op")
                .and_then(Value::as_str)
                .unwrap_or("");
            let kind = match name.to_ascii_lowercase().as_str() {
                "add" => Kind::Add,
                "replace" => Kind::Replace,
                "remove" => Kind::Remove,
                _ => {
                    return Err(Bad::new(
                        "invalidSyntax",
                        format!("op must be add, replace or remove, not {name:?}"),
                    ));
                }
            };
            let path = super::resource::get(o, "path")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string);
            let value = super::resource::get(o, "value").cloned();
            if kind != Kind::Remove && value.is_none() {
                return Err(Bad::new("invalidSyntax", format!("{name} needs a value")));
            }
            if path.is_none() && kind == Kind::Remove {
                return Err(Bad::new("noTarget", "remove needs a path"));
            }
            if path.is_none() && !value.as_ref().is_some_and(Value::is_object) {
                return Err(Bad::new(
                    "invalidSyntax",
                    format!("{name} without a path needs an object of attributes as its value"),
                ));
            }
            Ok(Operation { kind, path, value })
        })
        .collect()
}

/// `path` without the core schema's URN.
fn strip_urn(path: &str) -> &str {
    const CORE: [&str; 2] = [
        "urn:ietf:params:scim:schemas:core:2.0:User:",
        "urn:ietf:params:scim:schemas:core:2.0:Group:",
    ];
    for urn in CORE {
        if let (Some(head), Some(rest)) = (path.get(..urn.len()), path.get(urn.len()..))
            && !rest.is_empty()
            && head.eq_ignore_ascii_case(urn)
        {
            return rest;
        }
    }
    path
}

/// A parsed attribute path: `attr`, `attr.sub`, `attr[key eq "v"]`, `attr[key eq "v"].sub`,
/// or an extension's `urn:...:User:attr`.
#[derive(Debug, PartialEq, Eq)]
struct Path {
    attr: String,
    select: Option<(String, String)>,
    sub: Option<String>,
}

fn path(text: &str) -> Result<Path, Bad> {
    let text = strip_urn(text);
    let bad = || Bad::new("invalidPath", format!("cannot read the path {text:?}"));
    if text.to_ascii_lowercase().starts_with("urn:") {
        // An extension schema: the URN is the attribute, what follows its last ':' the sub.
        let (urn, sub) = text.rsplit_once(':').ok_or_else(bad)?;
        return Ok(Path {
            attr: urn.to_string(),
            select: None,
            sub: Some(sub.to_string()),
        });
    }
    let (head, sub) = match text.find('[') {
        Some(open) => {
            let close = text.rfind(']').filter(|c| *c > open).ok_or_else(bad)?;
            let inner = &text[open + 1..close];
            let rest = &text[close + 1..];
            let sub = match rest.strip_prefix('.') {
                Some(s) if !s.is_empty() => Some(s.to_string()),
                None if rest.is_empty() => None,
                _ => return Err(bad()),
            };
            let (key, value) = selector(inner).ok_or_else(bad)?;
            return Ok(Path {
                attr: text[..open].to_string(),
                select: Some((key, value)),
                sub,
            });
        }
        None => match text.split_once('.') {
            Some((h, s)) => (h.to_string(), Some(s.to_string())),
            None => (text.to_string(), None),
        },
    };
    if head.is_empty() {
        return Err(bad());
    }
    Ok(Path {
        attr: head,
        select: None,
        sub,
    })
}

/// `key eq "value"` inside a value filter.
fn selector(inner: &str) -> Option<(String, String)> {
    let mut parts = inner.trim().splitn(3, char::is_whitespace);
    let key = parts.next()?.to_string();
    let op = parts.next()?;
    if !op.eq_ignore_ascii_case("eq") {
        return None;
    }
    let value: String = serde_json::from_str(parts.next()?.trim()).ok()?;
    Some((key, value))
}

/// The key of `obj` named `name` in any case, else `name` itself.
fn key_of(obj: &Map<String, Value>, name: &str) -> String {
    obj.keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_string())
}

fn matches(item: &Value, (key, value): &(String, String)) -> bool {
    item.as_object()
        .and_then(|o| super::resource::get(o, key))
        .is_some_and(|v| match v {
            Value::String(s) => s.eq_ignore_ascii_case(value),
            other => other.to_string().eq_ignore_ascii_case(value),
        })
}

/// Sets (or adds to) the attribute at `p` in `doc`.
fn set(doc: &mut Map<String, Value>, p: &Path, value: Value, kind: Kind) -> Result<(), Bad> {
    let key = key_of(doc, &p.attr);
    match (&p.select, &p.sub) {
        (None, None) => {
            match (kind, doc.get_mut(&key), value) {
                (Kind::Add, Some(Value::Array(list)), Value::Array(more)) => list.extend(more),
                (_, _, value) => {
                    doc.insert(key, value);
                }
            }
            Ok(())
        }
        (None, Some(sub)) => {
            let slot = doc.entry(key).or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Some(inner) = slot.as_object_mut() {
                let k = key_of(inner, sub);
                inner.insert(k, value);
            }
            Ok(())
        }
        (Some(sel), sub) => {
            let slot = doc.entry(key).or_insert_with(|| Value::Array(Vec::new()));
            if !slot.is_array() {
                *slot = Value::Array(Vec::new());
            }
            let Some(list) = slot.as_array_mut() else {
                return Ok(());
            };
            if !list.iter().any(|i| matches(i, sel)) {
                let mut fresh = Map::new();
                fresh.insert(sel.0.clone(), Value::String(sel.1.clone()));
                list.push(Value::Object(fresh));
            }
            for item in list.iter_mut().filter(|i| matches(i, sel)) {
                let Some(o) = item.as_object_mut() else {
                    continue;
                };
                match (sub, &value) {
                    (Some(sub), v) => {
                        let k = key_of(o, sub);
                        o.insert(k, v.clone());
                    }
                    (None, Value::Object(fields)) => {
                        o.extend(fields.clone());
                    }
                    (None, _) => {
                        return Err(Bad::new(
                            "invalidValue",
                            "a value filter without a sub-attribute takes an object",
                        ));
                    }
                }
            }
            Ok(())
        }
    }
}

fn remove(doc: &mut Map<String, Value>, p: &Path) {
    let key = key_of(doc, &p.attr);
    match (&p.select, &p.sub) {
        (None, None) => {
            doc.remove(&key);
        }
        (None, Some(sub)) => {
            if let Some(Value::Object(inner)) = doc.get_mut(&key) {
                let k = key_of(inner, sub);
                inner.remove(&k);
            }
        }
        (Some(sel), sub) => {
            if let Some(Value::Array(list)) = doc.get_mut(&key) {
                match sub {
                    None => list.retain(|i| !matches(i, sel)),
                    Some(sub) => {
                        for item in list.iter_mut().filter(|i| matches(i, sel)) {
                            if let Some(o) = item.as_object_mut() {
                                let k = key_of(o, sub);
                                o.remove(&k);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Applies `ops` to a user document, in order.
pub fn apply_to_user(doc: &mut Value, ops: &[Operation]) -> Result<(), Bad> {
    let Some(obj) = doc.as_object_mut() else {
        return Err(Bad::new("invalidSyntax", "the user is not an object"));
    };
    for op in ops {
        match (&op.path, op.kind, &op.value) {
            (Some(p), Kind::Remove, _) => remove(obj, &path(p)?),
            (Some(p), kind, Some(value)) => set(obj, &path(p)?, value.clone(), kind)?,
            (None, kind, Some(Value::Object(fields))) => {
                for (name, value) in fields {
                    set(obj, &path(name)?, value.clone(), kind)?;
                }
            }
            _ => return Err(Bad::new("invalidSyntax", "an operation without a value")),
        }
    }
    Ok(())
}

/// One change a PATCH makes to a group, applied in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupOp {
    Rename(String),
    ExternalId(Option<String>),
    AddMembers(Vec<String>),
    RemoveMembers(Vec<String>),
    ReplaceMembers(Vec<String>),
}

/// The member ids a `members[...]` filter names (`value eq "id"`, joined by `or`).
fn filtered_members(p: &str) -> Result<Vec<String>, Bad> {
    let open = p.find('[').unwrap_or(0);
    let inner = p[open + 1..].trim_end_matches(']');
    let f = filter::parse(&format!("members.{}", inner.trim()), Resource::Group)
        .map_err(|e| Bad::new("invalidFilter", e))?;
    fn collect(f: &Filter, out: &mut Vec<String>) -> bool {
        match f {
            Filter::Compare(Attr::Member, Op::Eq, Literal::Text(id)) => {
                out.push(id.clone());
                true
            }
            Filter::Or(a, b) => collect(a, out) && collect(b, out),
            _ => false,
        }
    }
    let mut ids = Vec::new();
    if !collect(&f, &mut ids) {
        return Err(Bad::new(
            "invalidFilter",
            "a members filter may only name members: members[value eq \"id\"]",
        ));
    }
    Ok(ids)
}

fn group_attr(name: &str, kind: Kind, value: &Value, out: &mut Vec<GroupOp>) -> Result<(), Bad> {
    let text = || {
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| Bad::new("invalidValue", format!("{name} must be a string")))
    };
    match strip_urn(name).to_ascii_lowercase().as_str() {
        "displayname" => {
            let n = text()?.trim().to_string();
            if n.is_empty() {
                return Err(Bad::new("invalidValue", "displayName may not be empty"));
            }
            super::resource::check_group_name(&n)?;
            out.push(GroupOp::Rename(n));
        }
        "externalid" => out.push(GroupOp::ExternalId(Some(text()?).filter(|s| !s.is_empty()))),
        "members" => {
            let ids = member_ids(value)?;
            out.push(match kind {
                Kind::Add => GroupOp::AddMembers(ids),
                _ => GroupOp::ReplaceMembers(ids),
            });
        }
        // The id cannot change; Okta sends it back on every rename.
        "id" | "schemas" | "meta" => {}
        _ => {
            return Err(Bad::new(
                "invalidPath",
                format!("a group has no attribute {name:?} that can change"),
            ));
        }
    }
    Ok(())
}

/// The changes `ops` make to a group.
pub fn group_ops(ops: &[Operation]) -> Result<Vec<GroupOp>, Bad> {
    let mut out = Vec::new();
    for op in ops {
        match (&op.path, op.kind, &op.value) {
            (None, kind, Some(Value::Object(fields))) => {
                for (name, value) in fields {
                    group_attr(name, kind, value, &mut out)?;
                }
            }
            (Some(p), Kind::Remove, value) => {
                let lower = strip_urn(p).to_ascii_lowercase();
                if lower.starts_with("members[") {
                    out.push(GroupOp::RemoveMembers(filtered_members(p)?));
                } else if lower == "members" || lower == "members.value" {
                    // Entra ID's form: the members to remove as the value. Without one, the
                    // standard would clear the group; that is refused, never guessed.
                    let ids = match value {
                        Some(v) => member_ids(v)?,
                        None => Vec::new(),
                    };
                    if ids.is_empty() {
                        return Err(Bad::new(
                            "noTarget",
                            "name the members to remove (members[value eq \"id\"] or a value list); to empty a group, replace members with []",
                        ));
                    }
                    out.push(GroupOp::RemoveMembers(ids));
                } else if lower == "externalid" {
                    out.push(GroupOp::ExternalId(None));
                } else {
                    return Err(Bad::new(
                        "invalidPath",
                        format!("cannot remove {p:?} from a group"),
                    ));
                }
            }
            (Some(p), kind, Some(value)) => group_attr(p, kind, value, &mut out)?,
            _ => return Err(Bad::new("invalidSyntax", "an operation without a value")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
