//! Secrets (sealed values with their limits), the grants that let a running step ask for
//! workload ID tokens (bearer hashes only), and re-sealing everything under a new server key.
//! Values come in and go out sealed: this module never sees a secret in clear.

use super::{Store, Tx, audit, db, list};
use crate::domain::{Actor, AuditAction, AuditEvent, BuildId, RepoId, Secret, StepId};
use crate::error::{Error, Result};

/// A secret to store: its value already sealed under the key `key_id`.
#[derive(Debug, Clone)]
pub struct NewSecret {
    pub namespace: String,
    /// 0 for an organisation secret.
    pub repo_id: RepoId,
    pub name: String,
    pub sealed: Vec<u8>,
    pub key_id: String,
    pub pull_request: bool,
    pub pull_request_push: bool,
    pub branches: Vec<String>,
    pub targets: Vec<String>,
}

/// Changes to a secret; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct SecretPatch {
    /// A new value, sealed, with its key id.
    pub sealed: Option<(Vec<u8>, String)>,
    pub pull_request: Option<bool>,
    pub pull_request_push: Option<bool>,
    pub branches: Option<Vec<String>>,
    pub targets: Option<Vec<String>>,
}

/// A secret with its sealed value, for handing to a step.
#[derive(Debug, Clone)]
pub struct SealedSecret {
    pub secret: Secret,
    pub sealed: Vec<u8>,
    pub key_id: String,
}

/// A running step's right to ask for ID tokens: the hash of its bearer, its build and step.
#[derive(Debug, Clone)]
pub struct IdTokenGrant {
    pub hash: String,
    pub build: BuildId,
    pub step: StepId,
    pub stage_name: String,
    pub step_name: String,
}

/// Where a secret lives: an organisation (`repo` 0) or a repository.
#[derive(Debug, Clone, Copy)]
pub struct SecretScope<'a> {
    pub namespace: &'a str,
    pub repo: RepoId,
    /// `owner/name` or `owner`, for audit targets.
    pub label: &'a str,
}

const COLUMNS: &str = "id, namespace, repo_id, name, pull_request, pull_request_push, branches, \
                       targets, created, updated";

#[derive(sqlx::FromRow)]
struct SecretRow {
    id: i64,
    namespace: String,
    repo_id: i64,
    name: String,
    pull_request: bool,
    pull_request_push: bool,
    branches: String,
    targets: String,
    created: i64,
    updated: i64,
}

impl SecretRow {
    fn into_secret(self) -> Secret {
        Secret {
            id: self.id,
            namespace: self.namespace,
            repo_id: RepoId(self.repo_id),
            name: self.name,
            pull_request: self.pull_request,
            pull_request_push: self.pull_request_push,
            // A limit that does not read back allows nothing rather than everything.
            branches: serde_json::from_str(&self.branches).unwrap_or_else(|_| vec![String::new()]),
            targets: serde_json::from_str(&self.targets).unwrap_or_else(|_| vec![String::new()]),
            created: self.created,
            updated: self.updated,
        }
    }
}

#[derive(sqlx::FromRow)]
struct SealedRow {
    #[sqlx(flatten)]
    row: SecretRow,
    data: Vec<u8>,
    key_id: String,
}

fn json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

fn event(actor: &Actor, action: AuditAction, scope: &SecretScope<'_>, s: &Secret) -> AuditEvent {
    AuditEvent::new(actor, action, format!("secret:{}/{}", scope.label, s.name)).with_detail(
        serde_json::json!({
            "pull_request": s.pull_request,
            "pull_request_push": s.pull_request_push,
            "branches": s.branches,
            "targets": s.targets,
        }),
    )
}

