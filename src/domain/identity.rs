//! Who a build acts as, and when that stops: the acting identity recorded on each build, a
//! repository's trigger policy for webhooks, and the rules that end a build's credential.

use super::ids::{SessionId, TokenId, UserId};
use serde::{Deserialize, Serialize};

/// What kind of identity a build acts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A Hangar user or service account.
    User,
    /// A forge account no Hangar user stands behind (`any_sender`): unverified.
    Forge,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Forge => "forge",
        }
    }

    pub fn parse(s: &str) -> Option<ActorKind> {
        match s {
            "user" => Some(ActorKind::User),
            "forge" => Some(ActorKind::Forge),
            _ => None,
        }
    }
}

/// The identity a build acts as: shown in the build JSON as `actor`, beside Drone's
/// `author_login` (who wrote the commit) and `sender` (who pushed it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildActor {
    pub kind: ActorKind,
    /// The Hangar login, or for `forge`, `github:LOGIN`.
    pub login: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    /// The API token the build was started with (its id, never its secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_id: Option<TokenId>,
    /// The browser session it was started from. Logging out does not end the build.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<SessionId>,
    /// A Hangar identity proved it (a token, a session, a linked forge login); `false` for a
    /// forge sender taken at its word.
    pub verified: bool,
    /// It held `build.trigger` on the repository when the build was made; losing it later ends
    /// the build. A build approved for someone without it is not ended for lacking it.
    #[serde(skip)]
    pub entitled: bool,
    /// When the token the build came through expires (Unix ms); 0 = never, or no token.
    #[serde(skip)]
    pub token_expires: i64,
}

/// Who may start builds from webhooks of a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerPolicy {
    /// The sender must be linked to a Hangar user holding `build.trigger`; otherwise, and for
    /// pull requests from forks, the build waits for approval.
    #[default]
    KnownSenders,
    /// Drone's behaviour: the forge's push rights suffice; an unlinked sender acts unverified.
    AnySender,
    /// Every webhook build waits for approval.
    Approval,
}

impl TriggerPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerPolicy::KnownSenders => "known_senders",
            TriggerPolicy::AnySender => "any_sender",
            TriggerPolicy::Approval => "approval",
        }
    }

    pub fn parse(s: &str) -> Option<TriggerPolicy> {
        [
            TriggerPolicy::KnownSenders,
            TriggerPolicy::AnySender,
            TriggerPolicy::Approval,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// Why a build's credential ended; the text goes into the build's `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Its lifetime (the repository's timeout) or the triggering token's expiry passed.
    Expired,
    TokenRevoked,
    UserDeactivated,
    /// The user no longer holds `build.trigger` on the repository.
    AccessRemoved,
}

impl Ending {
    pub fn reason(self) -> &'static str {
        match self {
            Ending::Expired => "credential expired",
            Ending::TokenRevoked => "token revoked",
            Ending::UserDeactivated => "user deactivated",
            Ending::AccessRemoved => "access removed",
        }
    }
}

/// What the store knows about a live build's credential, read in one pass.
#[derive(Debug, Clone, Default)]
pub struct CredentialState {
    /// When the build started running (0: not yet).
    pub started: i64,
    /// The repository's timeout, in minutes.
    pub timeout_minutes: i64,
    /// The acting user is active (`None`: no user behind the build).
    pub user_active: Option<bool>,
    /// The token was revoked (`None`: no token).
    pub token_revoked: Option<bool>,
    /// The token's expiry (0 = never).
    pub token_expires: i64,
}

/// The runner stops a build at its timeout and reports it as timed out; the credential lives
/// that long plus this, so the server ends a build a runner lost track of.
pub const LIFETIME_SLACK_MS: i64 = 30_000;

impl CredentialState {
    /// Whether the credential has ended at `now`, for a reason that needs no policy decision
    /// (losing `build.trigger` is decided by the caller, who holds the policy). Deactivation
    /// comes first: it also revokes the user's tokens.
    pub fn ending(&self, now: i64) -> Option<Ending> {
        if self.user_active == Some(false) {
            return Some(Ending::UserDeactivated);
        }
        if self.token_revoked == Some(true) {
            return Some(Ending::TokenRevoked);
        }
        if self.token_expires != 0 && self.token_expires <= now {
            return Some(Ending::Expired);
        }
        let lifetime = self.timeout_minutes.max(1).saturating_mul(60_000);
        if self.started > 0 && now >= self.started + lifetime + LIFETIME_SLACK_MS {
            return Some(Ending::Expired);
        }
        None
    }
}

/// The warning a build gets when the token it was started with expires before the build's
/// timeout would: the build will be stopped then.
pub fn token_expiry_warning(token_expires: i64, now: i64, timeout_minutes: i64) -> Option<String> {
    if token_expires == 0 || token_expires >= now + timeout_minutes.max(1) * 60_000 {
        return None;
    }
    let secs = (token_expires - now).max(0) / 1000;
    Some(format!(
        "the token that started this build expires in {secs} s, before the repository's timeout \
         ({timeout_minutes} min): the build will be stopped when it does"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> CredentialState {
        CredentialState {
            started: 1_000,
            timeout_minutes: 60,
            user_active: Some(true),
            token_revoked: Some(false),
            token_expires: 0,
        }
    }

    #[test]
    fn a_live_credential_has_no_ending() {
        assert_eq!(live().ending(2_000), None);
    }

    #[test]
    fn deactivation_is_named_before_the_revocation_it_causes() {
        let s = CredentialState {
            user_active: Some(false),
            token_revoked: Some(true),
            ..live()
        };
        assert_eq!(s.ending(2_000), Some(Ending::UserDeactivated));
        let s = CredentialState {
            token_revoked: Some(true),
            ..live()
        };
        assert_eq!(s.ending(2_000).map(Ending::reason), Some("token revoked"));
    }

    #[test]
    fn a_token_expiry_or_the_lifetime_ends_the_credential() {
        let s = CredentialState {
            token_expires: 5_000,
            ..live()
        };
        assert_eq!(s.ending(4_999), None);
        assert_eq!(s.ending(5_000), Some(Ending::Expired));
        let end = 1_000 + 60 * 60_000 + LIFETIME_SLACK_MS;
        assert_eq!(live().ending(end - 1), None);
        assert_eq!(live().ending(end), Some(Ending::Expired));
    }

    #[test]
    fn a_build_not_yet_started_does_not_run_out_of_lifetime() {
        let s = CredentialState {
            started: 0,
            ..live()
        };
        assert_eq!(s.ending(i64::MAX / 2), None);
    }

    #[test]
    fn a_token_expiring_before_the_timeout_is_warned_about() {
        assert!(token_expiry_warning(0, 0, 60).is_none());
        assert!(token_expiry_warning(61 * 60_000, 0, 60).is_none());
        let w = token_expiry_warning(600_000, 0, 60).expect("a warning");
        assert!(w.contains("600 s"), "{w}");
    }

    #[test]
    fn trigger_policies_read_back_from_their_names() {
        for p in [
            TriggerPolicy::KnownSenders,
            TriggerPolicy::AnySender,
            TriggerPolicy::Approval,
        ] {
            assert_eq!(TriggerPolicy::parse(p.as_str()), Some(p));
        }
        assert_eq!(TriggerPolicy::parse("anyone"), None);
    }
}
