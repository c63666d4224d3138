//! Repositories: activation, settings, deactivation.

use super::rows::{REPO_COLUMNS, RepoRow};
use super::{Store, audit, db};
use crate::domain::{
    Actor, AuditAction, AuditEvent, Repo, RepoId, Slug, TriggerPolicy, UserId, Visibility,
};
use crate::error::{Error, Result};

/// What activating a repository needs.
#[derive(Debug, Clone)]
pub struct NewRepo {
    pub slug: Slug,
    pub clone_url: String,
    pub default_branch: String,
    pub config_path: String,
    pub visibility: Visibility,
    pub user_id: UserId,
    /// Fresh random secret for the webhooks.
    pub webhook_secret: String,
}

/// The settings `PATCH /api/repos/{owner}/{name}` may change; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoPatch {
    pub timeout: Option<i64>,
    pub trusted: Option<bool>,
    pub protected: Option<bool>,
    pub config_path: Option<String>,
    pub visibility: Option<Visibility>,
    pub default_branch: Option<String>,
    pub clone_url: Option<String>,
    pub trigger_policy: Option<TriggerPolicy>,
    pub verify_commits: Option<bool>,
    pub untrusted_id_tokens: Option<bool>,
}

impl Store {
    /// Activates a repository: creates it, or re-activates a deactivated one with the new
    /// settings and a new webhook secret. An active repository of that slug is a conflict.
    pub async fn activate_repo(&self, new: &NewRepo, actor: &Actor, now: i64) -> Result<Repo> {
        let slug = new.slug.to_string();
        let mut tx = self.begin().await?;
        let sql = format!(
            "INSERT INTO repos (user_id, namespace, name, slug, git_http_url, default_branch, \
             config_path, visibility, private, webhook_secret, active, created, updated) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, TRUE, $11, $11) \
             ON CONFLICT (slug) DO UPDATE SET user_id = $1, git_http_url = $5, default_branch = $6, \
             config_path = $7, visibility = $8, private = $9, webhook_secret = $10, active = TRUE, \
             updated = $11, version = repos.version + 1 \
             WHERE repos.active = FALSE RETURNING {REPO_COLUMNS}"
        );
        let row: Option<RepoRow> = on!(&mut tx, t => sqlx::query_as(&sql)
            .bind(new.user_id.0)
            .bind(&new.slug.owner)
            .bind(&new.slug.name)
            .bind(&slug)
            .bind(&new.clone_url)
            .bind(&new.default_branch)
            .bind(&new.config_path)
            .bind(new.visibility.as_str())
            .bind(new.visibility != Visibility::Public)
            .bind(&new.webhook_secret)
            .bind(now)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        let Some(row) = row else {
            return Err(Error::conflict(format!(
                "repository {slug} is already active"
            )));
        };
        let repo = row.into_repo()?;
        let event = AuditEvent::new(actor, AuditAction::RepoActivated, format!("repo:{slug}"))
            .with_detail(serde_json::json!({
                "clone_url": repo.git_http_url,
                "default_branch": repo.default_branch,
                "config_path": repo.config_path,
            }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        self.forget_repo(&repo.slug);
        Ok(repo)
    }

    /// An active repository by `owner/name`, from memory when it was read before.
    pub async fn cached_repo_by_slug(&self, slug: &str) -> Result<Option<Repo>> {
        if let Ok(cache) = self.repos.read()
            && let Some(repo) = cache.get(slug)
        {
            return Ok(Some(repo.clone()));
        }
        let found = self.find_repo_by_slug(slug).await?.filter(|r| r.active);
        if let (Some(repo), Ok(mut cache)) = (&found, self.repos.write()) {
            cache.insert(slug.to_string(), repo.clone());
        }
        Ok(found)
    }

    /// Drops a changed repository's cached copy here and on every other server.
    fn forget_repo(&self, slug: &str) {
        self.forget_repo_here(slug);
        self.announce(super::Notice::Repo {
            slug: slug.to_string(),
        });
    }

    /// An active or inactive repository by `owner/name`.
    pub async fn find_repo_by_slug(&self, slug: &str) -> Result<Option<Repo>> {
        let sql = format!("SELECT {REPO_COLUMNS} FROM repos WHERE slug = $1");
        let row: Option<RepoRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(slug)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        row.map(RepoRow::into_repo).transpose()
    }

    pub async fn find_repo(&self, id: RepoId) -> Result<Option<Repo>> {
        let sql = format!("SELECT {REPO_COLUMNS} FROM repos WHERE id = $1");
        let row: Option<RepoRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(id.0)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        row.map(RepoRow::into_repo).transpose()
    }

    /// Active repositories, by slug.
    pub async fn list_repos(&self) -> Result<Vec<Repo>> {
        let sql = format!("SELECT {REPO_COLUMNS} FROM repos WHERE active = TRUE ORDER BY slug");
        let rows: Vec<RepoRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .fetch_all(p)
            .await
            .map_err(db)?);
        rows.into_iter().map(RepoRow::into_repo).collect()
    }

    /// The active repositories, as [`Store::list_repos`], from memory until a repository
    /// changes (here, or on another server, which tells this one). For pages: a repository's
    /// `counter` may be behind, as builds move it without a change to the repository.
    pub async fn list_repos_cached(&self) -> Result<std::sync::Arc<Vec<Repo>>> {
        let generation = match self.listed.lock() {
            Ok(listed) => match &listed.1 {
                Some(list) => return Ok(list.clone()),
                None => listed.0,
            },
            Err(_) => 0,
        };
        let list = std::sync::Arc::new(self.list_repos().await?);
        if let Ok(mut listed) = self.listed.lock()
            && listed.0 == generation
        {
            listed.1 = Some(list.clone());
        }
        Ok(list)
    }

    /// Drops the cached list of repositories.
    pub(super) fn forget_repo_list(&self) {
        if let Ok(mut listed) = self.listed.lock() {
            listed.0 += 1;
            listed.1 = None;
        }
    }

    /// Changes the settings in `patch`.
    pub async fn update_repo(
        &self,
        id: RepoId,
        patch: &RepoPatch,
        actor: &Actor,
        now: i64,
    ) -> Result<Repo> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "UPDATE repos SET timeout = COALESCE($2, timeout), trusted = COALESCE($3, trusted), \
             protected = COALESCE($4, protected), config_path = COALESCE($5, config_path), \
             visibility = COALESCE($6, visibility), private = COALESCE($7, private), \
             default_branch = COALESCE($8, default_branch), git_http_url = COALESCE($9, git_http_url), \
             trigger_policy = COALESCE($11, trigger_policy), \
             verify_commits = COALESCE($12, verify_commits), \
             untrusted_id_tokens = COALESCE($13, untrusted_id_tokens), updated = $10, version = version + 1 \
             WHERE id = $1 RETURNING {REPO_COLUMNS}"
        );
        let row: Option<RepoRow> = on!(&mut tx, t => sqlx::query_as(&sql)
            .bind(id.0)
            .bind(patch.timeout)
            .bind(patch.trusted)
            .bind(patch.protected)
            .bind(patch.config_path.as_deref())
            .bind(patch.visibility.map(Visibility::as_str))
            .bind(patch.visibility.map(|v| v != Visibility::Public))
            .bind(patch.default_branch.as_deref())
            .bind(patch.clone_url.as_deref())
            .bind(now)
            .bind(patch.trigger_policy.map(TriggerPolicy::as_str))
            .bind(patch.verify_commits)
            .bind(patch.untrusted_id_tokens)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        let repo = row
            .ok_or_else(|| Error::not_found("no such repository"))?
            .into_repo()?;
        let event = AuditEvent::new(
            actor,
            AuditAction::RepoUpdated,
            format!("repo:{}", repo.slug),
        )
        .with_detail(serde_json::json!({
            "timeout": patch.timeout,
            "trusted": patch.trusted,
            "protected": patch.protected,
            "config_path": patch.config_path,
            "visibility": patch.visibility.map(Visibility::as_str),
            "default_branch": patch.default_branch,
            "clone_url": patch.clone_url,
            "trigger_policy": patch.trigger_policy.map(TriggerPolicy::as_str),
            "verify_commits": patch.verify_commits,
            "untrusted_id_tokens": patch.untrusted_id_tokens,
        }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        self.forget_repo(&repo.slug);
        Ok(repo)
    }

    /// Deactivates a repository (its builds stay readable), or with `remove` deletes it with its
    /// builds and logs.
    pub async fn deactivate_repo(
        &self,
        id: RepoId,
        remove: bool,
        actor: &Actor,
        now: i64,
    ) -> Result<Repo> {
        let mut tx = self.begin().await?;
        let sql = if remove {
            format!("DELETE FROM repos WHERE id = $1 RETURNING {REPO_COLUMNS}")
        } else {
            format!(
                "UPDATE repos SET active = FALSE, updated = $2, version = version + 1 \
                 WHERE id = $1 RETURNING {REPO_COLUMNS}"
            )
        };
        let row: Option<RepoRow> = on!(&mut tx, t => {
            let q = sqlx::query_as(&sql).bind(id.0);
            let q = if remove { q } else { q.bind(now) };
            q.fetch_optional(&mut **t).await.map_err(db)?
        });
        let repo = row
            .ok_or_else(|| Error::not_found("no such repository"))?
            .into_repo()?;
        let event = AuditEvent::new(
            actor,
            AuditAction::RepoDeleted,
            format!("repo:{}", repo.slug),
        )
        .with_detail(serde_json::json!({ "removed": remove }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        self.forget_repo(&repo.slug);
        Ok(repo)
    }
}
