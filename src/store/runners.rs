//! Remote runners' identities: registered, looked up by token hash, revoked, their heartbeats
//! recorded (their leases are in `leases.rs`).

use super::{Store, audit, db};
use crate::domain::{Actor, AuditAction, AuditEvent, Runner, RunnerId};
use crate::error::{Error, Result};
use std::collections::BTreeMap;

const RUNNER_COLUMNS: &str = "id, name, prefix, labels, repos, os, arch, capacity, version, \
    created, created_by, last_seen, revoked";

#[derive(sqlx::FromRow)]
struct RunnerRow {
    id: i64,
    name: String,
    prefix: String,
    labels: String,
    repos: String,
    os: String,
    arch: String,
    capacity: i64,
    version: String,
    created: i64,
    created_by: String,
    last_seen: i64,
    revoked: i64,
}

impl RunnerRow {
    fn into_runner(self) -> Result<Runner> {
        let labels: BTreeMap<String, String> = serde_json::from_str(&self.labels)
            .map_err(|_| Error::internal(anyhow::anyhow!("a runner's labels do not parse")))?;
        let repos: Vec<String> = serde_json::from_str(&self.repos)
            .map_err(|_| Error::internal(anyhow::anyhow!("a runner's repos do not parse")))?;
        Ok(Runner {
            id: RunnerId(self.id),
            name: self.name,
            prefix: self.prefix,
            labels,
            repos,
            os: self.os,
            arch: self.arch,
            capacity: self.capacity,
            version: self.version,
            created: self.created,
            created_by: self.created_by,
            last_seen: self.last_seen,
            revoked: self.revoked,
        })
    }
}

/// A runner to register; `hash` and `prefix` are of its freshly minted token.
#[derive(Debug, Clone)]
pub struct NewRunner {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub repos: Vec<String>,
    pub hash: String,
    pub prefix: String,
}

impl Store {
    /// Registers a runner with its `runner.registered` event. A live runner of the same name is
    /// a conflict.
    pub async fn create_runner(&self, actor: &Actor, new: &NewRunner, now: i64) -> Result<Runner> {
        let labels = serde_json::to_string(&new.labels).unwrap_or_else(|_| "{}".into());
        let repos = serde_json::to_string(&new.repos).unwrap_or_else(|_| "[]".into());
        let mut tx = self.begin().await?;
        let sql = format!(
            "INSERT INTO runners (name, hash, prefix, labels, repos, created, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {RUNNER_COLUMNS}"
        );
        let row: RunnerRow = on!(&mut tx, t => sqlx::query_as(&sql)
            .bind(&new.name)
            .bind(&new.hash)
            .bind(&new.prefix)
            .bind(&labels)
            .bind(&repos)
            .bind(now)
            .bind(&actor.name)
            .fetch_one(&mut **t)
            .await
            .map_err(|e| match db(e) {
                Error::Conflict(_) => Error::conflict(format!(
                    "a runner named {} is registered already; revoke it first or choose another name",
                    new.name
                )),
                other => other,
            })?);
        let event = AuditEvent::new(
            actor,
            AuditAction::RunnerRegistered,
            format!("runner:{}", new.name),
        )
        .with_detail(serde_json::json!({ "labels": new.labels, "repos": new.repos }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        row.into_runner()
    }

    /// The live runners, by name.
    pub async fn list_runners(&self) -> Result<Vec<Runner>> {
        let sql = format!("SELECT {RUNNER_COLUMNS} FROM runners WHERE revoked = 0 ORDER BY name");
        let rows: Vec<RunnerRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .fetch_all(p)
            .await
            .map_err(db)?);
        rows.into_iter().map(RunnerRow::into_runner).collect()
    }

    /// The live runner whose token hashes to `hash`.
    pub async fn find_runner_by_hash(&self, hash: &str) -> Result<Option<Runner>> {
        let sql = format!("SELECT {RUNNER_COLUMNS} FROM runners WHERE hash = $1 AND revoked = 0");
        let row: Option<RunnerRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(hash)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        row.map(RunnerRow::into_runner).transpose()
    }

    /// Revokes the live runner `name` with its `runner.revoked` event; `None` if there is none.
    pub async fn revoke_runner(
        &self,
        actor: &Actor,
        name: &str,
        now: i64,
    ) -> Result<Option<Runner>> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "UPDATE runners SET revoked = $2 WHERE name = $1 AND revoked = 0 \
             RETURNING {RUNNER_COLUMNS}"
        );
        let row: Option<RunnerRow> = on!(&mut tx, t => sqlx::query_as(&sql)
            .bind(name)
            .bind(now)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        let Some(row) = row else {
            return Ok(None);
        };
        let event = AuditEvent::new(actor, AuditAction::RunnerRevoked, format!("runner:{name}"));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        row.into_runner().map(Some)
    }

    /// Records a runner's heartbeat and what it says of itself.
    pub async fn record_runner_seen(&self, runner: &Runner, now: i64) -> Result<()> {
        on!(&*self.write, p => sqlx::query(
            "UPDATE runners SET last_seen = $2, os = $3, arch = $4, capacity = $5, version = $6 \
             WHERE id = $1")
            .bind(runner.id.0)
            .bind(now)
            .bind(&runner.os)
            .bind(&runner.arch)
            .bind(runner.capacity)
            .bind(&runner.version)
            .execute(p)
            .await
            .map_err(db)?
            .rows_affected());
        Ok(())
    }

    /// The stages the in-process runner `machine` runs now, as `owner/name#number/stage`.
    pub async fn list_local_running(&self, machine: &str) -> Result<Vec<String>> {
        let rows: Vec<(String, i64, String)> = on!(&*self.read, p => sqlx::query_as(
            "SELECT r.slug, b.number, s.name FROM stages s JOIN builds b ON b.id = s.build_id \
             JOIN repos r ON r.id = s.repo_id WHERE s.status = 'running' AND s.machine = $1 \
             AND s.runner_id = 0 ORDER BY s.id")
            .bind(machine)
            .fetch_all(p)
            .await
            .map_err(db)?);
        Ok(rows
            .into_iter()
            .map(|(slug, number, stage)| format!("{slug}#{number}/{stage}"))
            .collect())
    }
}
