//! Every SQL statement of Hangar, written once for SQLite and PostgreSQL (the common subset:
//! `$1` placeholders, `RETURNING`, `ON CONFLICT`), with a `match` only where the dialects really
//! differ. Each write is one transaction and writes its audit events in that transaction.
//!
//! SQLite runs in WAL mode with one writer connection (writes queue in the pool instead of
//! fighting over the lock) and a few readers. PostgreSQL uses one pool for both.
//!
//! What does not live here: deciding what to write (`trigger`, `scheduler`), HTTP, time (every
//! method takes `now`).

use crate::error::{Error, Result};
use anyhow::Context;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

/// Runs the same statement on whichever database is behind a pool, connection or transaction.
/// `$c` is bound to the pool (or `&mut` connection) of the matching driver in each arm, so the
/// body is written once and compiled for both.
macro_rules! on {
    ($target:expr, $c:ident => $body:expr) => {
        match $target {
            $crate::store::Db::Sqlite($c) => $body,
            $crate::store::Db::Postgres($c) => $body,
        }
    };
}

mod accounts;
mod audit;
mod audit_chain;
mod builds;
mod crons;
mod devices;
mod forges;
mod grants;
mod identity;
mod issuer;
mod leases;
mod listings;
mod local_accounts;
mod logins;
mod logs;
mod netrc;
mod notices;
mod providers;
mod repos;
mod retention;
mod rows;
mod runners;
mod scim;
mod scim_filter;
mod scim_groups;
mod secrets;
mod sessions;
mod stages;
mod tokens;
mod user_keys;
mod users;

pub use crate::domain::TokenKind;
pub use audit::{AuditEntry, AuditQuery, AuditRecord};
pub use audit_chain::{ChainLink, Checkpoint};
pub use builds::{Created, NewBuild, NewStage, Preparation};
pub use crons::{CronClaim, CronPatch, CronRun, DueCron, NewCron};
pub use devices::{ApiRefresh, DeviceGrant, NewDeviceGrant, NewRefresh};
pub use forges::{ForgeAuth, RepoForge, StatusRecord};
pub use grants::{AccessGrant, AuthorizationCode, NewTokens, RefreshGrant};
pub use identity::LiveCredential;
pub use issuer::{
    NewProviderSession, OAuthClient, PendingLogin, ProviderSession, StoredSigningKey,
};
pub use leases::{LeaseEnd, LeaseEnded, LeaseRecord, OpenLease};
pub use listings::BuildFilter;
pub use local_accounts::{LocalAccount, NewLocalUser};
pub use logins::{LoginRecorded, LoginTransaction, ProviderAccount, RoleMap, ScimMatch};
pub use logs::LogChunk;
pub use netrc::SealedNetrc;
pub use notices::{CHANNEL, Heard, Listener, Notice};
pub use providers::{GrantedScopes, NewDraft, Slot, StoredProvider};
pub use repos::{NewRepo, RepoPatch};
pub use retention::Reach;
pub use runners::NewRunner;
pub use scim::{ScimClient, ScimPage, ScimUser, ScimUserWrite};
pub use scim_groups::{GroupChange, ScimGroup};
pub use secrets::{IdTokenGrant, NewSecret, Rekey, SealedSecret, SecretPatch, SecretScope};
pub use sessions::{DueSession, EndedSession, NewSession, Revalidated, SessionRecord};
pub use stages::{ClaimFilter, Finished, LeaseScope, Leased, NewStep, Recovery, StepReport};
pub use tokens::{Identity, NewToken, TokenUse};
pub use user_keys::UserKey;
pub use users::{BOOTSTRAP_LOGIN, NewUser, UserChange, UserOrigin, UserPatch};

/// Something of either driver: a pool, a connection or a transaction.
pub(crate) enum Db<S, P> {
    Sqlite(S),
    Postgres(P),
}

type Pool = Db<SqlitePool, PgPool>;
pub(crate) type Tx =
    Db<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Transaction<'static, sqlx::Postgres>>;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The database, behind one API for both drivers.
#[derive(Clone)]
pub struct Store {
    write: std::sync::Arc<Pool>,
    read: std::sync::Arc<Pool>,
    /// Repositories by slug: read on every webhook, changed rarely; every write to a
    /// repository below drops its entry.
    repos:
        std::sync::Arc<std::sync::RwLock<std::collections::HashMap<String, crate::domain::Repo>>>,
    /// Notices to the other servers on the same PostgreSQL database (`None`: SQLite).
    notices: Option<notices::Sender>,
    /// The active repositories as last listed, with a generation that every repository change
    /// moves on (a list read before a change is never kept after it).
    listed: std::sync::Arc<std::sync::Mutex<RepoList>>,
}

