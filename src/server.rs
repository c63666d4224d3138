//! `hangar server`: opens the store, cleans up after an interrupted run, and starts the parts:
//! the trigger's loops, the cron scheduler, the in-process runner, and the HTTP server. Stops on SIGINT or SIGTERM.

use crate::auth::Authenticator;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::http::{self, App};
use crate::live::Live;
use crate::mirror::Mirrors;
use crate::runner;
use crate::scheduler::{LocalLink, Scheduler};
use crate::store::Store;
use crate::trigger::Trigger;
use anyhow::Context;
use std::sync::{Arc, OnceLock};
use tokio_util::sync::CancellationToken;

/// The Prometheus recorder: installed once per process (the `metrics` macros need a global).
pub fn metrics_handle() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: OnceLock<metrics_exporter_prometheus::PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0, 300.0,
                    1800.0,
                ])
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| {
                    metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder()
                });
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// This machine's name, for the in-process runner's name.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A running server: its address and how to stop it (tests start several in one process).
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub shutdown: CancellationToken,
    pub done: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// The cron scheduler (it ticks by itself; tests also tick it by hand).
    pub crons: Arc<crate::cron::Crons>,
}

/// Starts the server on `config.addr` and returns once it listens.
pub async fn start(mut config: Config, clock: SharedClock) -> anyhow::Result<Running> {
    // Workspaces and scripts are reached from other working directories: use absolute paths.
    config.data_dir = std::path::absolute(&config.data_dir)
        .with_context(|| format!("resolving the data folder {}", config.data_dir.display()))?;
    if config.admin_token.is_some() {
        tracing::warn!(
            "HANGAR_ADMIN_TOKEN is set: it is a bootstrap admin credential for first set-up and automation; unset it once real accounts exist"
        );
    }
    let secrets = crate::auth::keys::SecretBox::load_or_create(&config.identity.secret_key_file)?;
    // A policy that does not validate stops the start, with its file and line.
    let authz = Arc::new(
        crate::auth::policy::Authz::load(&config.identity)
            .context("loading the authorization policy")?,
    );
    let store = Store::open(&config.database_url).await?;
    let sqlite_lock = one_server_on_sqlite(&config);
    let own_client =
        crate::auth::issuer::bootstrap(&config, &store, &secrets, clock.now_ms()).await?;
    // Hangar logs in through its own provider with the same code as through any other.
    let local = crate::config::OidcSettings {
        issuer: own_client.issuer.clone(),
        client_id: own_client.client_id.clone(),
        client_secret: crate::config::SecretSource::Value(own_client.client_secret.clone()),
        scopes: Some(
            ["openid", "profile", "email", "offline_access", "groups"]
                .map(String::from)
                .to_vec(),
        ),
        groups_claim: "groups".into(),
        origin: crate::config::ProviderOrigin::Embedded,
    };
    let hash = config
        .admin_token
        .as_ref()
        .map(|t| crate::auth::token::hash(t.expose()));
    store
        .set_bootstrap_token(hash.as_deref(), clock.now_ms())
        .await?;

    let live = Arc::new(Live::default());
    let workload = Arc::new(crate::auth::workload::Workload::new(
        store.clone(),
        secrets.clone(),
        &config.server_url,
    ));
    let shutdown = CancellationToken::new();
    let github_app = match &config.statuses.github_app {
        Some(app) => Some(Arc::new(crate::commit_status::app::GitHubApp::load(
            &app.id,
            &app.key_file,
            clock.clone(),
        )?)),
        None => None,
    };
    let statuses = crate::commit_status::start(
        store.clone(),
        secrets.clone(),
        clock.clone(),
        crate::commit_status::Settings {
            server_url: config.server_url.clone(),
            github_api_url: config.statuses.github_api_url.clone(),
            attempts: config.statuses.attempts,
            backoff: config.statuses.backoff,
            github_app,
        },
        shutdown.clone(),
    )?;
    let scheduler = Arc::new(
        Scheduler::new(
            store.clone(),
            clock.clone(),
            live.clone(),
            workload.clone(),
            Some(statuses),
        )
        .with_runner_timeout(config.runner_timeout),
    );
    let runner_name = format!("{}-local", hostname());
    // Remote runners' leases outlive a restart: their runners go on, or are lost if silent.
    let recovered = scheduler.recover(&runner_name).await?;
    if recovered > 0 {
        tracing::warn!(
            stages = recovered,
            "stages interrupted by the last shutdown ended as error (server restarted)"
        );
    }
    if config.retention.enabled() {
        tokio::spawn(crate::retention::run(
            store.clone(),
            config.retention.clone(),
            clock.clone(),
            shutdown.clone(),
        ));
    }
    let sandbox =
        runner::sandbox::Sandbox::detect(config.sandbox, runner::sandbox::hidden_paths(&config))
            .await
            .map_err(anyhow::Error::msg)?;
    let settings = Arc::new(runner::Settings {
        name: runner_name,
        labels: Default::default(),
        capacity: config.runner_capacity,
        work_dir: config.data_dir.join("work"),
        log_limit: config.log_limit,
        cancel_grace: config.cancel_grace,
        server_url: config.server_url.clone(),
        proxy: runner::env::proxy_variables(std::env::vars()),
        sandbox,
        clock: clock.clone(),
    });
    let local_runner = (settings.capacity > 0).then(|| settings.filter());
    scheduler
        .remote
        .set_local(&settings.name, settings.capacity);
    let mirrors = Arc::new(
        Mirrors::new(config.data_dir.join("mirrors")).with_credentials(
            crate::auth::netrc::CloneCredentials::new(store.clone(), secrets.clone()),
        ),
    );
    let trigger = Trigger::start(
        store.clone(),
        clock.clone(),
        scheduler.clone(),
        mirrors,
        &config.server_url,
        local_runner.clone().into_iter().collect(),
        shutdown.clone(),
    );
    // With `runner_capacity = 0` only remote runners (`hangar runner`) run stages.
    let runner_task = (settings.capacity > 0).then(|| {
        tokio::spawn(runner::run(
            Arc::new(LocalLink(scheduler.clone())),
            settings.clone(),
            shutdown.clone(),
        ))
    });
    tokio::spawn(crate::leases::reap(scheduler.clone(), shutdown.clone()));
    let (stopping, waiting) = (shutdown.clone(), scheduler.clone());
    tokio::spawn(async move {
        stopping.cancelled().await;
        waiting.remote.stop_waiting();
    });

    let chainer = tokio::spawn(crate::audit::chainer::run(
        store.clone(),
        secrets.clone(),
        clock.clone(),
        shutdown.clone(),
    ));
    spawn_audit_jobs(&config, &store, &clock, &shutdown);
    let login = crate::auth::login::Login::new(
        &config,
        store.clone(),
        secrets.clone(),
        clock.clone(),
        Some(&local),
    )?;
    let mut seen = None;
    login.follow_stored(&mut seen).await;
    follow_stored_provider(login.clone(), seen, shutdown.clone());
    let sessions =
        crate::auth::session::Sessions::new(&config, store.clone(), login.clone(), clock.clone());
    let revalidation = login
        .available()
        .then(|| crate::auth::session::spawn(sessions.clone(), shutdown.clone()));

    let trigger_handle = trigger.clone();
    let issuer =
        crate::auth::issuer::Issuer::new(&config, store.clone(), clock.clone(), secrets.clone());
    let auth = Arc::new(Authenticator::start(store.clone(), clock.clone(), &config));
    let watch = crate::credential::Watch {
        store: store.clone(),
        clock: clock.clone(),
        scheduler: scheduler.clone(),
        authz: authz.clone(),
    }
    .spawn(auth.changes(), shutdown.clone());
    let crons = Arc::new(crate::cron::Crons {
        store: store.clone(),
        clock: clock.clone(),
        trigger: trigger.clone(),
        authz: authz.clone(),
    });
    let cron_task = crons.clone().spawn(shutdown.clone());
    let peers = crate::cluster::Peers {
        store: store.clone(),
        auth: auth.clone(),
        sessions: sessions.clone(),
        scheduler: scheduler.clone(),
        live: live.clone(),
    }
    .spawn(shutdown.clone())
    .await
    .context("listening for the other servers on the database")?;
    let app = Arc::new(App {
        auth,
        oauth: crate::auth::oauth::OAuth::new(&config, store.clone(), clock.clone()),
        authz,
        config: config.clone(),
        store: store.clone(),
        clock,
        trigger,
        scheduler,
        live,
        metrics: metrics_handle(),
        issuer,
        secrets,
        workload,
        login,
        sessions,
    });
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("listening on {} (HANGAR_ADDR)", config.addr))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, url = %config.server_url, database = store.dialect(), "hangar is serving");
    reload_on_sighup(app.clone(), shutdown.clone());
    follow_user_changes(app.clone(), shutdown.clone());
    let stop = shutdown.clone();
    let done = tokio::spawn(async move {
        let service =
            http::router(app).into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, service)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
            .context("serving HTTP")?;
        if let Some(task) = runner_task {
            task.abort();
        }
        if let Some(task) = revalidation {
            let _ = task.await;
        }
        trigger_handle.stopped().await;
        let _ = chainer.await;
        let _ = watch.await;
        let _ = cron_task.await;
        if let Some(task) = peers {
            let _ = task.await;
        }
        // Steps still running die with the server; the next start marks their stages.
        runner::stop_all(&settings.work_dir).await;
        store.close().await;
        drop(sqlite_lock);
        Ok(())
    });
    Ok(Running {
        addr,
        shutdown,
        done,
        crons,
    })
}

