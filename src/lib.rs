//! Hangar: a self-hosted CI server that runs Drone pipelines, in which every build belongs to a
//! verified identity. The modules are the product's parts:

/// The audit trail's chain and its verification.
pub mod audit;
/// Who is calling and what they may do: API tokens (format, cache, issuing, revoking), logins
/// through OpenID providers and GitHub, browser sessions, the embedded OpenID provider, the
/// Cedar authorization policy.
pub mod auth;
/// Benchmarks of a real server process (`hangar bench`).
pub mod bench;
/// The command line.
pub mod cli;
/// A typed HTTP client for the API.
pub mod client;
/// The one place that reads the wall clock.
pub mod clock;
/// Several servers on one PostgreSQL: each applies what the others announce (caches dropped,
/// builds cancelled, work queued, build and log events for its watchers).
pub mod cluster;
/// Commit statuses back to the forge (GitHub, Gitea), posted in the background with retries.
pub mod commit_status;
/// Configuration: defaults, `hangar.toml`, `HANGAR_*` variables.
pub mod config;
/// Build credentials: what each live build acts as, and the watch that stops it when that ends.
pub mod credential;
/// The cron scheduler: due jobs found each second and claimed once per slot across servers.
pub mod cron;
/// The nouns: repositories, builds, stages, steps, statuses, users, audit events.
pub mod domain;
/// Error kinds shared by every part.
pub mod error;
/// Forges (GitHub, Gitea): webhook payloads and signatures.
pub mod forge;
/// The HTTP adapter: routes, API handlers, webhooks.
pub mod http;
/// Remote runners' leases: who holds what, heartbeats, lost and revoked runners.
pub mod leases;
/// Live build events and log lines for watchers.
pub mod live;
/// Cached mirrors of repositories: `.drone.yml` at a commit.
pub mod mirror;
/// `.drone.yml` into a validated plan.
pub mod pipeline;
/// Deletes old builds and logs (retention) in small batches.
pub mod retention;
/// Runs stages: leases them, runs their steps as processes, streams logs, reports.
pub mod runner;
/// Hands stages to runners; takes their reports.
pub mod scheduler;
/// SCIM 2.0 provisioning: filters, PATCH as providers send it, user and group resources; pure.
pub mod scim;
/// `hangar server`: wires the parts together and runs them.
pub mod server;
/// Every SQL statement, over SQLite or PostgreSQL.
pub mod store;
/// Events (webhooks, manual starts, restarts) into builds and stages.
pub mod trigger;

pub use error::{Error, Result};
