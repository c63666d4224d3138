//! `hangar bench ...`: benchmarks that start a real `hangar server` process (this binary) on a
//! temporary data folder and measure it from outside, so the figures include everything a user
//! would see: HTTP, the database, git, process spawns. Each prints its figures beside the target.
//! `authz` is the exception: authorization does no I/O, so it is measured in process.

mod audit;
mod authz;
mod cron;
mod lease_rate;
mod load;
mod revoke;
mod runner_lease;
mod scenarios;
mod scim;
mod soak;
mod target;
mod user_api;
mod web;
mod workload;

use std::process::ExitCode;

/// The benchmarks.
#[derive(Debug, clap::Subcommand)]
pub enum Bench {
    /// Signed push webhook in -> first step's process started, over sequential pushes.
    PushLatency {
        #[arg(long, default_value_t = 200)]
        pushes: usize,
        /// Include a clone of a small local bare repository before the step.
        #[arg(long)]
        clone: bool,
        /// Run the steps inside bubblewrap (`on`) or not (`off`, as the engine's targets are
        /// measured).
        #[arg(long, default_value = "off", value_parser = ["on", "off"])]
        sandbox: String,
    },
    /// Signed webhooks accepted and durably queued per second; then forged ones rejected.
    Webhooks {
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        #[arg(long, default_value_t = 64)]
        connections: usize,
    },
    /// A step that prints a lot: end-to-end throughput, every byte readable, server peak RSS.
    BigLog {
        #[arg(long, default_value_t = 500)]
        megabytes: u64,
    },
    /// Many builds of `sleep 1` at once.
    Concurrent {
        #[arg(long, default_value_t = 200)]
        builds: usize,
    },
    /// Resident memory of an idle server.
    Idle,
    /// `hangar lint` on a generated file with many steps.
    Lint {
        #[arg(long, default_value_t = 200)]
        steps: usize,
    },
    /// The audit trail: one audit row's cost, and `hangar audit verify` speed.
    Audit {
        #[arg(long, default_value_t = 200_000)]
        entries: usize,
    },
    /// `/healthz` against `GET /api/user` with a personal access token, on one server.
    UserApi {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 64)]
        connections: usize,
    },
    /// Authorization decisions (in process): cached, cold Cedar with 25 policies, listing
    /// the repositories a user may read out of 1,000.
    Authz,
    /// SCIM provisioning one user at a time, as Okta does: existence check, then create.
    Scim {
        #[arg(long, default_value_t = 1000)]
        users: usize,
    },
    /// Revoking the token a running build was started with -> SIGTERM in its step.
    Revoke {
        #[arg(long, default_value_t = 50)]
        revocations: usize,
    },
    /// A running step's grant asks for ID tokens: p50 and p99 of one request.
    IdToken {
        #[arg(long, default_value_t = 2000)]
        requests: usize,
    },
    /// A step with 50 secrets in scope prints a large log: throughput with masking.
    Masking {
        #[arg(long, default_value_t = 300)]
        megabytes: u64,
    },
    /// A steady stream of small builds with retention on: the database's size over time.
    Soak {
        #[arg(long, default_value_t = 10_000)]
        builds: usize,
        /// Builds kept per repository (build_retention_count).
        #[arg(long, default_value_t = 500)]
        keep: u64,
        /// Builds per repository that keep their logs (log_retention_count).
        #[arg(long, default_value_t = 100)]
        keep_logs: u64,
    },
    /// The cron scheduler's lookup of due jobs among many, per tick (in process; SQLite, or
    /// the PostgreSQL database given).
    Cron {
        #[arg(long, default_value_t = 10_000)]
        jobs: usize,
        #[arg(long, default_value_t = 3_000)]
        ticks: usize,
        /// A PostgreSQL URL to measure on instead of SQLite (tables are added to it).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// The pages, signed in as the admin, on a server with many repositories: time to the
    /// whole page and weight before logs.
    Web {
        #[arg(long, default_value_t = 1000)]
        repos: usize,
        #[arg(long, default_value_t = 200)]
        samples: usize,
    },
    /// Queued -> leased by an idle remote runner (`hangar runner`): p50 and p99; then the
    /// idle runner's RSS.
    RunnerLease {
        #[arg(long, default_value_t = 200)]
        builds: usize,
    },
    /// Stages leased per second by remote runners from a server on PostgreSQL (each lease one
    /// `FOR UPDATE SKIP LOCKED` claim over the runner protocol).
    LeaseRate {
        #[arg(long, default_value_t = 3000)]
        stages: usize,
        #[arg(long, default_value_t = 4)]
        runners: usize,
        /// Lease requests in flight per runner.
        #[arg(long, default_value_t = 8)]
        connections: usize,
        /// An empty PostgreSQL database for this run (`createdb hangar_bench`): the bench's
        /// server migrates it and seals its keys there, so a database of an earlier run will
        /// not open with the new run's key.
        #[arg(long)]
        database_url: String,
    },
    /// Every benchmark above with its default size.
    All,
}

pub async fn run(bench: Bench) -> anyhow::Result<ExitCode> {
    match bench {
        Bench::PushLatency {
            pushes,
            clone,
            sandbox,
        } => scenarios::push_latency(pushes, clone, sandbox == "on").await?,
        Bench::Webhooks {
            seconds,
            connections,
        } => scenarios::webhooks(seconds, connections).await?,
        Bench::BigLog { megabytes } => scenarios::big_log(megabytes).await?,
        Bench::Concurrent { builds } => scenarios::concurrent(builds).await?,
        Bench::Idle => scenarios::idle().await?,
        Bench::Lint { steps } => scenarios::lint(steps).await?,
        Bench::Audit { entries } => audit::run(entries).await?,
        Bench::UserApi {
            seconds,
            connections,
        } => user_api::user_api(seconds, connections).await?,
        Bench::Authz => authz::run()?,
        Bench::Scim { users } => scim::run(users).await?,
        Bench::Revoke { revocations } => revoke::run(revocations).await?,
        Bench::IdToken { requests } => workload::id_token(requests).await?,
        Bench::Masking { megabytes } => workload::masking(megabytes).await?,
        Bench::Soak {
            builds,
            keep,
            keep_logs,
        } => soak::run(builds, keep, keep_logs).await?,
        Bench::Cron {
            jobs,
            ticks,
            database_url,
        } => cron::run(jobs, ticks, database_url.as_deref()).await?,
        Bench::Web { repos, samples } => web::run(repos, samples).await?,
        Bench::LeaseRate {
            stages,
            runners,
            connections,
            database_url,
        } => lease_rate::run(stages, runners, connections, &database_url).await?,
        Bench::RunnerLease { builds } => runner_lease::run(builds).await?,
        Bench::All => {
            authz::run()?;
            scenarios::idle().await?;
            scenarios::lint(200).await?;
            scenarios::push_latency(200, false, false).await?;
            scenarios::push_latency(200, true, false).await?;
            scenarios::webhooks(5, 64).await?;
            user_api::user_api(10, 64).await?;
            scenarios::concurrent(200).await?;
            scenarios::big_log(500).await?;
            audit::run(200_000).await?;
            scim::run(1000).await?;
            revoke::run(50).await?;
            workload::id_token(2000).await?;
            workload::masking(300).await?;
            cron::run(10_000, 3_000, None).await?;
            web::run(1000, 200).await?;
            runner_lease::run(200).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The `q`-quantile of `samples` (sorted in place).
fn quantile(samples: &mut [f64], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let i = ((samples.len() - 1) as f64 * q).round() as usize;
    samples[i.min(samples.len() - 1)]
}
