//! Hangar's integration tests: one binary, one file per area, each test a short story against a
//! real server (port 0, a temporary database), real git repositories and real processes.

mod support;

mod approvals;
mod audit;
mod audit_api;
mod audit_shipping;
mod authz;
mod build_identity;
mod builds;
mod chaos;
mod cli;
mod client_credentials;
mod cluster;
mod crash;
mod cron;
mod cron_cli;
mod device;
mod identity_room;
mod issuer;
mod login;
mod netrc;
mod retention;
mod runners;
mod sandbox;
mod scim;
mod secrets;
mod shared_leases;
mod statuses;
mod store;
mod tokens;
mod user_origins;
mod users;
mod verified_commits;
mod web;
mod webhooks;
mod workload;
