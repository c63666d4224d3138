//! Repositories' forge credentials (the token sealed, as it arrives) and the record of the
//! commit statuses posted for each build.

use super::{Store, audit, db};
use crate::domain::{Actor, AuditAction, AuditEvent, BuildId, CommitStatus, Delivery, ForgeKind};
use crate::domain::{RepoId, Slug};
use crate::error::{Error, Result};

/// Where a repository's commit statuses go, with its token sealed under the server key.
#[derive(Clone)]
pub struct RepoForge {
    pub repo: RepoId,
    pub kind: ForgeKind,
    /// `''`: the default for the kind.
    pub api_url: String,
    /// The token sealed under the server key; a sealed empty value with `GitHubApp`.
    pub sealed_token: Vec<u8>,
    pub auth: ForgeAuth,
    pub updated: i64,
}

/// How a repository's statuses are authorised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgeAuth {
    /// The repository's own token (`sealed_token`).
    Token,
    /// An installation token of the server's GitHub App; the installation is looked up from
    /// the repository when `None`.
    GitHubApp { installation: Option<i64> },
}

impl ForgeAuth {
    fn columns(self) -> (&'static str, i64) {
        match self {
            ForgeAuth::Token => ("token", 0),
            ForgeAuth::GitHubApp { installation } => ("github_app", installation.unwrap_or(0)),
        }
    }

    fn from_columns(auth: &str, installation: i64) -> Option<ForgeAuth> {
        match auth {
            "token" => Some(ForgeAuth::Token),
            "github_app" => Some(ForgeAuth::GitHubApp {
                installation: (installation > 0).then_some(installation),
            }),
            _ => None,
        }
    }
}

impl std::fmt::Debug for RepoForge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoForge")
            .field("repo", &self.repo)
            .field("kind", &self.kind)
            .field("api_url", &self.api_url)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct ForgeRow {
    repo_id: i64,
    kind: String,
    api_url: String,
    token: Vec<u8>,
    auth: String,
    installation_id: i64,
    updated: i64,
}

#[derive(sqlx::FromRow)]
struct StatusRow {
    context: String,
    state: String,
    description: String,
    outcome: String,
    attempts: i64,
    error: String,
    updated: i64,
}

/// One status's post, as recorded after each attempt.
#[derive(Debug, Clone)]
pub struct StatusRecord<'a> {
    pub build: BuildId,
    pub context: &'a str,
    pub state: &'a str,
    pub description: &'a str,
    pub delivery: Delivery,
    pub attempts: i64,
    pub error: &'a str,
}

impl Store {
    /// Sets (or replaces) a repository's forge credentials.
    pub async fn set_repo_forge(
        &self,
        forge: &RepoForge,
        slug: &Slug,
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        let (auth, installation) = forge.auth.columns();
        let mut tx = self.begin().await?;
        on!(&mut tx, t => sqlx::query(
            "INSERT INTO repo_forges (repo_id, kind, api_url, token, auth, installation_id, \
             created, updated) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
             ON CONFLICT (repo_id) DO UPDATE SET kind = excluded.kind, \
             api_url = excluded.api_url, token = excluded.token, auth = excluded.auth, \
             installation_id = excluded.installation_id, updated = excluded.updated")
            .bind(forge.repo.0)
            .bind(forge.kind.as_str())
            .bind(&forge.api_url)
            .bind(&forge.sealed_token)
            .bind(auth)
            .bind(installation)
            .bind(now)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        let event = AuditEvent::new(actor, AuditAction::RepoForgeSet, format!("repo:{slug}"))
            .with_detail(serde_json::json!({
                "kind": forge.kind.as_str(),
                "api_url": forge.api_url,
                "auth": auth,
            }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await
    }

    /// A repository's forge credentials, if set.
    pub async fn find_repo_forge(&self, repo: RepoId) -> Result<Option<RepoForge>> {
        let row: Option<ForgeRow> = on!(&*self.read, p => sqlx::query_as(
            "SELECT repo_id, kind, api_url, token, auth, installation_id, updated \
             FROM repo_forges WHERE repo_id = $1")
            .bind(repo.0)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        row.map(|r| {
            Ok(RepoForge {
                repo: RepoId(r.repo_id),
                kind: ForgeKind::parse(&r.kind).ok_or_else(|| {
                    Error::internal(anyhow::anyhow!("unknown forge kind {:?}", r.kind))
                })?,
                auth: ForgeAuth::from_columns(&r.auth, r.installation_id).ok_or_else(|| {
                    Error::internal(anyhow::anyhow!("unknown forge auth {:?}", r.auth))
                })?,
                api_url: r.api_url,
                sealed_token: r.token,
                updated: r.updated,
            })
        })
        .transpose()
    }

    /// Removes a repository's forge credentials; `false` if there were none.
    pub async fn delete_repo_forge(
        &self,
        repo: RepoId,
        slug: &Slug,
        actor: &Actor,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let gone = on!(&mut tx, t => sqlx::query("DELETE FROM repo_forges WHERE repo_id = $1")
            .bind(repo.0)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        if gone == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let event = AuditEvent::new(actor, AuditAction::RepoForgeRemoved, format!("repo:{slug}"));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records where a status's post stands (one row per build and context, the latest wins).
    /// A build purged meanwhile records nothing.
    pub async fn record_commit_status(&self, r: &StatusRecord<'_>, now: i64) -> Result<()> {
        on!(&*self.write, p => sqlx::query(
            "INSERT INTO forge_statuses (build_id, context, state, description, outcome, \
             attempts, error, updated) SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
             WHERE EXISTS (SELECT 1 FROM builds WHERE id = $1) \
             ON CONFLICT (build_id, context) DO UPDATE SET state = excluded.state, \
             description = excluded.description, outcome = excluded.outcome, \
             attempts = excluded.attempts, error = excluded.error, updated = excluded.updated")
            .bind(r.build.0)
            .bind(r.context)
            .bind(r.state)
            .bind(r.description)
            .bind(r.delivery.as_str())
            .bind(r.attempts)
            .bind(r.error)
            .bind(now)
            .execute(p)
            .await
            .map_err(db)?
            .rows_affected());
        Ok(())
    }

    /// The statuses recorded for a build, by context.
    pub async fn list_commit_statuses(&self, build: BuildId) -> Result<Vec<CommitStatus>> {
        let rows: Vec<StatusRow> = on!(&*self.read, p => sqlx::query_as(
            "SELECT context, state, description, outcome, attempts, error, updated \
             FROM forge_statuses WHERE build_id = $1 ORDER BY context")
            .bind(build.0)
            .fetch_all(p)
            .await
            .map_err(db)?);
        rows.into_iter()
            .map(|r| {
                Ok(CommitStatus {
                    delivery: Delivery::parse(&r.outcome).ok_or_else(|| {
                        Error::internal(anyhow::anyhow!("unknown delivery {:?}", r.outcome))
                    })?,
                    context: r.context,
                    state: r.state,
                    description: r.description,
                    attempts: r.attempts,
                    error: r.error,
                    updated: r.updated,
                })
            })
            .collect()
    }
}
