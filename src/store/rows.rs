//! Rows as the database holds them, and their conversion into domain types. Column lists live
//! next to their row types so every `SELECT` names the same columns.

use crate::domain::identity::{ActorKind, BuildActor};
use crate::domain::{
    Build, BuildId, Event, Repo, RepoId, SessionId, Stage, StageId, Status, Step, StepId, TokenId,
    TriggerPolicy, User, UserId, Visibility, repo::WebhookSecret,
};
use crate::error::{Error, Result};
use std::collections::BTreeMap;

fn bad(what: &str, value: &str) -> Error {
    Error::Internal(anyhow::anyhow!(
        "database holds an unknown {what} {value:?}"
    ))
}

fn status(value: &str) -> Result<Status> {
    value.parse().map_err(|_| bad("status", value))
}

fn json<T: serde::de::DeserializeOwned>(what: &str, value: &str) -> Result<T> {
    serde_json::from_str(value).map_err(|_| bad(what, value))
}

pub(crate) const REPO_COLUMNS: &str = "id, uid, user_id, namespace, name, slug, scm, git_http_url, \
    git_ssh_url, link, default_branch, private, visibility, active, config_path, trusted, \
    protected, ignore_forks, ignore_pull_requests, auto_cancel_pull_requests, auto_cancel_pushes, \
    auto_cancel_running, timeout, counter, synced, created, updated, version, archived, \
    webhook_secret, trigger_policy, verify_commits, untrusted_id_tokens";

#[derive(sqlx::FromRow)]
pub(crate) struct RepoRow {
    id: i64,
    uid: String,
    user_id: i64,
    namespace: String,
    name: String,
    slug: String,
    scm: String,
    git_http_url: String,
    git_ssh_url: String,
    link: String,
    default_branch: String,
    private: bool,
    visibility: String,
    active: bool,
    config_path: String,
    trusted: bool,
    protected: bool,
    ignore_forks: bool,
    ignore_pull_requests: bool,
    auto_cancel_pull_requests: bool,
    auto_cancel_pushes: bool,
    auto_cancel_running: bool,
    timeout: i64,
    counter: i64,
    synced: i64,
    created: i64,
    updated: i64,
    version: i64,
    archived: bool,
    webhook_secret: String,
    trigger_policy: String,
    verify_commits: bool,
    untrusted_id_tokens: bool,
}

impl RepoRow {
    pub(crate) fn into_repo(self) -> Result<Repo> {
        Ok(Repo {
            id: RepoId(self.id),
            uid: self.uid,
            user_id: UserId(self.user_id),
            namespace: self.namespace,
            name: self.name,
            slug: self.slug,
            scm: self.scm,
            git_http_url: self.git_http_url,
            git_ssh_url: self.git_ssh_url,
            link: self.link,
            default_branch: self.default_branch,
            private: self.private,
            visibility: Visibility::parse(&self.visibility)
                .ok_or_else(|| bad("visibility", &self.visibility))?,
            active: self.active,
            config_path: self.config_path,
            trusted: self.trusted,
            protected: self.protected,
            ignore_forks: self.ignore_forks,
            ignore_pull_requests: self.ignore_pull_requests,
            auto_cancel_pull_requests: self.auto_cancel_pull_requests,
            auto_cancel_pushes: self.auto_cancel_pushes,
            auto_cancel_running: self.auto_cancel_running,
            timeout: self.timeout,
            counter: self.counter,
            synced: self.synced,
            created: self.created,
            updated: self.updated,
            version: self.version,
            archived: self.archived,
            webhook_secret: WebhookSecret(self.webhook_secret),
            trigger_policy: TriggerPolicy::parse(&self.trigger_policy)
                .ok_or_else(|| bad("trigger_policy", &self.trigger_policy))?,
            verify_commits: self.verify_commits,
            untrusted_id_tokens: self.untrusted_id_tokens,
        })
    }
}

pub(crate) const BUILD_COLUMNS: &str = "id, repo_id, trigger_by, number, parent, status, error, \
    event, action, link, timestamp, title, message, before_sha, after_sha, git_ref, source_repo, \
    source, target, author_login, author_name, author_email, author_avatar, sender, params, cron, \
    deploy_to, deploy_id, started, finished, created, updated, version, delivery_id, actor_kind, \
    actor_user_id, actor_login, actor_token_id, actor_session_id, actor_verified, actor_entitled, \
    token_expires, blocked_reason, approved_by, warnings";

#[derive(sqlx::FromRow)]
pub(crate) struct BuildRow {
    id: i64,
    repo_id: i64,
    trigger_by: String,
    number: i64,
    parent: i64,
    status: String,
    error: String,
    event: String,
    action: String,
    link: String,
    timestamp: i64,
    title: String,
    message: String,
    before_sha: String,
    after_sha: String,
    git_ref: String,
    source_repo: String,
    source: String,
    target: String,
    author_login: String,
    author_name: String,
    author_email: String,
    author_avatar: String,
    sender: String,
    params: String,
    cron: String,
    deploy_to: String,
    deploy_id: i64,
    started: i64,
    finished: i64,
    created: i64,
    updated: i64,
    version: i64,
    delivery_id: String,
    actor_kind: String,
    actor_user_id: Option<i64>,
    actor_login: String,
    actor_token_id: Option<i64>,
    actor_session_id: Option<i64>,
    actor_verified: bool,
    actor_entitled: bool,
    token_expires: i64,
    blocked_reason: String,
    approved_by: String,
    warnings: String,
}

