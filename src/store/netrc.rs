//! Clone credentials of repositories: a username and a sealed token per repository. Values come
//! in and go out sealed: this module never sees a token in clear.

use super::{Store, audit, db};
use crate::domain::{Actor, AuditAction, AuditEvent, RepoId};
use crate::error::Result;

/// A repository's clone credentials as stored: the token sealed under the key `key_id`.
#[derive(Clone)]
pub struct SealedNetrc {
    pub username: String,
    pub sealed: Vec<u8>,
    pub key_id: String,
}

impl std::fmt::Debug for SealedNetrc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedNetrc")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

fn event(actor: &Actor, action: AuditAction, slug: &str) -> AuditEvent {
    AuditEvent::new(actor, action, format!("repo:{slug}"))
}

impl Store {
    /// Sets (or replaces) the clone credentials of a repository.
    pub async fn set_repo_netrc(
        &self,
        repo: RepoId,
        slug: &str,
        netrc: &SealedNetrc,
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        on!(&mut tx, t => sqlx::query(
            "INSERT INTO repo_netrc (repo_id, username, password, key_id, created, updated) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (repo_id) DO UPDATE SET \
             username = excluded.username, password = excluded.password, \
             key_id = excluded.key_id, updated = excluded.updated")
            .bind(repo.0)
            .bind(&netrc.username)
            .bind(&netrc.sealed)
            .bind(&netrc.key_id)
            .bind(now)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        audit::append(
            &mut tx,
            now,
            &[event(actor, AuditAction::RepoNetrcSet, slug)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The clone credentials of a repository, sealed.
    pub async fn find_repo_netrc(&self, repo: RepoId) -> Result<Option<SealedNetrc>> {
        let row: Option<(String, Vec<u8>, String)> = on!(&*self.read, p => sqlx::query_as(
            "SELECT username, password, key_id FROM repo_netrc WHERE repo_id = $1")
            .bind(repo.0)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        Ok(row.map(|(username, sealed, key_id)| SealedNetrc {
            username,
            sealed,
            key_id,
        }))
    }

    /// Removes a repository's clone credentials; `false` when it had none.
    pub async fn delete_repo_netrc(
        &self,
        repo: RepoId,
        slug: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let gone = on!(&mut tx, t => sqlx::query("DELETE FROM repo_netrc WHERE repo_id = $1")
            .bind(repo.0)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        if gone > 0 {
            audit::append(
                &mut tx,
                now,
                &[event(actor, AuditAction::RepoNetrcDeleted, slug)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(gone > 0)
    }
}
