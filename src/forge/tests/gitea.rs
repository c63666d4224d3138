//! Gitea's and Forgejo's events.

use super::*;

#[test]
fn a_gitea_push_becomes_a_push_hook() {
    let hook = build(Forge::Gitea, &gitea("push"), GITEA_PUSH);
    assert_eq!(
        hook,
        Hook {
            delivery_id: "f6266f16-1bf3-46a5-9ea4-602e06ead473".into(),
            repo_full_name: "infra/deployer".into(),
            event: Some(Event::Push),
            action: "".into(),
            git_ref: "refs/heads/develop".into(),
            before: "28e1879d029cb852e4844d9c718537df08844e03".into(),
            after: "bffeb74224043ba2feb48d137756c8a9331c449a".into(),
            source: "develop".into(),
            target: "develop".into(),
            source_repo: "infra/deployer".into(),
            pull_request: 0,
            fork: false,
            title: "".into(),
            message: "Read the inventory from the environment\n".into(),
            link: "https://git.example.org/infra/deployer/compare/\
                   28e1879d029cb852e4844d9c718537df08844e03...\
                   bffeb74224043ba2feb48d137756c8a9331c449a"
                .into(),
            // 2024-05-01T16:20:05+02:00
            timestamp: 1_714_573_205,
            author_login: "ada".into(),
            author_name: "Ada Builder".into(),
            author_email: "ada@example.org".into(),
            author_avatar: "https://git.example.org/avatars/9ac1e0b2".into(),
            sender: "ada".into(),
        }
    );
}

#[test]
fn an_older_gitea_push_without_head_commit_takes_the_last_commit() {
    let hook = build(Forge::Gitea, &gitea("push"), GITEA_PUSH_WITHOUT_HEAD_COMMIT);
    assert_eq!(hook.message, "Read the inventory from the environment\n");
    assert_eq!(hook.after, "bffeb74224043ba2feb48d137756c8a9331c449a");
    assert_eq!(hook.timestamp, 1_714_573_205);
}

#[test]
fn a_gitea_push_without_compare_link_links_to_the_commit() {
    let body = GITEA_PUSH.replace(
        "\"compare_url\": \"https://git.example.org/infra/deployer/compare/",
        "\"compare_url\": \"\", \"unused\": \"",
    );
    let hook = build(Forge::Gitea, &gitea("push"), &body);
    assert_eq!(
        hook.link,
        "https://git.example.org/infra/deployer/commit/bffeb74224043ba2feb48d137756c8a9331c449a"
    );
}

#[test]
fn a_gitea_tag_push_becomes_a_tag_hook() {
    let hook = build(Forge::Gitea, &gitea("push"), GITEA_TAG);
    assert_eq!(hook.event, Some(Event::Tag));
    assert_eq!(hook.action, "create");
    assert_eq!(hook.git_ref, "refs/tags/v2.0.1");
    assert_eq!(hook.source, "v2.0.1");
    assert_eq!(hook.after, "bffeb74224043ba2feb48d137756c8a9331c449a");
    assert_eq!(hook.message, "Read the inventory from the environment\n");
}

#[test]
fn a_gitea_tag_creation_event_is_ignored_so_that_the_tag_builds_once() {
    let reason = ignored(Forge::Gitea, &gitea("create"), GITEA_CREATE_TAG);
    assert_eq!(reason, "tags are built from their push event");
}

#[test]
fn a_deleted_gitea_tag_builds_nothing() {
    assert_eq!(
        ignored(Forge::Gitea, &gitea("push"), GITEA_TAG_DELETE),
        "tag deleted"
    );
}

#[test]
fn a_gitea_pull_request_from_a_fork_is_marked_as_a_fork() {
    let hook = build(Forge::Gitea, &gitea("pull_request"), GITEA_PR);
    assert_eq!(
        hook,
        Hook {
            delivery_id: "f6266f16-1bf3-46a5-9ea4-602e06ead473".into(),
            repo_full_name: "infra/deployer".into(),
            event: Some(Event::PullRequest),
            action: "opened".into(),
            git_ref: "refs/pull/7/head".into(),
            before: "bffeb74224043ba2feb48d137756c8a9331c449a".into(),
            after: "e1d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d5e".into(),
            source: "dry-run".into(),
            target: "main".into(),
            source_repo: "grace/deployer".into(),
            pull_request: 7,
            fork: true,
            title: "Support a dry run".into(),
            message: "Support a dry run".into(),
            link: "https://git.example.org/infra/deployer/pulls/7".into(),
            // 2024-05-02T09:41:00+02:00
            timestamp: 1_714_635_660,
            author_login: "grace".into(),
            author_name: "Grace Contributor".into(),
            author_email: "grace@example.net".into(),
            author_avatar: "https://git.example.org/avatars/51d0c7aa".into(),
            sender: "grace".into(),
        }
    );
}

#[test]
fn a_gitea_pull_request_with_new_commits_is_synchronized() {
    let hook = build(Forge::Gitea, &gitea("pull_request"), GITEA_PR_SYNCHRONIZED);
    assert_eq!(hook.action, "synchronized");
    assert_eq!(hook.after, "f00dfacecafe0123456789abcdef0123456789ab");
}

#[test]
fn a_gitea_pull_request_label_change_builds_nothing() {
    let reason = ignored(Forge::Gitea, &gitea("pull_request"), GITEA_PR_LABEL_UPDATED);
    assert_eq!(reason, "pull request action label_updated is not built");
}

#[test]
fn forgejo_headers_alone_are_enough() {
    let forgejo = headers(&[
        ("X-Forgejo-Event", "push"),
        ("X-Forgejo-Delivery", "0b9b1b34-7f2c-4c1e-9a55-3d6c8c1f2e10"),
    ]);
    let hook = build(Forge::Gitea, &forgejo, GITEA_PUSH);
    assert_eq!(hook.delivery_id, "0b9b1b34-7f2c-4c1e-9a55-3d6c8c1f2e10");
    assert_eq!(hook.event, Some(Event::Push));
}
