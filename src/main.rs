//! The `hangar` binary: parse the command line, start logging, run the command, and turn its
//! outcome into an exit code.

use clap::Parser;
use hangar::cli::{Cli, Command};
use hangar::config::{Config, LogFormat};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Linting needs neither logging nor an async runtime: start nothing it does not use.
    if let Command::Lint {
        file,
        format,
        trusted,
    } = &cli.command
    {
        // A short-lived process: exiting as soon as the report is out lets the system take
        // back the parsed file at once instead of freeing it node by node.
        return hangar::cli::lint_then(file, *format, *trusted, |ok| -> ExitCode {
            let _ = std::io::stdout().flush();
            std::process::exit(if ok { 0 } else { 1 })
        })
        .unwrap_or_else(|e| {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        });
    }
    // Logging follows the config (HANGAR_LOG, log_format); commands that print results keep
    // the log on stderr.
    let (filter, format) = match Config::from_env(cli.config.as_deref()) {
        Ok(l) => (l.config.log, l.config.log_format),
        Err(_) => ("info".to_string(), LogFormat::Text),
    };
    let runner = matches!(
        cli.command,
        Command::Runner(hangar::cli::RunnerArgs { command: None })
    );
    let quiet = !runner && !matches!(cli.command, Command::Server);
    let filter =
        tracing_subscriber::EnvFilter::try_new(if quiet { "warn" } else { filter.as_str() })
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    // The remote runner waits on the network and on its steps' processes: one thread does,
    // and an idle runner then holds one thread's stack and malloc arena, not one per core.
    let runtime = if runner {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_keep_alive(std::time::Duration::from_secs(1))
            .build()
    } else {
        tokio::runtime::Runtime::new()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(hangar::cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
