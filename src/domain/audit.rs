//! Audit events: who did what, as whom, to what, with which outcome. Every change of protected
//! state writes one in the same transaction as the change (see `store`).

use super::ids::{TokenId, UserId};
use serde::Serialize;
use std::fmt;

/// The kind of thing that acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A person or a machine account, through a token or a session.
    User,
    /// A forge webhook (the sender is recorded in the detail).
    Hook,
    /// A runner reporting on a stage it leased.
    Runner,
    /// Hangar itself: start-up recovery, timeouts, scheduling.
    System,
    /// Someone not (yet) known: a browser in the middle of a login.
    /// A request without a credential.
    Anonymous,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Hook => "hook",
            ActorKind::Runner => "runner",
            ActorKind::System => "system",
            ActorKind::Anonymous => "anonymous",
        }
    }
}

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    pub kind: ActorKind,
    pub user_id: Option<UserId>,
    /// A login, a runner name, `@hook` or `@system`.
    pub name: String,
    pub token_id: Option<TokenId>,
}

impl Actor {
    pub fn system() -> Actor {
        Actor {
            kind: ActorKind::System,
            user_id: None,
            name: "@system".into(),
            token_id: None,
        }
    }

    pub fn hook() -> Actor {
        Actor {
            kind: ActorKind::Hook,
            user_id: None,
            name: "@hook".into(),
            token_id: None,
        }
    }

    /// The cron scheduler, starting a due job's build.
    pub fn cron() -> Actor {
        Actor {
            kind: ActorKind::System,
            user_id: None,
            name: "@cron".into(),
            token_id: None,
        }
    }

    pub fn anonymous() -> Actor {
        Actor {
            kind: ActorKind::Anonymous,
            user_id: None,
            name: "@anonymous".into(),
            token_id: None,
        }
    }

    pub fn runner(name: &str) -> Actor {
        Actor {
            kind: ActorKind::Runner,
            user_id: None,
            name: name.into(),
            token_id: None,
        }
    }

    pub fn user(id: UserId, login: &str, token: Option<TokenId>) -> Actor {
        Actor {
            kind: ActorKind::User,
            user_id: Some(id),
            name: login.into(),
            token_id: token,
        }
    }
}

