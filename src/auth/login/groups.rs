//! Reading a user's groups out of a provider's claims. `oidc_groups_claim` names the claim; a
//! dotted path reaches into nested objects (`realm_access.roles`), though a claim whose own name
//! holds dots (`https://example.com/groups`) is found first. A group may be a name or an id
//! (Entra ID puts ids in tokens), or an object carrying either: both become groups, so a role can
//! be granted to a group by its display name or by its id.

use serde_json::Value;

/// More than this many groups are ignored (a provider gone wrong, or an attack on memory).
pub const MAX_GROUPS: usize = 5_000;
/// Longer group names are ignored.
pub const MAX_GROUP_LEN: usize = 512;

/// The claim at `path` in `claims`, or `None` when absent (so userinfo may be asked instead).
pub fn claim<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    let mut at = claims;
    for part in path.split('.') {
        at = at.get(part)?;
    }
    Some(at)
}

/// The groups in `value`: a list (of strings, numbers, or objects with a name and/or id) or a
/// single string (some providers send one group, or a space-separated list).
pub fn groups(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match value {
        Value::Array(items) => {
            for item in items {
                push_item(&mut out, item);
            }
        }
        Value::String(s) => {
            for g in s.split([',', ' ']).filter(|g| !g.is_empty()) {
                push(&mut out, g);
            }
        }
        other => push_item(&mut out, other),
    }
    out
}

fn push_item(out: &mut Vec<String>, item: &Value) {
    match item {
        Value::String(s) => push(out, s),
        Value::Number(n) => push(out, &n.to_string()),
        Value::Object(fields) => {
            for key in ["displayName", "display", "name", "id", "value"] {
                if let Some(Value::String(s)) = fields.get(key) {
                    push(out, s);
                }
            }
        }
        _ => {}
    }
}

fn push(out: &mut Vec<String>, group: &str) {
    let group = group.trim();
    if group.is_empty()
        || group.len() > MAX_GROUP_LEN
        || out.len() >= MAX_GROUPS
        || out.iter().any(|g| g == group)
    {
        return;
    }
    out.push(group.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_flat_groups_claim_is_read() {
        let c = json!({ "groups": ["admins", "developers"] });
        assert_eq!(
            groups(claim(&c, "groups").expect("present")),
            ["admins", "developers"]
        );
    }

    #[test]
    fn a_dotted_path_reaches_a_nested_claim() {
        let c = json!({ "realm_access": { "roles": ["ops"] } });
        assert_eq!(
            groups(claim(&c, "realm_access.roles").expect("present")),
            ["ops"]
        );
        assert!(claim(&c, "realm_access.missing").is_none());
    }

    #[test]
    fn a_claim_named_with_dots_is_found_before_a_path() {
        let c = json!({ "https://example.com/groups": ["a"], "https://example": {"com/groups": ["b"]} });
        assert_eq!(
            groups(claim(&c, "https://example.com/groups").expect("present")),
            ["a"]
        );
    }

    #[test]
    fn groups_may_be_ids_or_objects_with_names_and_ids() {
        let c = json!({ "groups": [
            "0b1c6e7a-2f2b-4b1e-9c53-1f3e5d7a9b11",
            { "id": "42", "displayName": "infrastructure-admin" },
            7,
            "", null
        ]});
        assert_eq!(
            groups(claim(&c, "groups").expect("present")),
            [
                "0b1c6e7a-2f2b-4b1e-9c53-1f3e5d7a9b11",
                "infrastructure-admin",
                "42",
                "7"
            ]
        );
    }

    #[test]
    fn a_single_string_is_split_and_duplicates_dropped() {
        assert_eq!(groups(&json!("a b a")), ["a", "b"]);
    }

    #[test]
    fn a_thousand_long_group_names_are_all_kept() {
        let many: Vec<String> = (0..1000).map(|i| format!("{i:0>100}")).collect();
        assert_eq!(groups(&json!(many)).len(), 1000);
    }
}