/// With SQLite, one server: this one holds a lock beside the database file while it runs, and
/// a second server on the same file says at start that it shares it. (Two would run builds
/// correctly, but each keeps its own caches, live logs and cancellations: a token revoked
/// through one would still pass the other's cache for seconds, and a cancel made on one would
/// not reach the other's runner. Several servers need PostgreSQL; see docs/scaling.md.)
fn one_server_on_sqlite(config: &Config) -> Option<std::fs::File> {
    let db = config.sqlite_file()?;
    let mut name = db.clone().into_os_string();
    name.push(".server-lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&name)
        .ok()?;
    match file.try_lock() {
        Ok(()) => Some(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            tracing::error!(
                database = %db.display(),
                "another hangar server is using this SQLite database: with SQLite run one server; \
                 caches, live logs and cancellations are not shared between servers. For several \
                 servers use PostgreSQL (HANGAR_DATABASE_URL=postgres://..., docs/scaling.md)"
            );
            None
        }
        Err(std::fs::TryLockError::Error(e)) => {
            tracing::debug!(error = %e, "the SQLite server lock could not be taken");
            None
        }
    }
}

/// Retention (when `audit_retention` is set) and the configured audit sinks, each a task of
/// its own that ends with the server.
fn spawn_audit_jobs(
    config: &Config,
    store: &Store,
    clock: &crate::clock::SharedClock,
    shutdown: &CancellationToken,
) {
    if let Some(retention) = config.identity.audit_retention {
        tokio::spawn(crate::audit::retention::run(
            store.clone(),
            retention,
            clock.clone(),
            shutdown.clone(),
        ));
    }
    for to in crate::audit::sinks::destinations(&config.identity.audit_sinks) {
        tokio::spawn(crate::audit::sinks::run(
            store.clone(),
            to,
            shutdown.clone(),
        ));
    }
}

/// Each second, forgets the cached token lookups of users changed since (by another process:
/// `hangar user disable`, another server on the same PostgreSQL), so a deactivated user's
/// tokens stop working here within about a second rather than the cache's freshness bound; and
/// records the expiry of tokens that have just expired in the audit trail.
fn follow_user_changes(app: Arc<App>, shutdown: CancellationToken) {
    tokio::spawn(async move {
        // A little overlap, for clocks of other processes and changes committed late.
        const OVERLAP_MS: i64 = 5_000;
        let mut since = app.clock.now_ms();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                _ = shutdown.cancelled() => return,
            }
            match app.store.users_changed_since(since - OVERLAP_MS).await {
                Ok((changed, newest)) => {
                    for id in changed {
                        app.auth.forget_user(id);
                    }
                    since = since.max(newest);
                }
                Err(e) => tracing::warn!(error = %e.detail(), "reading user changes failed"),
            }
            if let Err(e) = app.store.record_expired_tokens(app.clock.now_ms()).await {
                tracing::warn!(error = %e.detail(), "recording expired tokens failed");
            }
        }
    });
}

