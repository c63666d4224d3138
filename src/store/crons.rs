//! Cron jobs: created, changed and deleted with their audit events, found due in one indexed
//! statement, and claimed once per slot: a claim is a compare-and-set on `next` (only the
//! server that moves it from the slot it read wins), in the same transaction as the build it
//! starts or the reason it did not, so two servers on one database never both run a slot.

use super::accounts::parse_groups;
use super::builds::insert_builds;
use super::{Created, NewBuild, Store, Tx, audit, db};
use crate::domain::{Actor, AuditAction, AuditEvent, Cron, RepoId, UserId};
use crate::error::{Error, Result};

/// A cron job to store.
#[derive(Debug, Clone)]
pub struct NewCron {
    pub repo_id: RepoId,
    pub name: String,
    pub expr: String,
    pub zone: String,
    pub next: i64,
    pub branch: String,
    pub target: String,
    pub disabled: bool,
    pub owner: UserId,
}

/// Changes to a cron job; `None` keeps a field. The changer becomes its owner and its error is
/// cleared.
#[derive(Debug, Clone)]
pub struct CronPatch {
    pub expr: Option<String>,
    pub zone: Option<String>,
    pub next: Option<i64>,
    pub branch: Option<String>,
    pub target: Option<String>,
    pub disabled: Option<bool>,
    pub owner: UserId,
}

/// A due job with what deciding whether its owner may still run it needs.
#[derive(Debug, Clone)]
pub struct DueCron {
    pub cron: Cron,
    pub owner_id: Option<UserId>,
    pub owner_active: bool,
    pub owner_admin: bool,
    pub owner_groups: Vec<String>,
}

/// What a claimed slot does: start this build, or record why not.
#[derive(Debug)]
pub enum CronRun {
    Build(Box<NewBuild>),
    Skip(String),
}

/// The slot a server read (`slot` = the job's `next`) and where `next` moves to.
#[derive(Debug, Clone, Copy)]
pub struct CronClaim {
    pub id: i64,
    pub slot: i64,
    pub next: i64,
}

const COLUMNS: &str = "c.id, c.repo_id, c.name, c.expr, c.zone, c.next, c.prev, c.event, \
                       c.branch, c.target, c.disabled, COALESCE(u.login, '') AS owner, c.error, \
                       c.created, c.updated";
const FROM: &str = "crons c LEFT JOIN users u ON u.id = c.owner_id";

#[derive(sqlx::FromRow)]
struct CronRow {
    id: i64,
    repo_id: i64,
    name: String,
    expr: String,
    zone: String,
    next: i64,
    prev: i64,
    event: String,
    branch: String,
    target: String,
    disabled: bool,
    owner: String,
    error: String,
    created: i64,
    updated: i64,
}

impl CronRow {
    fn into_cron(self) -> Cron {
        Cron {
            id: self.id,
            repo_id: RepoId(self.repo_id),
            name: self.name,
            expr: self.expr,
            zone: self.zone,
            next: self.next,
            prev: self.prev,
            event: self.event,
            branch: self.branch,
            target: self.target,
            disabled: self.disabled,
            owner: self.owner,
            error: self.error,
            created: self.created,
            updated: self.updated,
        }
    }
}

#[derive(sqlx::FromRow)]
struct DueRow {
    #[sqlx(flatten)]
    row: CronRow,
    owner_id: Option<i64>,
    owner_active: Option<bool>,
    owner_admin: Option<bool>,
    owner_groups: Option<String>,
}

fn event(actor: &Actor, action: AuditAction, slug: &str, c: &Cron) -> AuditEvent {
    AuditEvent::new(actor, action, format!("cron:{slug}/{}", c.name)).with_detail(
        serde_json::json!({
            "expr": c.expr,
            "zone": c.zone,
            "branch": c.branch,
            "target": c.target,
            "disabled": c.disabled,
            "owner": c.owner,
        }),
    )
}

async fn find_in(tx: &mut Tx, id: i64) -> Result<Cron> {
    let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE c.id = $1");
    let row: CronRow = on!(tx, t => sqlx::query_as(&sql)
        .bind(id)
        .fetch_one(&mut **t)
        .await
        .map_err(db)?);
    Ok(row.into_cron())
}

