//! What a step receives from the server when it starts (its secrets, its declared ID tokens,
//! its grant to ask for more) laid over its environment, and the values its log must mask.

use super::StepGrant;
use super::mask;
use super::stage::Planned;

/// Every value handed to a step of this stage so far: each step's log masks them all (a value
/// one step wrote to the workspace may be printed by the next).
#[derive(Default)]
pub(super) struct Revealed(std::sync::Mutex<Vec<String>>);

impl Revealed {
    pub(super) fn masker(&self, grant: &StepGrant) -> Option<mask::Masker> {
        let Ok(mut all) = self.0.lock() else {
            return mask::Masker::new(grant.values());
        };
        for value in grant.values() {
            if !all.iter().any(|v| v == value) {
                all.push(value.to_string());
            }
        }
        mask::Masker::new(all.iter().map(String::as_str))
    }
}

/// The step's secrets (by its `from_secret` variables), its declared ID tokens and its grant to
/// ask for more. A secret the build may not receive leaves its variable unset.
pub(super) fn add_credentials(
    env: &mut Vec<(String, String)>,
    planned: &Planned,
    grant: &StepGrant,
) {
    for (variable, name) in &planned.secrets {
        if let Some((_, value)) = grant.secrets.iter().find(|(n, _)| n == name) {
            env.push((variable.clone(), value.expose().to_string()));
        }
    }
    for (variable, token) in &grant.id_tokens {
        env.push((variable.clone(), token.expose().to_string()));
    }
    if let Some((url, token)) = &grant.request {
        env.push(("HANGAR_ID_TOKEN_REQUEST_URL".into(), url.clone()));
        env.push((
            "HANGAR_ID_TOKEN_REQUEST_TOKEN".into(),
            token.expose().to_string(),
        ));
    }
}
