//! Loading a policy version: the shipped schema and policy, the operator's policy file on top,
//! every policy validated against the schema (strict mode), ids taken from `@id` annotations,
//! and the grants compiled. Any error refuses the whole version, naming file and line.

use super::action::{Action, ActionSet};
use super::engine::{Engine, PolicySets};
use super::grants::{BUILT_IN_ROLES, Grants};
use crate::config::RoleGrant;
use cedar_policy::{
    ActionConstraint, Policy, PolicyId, PolicySet, Schema, ValidationMode, Validator,
};
use miette::Diagnostic;
use std::collections::BTreeSet;
use std::fmt;

/// The Cedar schema every policy is validated against.
pub const SCHEMA: &str = include_str!("../../../policy/schema.cedarschema");
/// The shipped policy: built-in roles and repository visibility.
pub const DEFAULT_POLICY: &str = include_str!("../../../policy/default.cedar");
const DEFAULT_NAME: &str = "policy/default.cedar";

/// Why a policy version was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// The file at fault (the policy file, the shipped policy, or the configuration).
    pub file: Option<String>,
    /// 1-based line and column, where Cedar gives a position.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl PolicyError {
    fn new(file: Option<&str>, message: impl Into<String>) -> PolicyError {
        PolicyError {
            file: file.map(str::to_string),
            position: None,
            message: message.into(),
        }
    }

    /// An error from Cedar, with the position of its first label in `text`.
    fn cedar(file: &str, text: &str, err: &dyn Diagnostic) -> PolicyError {
        let mut message = err.to_string();
        if let Some(help) = err.help() {
            message.push_str(&format!(" ({help})"));
        }
        let position = err
            .labels()
            .and_then(|mut labels| labels.next())
            .map(|l| line_column(text, l.offset()));
        PolicyError {
            file: Some(file.to_string()),
            position,
            message,
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.position) {
            (Some(file), Some((line, col))) => write!(f, "{file}:{line}:{col}: {}", self.message),
            (Some(file), None) => write!(f, "{file}: {}", self.message),
            (None, _) => f.write_str(&self.message),
        }
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// What a version is made of.
pub struct Sources<'a> {
    pub roles: &'a [RoleGrant],
    pub protected_targets: &'a [String],
    /// The operator's policy file: its name (for messages) and text.
    pub file: Option<(&'a str, &'a str)>,
}

/// The shipped schema, parsed.
pub fn schema() -> Result<Schema, PolicyError> {
    Schema::from_cedarschema_str(SCHEMA)
        .map(|(schema, _warnings)| schema)
        .map_err(|e| PolicyError::cedar("policy/schema.cedarschema", SCHEMA, &e))
}

/// Parses and validates the policies of one file; their ids are their `@id` annotations, or
/// `FILE#N` for the N-th policy without one.
pub fn parse_file(schema: &Schema, name: &str, text: &str) -> Result<Vec<Policy>, PolicyError> {
    let parsed: PolicySet = text
        .parse()
        .map_err(|e: cedar_policy::ParseErrors| PolicyError::cedar(name, text, &e))?;
    if parsed.templates().next().is_some() {
        return Err(PolicyError::new(
            Some(name),
            "policy templates (?principal, ?resource) are not supported",
        ));
    }
    let validation = Validator::new(schema.clone()).validate(&parsed, ValidationMode::Strict);
    if let Some(err) = validation.validation_errors().next() {
        return Err(PolicyError::cedar(name, text, err));
    }
    let mut policies: Vec<(usize, Policy)> = parsed
        .policies()
        .map(|p| {
            // PolicySet::from_str numbers policies policy0, policy1, ... in file order.
            let n = p
                .id()
                .to_string()
                .trim_start_matches("policy")
                .parse::<usize>()
                .unwrap_or(0);
            let id = match p.annotation("id") {
                Some(id) => id.to_string(),
                None => format!("{name}#{}", n + 1),
            };
            (n, p.new_id(PolicyId::new(id)))
        })
        .collect();
    policies.sort_by_key(|(n, _)| *n);
    Ok(policies.into_iter().map(|(_, p)| p).collect())
}

/// What a policy refers to, found in its JSON form.
#[derive(Default)]
struct Refs {
    roles: BTreeSet<String>,
    names_user: bool,
    names_repo: bool,
}

