//! What each forge event means for Hangar: which events build, and how a push or a pull
//! request payload becomes a [`Hook`]. Both forges send the same shapes (see `payload`); the
//! few differences (pull request action names) are spelled out here.
//!
//! Decisions, so that a change builds exactly once:
//! - Tags are built from the `push` event of `refs/tags/*`. Both forges also send a `create`
//!   event for a new tag; it is ignored, because the push carries more (the commit, its
//!   message and author, a compare link) and Drone builds GitHub tags from the push too.
//!   Branch creation likewise builds from its push.
//! - A deleted branch or tag (GitHub: `deleted: true`; both: an all-zero `after`) builds
//!   nothing. Gitea reports a deleted branch only as a `delete` event, also ignored.
//! - Pull requests build when `opened`, `synchronized` (new commits; GitHub says
//!   `synchronize`) and `reopened`; every other action (`closed`, `edited`, `labeled`, ...)
//!   is ignored.

use super::payload::{Commit, Create, PullRequestEvent, Push, first_set};
use super::{Forge, Hook, ParseError, Parsed};
use crate::domain::Event;

/// The `action` of a tag build, as Drone names it.
const TAG_ACTION: &str = "create";

/// A `push` event: a branch or tag push builds; deletions and other refs do not.
pub(super) fn push(push: Push) -> Result<Parsed, ParseError> {
    let git_ref = push.git_ref.as_str();
    if git_ref.is_empty() {
        return Err(ParseError::MissingField("ref"));
    }
    if push.repository.full_name.is_empty() {
        return Err(ParseError::MissingField("repository.full_name"));
    }
    let (event, name) = if let Some(branch) = git_ref.strip_prefix("refs/heads/") {
        (Event::Push, branch)
    } else if let Some(tag) = git_ref.strip_prefix("refs/tags/") {
        (Event::Tag, tag)
    } else {
        return Ok(Parsed::Ignore(
            "only pushes to branches and tags are built".into(),
        ));
    };
    if push.deleted || is_zero_sha(push.after.as_str()) {
        let what = if event == Event::Tag { "tag" } else { "branch" };
        return Ok(Parsed::Ignore(format!("{what} deleted")));
    }
    if push.after.is_empty() {
        return Err(ParseError::MissingField("after"));
    }
    if name.is_empty() {
        return Ok(Parsed::Ignore("push to a ref without a name".into()));
    }

    // Older Gitea sends no `head_commit`; the newest commit is then the last of `commits`.
    let commit = push
        .head_commit
        .as_ref()
        .or(push.commits.last())
        .filter(|commit| !commit.id.is_empty());
    let empty = Commit::default();
    let commit = commit.unwrap_or(&empty);

    let sender = first_set(&[
        &push.sender.login,
        &push.sender.username,
        &push.pusher.login,
    ]);
    // A commit whose e-mail address belongs to no forge account is credited to the pusher.
    let author_login = if commit.author.username.is_empty() {
        sender
    } else {
        commit.author.username.as_str()
    };
    // The payload has an avatar only for the sender; it is the author's only when they are
    // the same account.
    let author_avatar = if author_login.eq_ignore_ascii_case(sender) {
        first_set(&[&push.sender.avatar_url, &push.pusher.avatar_url])
    } else {
        ""
    };
    // For an annotated tag GitHub's `after` is the tag object; the commit it points to is
    // what gets checked out and what commit statuses must be posted to.
    let after = if event == Event::Tag && !commit.id.is_empty() {
        commit.id.as_str()
    } else {
        push.after.as_str()
    };

    Ok(Parsed::Build(Box::new(Hook {
        delivery_id: String::new(),
        repo_full_name: push.repository.full_name.0.clone(),
        event: Some(event),
        action: if event == Event::Tag {
            TAG_ACTION.into()
        } else {
            String::new()
        },
        git_ref: git_ref.into(),
        before: push.before.0.clone(),
        after: after.into(),
        // A tag belongs to no branch; its name stands in for one, as Drone does on Gitea.
        source: name.into(),
        target: name.into(),
        source_repo: push.repository.full_name.0.clone(),
        pull_request: 0,
        fork: false,
        title: String::new(),
        message: commit.message.0.clone(),
        link: first_set(&[&push.compare, &push.compare_url, &commit.url]).into(),
        timestamp: commit.timestamp.0,
        author_login: author_login.into(),
        author_name: commit.author.name.0.clone(),
        author_email: commit.author.email.0.clone(),
        author_avatar: author_avatar.into(),
        sender: sender.into(),
    })))
}