impl Store {
    /// Stores a new cron job; a job of that name on the repository is a conflict.
    pub async fn create_cron(
        &self,
        new: &NewCron,
        slug: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<Cron> {
        let mut tx = self.begin().await?;
        let id: i64 = on!(&mut tx, t => sqlx::query_scalar(
            "INSERT INTO crons (repo_id, name, expr, zone, next, branch, target, disabled, \
             owner_id, created, updated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
             RETURNING id")
            .bind(new.repo_id.0)
            .bind(&new.name)
            .bind(&new.expr)
            .bind(&new.zone)
            .bind(new.next)
            .bind(&new.branch)
            .bind(&new.target)
            .bind(new.disabled)
            .bind(new.owner.0)
            .bind(now)
            .fetch_one(&mut **t)
            .await
            .map_err(|e| match db(e) {
                Error::Conflict(_) => Error::conflict(format!(
                    "a cron job named {:?} already exists on {slug}", new.name)),
                other => other,
            })?);
        let cron = find_in(&mut tx, id).await?;
        audit::append(
            &mut tx,
            now,
            &[event(actor, AuditAction::CronCreated, slug, &cron)],
        )
        .await?;
        tx.commit().await?;
        Ok(cron)
    }

    /// A repository's cron jobs, by name.
    pub async fn list_crons(&self, repo: RepoId) -> Result<Vec<Cron>> {
        let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE c.repo_id = $1 ORDER BY c.name");
        let rows: Vec<CronRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(repo.0)
            .fetch_all(p)
            .await
            .map_err(db)?);
        Ok(rows.into_iter().map(CronRow::into_cron).collect())
    }

    /// One cron job of a repository.
    pub async fn find_cron(&self, repo: RepoId, name: &str) -> Result<Option<Cron>> {
        let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE c.repo_id = $1 AND c.name = $2");
        let row: Option<CronRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(repo.0)
            .bind(name)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        Ok(row.map(CronRow::into_cron))
    }

    /// Changes a cron job; `None` when there is none of that name.
    pub async fn update_cron(
        &self,
        repo: RepoId,
        name: &str,
        patch: &CronPatch,
        (slug, actor): (&str, &Actor),
        now: i64,
    ) -> Result<Option<Cron>> {
        let mut tx = self.begin().await?;
        let id: Option<i64> = on!(&mut tx, t => sqlx::query_scalar(
            "UPDATE crons SET expr = COALESCE($3, expr), zone = COALESCE($4, zone), \
             next = COALESCE($5, next), branch = COALESCE($6, branch), \
             target = COALESCE($7, target), disabled = COALESCE($8, disabled), owner_id = $9, \
             error = '', updated = $10 WHERE repo_id = $1 AND name = $2 RETURNING id")
            .bind(repo.0)
            .bind(name)
            .bind(patch.expr.as_deref())
            .bind(patch.zone.as_deref())
            .bind(patch.next)
            .bind(patch.branch.as_deref())
            .bind(patch.target.as_deref())
            .bind(patch.disabled)
            .bind(patch.owner.0)
            .bind(now)
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        let Some(id) = id else {
            tx.rollback().await?;
            return Ok(None);
        };
        let cron = find_in(&mut tx, id).await?;
        audit::append(
            &mut tx,
            now,
            &[event(actor, AuditAction::CronUpdated, slug, &cron)],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(cron))
    }

    /// Deletes a cron job; `false` when there was none of that name.
    pub async fn delete_cron(
        &self,
        repo: RepoId,
        name: &str,
        (slug, actor): (&str, &Actor),
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let Some(cron) = ({
            let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE c.repo_id = $1 AND c.name = $2");
            let row: Option<CronRow> = on!(&mut tx, t => sqlx::query_as(&sql)
                .bind(repo.0)
                .bind(name)
                .fetch_optional(&mut **t)
                .await
                .map_err(db)?);
            row.map(CronRow::into_cron)
        }) else {
            tx.rollback().await?;
            return Ok(false);
        };
        on!(&mut tx, t => sqlx::query("DELETE FROM crons WHERE id = $1")
            .bind(cron.id)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        audit::append(
            &mut tx,
            now,
            &[event(actor, AuditAction::CronDeleted, slug, &cron)],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Enabled jobs whose `next` is at or before `now`, earliest first, at most `limit`, with
    /// their owners (one statement on the `(disabled, next)` index).
    pub async fn list_due_crons(&self, now: i64, limit: i64) -> Result<Vec<DueCron>> {
        let sql = format!(
            "SELECT {COLUMNS}, c.owner_id, u.active AS owner_active, u.admin AS owner_admin, \
             u.groups AS owner_groups FROM {FROM} WHERE c.disabled = $1 AND c.next <= $2 \
             ORDER BY c.next LIMIT $3"
        );
        let rows: Vec<DueRow> = on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(false)
            .bind(now)
            .bind(limit)
            .fetch_all(p)
            .await
            .map_err(db)?);
        Ok(rows
            .into_iter()
            .map(|r| DueCron {
                cron: r.row.into_cron(),
                owner_id: r.owner_id.map(UserId),
                owner_active: r.owner_active.unwrap_or(false),
                owner_admin: r.owner_admin.unwrap_or(false),
                owner_groups: r
                    .owner_groups
                    .as_deref()
                    .map(parse_groups)
                    .unwrap_or_default(),
            })
            .collect())
    }

    /// Claims a due slot: moves `next` on only if it is still the slot read, and in the same
    /// transaction creates the build or records why there is none (audited). `None`: another
    /// server claimed it first (or the job changed meanwhile).
    pub async fn claim_cron(
        &self,
        claim: CronClaim,
        run: &CronRun,
        (slug, now): (&str, i64),
    ) -> Result<Option<Option<Created>>> {
        let mut tx = self.begin().await?;
        let error = match run {
            CronRun::Build(_) => "",
            CronRun::Skip(reason) => reason.as_str(),
        };
        let claimed = on!(&mut tx, t => sqlx::query(
            "UPDATE crons SET next = $3, prev = $2, error = $4 WHERE id = $1 AND next = $2 \
             AND disabled = $5")
            .bind(claim.id)
            .bind(claim.slot)
            .bind(claim.next)
            .bind(error)
            .bind(false)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        if claimed != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        let created = match run {
            CronRun::Build(build) => {
                let mut out =
                    insert_builds(&mut tx, std::slice::from_ref(build.as_ref()), now).await?;
                out.pop().flatten()
            }
            CronRun::Skip(reason) => {
                let cron = find_in(&mut tx, claim.id).await?;
                let e = event(&Actor::system(), AuditAction::CronSkipped, slug, &cron)
                    .with_detail(serde_json::json!({ "reason": reason, "slot": claim.slot }));
                audit::append(&mut tx, now, &[e]).await?;
                None
            }
        };
        tx.commit().await?;
        Ok(Some(created))
    }
}