/// A generation and the repositories listed in it.
type RepoList = (u64, Option<std::sync::Arc<Vec<crate::domain::Repo>>>);

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match *self.write {
            Db::Sqlite(_) => "Store(sqlite)",
            Db::Postgres(_) => "Store(postgres)",
        })
    }
}

impl Store {
    /// Opens the database named by `url` (`sqlite://PATH` or `postgres://...`) and brings its
    /// schema up to date.
    pub async fn open(url: &str) -> anyhow::Result<Store> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens the database without migrating it.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        if url.starts_with("sqlite:") {
            let path = url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:");
            let path = path.split('?').next().unwrap_or(path);
            if let Some(dir) = std::path::Path::new(path).parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating the database folder {}", dir.display()))?;
            }
            let options = SqliteConnectOptions::from_str(url)
                .with_context(|| "reading the sqlite:// database URL")?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
                .pragma("cache_size", "-8000");
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(60))
                .connect_with(options.clone())
                .await
                .with_context(|| format!("opening the SQLite database {path}"))?;
            let read = SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(60))
                .connect_with(options)
                .await
                .with_context(|| format!("opening the SQLite database {path}"))?;
            Ok(Store {
                write: std::sync::Arc::new(Db::Sqlite(write)),
                read: std::sync::Arc::new(Db::Sqlite(read)),
                repos: Default::default(),
                notices: None,
                listed: Default::default(),
            })
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(30))
                .connect(url)
                .await
                .context("connecting to PostgreSQL (check HANGAR_DATABASE_URL)")?;
            let notices = Some(notices::Sender::start(pool.clone()));
            let pool = std::sync::Arc::new(Db::Postgres(pool));
            Ok(Store {
                write: pool.clone(),
                read: pool,
                repos: Default::default(),
                notices,
                listed: Default::default(),
            })
        }
    }

    /// Applies the migrations this binary carries that the database lacks.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match &*self.write {
            Db::Sqlite(p) => SQLITE_MIGRATIONS.run(p).await,
            Db::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await,
        }
        .context("migrating the database schema")
    }

    /// `sqlite` or `postgres`.
    pub fn dialect(&self) -> &'static str {
        match &*self.write {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Closes every connection (tests call this before dropping a database).
    pub async fn close(&self) {
        for pool in [&*self.write, &*self.read] {
            on!(pool, p => p.close().await);
        }
    }

    async fn begin(&self) -> Result<Tx> {
        Ok(match &*self.write {
            // IMMEDIATE takes the write lock at once (waiting up to the busy timeout): a deferred
            // transaction that reads and then writes fails at once with SQLITE_BUSY when another
            // process (the CLI, a second store on the file) wrote in between.
            Db::Sqlite(p) => Db::Sqlite(p.begin_with("BEGIN IMMEDIATE").await.map_err(db)?),
            Db::Postgres(p) => Db::Postgres(p.begin().await.map_err(db)?),
        })
    }
}

impl Tx {
    async fn commit(self) -> Result<()> {
        on!(self, t => t.commit().await.map_err(db))
    }

    /// Ends the transaction now, releasing its locks (dropping it rolls back only later).
    async fn rollback(self) -> Result<()> {
        on!(self, t => t.rollback().await.map_err(db))
    }
}

/// Turns a driver error into an error kind: unique violations are conflicts, everything else is
/// internal.
pub(crate) fn db(err: sqlx::Error) -> Error {
    if let sqlx::Error::Database(e) = &err
        && e.is_unique_violation()
    {
        return Error::Conflict("it already exists".into());
    }
    Error::Internal(anyhow::Error::new(err).context("database"))
}

/// `($s,$s+1,...),(...)`: placeholders for a multi-row `VALUES`.
pub(crate) fn values(rows: usize, cols: usize, start: usize) -> String {
    let mut out = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            out.push(',');
        }
        out.push('(');
        for c in 0..cols {
            if c > 0 {
                out.push(',');
            }
            out.push('$');
            out.push_str(&(start + r * cols + c).to_string());
        }
        out.push(')');
    }
    out
}

/// `$s,$s+1,...`: placeholders for an `IN (...)` list.
pub(crate) fn list(n: usize, start: usize) -> String {
    (0..n)
        .map(|i| format!("${}", start + i))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_placeholders_count_up_across_rows() {
        assert_eq!(values(2, 3, 1), "($1,$2,$3),($4,$5,$6)");
        assert_eq!(list(3, 4), "$4,$5,$6");
    }
}
