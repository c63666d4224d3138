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
    /// The newest build of each of `repos` that has one, in one statement: the newest number
    /// per repository through the `(repo_id, number)` index, then those builds.
    pub async fn list_latest_builds(&self, repos: &[RepoId]) -> Result<HashMap<RepoId, Build>> {
        if repos.is_empty() {
            return Ok(HashMap::new());
        }
        let marks: Vec<String> = (1..=repos.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {BUILD_COLUMNS} FROM builds b JOIN (SELECT repo_id AS of_repo, \
             MAX(number) AS newest FROM builds WHERE repo_id IN ({}) GROUP BY repo_id) m \
             ON b.repo_id = m.of_repo AND b.number = m.newest",
            marks.join(", ")
        );
        let rows: Vec<BuildRow> = on!(&*self.read, p => {
            let mut q = sqlx::query_as::<_, BuildRow>(&sql);
            for repo in repos {
                q = q.bind(repo.0);
            }
            q.fetch_all(p).await.map_err(db)?
        });
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
