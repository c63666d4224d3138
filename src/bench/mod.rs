//! `hangar bench ...`: benchmarks that start a real `hangar server` process and measure it from
//! outside, so the figures include everything a user would see.

use std::process::ExitCode;

/// The benchmarks.
#[derive(Debug, clap::Subcommand)]
pub enum Bench {}

pub async fn run(bench: Bench) -> anyhow::Result<ExitCode> {
    match bench {}
}