impl BuildRow {
    pub(crate) fn into_build(self) -> Result<Build> {
        Ok(Build {
            id: BuildId(self.id),
            repo_id: RepoId(self.repo_id),
            trigger: self.trigger_by,
            number: self.number,
            parent: self.parent,
            status: status(&self.status)?,
            error: self.error,
            event: Event::parse(&self.event).ok_or_else(|| bad("event", &self.event))?,
            action: self.action,
            link: self.link,
            timestamp: self.timestamp,
            title: self.title,
            message: self.message,
            before: self.before_sha,
            after: self.after_sha,
            git_ref: self.git_ref,
            source_repo: self.source_repo,
            source: self.source,
            target: self.target,
            author_login: self.author_login,
            author_name: self.author_name,
            author_email: self.author_email,
            author_avatar: self.author_avatar,
            sender: self.sender,
            params: json::<BTreeMap<String, String>>("params", &self.params)?,
            cron: self.cron,
            deploy_to: self.deploy_to,
            deploy_id: self.deploy_id,
            started: self.started,
            finished: self.finished,
            created: self.created,
            updated: self.updated,
            version: self.version,
            delivery_id: self.delivery_id,
            actor: ActorKind::parse(&self.actor_kind).map(|kind| BuildActor {
                kind,
                login: self.actor_login,
                user_id: self.actor_user_id.map(UserId),
                token_id: self.actor_token_id.map(TokenId),
                session_id: self.actor_session_id.map(SessionId),
                verified: self.actor_verified,
                entitled: self.actor_entitled,
                token_expires: self.token_expires,
            }),
            blocked_reason: self.blocked_reason,
            approved_by: self.approved_by,
            warnings: json::<Vec<String>>("warnings", &self.warnings)?,
            stages: Vec::new(),
            statuses: Vec::new(),
        })
    }
}

pub(crate) const STAGE_COLUMNS: &str = "id, repo_id, build_id, number, name, kind, type, status, \
    error, errignore, exit_code, machine, os, arch, variant, kernel, limit_n, started, stopped, \
    created, updated, version, on_success, on_failure, depends_on, labels";

#[derive(sqlx::FromRow)]
pub(crate) struct StageRow {
    id: i64,
    repo_id: i64,
    build_id: i64,
    number: i64,
    name: String,
    kind: String,
    #[sqlx(rename = "type")]
    stage_type: String,
    status: String,
    error: String,
    errignore: bool,
    exit_code: i64,
    machine: String,
    os: String,
    arch: String,
    variant: String,
    kernel: String,
    limit_n: i64,
    started: i64,
    stopped: i64,
    created: i64,
    updated: i64,
    version: i64,
    on_success: bool,
    on_failure: bool,
    depends_on: String,
    labels: String,
}

impl StageRow {
    pub(crate) fn into_stage(self) -> Result<Stage> {
        Ok(Stage {
            id: StageId(self.id),
            repo_id: RepoId(self.repo_id),
            build_id: BuildId(self.build_id),
            number: self.number,
            name: self.name,
            kind: self.kind,
            stage_type: self.stage_type,
            status: status(&self.status)?,
            error: self.error,
            errignore: self.errignore,
            exit_code: self.exit_code,
            machine: self.machine,
            os: self.os,
            arch: self.arch,
            variant: self.variant,
            kernel: self.kernel,
            limit: self.limit_n,
            started: self.started,
            stopped: self.stopped,
            created: self.created,
            updated: self.updated,
            version: self.version,
            on_success: self.on_success,
            on_failure: self.on_failure,
            depends_on: json("depends_on", &self.depends_on)?,
            labels: json("labels", &self.labels)?,
            steps: Vec::new(),
        })
    }
}

pub(crate) const STEP_COLUMNS: &str = "id, stage_id, number, name, status, error, errignore, \
    exit_code, started, stopped, version, depends_on, detached";

#[derive(sqlx::FromRow)]
pub(crate) struct StepRow {
    id: i64,
    stage_id: i64,
    number: i64,
    name: String,
    status: String,
    error: String,
    errignore: bool,
    exit_code: i64,
    started: i64,
    stopped: i64,
    version: i64,
    depends_on: String,
    detached: bool,
}

impl StepRow {
    pub(crate) fn into_step(self) -> Result<Step> {
        Ok(Step {
            id: StepId(self.id),
            step_id: StageId(self.stage_id),
            number: self.number,
            name: self.name,
            status: status(&self.status)?,
            error: self.error,
            errignore: self.errignore,
            exit_code: self.exit_code,
            started: self.started,
            stopped: self.stopped,
            version: self.version,
            depends_on: json("depends_on", &self.depends_on)?,
            detached: self.detached,
        })
    }
}

pub(crate) const USER_COLUMNS: &str =
    "id, login, email, machine, admin, active, avatar, created, updated, last_login";

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: i64,
    login: String,
    email: String,
    machine: bool,
    admin: bool,
    active: bool,
    avatar: String,
    created: i64,
    updated: i64,
    last_login: i64,
}

impl UserRow {
    pub(crate) fn into_user(self) -> User {
        User {
            id: UserId(self.id),
            login: self.login,
            email: self.email,
            machine: self.machine,
            admin: self.admin,
            active: self.active,
            avatar: self.avatar,
            created: self.created,
            updated: self.updated,
            last_login: self.last_login,
        }
    }
}
