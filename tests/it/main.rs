//! Hangar's integration tests: one binary, one file per area, each test a short story against a
//! real server (port 0, a temporary database), real git repositories and real processes.

mod support;

mod audit;
mod authz;
mod builds;
mod cli;
mod crash;
mod issuer;
mod login;
mod secrets;
mod store;
mod tokens;
mod users;
mod webhooks;
mod workload;
