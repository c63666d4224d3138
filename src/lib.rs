//! Hangar: a self-hosted CI server that runs Drone pipelines, in which every build belongs to a
//! verified identity. The modules are the product's parts:

/// Configuration: defaults, `hangar.toml`, `HANGAR_*` variables.
pub mod config;
/// The one place that reads the wall clock.
pub mod clock;
/// Error kinds shared by every part.
pub mod error;
/// The nouns: repositories, builds, stages, steps, statuses, users, audit events.
pub mod domain;
/// `.drone.yml` into a validated plan.
pub mod pipeline;
/// Forges (GitHub, Gitea): webhook payloads and signatures.
pub mod forge;
/// Every SQL statement, over SQLite or PostgreSQL.
pub mod store;

pub use error::{Error, Result};
