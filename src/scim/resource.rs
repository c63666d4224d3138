//! Users and groups as SCIM clients send them, read into what Hangar keeps. Attributes Hangar
//! does not use are kept as sent (and shown back); a `password` is never kept.

use super::Bad;
use serde_json::{Map, Value};

/// A user resource as read from a POST or PUT body (or a PATCHed document).
#[derive(Debug, Clone, PartialEq)]
pub struct UserInput {
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: String,
    /// The primary (else work, else first) email; else the userName when it is an address.
    pub email: String,
    pub active: bool,
    /// Every attribute as sent, without `id`, `meta`, `groups`, `schemas` and `password`.
    pub resource: Value,
}

/// A group resource as read from a POST or PUT body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInput {
    pub display_name: String,
    pub external_id: Option<String>,
    /// SCIM ids of the members.
    pub members: Vec<String>,
}

/// Attributes the server sets, or must never keep.
const NOT_KEPT: [&str; 6] = ["id", "meta", "groups", "schemas", "password", "$ref"];

/// `active` as Entra ID sends it: a boolean, or the strings `"True"` / `"False"` (any case).
pub fn active(v: &Value) -> Result<bool, Bad> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(Bad::new(
            "invalidValue",
            format!("active must be true or false, not {other}"),
        )),
    }
}

/// The value of `key` in `obj`, its name matched case-insensitively (attribute names are).
pub fn get<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn text(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, Bad> {
    match get(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Bad::new(
            "invalidValue",
            format!("{key} must be a string, not {other}"),
        )),
    }
}

fn object<'v>(doc: &'v Value, what: &str) -> Result<&'v Map<String, Value>, Bad> {
    doc.as_object()
        .ok_or_else(|| Bad::new("invalidSyntax", format!("a {what} must be a JSON object")))
}

fn primary_email(obj: &Map<String, Value>) -> String {
    let Some(Value::Array(emails)) = get(obj, "emails") else {
        return String::new();
    };
    let value = |e: &Value| e.get("value").and_then(Value::as_str).map(str::to_string);
    let is = |e: &Value, k: &str, v: &Value| e.get(k) == Some(v);
    emails
        .iter()
        .find(|e| is(e, "primary", &Value::Bool(true)))
        .or_else(|| emails.iter().find(|e| is(e, "type", &"work".into())))
        .or_else(|| emails.first())
        .and_then(value)
        .unwrap_or_default()
}

/// Reads a user. `userName` is required; `active` defaults to true.
pub fn user(doc: &Value) -> Result<UserInput, Bad> {
    let obj = object(doc, "user")?;
    let user_name = text(obj, "userName")?
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Bad::new("invalidValue", "userName is required"))?;
    if user_name.chars().count() > 256 || user_name.chars().any(char::is_control) {
        return Err(Bad::new(
            "invalidValue",
            "userName must be at most 256 printable characters",
        ));
    }
    let external_id = text(obj, "externalId")?.filter(|s| !s.is_empty());
    let name = get(obj, "name").and_then(Value::as_object);
    let display_name = match text(obj, "displayName")? {
        Some(d) => d,
        None => name
            .map(|n| {
                let part = |k| n.get(k).and_then(Value::as_str).unwrap_or("");
                match part("formatted") {
                    "" => format!("{} {}", part("givenName"), part("familyName"))
                        .trim()
                        .to_string(),
                    f => f.to_string(),
                }
            })
            .unwrap_or_default(),
    };
    let mut email = primary_email(obj);
    if email.is_empty() && user_name.contains('@') {
        email = user_name.clone();
    }
    let active = match get(obj, "active") {
        None | Some(Value::Null) => true,
        Some(v) => active(v)?,
    };
    let mut kept = obj.clone();
    kept.retain(|k, _| !NOT_KEPT.iter().any(|n| n.eq_ignore_ascii_case(k)));
    Ok(UserInput {
        user_name,
        external_id,
        display_name,
        email,
        active,
        resource: Value::Object(kept),
    })
}

/// The SCIM ids in a `members` value: `[{"value": "..."}, ...]` (also a single object).
pub fn member_ids(v: &Value) -> Result<Vec<String>, Bad> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(_) => vec![v],
        Value::Null => Vec::new(),
        other => {
            return Err(Bad::new(
                "invalidValue",
                format!("members must be a list of {{\"value\": id}}, not {other}"),
            ));
        }
    };
    items
        .into_iter()
        .map(|m| {
            m.get("value")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| Bad::new("invalidValue", "each member needs a \"value\" (its id)"))
        })
        .collect()
}

/// Reads a group. `displayName` is required: it is the group name `[[roles]]` grants to.
pub fn group(doc: &Value) -> Result<GroupInput, Bad> {
    let obj = object(doc, "group")?;
    let display_name = text(obj, "displayName")?
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Bad::new("invalidValue", "displayName is required"))?;
    check_group_name(&display_name)?;
    let members = match get(obj, "members") {
        Some(v) => member_ids(v)?,
        None => Vec::new(),
    };
    Ok(GroupInput {
        display_name,
        external_id: text(obj, "externalId")?.filter(|s| !s.is_empty()),
        members,
    })
}

/// A group name must be printable and short (it appears in policies and audit details).
pub fn check_group_name(name: &str) -> Result<(), Bad> {
    if name.chars().count() > 256 || name.chars().any(char::is_control) {
        return Err(Bad::new(
            "invalidValue",
            "displayName must be at most 256 printable characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn active_is_a_boolean_or_entras_capitalised_string() {
        assert_eq!(active(&json!(false)), Ok(false));
        assert_eq!(active(&json!("False")), Ok(false));
        assert_eq!(active(&json!("TRUE")), Ok(true));
        assert!(active(&json!("no")).is_err());
        assert!(active(&json!(0)).is_err());
    }

    #[test]
    fn a_user_keeps_what_was_sent_but_never_a_password() {
        let u = user(&json!({
            "schemas": [crate::scim::USER_SCHEMA], "userName": "ada@example.com",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "ada@work.example", "type": "work"}],
            "password": "hunter2", "active": "True", "externalId": "00u1"
        }))
        .expect("reads");
        assert_eq!(u.display_name, "Ada Lovelace");
        assert_eq!(u.email, "ada@work.example");
        assert!(u.active);
        assert_eq!(u.external_id.as_deref(), Some("00u1"));
        assert!(u.resource.get("password").is_none());
        assert!(!u.resource.to_string().contains("hunter2"));
        assert_eq!(u.resource["name"]["givenName"], "Ada");
    }

    #[test]
    fn a_user_without_a_user_name_is_refused() {
        assert_eq!(
            user(&json!({"userName": " "})).map_err(|b| b.scim_type),
            Err("invalidValue")
        );
        assert_eq!(
            user(&json!([1])).map_err(|b| b.scim_type),
            Err("invalidSyntax")
        );
    }

    #[test]
    fn a_group_reads_its_members_ids() {
        let g = group(&json!({"displayName": "developers", "members": [{"value": "a"}, {"value": "b", "display": "x"}]}))
            .expect("reads");
        assert_eq!(g.members, ["a", "b"]);
        assert!(group(&json!({"members": []})).is_err());
        assert!(group(&json!({"displayName": "d", "members": [{"display": "x"}]})).is_err());
    }
}
