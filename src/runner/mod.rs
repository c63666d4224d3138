//! The runner: leases stages from the server, runs their steps as local processes (Drone's exec
//! runner), streams their logs and reports their outcome. `env` computes what each step's
//! process sees in its environment.

pub mod env;