/// What happened. Stored as its dotted name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuditAction {
    RepoActivated,
    RepoUpdated,
    RepoDeleted,
    BuildCreated,
    BuildStarted,
    BuildFinished,
    BuildCancelled,
    BuildRestarted,
    /// A blocked build was approved (the approver acts; the build keeps its own identity).
    BuildApproved,
    /// A blocked build was declined.
    BuildDeclined,
    StageQueued,
    StageLeased,
    StageFinished,
    StepStarted,
    StepFinished,
    UserCreated,
    UserUpdated,
    UserDeactivated,
    /// A forge login (`github:LOGIN`) was linked to a user, so that sender's webhooks act as them.
    ForgeLoginLinked,
    ServiceAccountCreated,
    TokenCreated,
    TokenRevoked,
    /// A token reached its expiry (recorded once, soon after).
    TokenExpired,
    /// The authorization policy was loaded again (SIGHUP); the detail has the version.
    PolicyReloaded,
    TokenFirstUsed,
    ServerRecovered,
    /// A remote runner identity was registered (its token is shown once).
    RunnerRegistered,
    /// A remote runner's token was revoked; its leases ended.
    RunnerRevoked,
    /// A remote runner went silent past the timeout; the detail says what became of its stage.
    RunnerLost,
    /// A stage whose runner was lost before any step started went back to the queue.
    StageRequeued,
    /// A step about to start was handed secrets (the detail names them, never their values);
    /// the actor is the runner that holds the stage's lease.
    StepSecretsGranted,
    // The embedded OpenID provider.
    /// A local user's password was set by an administrator.
    LocalPasswordChanged,
    /// A local user signed in at the embedded provider.
    LocalLoginSucceeded,
    /// A sign-in at the embedded provider was refused, and why.
    LocalLoginFailed {
        reason: LoginFailure,
    },
    /// A client of the embedded provider was registered.
    OidcClientCreated,
    /// A client's redirect URIs changed (the built-in client follows `server_url`).
    OidcClientUpdated,
    /// A new signing key was made; older ones stay published until they retire.
    SigningKeyRotated,
    /// An authorization code was exchanged for tokens.
    OidcTokensIssued,
    /// A used authorization code came again: what it issued was revoked.
    OidcCodeReplayed,
    /// A revoked refresh token came again: its whole chain was revoked.
    OidcRefreshReused,
    /// A provider session ended (end_session): its refresh tokens were revoked.
    OidcLoggedOut,
    /// Someone logged in through a provider and got a session.
    LoginSucceeded,
    /// A login was refused; the detail says why (`reason`).
    LoginFailed,
    /// A session ended at its user's request.
    Logout,
    /// A session ended without its user asking: a timeout, the provider refused a refresh, the
    /// provider stayed unreachable past the grace period, a newer login replaced it.
    SessionEnded,
    /// A session was checked again with its provider (the detail says how it went).
    SessionRevalidated,
    /// A user's groups at their provider changed (at login or revalidation).
    UserGroupsChanged,
    /// The roles a user's groups map to changed.
    RoleChanged,
    /// An authorization denial (the deciding policy is in the detail).
    AuthzDenied,
    // Hangar's own OAuth grants for API access (`/oauth`).
    /// A signed-in person approved a device's user code (`hangar login`).
    DeviceApproved,
    /// A signed-in person refused a device's user code.
    DeviceDenied,
    /// A revoked API refresh token came again: its whole chain and the access tokens issued
    /// from it were revoked.
    RefreshReused,
    /// An API refresh token chain was revoked at its holder's request (`hangar logout`).
    RefreshRevoked,
    /// Entries older than the retention were deleted up to a signed checkpoint.
    AuditPruned,
    // SCIM provisioning (the actor is the provisioning client's token).
    /// A user was provisioned.
    ScimUserCreated,
    /// A provisioned user's attributes changed (or they were reactivated).
    ScimUserUpdated,
    /// A provisioned user was deactivated (`active: false`) or deleted.
    ScimUserDeactivated,
    /// A group was created, renamed, deleted, or its members changed.
    ScimGroupChanged,
    /// A SCIM bearer token was created.
    ScimTokenCreated,
    /// A SCIM bearer token was revoked.
    ScimTokenRevoked,
    /// A repository or organisation secret was created (never with its value).
    SecretCreated,
    /// A secret's value or limits changed.
    SecretUpdated,
    SecretDeleted,
    /// Everything sealed was sealed again under a new server key.
    SecretKeyRotated,
    /// A repository's forge credentials (for commit statuses) were set, never with the token.
    RepoForgeSet,
    /// A repository's forge credentials were removed.
    RepoForgeRemoved,
    /// Finished builds were deleted with their stages, steps and logs (retention or
    /// `DELETE .../builds?before=N`); the detail says how many and why.
    BuildsPurged,
    /// Finished builds' logs were deleted by retention; the records stay.
    LogsPurged,
    /// A repository's clone credentials were set or replaced (never with the token).
    RepoNetrcSet,
    RepoNetrcDeleted,
    /// A user's commit signing key was registered, or removed.
    UserKeyAdded,
    UserKeyRemoved,
    /// A cron job was created (its creator becomes its owner).
    CronCreated,
    /// A cron job changed (whoever changed it becomes its owner).
    CronUpdated,
    CronDeleted,
    /// A cron job's due run did not start (its owner lost the right, its branch is gone...).
    CronSkipped,
    // The login provider connected from the browser (`/admin/identity`).
    /// A draft provider was saved (never with its client secret).
    ProviderDraftSaved,
    /// A test login through the draft succeeded; the detail holds the subject and roles.
    ProviderTested,
    /// The tested draft became the provider logins use.
    ProviderEnabled,
    /// The connected provider was switched off: logins go to the embedded provider again.
    ProviderDisabled,
}

/// Why a sign-in at the embedded provider was refused. The person is told only "wrong user or
/// password" whatever the reason; the audit trail keeps the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginFailure {
    UnknownUser,
    WrongPassword,
    Locked,
    Disabled,
}

