//! The lists the web pages show: each repository's newest build (the front page) and a
//! repository's builds filtered by branch and event, a page at a time.

use super::rows::{BUILD_COLUMNS, BuildRow};
use super::{Store, db};
use crate::domain::{Build, Event, RepoId};
use crate::error::Result;
use std::collections::HashMap;

/// Which builds of a repository to list.
#[derive(Debug, Clone, Default)]
pub struct BuildFilter {
    /// The branch the build is for (`target`); `None`: every branch.
    pub branch: Option<String>,
    pub event: Option<Event>,
}

impl Store {
    /// The newest build of every repository that has one, in one statement (each found through
    /// the `(repo_id, number)` index).
    pub async fn list_latest_builds(&self) -> Result<HashMap<RepoId, Build>> {
        let sql = format!(
            "SELECT {BUILD_COLUMNS} FROM builds b WHERE b.number = \
             (SELECT MAX(l.number) FROM builds l WHERE l.repo_id = b.repo_id)"
        );
        let rows: Vec<BuildRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .fetch_all(p)
            .await
            .map_err(db)?);
        rows.into_iter()
            .map(|r| r.into_build().map(|b| (b.repo_id, b)))
            .collect()
    }

    /// A page of a repository's builds matching `filter`, newest first, without stages.
    pub async fn list_builds_matching(
        &self,
        repo: RepoId,
        filter: &BuildFilter,
        page: i64,
        per_page: i64,
    ) -> Result<Vec<Build>> {
        let sql = format!(
            "SELECT {BUILD_COLUMNS} FROM builds WHERE repo_id = $1 AND ($2 = '' OR target = $2) \
             AND ($3 = '' OR event = $3) ORDER BY number DESC LIMIT $4 OFFSET $5"
        );
        let rows: Vec<BuildRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(repo.0)
            .bind(filter.branch.as_deref().unwrap_or(""))
            .bind(filter.event.map_or("", Event::as_str))
            .bind(per_page)
            .bind((page.max(1) - 1) * per_page)
            .fetch_all(p)
            .await
            .map_err(db)?);
        rows.into_iter().map(BuildRow::into_build).collect()
    }
}