fn scan(v: &serde_json::Value, refs: &mut Refs) {
    match v {
        serde_json::Value::Object(map) => {
            if let (Some(serde_json::Value::String(t)), Some(serde_json::Value::String(id))) =
                (map.get("type"), map.get("id"))
            {
                match t.as_str() {
                    "Role" => {
                        refs.roles.insert(id.clone());
                    }
                    "User" => refs.names_user = true,
                    "Repo" => refs.names_repo = true,
                    _ => {}
                }
            }
            if map.get("attr").and_then(|a| a.as_str()) == Some("slug") {
                refs.names_repo = true;
            }
            for (k, x) in map {
                if k != "annotations" {
                    scan(x, refs);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|x| scan(x, refs)),
        _ => {}
    }
}

fn actions_of(policy: &Policy) -> ActionSet {
    let named = |uid: &cedar_policy::EntityUid| Action::parse(uid.id().unescaped()).ok();
    match policy.action_constraint() {
        ActionConstraint::Any => Action::ALL.into_iter().collect(),
        ActionConstraint::Eq(uid) => named(&uid).into_iter().collect(),
        ActionConstraint::In(uids) => uids.iter().filter_map(named).collect(),
    }
}

/// Builds version `version` from `sources`.
pub(super) fn compile(version: u64, sources: &Sources<'_>) -> Result<Engine, PolicyError> {
    let schema = schema()?;
    let mut all = parse_file(&schema, DEFAULT_NAME, DEFAULT_POLICY)?
        .into_iter()
        .map(|p| (DEFAULT_NAME.to_string(), p))
        .collect::<Vec<_>>();
    if let Some((name, text)) = sources.file {
        for p in parse_file(&schema, name, text)? {
            if all.iter().any(|(_, q)| q.id() == p.id()) {
                return Err(PolicyError::new(
                    Some(name),
                    format!(
                        "policy id {:?} is already taken; give it another @id",
                        p.id().to_string()
                    ),
                ));
            }
            all.push((name.to_string(), p));
        }
    }
    let grants =
        Grants::compile(sources.roles).map_err(|e| PolicyError::new(Some("configuration"), e))?;
    // One set of policies per action: a policy whose scope names other actions can never hold,
    // so each request is evaluated against only the policies that may apply to its action.
    let mut sets: Vec<PolicySets> = Action::ALL
        .iter()
        .map(|_| PolicySets {
            all: PolicySet::new(),
            general: PolicySet::new(),
            by_repo: PolicySet::new(),
        })
        .collect();
    let mut refs = Refs::default();
    let mut per_user = false;
    let mut per_repo = ActionSet::default();
    let mut names = Vec::new();
    for (file, policy) in all {
        let mut found = Refs::default();
        let json = policy
            .to_json()
            .map_err(|e| PolicyError::new(Some(&file), e.to_string()))?;
        scan(&json, &mut found);
        per_user |= found.names_user;
        let actions = actions_of(&policy);
        for (a, per_action) in Action::ALL.into_iter().zip(sets.iter_mut()) {
            if !actions.contains(a) {
                continue;
            }
            let part = if found.names_repo {
                per_repo.insert(a);
                &mut per_action.by_repo
            } else {
                &mut per_action.general
            };
            for set in [part, &mut per_action.all] {
                set.add(policy.clone())
                    .map_err(|e| PolicyError::new(Some(&file), e.to_string()))?;
            }
        }
        refs.roles.extend(found.roles);
        names.push((policy.id().to_string(), file.clone()));
    }
    for role in grants.role_names() {
        if !BUILT_IN_ROLES.contains(&&**role) && !refs.roles.contains(&**role) {
            return Err(PolicyError::new(
                Some("configuration"),
                format!(
                    "[[roles]] grants role {role:?}, which is not built in ({}) and which no policy names as Role::{role:?}",
                    BUILT_IN_ROLES.join(", ")
                ),
            ));
        }
    }
    let mut engine = Engine::new(
        version,
        sets,
        grants,
        sources.protected_targets.to_vec(),
        per_user,
        per_repo,
        names,
    )
    .map_err(|e| PolicyError::new(None, e))?;
    engine.texts = std::iter::once((DEFAULT_NAME, DEFAULT_POLICY))
        .chain(sources.file)
        .map(|(name, text)| (name.to_string(), text.to_string()))
        .collect();
    Ok(engine)
}