/// A `pull_request` event: opening, new commits and reopening build.
pub(super) fn pull_request(forge: Forge, event: PullRequestEvent) -> Result<Parsed, ParseError> {
    let action = event.action.as_str();
    if action.is_empty() {
        return Err(ParseError::MissingField("action"));
    }
    let Some(action) = build_action(forge, action) else {
        return Ok(Parsed::Ignore(format!(
            "pull request action {action} is not built"
        )));
    };
    let pull = &event.pull_request;
    let number = if pull.number > 0 {
        pull.number
    } else {
        event.number
    };
    if number <= 0 {
        return Err(ParseError::MissingField("pull_request.number"));
    }
    let required = [
        (&pull.head.sha, "pull_request.head.sha"),
        (&pull.head.name, "pull_request.head.ref"),
        (&pull.base.name, "pull_request.base.ref"),
        (&event.repository.full_name, "repository.full_name"),
    ];
    if let Some((_, field)) = required.iter().find(|(text, _)| text.is_empty()) {
        return Err(ParseError::MissingField(field));
    }

    let repo = event.repository.full_name.as_str();
    let base_repo = pull
        .base
        .repo
        .as_ref()
        .map(|base| base.full_name.as_str())
        .filter(|name| !name.is_empty())
        .unwrap_or(repo);
    let head_repo = pull
        .head
        .repo
        .as_ref()
        .map(|head| head.full_name.as_str())
        .unwrap_or("");
    // A head repository that is gone (a deleted fork) counts as a fork: forks get no secrets,
    // so that is the safe side to err on.
    let fork = head_repo.is_empty() || !head_repo.eq_ignore_ascii_case(base_repo);
    let timestamp = if pull.updated_at.0 != 0 {
        pull.updated_at.0
    } else {
        pull.created_at.0
    };

    Ok(Parsed::Build(Box::new(Hook {
        delivery_id: String::new(),
        repo_full_name: repo.into(),
        event: Some(Event::PullRequest),
        action: action.into(),
        git_ref: format!("refs/pull/{number}/head"),
        before: pull.base.sha.0.clone(),
        after: pull.head.sha.0.clone(),
        source: pull.head.name.0.clone(),
        target: pull.base.name.0.clone(),
        source_repo: head_repo.into(),
        pull_request: number,
        fork,
        title: pull.title.0.clone(),
        // Pull request events carry no commit message; Drone shows the title instead.
        message: pull.title.0.clone(),
        link: pull.html_url.0.clone(),
        timestamp,
        author_login: pull.user.login().into(),
        author_name: pull.user.display_name().into(),
        author_email: pull.user.email.0.clone(),
        author_avatar: pull.user.avatar_url.0.clone(),
        sender: event.sender.login().into(),
    })))
}

/// Drone's name for a pull request action that builds, `None` for one that does not.
fn build_action(forge: Forge, action: &str) -> Option<&'static str> {
    match (forge, action) {
        (_, "opened") => Some("opened"),
        (_, "reopened") => Some("reopened"),
        (Forge::GitHub, "synchronize") | (Forge::Gitea, "synchronized") => Some("synchronized"),
        _ => None,
    }
}

/// A `create` event; never builds (see the module documentation).
pub(super) fn create(create: &Create) -> Parsed {
    let reason = match create.ref_type.as_str() {
        "tag" => "tags are built from their push event",
        "branch" => "branches are built from their push event",
        _ => "created refs are built from their push event",
    };
    Parsed::Ignore(reason.into())
}

/// Git's name for "no commit": forty zeros, or sixty-four in SHA-256 repositories.
fn is_zero_sha(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|byte| byte == b'0')
}
