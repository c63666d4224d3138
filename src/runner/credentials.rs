//! What a step receives from the server when it starts (its secrets, its declared ID tokens,
//! its grant to ask for more, the clone step's `DRONE_NETRC_*`) laid over its environment, and
//! the values its log must mask.

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
    if let Some(netrc) = &grant.netrc {
        env.extend(netrc.variables());
    }
    if let Some((url, token)) = &grant.request {
        env.push(("HANGAR_ID_TOKEN_REQUEST_URL".into(), url.clone()));
        env.push((
            "HANGAR_ID_TOKEN_REQUEST_TOKEN".into(),
            token.expose().to_string(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::netrc::Netrc;
    use crate::config::Secret;

    #[test]
    fn the_clone_credentials_token_is_masked_in_every_step_after_it_is_handed_out() {
        let revealed = Revealed::default();
        let clone = StepGrant {
            netrc: Some(Netrc {
                machine: "git.example.com".into(),
                username: "ci-bot".into(),
                password: Secret::new("clone-t0ken-8d1f3a"),
            }),
            ..StepGrant::default()
        };
        assert!(revealed.masker(&clone).is_some());
        let mut later = revealed
            .masker(&StepGrant::default())
            .expect("the token is still masked");
        let mut out = Vec::new();
        later.feed(b"token=clone-t0ken-8d1f3a\n", &mut out);
        later.finish(&mut out);
        assert_eq!(String::from_utf8_lossy(&out), "token=********\n");
    }
}