/// On SIGHUP, reads the login provider's client secret and the policy file again (rotation and
/// policy changes without a restart). A policy file that does not validate is logged with its
/// file:line and the policy in force stays.
fn reload_on_sighup(app: Arc<App>, shutdown: CancellationToken) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        return;
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                got = hup.recv() => {
                    if got.is_none() {
                        return;
                    }
                    tracing::info!("SIGHUP: reading the login client secret and the policy again");
                    app.login.reload_secrets();
                    match app.authz.reload(&app.config.identity) {
                        Ok(version) => {
                            let event = crate::domain::AuditEvent::new(
                                &crate::domain::Actor::system(),
                                crate::domain::AuditAction::PolicyReloaded,
                                "policy".to_string(),
                            )
                            .with_detail(serde_json::json!({ "version": version }));
                            if let Err(e) = app.store.record_audit(&event, app.clock.now_ms()).await {
                                tracing::error!(error = %e.detail(), "could not audit the policy reload");
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "SIGHUP: the policy was not reloaded; the one in force stays");
                        }
                    }
                }
            }
        }
    });
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let running = start(config, crate::clock::system()).await?;
    let shutdown = running.shutdown.clone();
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        shutdown.cancel();
    });
    running.done.await.context("the server task failed")?
}

/// Follows the provider connected from the browser: switched on or off through another server,
/// it reaches this one within `FOLLOW_EVERY`.
fn follow_stored_provider(
    login: Arc<crate::auth::login::Login>,
    mut seen: crate::auth::login::connected::Seen,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(crate::auth::login::connected::FOLLOW_EVERY) => {}
                _ = shutdown.cancelled() => return,
            }
            login.follow_stored(&mut seen).await;
        }
    });
}