/// Tables and columns holding something sealed with the server key, with their key column.
const SEALED: &[(&str, &str, &str)] = &[
    ("secrets", "id", "data"),
    ("repo_netrc", "repo_id", "password"),
    ("signing_keys", "kid", "private_key"),
    ("oauth_clients", "client_id", "secret_sealed"),
    ("sessions", "id", "refresh_token"),
    ("sessions", "id", "id_token_hint"),
    ("login_transactions", "state_hash", "pkce_verifier"),
    ("repo_forges", "repo_id", "token"),
    ("identity_providers", "slot", "client_secret"),
];

impl Store {
    /// Stores a new secret; a secret of that name in that scope is a conflict.
    pub async fn create_secret(
        &self,
        new: &NewSecret,
        label: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<Secret> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "INSERT INTO secrets (namespace, repo_id, name, data, key_id, pull_request, \
             pull_request_push, branches, targets, created, updated) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING {COLUMNS}"
        );
        let row: SecretRow = on!(&mut tx, t => sqlx::query_as(&sql)
            .bind(&new.namespace)
            .bind(new.repo_id.0)
            .bind(&new.name)
            .bind(&new.sealed)
            .bind(&new.key_id)
            .bind(new.pull_request)
            .bind(new.pull_request_push)
            .bind(json(&new.branches))
            .bind(json(&new.targets))
            .bind(now)
            .fetch_one(&mut **t)
            .await
            .map_err(|e| match db(e) {
                Error::Conflict(_) => Error::conflict(format!("a secret named {:?} already exists", new.name)),
                other => other,
            })?);
        let secret = row.into_secret();
        let scope = SecretScope {
            namespace: &new.namespace,
            repo: new.repo_id,
            label,
        };
        audit::append(
            &mut tx,
            now,
            &[event(actor, AuditAction::SecretCreated, &scope, &secret)],
        )
        .await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// The secrets of a scope, by name.
    pub async fn list_secrets(&self, scope: &SecretScope<'_>) -> Result<Vec<Secret>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM secrets WHERE namespace = $1 AND repo_id = $2 ORDER BY name"
        );
        let rows: Vec<SecretRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(scope.namespace)
            .bind(scope.repo.0)
            .fetch_all(p)
            .await
            .map_err(db)?);
        Ok(rows.into_iter().map(SecretRow::into_secret).collect())
    }

    /// One secret of a scope.
    pub async fn find_secret(&self, scope: &SecretScope<'_>, name: &str) -> Result<Option<Secret>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM secrets WHERE namespace = $1 AND repo_id = $2 AND name = $3"
        );
        let row: Option<SecretRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(scope.namespace)
            .bind(scope.repo.0)
            .bind(name)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        Ok(row.map(SecretRow::into_secret))
    }

    /// Changes a secret; `None` when there is none of that name.
    pub async fn update_secret(
        &self,
        scope: &SecretScope<'_>,
        name: &str,
        patch: &SecretPatch,
        actor: &Actor,
        now: i64,
    ) -> Result<Option<Secret>> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "UPDATE secrets SET data = COALESCE($4, data), key_id = COALESCE($5, key_id), \
             pull_request = COALESCE($6, pull_request), \
             pull_request_push = COALESCE($7, pull_request_push), \
             branches = COALESCE($8, branches), targets = COALESCE($9, targets), updated = $10 \
             WHERE namespace = $1 AND repo_id = $2 AND name = $3 RETURNING {COLUMNS}"
        );
        let row: Option<SecretRow> = on!(&mut tx, t => sqlx::query_as(&sql)
            .bind(scope.namespace)
            .bind(scope.repo.0)
            .bind(name)
            .bind(patch.sealed.as_ref().map(|(s, _)| s.clone()))
            .bind(patch.sealed.as_ref().map(|(_, k)| k.clone()))
            .bind(patch.pull_request)
            .bind(patch.pull_request_push)
            .bind(patch.branches.as_deref().map(json))
            .bind(patch.targets.as_deref().map(json))
            .bind(now)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        let Some(secret) = row.map(SecretRow::into_secret) else {
            tx.rollback().await?;
            return Ok(None);
        };
        let mut e = event(actor, AuditAction::SecretUpdated, scope, &secret);
        e.detail["value_changed"] = serde_json::json!(patch.sealed.is_some());
        audit::append(&mut tx, now, &[e]).await?;
        tx.commit().await?;
        Ok(Some(secret))
    }

    /// Deletes a secret; `false` when there was none of that name.
    pub async fn delete_secret(
        &self,
        scope: &SecretScope<'_>,
        name: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "DELETE FROM secrets WHERE namespace = $1 AND repo_id = $2 AND name = $3 \
             RETURNING {COLUMNS}"
        );
        let row: Option<SecretRow> = on!(&mut tx, t => sqlx::query_as(&sql)
            .bind(scope.namespace)
            .bind(scope.repo.0)
            .bind(name)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        let Some(secret) = row.map(SecretRow::into_secret) else {
            tx.rollback().await?;
            return Ok(false);
        };
        audit::append(
            &mut tx,
            now,
            &[event(actor, AuditAction::SecretDeleted, scope, &secret)],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The secrets named `names` that a build of `repo` (owned by `namespace`) may look up: the
    /// repository's own, then its organisation's for names the repository lacks.
    pub async fn find_secrets_for(
        &self,
        namespace: &str,
        repo: RepoId,
        names: &[String],
    ) -> Result<Vec<SealedSecret>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {COLUMNS}, data, key_id FROM secrets WHERE namespace = $1 \
             AND (repo_id = $2 OR repo_id = 0) AND name IN ({}) ORDER BY repo_id DESC",
            list(names.len(), 3)
        );
        let rows: Vec<SealedRow> = on!(&*self.read, p => {
            let mut q = sqlx::query_as(&sql).bind(namespace).bind(repo.0);
            for n in names {
                q = q.bind(n);
            }
            q.fetch_all(p).await.map_err(db)?
        });
        let mut out: Vec<SealedSecret> = Vec::with_capacity(rows.len());
        for r in rows {
            // Repository secrets come first and win over organisation secrets of the same name.
            if out.iter().any(|s| s.secret.name == r.row.name) {
                continue;
            }
            out.push(SealedSecret {
                secret: r.row.into_secret(),
                sealed: r.data,
                key_id: r.key_id,
            });
        }
        Ok(out)
    }

    /// Records a step's ID-token grant (the hash of its bearer).
    pub async fn create_id_token_grant(&self, grant: &IdTokenGrant, now: i64) -> Result<()> {
        on!(&*self.write, p => sqlx::query(
            "INSERT INTO id_token_grants (hash, build_id, step_id, stage_name, step_name, created) \
             VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&grant.hash)
            .bind(grant.build.0)
            .bind(grant.step.0)
            .bind(&grant.stage_name)
            .bind(&grant.step_name)
            .bind(now)
            .execute(p)
            .await
            .map_err(db)?
            .rows_affected());
        Ok(())
    }

    /// The build and step an ID-token grant belongs to.
    pub async fn find_id_token_grant(&self, hash: &str) -> Result<Option<IdTokenGrant>> {
        let row: Option<(i64, i64, String, String)> = on!(&*self.read, p => sqlx::query_as(
            "SELECT build_id, step_id, stage_name, step_name FROM id_token_grants WHERE hash = $1")
            .bind(hash)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        Ok(row.map(|(b, s, stage_name, step_name)| IdTokenGrant {
            hash: hash.to_string(),
            build: BuildId(b),
            step: StepId(s),
            stage_name,
            step_name,
        }))
    }

    /// The provider identity (`iss`, `sub`) of the user `login`, when it has one.
    pub async fn find_user_provider_identity(
        &self,
        login: &str,
    ) -> Result<Option<(String, String)>> {
        let row: Option<(Option<String>, Option<String>)> = on!(&*self.read, p => sqlx::query_as(
            "SELECT iss, sub FROM users WHERE login = $1")
            .bind(login)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        Ok(row.and_then(|(iss, sub)| Some((iss?, sub?))))
    }

    /// Re-seals every sealed value (open with the old key, seal with the new) and signs the audit
    /// checkpoints again, in one transaction, and records the new key id on secrets. A value
    /// that does not open, or a checkpoint whose signature does not hold, stops everything:
    /// nothing is written. Returns how many values were re-sealed or re-signed.
    pub async fn reseal_all(&self, rekey: &Rekey<'_>, actor: &Actor, now: i64) -> Result<usize> {
        let reseal = rekey.reseal;
        let new_key_id = rekey.new_key_id;
        let mut tx = self.begin().await?;
        let mut count = 0;
        for (table, key, column) in SEALED {
            count += reseal_column(&mut tx, table, key, column, reseal).await?;
        }
        count += resign_checkpoints(&mut tx, rekey.resign).await?;
        for table in ["secrets", "repo_netrc"] {
            let sql = format!("UPDATE {table} SET key_id = $1");
            on!(&mut tx, t => sqlx::query(&sql)
                .bind(new_key_id)
                .execute(&mut **t)
                .await
                .map_err(db)?
                .rows_affected());
        }
        let e = AuditEvent::new(actor, AuditAction::SecretKeyRotated, "server")
            .with_detail(serde_json::json!({ "key_id": new_key_id, "values": count }));
        audit::append(&mut tx, now, &[e]).await?;
        tx.commit().await?;
        Ok(count)
    }
}

/// How to move from the old server key to the new one.
pub struct Rekey<'a> {
    /// Opens a value with the old key and seals it with the new; `None` if it does not open.
    pub reseal: &'a (dyn Fn(&[u8]) -> Option<Vec<u8>> + Sync),
    /// Checks a checkpoint's signature with the old key and signs it with the new; `None` if
    /// the old signature does not hold.
    pub resign: &'a (dyn Fn(i64, &str, i64, &str) -> Option<String> + Sync),
    pub new_key_id: &'a str,
}

async fn resign_checkpoints(
    tx: &mut Tx,
    resign: &(dyn Fn(i64, &str, i64, &str) -> Option<String> + Sync),
) -> Result<usize> {
    let rows: Vec<(i64, String, i64, String)> = on!(&mut *tx, t => sqlx::query_as(
        "SELECT seq, hash, time, signature FROM audit_checkpoints ORDER BY seq")
        .fetch_all(&mut **t)
        .await
        .map_err(db)?);
    for (seq, hash, time, signature) in &rows {
        let fresh = resign(*seq, hash, *time, signature).ok_or_else(|| {
            Error::internal(anyhow::anyhow!(
                "audit checkpoint {seq} is not signed by the current key (run `hangar audit verify`); nothing was changed"
            ))
        })?;
        on!(&mut *tx, t => sqlx::query("UPDATE audit_checkpoints SET signature = $1 WHERE seq = $2")
            .bind(fresh)
            .bind(seq)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
    }
    Ok(rows.len())
}

async fn reseal_column(
    tx: &mut Tx,
    table: &str,
    key: &str,
    column: &str,
    reseal: &(dyn Fn(&[u8]) -> Option<Vec<u8>> + Sync),
) -> Result<usize> {
    let select =
        format!("SELECT CAST({key} AS TEXT), {column} FROM {table} WHERE {column} IS NOT NULL");
    let rows: Vec<(String, Vec<u8>)> = on!(&mut *tx, t => sqlx::query_as(&select)
        .fetch_all(&mut **t)
        .await
        .map_err(db)?);
    let update = format!("UPDATE {table} SET {column} = $1 WHERE CAST({key} AS TEXT) = $2");
    for (id, sealed) in &rows {
        let resealed = reseal(sealed).ok_or_else(|| {
            Error::internal(anyhow::anyhow!(
                "{table}.{column} of {id} does not open with the current key; nothing was changed"
            ))
        })?;
        on!(&mut *tx, t => sqlx::query(&update)
            .bind(resealed)
            .bind(id)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
    }
    Ok(rows.len())
}
