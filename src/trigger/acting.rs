//! Who a build acts as. A manual start, restart, promotion or rollback: the caller, with the
//! token or session they came through. A webhook: the sender, mapped to a Hangar user by a
//! linked forge login (or, on GitHub, the verified email of the head commit's author when that
//! author is the sender); the repository's trigger policy then says whether the build runs or
//! waits for approval.

use crate::auth::policy::{Action, Authz, RepoRef};
use crate::auth::principal::{Credential, Principal};
use crate::domain::identity::{ActorKind, BuildActor, token_expiry_warning};
use crate::domain::{Repo, TriggerPolicy, User};
use crate::error::Result;
use crate::forge::{Forge, Hook};
use crate::store::Store;

/// Whether `principal` holds `build.trigger` on `repo`.
pub fn may_trigger(authz: &Authz, principal: &Principal, repo: &Repo) -> bool {
    authz
        .decide(
            principal,
            Action::BuildTrigger,
            Some(RepoRef::from(repo)),
            None,
        )
        .allowed
}

/// The identity of a build started by a request, and what its starter should be told.
pub async fn of_caller(
    store: &Store,
    authz: &Authz,
    principal: &Principal,
    repo: &Repo,
    now: i64,
) -> Result<(BuildActor, Vec<String>)> {
    let user = principal.require_user()?;
    let (token_id, session_id) = match &principal.credential {
        Credential::Token { id, .. } if id.0 != 0 => (Some(*id), None),
        Credential::Session { id } => (None, Some(*id)),
        _ => (None, None),
    };
    let token_expires = match token_id {
        Some(id) => store.find_token(id).await?.map_or(0, |t| t.expires),
        None => 0,
    };
    let entitled = may_trigger(authz, principal, repo);
    let warnings = token_expiry_warning(token_expires, now, repo.timeout)
        .into_iter()
        .collect();
    Ok((
        BuildActor {
            kind: ActorKind::User,
            login: user.login.clone(),
            user_id: Some(user.id),
            token_id,
            session_id,
            verified: true,
            entitled,
            token_expires,
        },
        warnings,
    ))
}

/// What a webhook's sender may do: who the build acts as, and why it must wait (empty: it runs).
#[derive(Debug, Clone)]
pub struct SenderDecision {
    pub identity: BuildActor,
    pub blocked_reason: String,
}

fn forge_name(forge: Forge) -> &'static str {
    match forge {
        Forge::GitHub => "github",
        Forge::Gitea => "gitea",
    }
}

/// The Hangar user behind a webhook's sender, if one is linked (and active).
async fn linked_user(
    store: &Store,
    forge: Forge,
    hook: &Hook,
) -> Result<Option<(User, Vec<String>)>> {
    if hook.sender.is_empty() {
        return Ok(None);
    }
    let mut found = store
        .find_user_by_forge_login(forge_name(forge), &hook.sender)
        .await?;
    // GitHub names a commit author's account only when the author's email is a verified
    // address of that account: if the author is the sender, the email is the sender's.
    if found.is_none()
        && forge == Forge::GitHub
        && !hook.author_login.is_empty()
        && hook.author_login.eq_ignore_ascii_case(&hook.sender)
    {
        found = store
            .find_user_by_verified_email(&hook.author_email)
            .await?;
    }
    Ok(found.filter(|(u, _)| u.active))
}

/// Decides who a webhook build acts as and whether it waits for approval.
pub async fn of_sender(
    store: &Store,
    authz: &Authz,
    repo: &Repo,
    forge: Forge,
    hook: &Hook,
) -> Result<SenderDecision> {
    let forge_login = format!("{}:{}", forge_name(forge), hook.sender);
    let linked = linked_user(store, forge, hook).await?;
    let (identity, sender_may_trigger) = match linked {
        Some((user, groups)) => {
            let principal = Principal::for_build(user.clone(), groups);
            let allowed = may_trigger(authz, &principal, repo);
            let identity = BuildActor {
                kind: ActorKind::User,
                login: user.login.clone(),
                user_id: Some(user.id),
                token_id: None,
                session_id: None,
                verified: true,
                entitled: allowed,
                token_expires: 0,
            };
            (Some(identity), allowed)
        }
        None => (None, false),
    };
    let unverified = || BuildActor {
        kind: ActorKind::Forge,
        login: forge_login.clone(),
        user_id: None,
        token_id: None,
        session_id: None,
        verified: false,
        entitled: false,
        token_expires: 0,
    };
    let blocked_reason = match repo.trigger_policy {
        TriggerPolicy::AnySender => String::new(),
        TriggerPolicy::Approval => "the repository's trigger policy is approval".to_string(),
        TriggerPolicy::KnownSenders if hook.fork => {
            format!("a pull request from a fork ({})", hook.source_repo)
        }
        TriggerPolicy::KnownSenders => match &identity {
            None => format!("the sender {forge_login} is not linked to a Hangar user"),
            Some(who) if !sender_may_trigger => format!(
                "the sender {forge_login} ({}) may not build.trigger on {}",
                who.login, repo.slug
            ),
            Some(_) => String::new(),
        },
    };
    let identity = match (identity, repo.trigger_policy) {
        // Drone's behaviour: the forge's word; a linked user without the right acts unverified.
        (Some(_), TriggerPolicy::AnySender) if !sender_may_trigger => BuildActor {
            login: forge_login.clone(),
            ..unverified()
        },
        (Some(who), _) => who,
        (None, _) => unverified(),
    };
    Ok(SenderDecision {
        identity,
        blocked_reason,
    })
}
