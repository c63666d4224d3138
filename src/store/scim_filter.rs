//! SCIM filters (parsed by `scim::filter`) as SQL: a WHERE clause over `scim_users s JOIN
//! users u` or `scim_groups g`, with every value bound, never spliced. Case-insensitive
//! attributes (userName, displayName, emails) compare in lower case on both sides.

use crate::scim::filter::{Attr, Filter, Literal, Op, Resource};

/// A value bound into a filter's SQL.
pub(super) enum Bind {
    Text(String),
    Bool(bool),
}

/// `%`, `_` and `\` taken literally in a LIKE pattern.
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The SQL of `filter` for `resource`, its values pushed onto `binds` (numbered from
/// `binds.len() + 1`).
pub(super) fn where_sql(filter: &Filter, resource: Resource, binds: &mut Vec<Bind>) -> String {
    match filter {
        Filter::And(a, b) => format!(
            "({} AND {})",
            where_sql(a, resource, binds),
            where_sql(b, resource, binds)
        ),
        Filter::Or(a, b) => format!(
            "({} OR {})",
            where_sql(a, resource, binds),
            where_sql(b, resource, binds)
        ),
        Filter::Not(a) => format!("(NOT {})", where_sql(a, resource, binds)),
        Filter::Present(attr) => match column(*attr, resource) {
            Some((col, _)) if *attr != Attr::Active => {
                format!("({col} IS NOT NULL AND {col} <> '')")
            }
            Some(_) => "TRUE".into(),
            None if *attr == Attr::Member => format!("EXISTS ({MEMBERS_OF_GROUP})"),
            None => "FALSE".into(),
        },
        Filter::Compare(attr, op, value) => {
            let (col, fold) = match column(*attr, resource) {
                Some(c) => c,
                None if *attr == Attr::Member => {
                    let inner = Filter::Compare(Attr::Id, *op, value.clone());
                    let cond =
                        where_sql(&inner, Resource::User, binds).replace("s.scim_id", "su.scim_id");
                    return format!("EXISTS ({MEMBERS_OF_GROUP} AND {cond})");
                }
                None => return "FALSE".into(),
            };
            let text = match value {
                Literal::Bool(b) => {
                    binds.push(Bind::Bool(*b));
                    let n = binds.len();
                    return match op {
                        Op::Ne => format!("{col} <> ${n}"),
                        _ => format!("{col} = ${n}"),
                    };
                }
                Literal::Text(t) if fold => t.to_lowercase(),
                Literal::Text(t) => t.clone(),
            };
            let (sql_op, pattern) = match op {
                Op::Eq => ("=", text),
                Op::Ne => ("<>", text),
                Op::Co => ("LIKE", format!("%{}%", like_escape(&text))),
                Op::Sw => ("LIKE", format!("{}%", like_escape(&text))),
                Op::Ew => ("LIKE", format!("%{}", like_escape(&text))),
            };
            binds.push(Bind::Text(pattern));
            let n = binds.len();
            let escape = if sql_op == "LIKE" { " ESCAPE '\\'" } else { "" };
            if *op == Op::Ne {
                format!("({col} IS NULL OR {col} <> ${n})")
            } else {
                format!("{col} {sql_op} ${n}{escape}")
            }
        }
    }
}

/// Members of group `g` (as `su`): the start of an EXISTS.
const MEMBERS_OF_GROUP: &str = "SELECT 1 FROM scim_members m JOIN scim_users su \
     ON su.user_id = m.user_id WHERE m.group_id = g.id";

/// The column an attribute filters on, and whether it compares in lower case.
fn column(attr: Attr, resource: Resource) -> Option<(&'static str, bool)> {
    Some(match (resource, attr) {
        (Resource::User, Attr::Id) => ("s.scim_id", false),
        (Resource::User, Attr::UserName) => ("s.user_name_key", true),
        (Resource::User, Attr::ExternalId) => ("s.external_id", false),
        (Resource::User, Attr::DisplayName) => ("LOWER(s.display_name)", true),
        (Resource::User, Attr::Email) => ("LOWER(u.email)", true),
        (Resource::User, Attr::Active) => ("u.active", false),
        (Resource::Group, Attr::Id) => ("g.scim_id", false),
        (Resource::Group, Attr::ExternalId) => ("g.external_id", false),
        (Resource::Group, Attr::DisplayName) => ("LOWER(g.display_name)", true),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::parse;

    fn sql(f: &str, r: Resource) -> (String, Vec<String>) {
        let mut binds = Vec::new();
        let text = where_sql(&parse(f, r).expect("parses"), r, &mut binds);
        let values = binds
            .into_iter()
            .map(|b| match b {
                Bind::Text(t) => t,
                Bind::Bool(v) => v.to_string(),
            })
            .collect();
        (text, values)
    }

    #[test]
    fn values_are_bound_never_spliced_and_like_wildcards_are_escaped() {
        let (text, values) = sql(
            r#"userName co "x' OR 1=1 --%_" and active eq true"#,
            Resource::User,
        );
        assert!(!text.contains("OR 1=1"), "{text}");
        assert_eq!(
            text,
            "(s.user_name_key LIKE $1 ESCAPE '\\' AND u.active = $2)"
        );
        assert_eq!(values, ["%x' or 1=1 --\\%\\_%", "true"]);
    }

    #[test]
    fn a_members_filter_asks_for_a_member_with_that_id() {
        let (text, values) = sql(r#"members.value eq "u1""#, Resource::Group);
        assert!(
            text.starts_with("EXISTS (SELECT 1 FROM scim_members"),
            "{text}"
        );
        assert!(text.ends_with("su.scim_id = $1)"), "{text}");
        assert_eq!(values, ["u1"]);
    }
}