impl LoginFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginFailure::UnknownUser => "unknown_user",
            LoginFailure::WrongPassword => "wrong_password",
            LoginFailure::Locked => "locked",
            LoginFailure::Disabled => "disabled",
        }
    }
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::RepoActivated => "repo.activated",
            AuditAction::RepoUpdated => "repo.updated",
            AuditAction::RepoDeleted => "repo.deleted",
            AuditAction::BuildCreated => "build.created",
            AuditAction::BuildStarted => "build.started",
            AuditAction::BuildFinished => "build.finished",
            AuditAction::BuildCancelled => "build.cancelled",
            AuditAction::BuildRestarted => "build.restarted",
            AuditAction::BuildApproved => "build.approved",
            AuditAction::BuildDeclined => "build.declined",
            AuditAction::StageQueued => "stage.queued",
            AuditAction::StageLeased => "stage.leased",
            AuditAction::StageFinished => "stage.finished",
            AuditAction::StepStarted => "step.started",
            AuditAction::StepFinished => "step.finished",
            AuditAction::UserCreated => "user.created",
            AuditAction::UserUpdated => "user.updated",
            AuditAction::UserDeactivated => "user.deactivated",
            AuditAction::ForgeLoginLinked => "user.forge_login_linked",
            AuditAction::ServiceAccountCreated => "service_account.created",
            AuditAction::TokenCreated => "token.created",
            AuditAction::TokenRevoked => "token.revoked",
            AuditAction::TokenExpired => "token.expired",
            AuditAction::PolicyReloaded => "authz.policy_reloaded",
            AuditAction::TokenFirstUsed => "token.first_used",
            AuditAction::ServerRecovered => "server.recovered",
            AuditAction::RunnerRegistered => "runner.registered",
            AuditAction::RunnerRevoked => "runner.revoked",
            AuditAction::RunnerLost => "runner.lost",
            AuditAction::StageRequeued => "stage.requeued",
            AuditAction::StepSecretsGranted => "step.secrets_granted",
            AuditAction::AuditPruned => "audit.pruned",
            AuditAction::LocalPasswordChanged => "user.password_changed",
            AuditAction::LocalLoginSucceeded => "auth.local_login",
            AuditAction::LocalLoginFailed { .. } => "auth.local_login_failed",
            AuditAction::OidcClientCreated => "oidc.client_created",
            AuditAction::OidcClientUpdated => "oidc.client_updated",
            AuditAction::SigningKeyRotated => "oidc.signing_key_rotated",
            AuditAction::OidcTokensIssued => "oidc.tokens_issued",
            AuditAction::OidcCodeReplayed => "oidc.code_replayed",
            AuditAction::OidcRefreshReused => "oidc.refresh_token_reused",
            AuditAction::OidcLoggedOut => "oidc.logged_out",
            AuditAction::LoginSucceeded => "auth.login",
            AuditAction::LoginFailed => "auth.login_failed",
            AuditAction::Logout => "auth.logout",
            AuditAction::SessionEnded => "auth.session_ended",
            AuditAction::SessionRevalidated => "auth.session_revalidated",
            AuditAction::UserGroupsChanged => "user.groups_changed",
            AuditAction::RoleChanged => "authz.role_changed",
            AuditAction::AuthzDenied => "authz.denied",
            AuditAction::DeviceApproved => "oauth.device_approved",
            AuditAction::DeviceDenied => "oauth.device_denied",
            AuditAction::RefreshReused => "oauth.refresh_token_reused",
            AuditAction::RefreshRevoked => "oauth.refresh_token_revoked",
            AuditAction::ScimUserCreated => "scim.user_created",
            AuditAction::ScimUserUpdated => "scim.user_updated",
            AuditAction::ScimUserDeactivated => "scim.user_deactivated",
            AuditAction::ScimGroupChanged => "scim.group_changed",
            AuditAction::ScimTokenCreated => "scim.token_created",
            AuditAction::ScimTokenRevoked => "scim.token_revoked",
            AuditAction::RepoForgeSet => "repo.forge_set",
            AuditAction::RepoForgeRemoved => "repo.forge_removed",
            AuditAction::BuildsPurged => "build.purged",
            AuditAction::LogsPurged => "build.logs_purged",
            AuditAction::SecretCreated => "secret.created",
            AuditAction::SecretUpdated => "secret.updated",
            AuditAction::SecretDeleted => "secret.deleted",
            AuditAction::SecretKeyRotated => "secret.key_rotated",
            AuditAction::RepoNetrcSet => "repo.netrc_set",
            AuditAction::RepoNetrcDeleted => "repo.netrc_deleted",
            AuditAction::UserKeyAdded => "user.key_added",
            AuditAction::UserKeyRemoved => "user.key_removed",
            AuditAction::CronCreated => "cron.created",
            AuditAction::CronUpdated => "cron.updated",
            AuditAction::CronDeleted => "cron.deleted",
            AuditAction::CronSkipped => "cron.skipped",
            AuditAction::ProviderDraftSaved => "identity.provider_draft_saved",
            AuditAction::ProviderTested => "identity.provider_tested",
            AuditAction::ProviderEnabled => "identity.provider_enabled",
            AuditAction::ProviderDisabled => "identity.provider_disabled",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// One entry of the audit trail, before it is stored.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    pub actor: Actor,
    pub action: AuditAction,
    /// `repo:acme/api`, `build:acme/api#12`, `stage:...`: what was acted on.
    pub target: String,
    pub outcome: Outcome,
    /// Extra facts (a new status, changed fields); never a secret.
    pub detail: serde_json::Value,
}

impl AuditEvent {
    pub fn new(actor: &Actor, action: AuditAction, target: impl Into<String>) -> AuditEvent {
        let (outcome, detail) = match action {
            AuditAction::LocalLoginFailed { reason } => (
                Outcome::Denied,
                serde_json::json!({ "reason": reason.as_str() }),
            ),
            _ => (Outcome::Success, serde_json::Value::Null),
        };
        AuditEvent {
            actor: actor.clone(),
            action,
            target: target.into(),
            outcome,
            detail,
        }
    }

    /// Adds facts to the detail (keys of an object are merged into what the action put there).
    pub fn with_detail(mut self, detail: serde_json::Value) -> AuditEvent {
        match (&mut self.detail, detail) {
            (serde_json::Value::Object(old), serde_json::Value::Object(new)) => old.extend(new),
            (_, detail) => self.detail = detail,
        }
        self
    }

    pub fn with_outcome(mut self, outcome: Outcome) -> AuditEvent {
        self.outcome = outcome;
        self
    }
}
