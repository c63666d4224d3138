//! The command line: `hangar server | runner | migrate | lint | repo | build | cron | token | login |
//! logout | secret | user | scim | policy | audit | bench`. Client commands (`repo`, `build`,
//! `cron`, `token`, `audit tail|export`) call a running server's API with `HANGAR_TOKEN` or the login
//! `hangar login` kept; `migrate`, `lint`, `secret`, `user`, `scim`, `policy` and
//! `audit verify` work without a server.

mod audit;
mod cron;
mod forge;
mod login;
mod netrc;
mod runner;

pub use runner::RunnerArgs;
mod scim;
mod secret;
mod token;

use crate::client::Client;
use crate::config::Config;
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "hangar",
    version,
    about = "A CI server for Drone pipelines, where every build belongs to a verified identity"
)]
pub struct Cli {
    /// Config file (default: ./hangar.toml if present; also HANGAR_CONFIG).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (API, webhooks, in-process runner).
    Server,
    /// Run a remote runner (HANGAR_SERVER_URL, HANGAR_RUNNER_TOKEN, HANGAR_RUNNER_CAPACITY,
    /// HANGAR_RUNNER_LABELS), or manage runners: register | ls | rm (calls the server as an
    /// administrator: HANGAR_SERVER, HANGAR_TOKEN).
    Runner(runner::RunnerArgs),
    /// Bring the database schema up to date and exit.
    Migrate,
    /// Check a .drone.yml; with --format json, print the resolved plan.
    Lint {
        file: PathBuf,
        #[arg(long, default_value = "text")]
        format: LintFormat,
        /// Lint as a trusted repository (allows privileged features).
        #[arg(long)]
        trusted: bool,
    },
    /// Repositories (calls the server: HANGAR_SERVER, HANGAR_TOKEN).
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Builds (calls the server: HANGAR_SERVER, HANGAR_TOKEN).
    #[command(subcommand)]
    Build(BuildCommand),
    /// The audit trail (opens the database with the server's configuration).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// A repository's cron jobs (calls the server: HANGAR_SERVER, HANGAR_TOKEN).
    #[command(subcommand)]
    Cron(cron::CronCommand),
    /// Your API tokens (calls the server: HANGAR_SERVER, HANGAR_TOKEN).
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Log in to a server through a browser (OAuth device authorization); the client commands
    /// then use this login whenever HANGAR_TOKEN is not set.
    Login {
        /// The server's URL, e.g. https://ci.example.com
        #[arg(long, env = "HANGAR_SERVER")]
        server: String,
        /// Limit the login to ACTION or ACTION:REPO_GLOB (repeat for more); without any, it has
        /// all of your rights.
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// Forget the kept login, revoking it at its server.
    Logout,
    /// Secrets at rest: `rotate-key` (opens the database, like `migrate`; servers stopped).
    #[command(subcommand)]
    Secret(secret::SecretCommand),
    /// Local users of the embedded OpenID provider (opens the database, like `migrate`).
    #[command(subcommand)]
    User(crate::auth::issuer::cli::UserCommand),
    /// SCIM provisioning: `hangar scim token create` (opens the database, like `migrate`).
    #[command(subcommand)]
    Scim(scim::ScimCommand),
    /// Benchmarks of a real server process (see README).
    #[command(subcommand)]
    Bench(crate::bench::Bench),
    /// Ask or check the authorization policy (no server needed).
    #[command(subcommand)]
    Policy(crate::auth::policy::cli::PolicyCommand),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the audit chain; exit non-zero at the first altered, deleted, inserted or
    /// reordered entry.
    Verify,
    /// Print the latest entries as JSON Lines (`--follow` keeps printing); through the API.
    Tail(audit::Tail),
    /// Print every matching entry as JSON Lines, oldest first; through the API.
    Export(audit::Filter),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LintFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Activate a repository and print its webhook secret.
    Add {
        /// owner/name
        slug: String,
        #[arg(long)]
        clone_url: String,
        #[arg(long, default_value = "main")]
        default_branch: String,
        #[arg(long, default_value = ".drone.yml")]
        config_path: String,
    },
    /// Show a repository.
    Info { slug: String },
    /// List active repositories.
    Ls,
    /// Change settings.
    Update {
        slug: String,
        #[arg(long)]
        timeout: Option<i64>,
        #[arg(long)]
        trusted: Option<bool>,
        #[arg(long)]
        protected: Option<bool>,
        #[arg(long)]
        config_path: Option<String>,
        #[arg(long)]
        visibility: Option<String>,
    },
    /// Deactivate (or with --remove, delete) a repository.
    Rm {
        slug: String,
        #[arg(long)]
        remove: bool,
    },
    /// Forge credentials for commit statuses.
    #[command(subcommand)]
    Forge(forge::ForgeCommand),
    /// Clone credentials of a private repository.
    #[command(subcommand)]
    Netrc(netrc::NetrcCommand),
}

#[derive(Debug, Subcommand)]
pub enum BuildCommand {
    /// List a repository's builds.
    Ls {
        slug: String,
        #[arg(long)]
        branch: Option<String>,
        #[arg(long, default_value_t = 1)]
        page: i64,
    },
    /// Show a build with its stages and steps.
    Info { slug: String, number: i64 },
    /// Start a build of a branch (its tip, or --commit).
    Start {
        slug: String,
        #[arg(long)]
        branch: Option<String>,
        #[arg(long)]
        commit: Option<String>,
        /// KEY=VALUE build parameters.
        #[arg(long = "param")]
        params: Vec<String>,
    },
    /// Cancel a build.
    Cancel { slug: String, number: i64 },
    /// Run a build again.
    Restart { slug: String, number: i64 },
    /// Delete the finished builds numbered below --before, with their logs.
    Purge {
        slug: String,
        #[arg(long)]
        before: i64,
    },
    /// Print a step's log.
    Logs {
        slug: String,
        number: i64,
        stage: i64,
        step: i64,
    },
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Server => {
            let loaded = Config::from_env(cli.config.as_deref())?;
            for w in &loaded.warnings {
                tracing::warn!("{w}");
            }
            crate::server::run(loaded.config).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Runner(args) => runner::run(args, cli.config.as_deref()).await,
        Command::Migrate => {
            let config = Config::from_env(cli.config.as_deref())?.config;
            crate::store::Store::open(&config.database_url).await?;
            println!("the database schema is up to date");
            Ok(ExitCode::SUCCESS)
        }
        Command::Lint {
            file,
            format,
            trusted,
        } => lint(&file, format, trusted),
        Command::Repo(cmd) => repo(cmd).await,
        Command::Build(cmd) => build(cmd).await,
        Command::Audit(AuditCommand::Verify) => audit_verify(cli.config.as_deref()).await,
        Command::Audit(AuditCommand::Tail(args)) => {
            audit::tail(&Client::from_env().await?, &args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCommand::Export(filter)) => {
            audit::export(&Client::from_env().await?, &filter).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Cron(cmd) => cron::run(cmd).await,
        Command::Token(cmd) => token::run(cmd).await,
        Command::Login { server, scopes } => login::login(&server, &scopes).await,
        Command::Logout => login::logout().await,
        Command::Secret(cmd) => {
            let config = Config::from_env(cli.config.as_deref())?.config;
            secret::run(cmd, &config).await
        }
        Command::User(cmd) => {
            let config = Config::from_env(cli.config.as_deref())?.config;
            crate::auth::issuer::cli::run(&config, cmd).await
        }
        Command::Scim(cmd) => {
            let config = Config::from_env(cli.config.as_deref())?.config;
            scim::run(&config, cmd).await
        }
        Command::Bench(b) => crate::bench::run(b).await,
        Command::Policy(cmd) => crate::auth::policy::cli::run(cmd, cli.config.as_deref()),
    }
}

/// `hangar lint`: parse and lint a file; print errors as `file:line:column`.
pub fn lint(file: &std::path::Path, format: LintFormat, trusted: bool) -> anyhow::Result<ExitCode> {
    lint_then(file, format, trusted, |ok| {
        if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    })
}

/// Like [`lint`], handing whether the file passed to `done` while the parsed file is still
/// alive: a caller that ends the process in `done` never pays for freeing it.
pub fn lint_then<R>(
    file: &std::path::Path,
    format: LintFormat,
    trusted: bool,
    done: impl FnOnce(bool) -> R,
) -> anyhow::Result<R> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let name = file.display();
    let manifest = match crate::pipeline::parse(&text) {
        Ok(m) => m,
        Err(e) => {
            eprintln!(
                "{name}:{}:{}: error: {}",
                e.pos.line, e.pos.column, e.message
            );
            return Ok(done(false));
        }
    };
    for w in &manifest.warnings {
        eprintln!(
            "{name}:{}:{}: warning: {}",
            w.pos.line, w.pos.column, w.message
        );
    }
    if let Err(e) = crate::pipeline::lint(&manifest, trusted) {
        eprintln!(
            "{name}:{}:{}: error: {}",
            e.pos.line, e.pos.column, e.message
        );
        return Ok(done(false));
    }
    match format {
        LintFormat::Json => println!(
            "{}",
            serde_json::to_string(&crate::pipeline::plan(&manifest))?
        ),
        LintFormat::Text => println!("{name}: ok ({} pipelines)", manifest.pipelines.len()),
    }
    Ok(done(true))
}

async fn audit_verify(config: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let config = Config::from_env(config)?.config;
    let keys = crate::auth::keys::SecretBox::load(&config.identity.secret_key_file)?;
    let store = crate::store::Store::open(&config.database_url).await?;
    let started = std::time::Instant::now();
    let report = crate::audit::verify::verify(&store, &keys).await?;
    let secs = started.elapsed().as_secs_f64();
    match report.finding {
        None => {
            println!(
                "audit trail intact: {} entries and {} signed checkpoints verified in {secs:.2} s",
                report.verified, report.checkpoints
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(finding) => {
            eprintln!(
                "audit trail tampered: {finding} ({} entries before it verified)",
                report.verified
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

fn split_slug(slug: &str) -> anyhow::Result<&str> {
    crate::domain::Slug::parse(slug).map_err(anyhow::Error::msg)?;
    Ok(slug)
}

/// A `PATCH` body of the fields given (`None`: left alone).
fn changes<const N: usize>(fields: [(&str, Option<Value>); N]) -> Value {
    let body = fields
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_string(), v?)))
        .collect();
    Value::Object(body)
}

fn print(v: &Value) -> anyhow::Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(ExitCode::SUCCESS)
}

async fn repo(cmd: RepoCommand) -> anyhow::Result<ExitCode> {
    let client = Client::from_env().await?;
    match cmd {
        RepoCommand::Add {
            slug,
            clone_url,
            default_branch,
            config_path,
        } => {
            let slug = split_slug(&slug)?;
            let body = json!({ "clone_url": clone_url, "default_branch": default_branch, "config_path": config_path });
            let repo = client
                .call(Method::POST, &format!("/api/repos/{slug}"), Some(&body))
                .await?;
            println!("activated {slug}");
            println!("webhook URL:    {}/hook", client.server());
            println!(
                "webhook secret: {}",
                repo["webhook_secret"].as_str().unwrap_or("")
            );
            Ok(ExitCode::SUCCESS)
        }
        RepoCommand::Info { slug } => print(
            &client
                .call(
                    Method::GET,
                    &format!("/api/repos/{}", split_slug(&slug)?),
                    None,
                )
                .await?,
        ),
        RepoCommand::Ls => {
            let repos = client.call(Method::GET, "/api/repos", None).await?;
            for r in repos.as_array().into_iter().flatten() {
                println!("{}", r["slug"].as_str().unwrap_or(""));
            }
            Ok(ExitCode::SUCCESS)
        }
        RepoCommand::Update {
            slug,
            timeout,
            trusted,
            protected,
            config_path,
            visibility,
        } => {
            let body = changes([
                ("timeout", timeout.map(Value::from)),
                ("trusted", trusted.map(Value::from)),
                ("protected", protected.map(Value::from)),
                ("config_path", config_path.map(Value::from)),
                ("visibility", visibility.map(Value::from)),
            ]);
            print(
                &client
                    .call(
                        Method::PATCH,
                        &format!("/api/repos/{}", split_slug(&slug)?),
                        Some(&body),
                    )
                    .await?,
            )
        }
        RepoCommand::Netrc(cmd) => netrc::run(&client, cmd).await,
        RepoCommand::Rm { slug, remove } => {
            let path = format!("/api/repos/{}?remove={remove}", split_slug(&slug)?);
            client.call(Method::DELETE, &path, None).await?;
            println!("{} {slug}", if remove { "removed" } else { "deactivated" });
            Ok(ExitCode::SUCCESS)
        }
        RepoCommand::Forge(cmd) => forge::run(&client, cmd).await,
    }
}

async fn build(cmd: BuildCommand) -> anyhow::Result<ExitCode> {
    let client = Client::from_env().await?;
    match cmd {
        BuildCommand::Ls { slug, branch, page } => {
            let mut path = format!("/api/repos/{}/builds?page={page}", split_slug(&slug)?);
            if let Some(b) = branch {
                path.push_str(&format!(
                    "&branch={}",
                    url::form_urlencoded::byte_serialize(b.as_bytes()).collect::<String>()
                ));
            }
            let builds = client.call(Method::GET, &path, None).await?;
            for b in builds.as_array().into_iter().flatten() {
                println!(
                    "#{:<5} {:<10} {:<8} {} {}",
                    b["number"],
                    b["status"].as_str().unwrap_or(""),
                    b["event"].as_str().unwrap_or(""),
                    b["target"].as_str().unwrap_or(""),
                    b["after"]
                        .as_str()
                        .unwrap_or("")
                        .chars()
                        .take(8)
                        .collect::<String>()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        BuildCommand::Info { slug, number } => print(
            &client
                .call(
                    Method::GET,
                    &format!("/api/repos/{}/builds/{number}", split_slug(&slug)?),
                    None,
                )
                .await?,
        ),
        BuildCommand::Start {
            slug,
            branch,
            commit,
            params,
        } => {
            let mut query: Vec<(String, String)> = Vec::new();
            if let Some(b) = branch {
                query.push(("branch".into(), b));
            }
            if let Some(c) = commit {
                query.push(("commit".into(), c));
            }
            for p in params {
                let Some((k, v)) = p.split_once('=') else {
                    bail!("--param takes KEY=VALUE, got {p:?}");
                };
                query.push((k.into(), v.into()));
            }
            let qs = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query)
                .finish();
            print(
                &client
                    .call(
                        Method::POST,
                        &format!("/api/repos/{}/builds?{qs}", split_slug(&slug)?),
                        None,
                    )
                    .await?,
            )
        }
        BuildCommand::Cancel { slug, number } => print(
            &client
                .call(
                    Method::DELETE,
                    &format!("/api/repos/{}/builds/{number}", split_slug(&slug)?),
                    None,
                )
                .await?,
        ),
        BuildCommand::Restart { slug, number } => print(
            &client
                .call(
                    Method::POST,
                    &format!("/api/repos/{}/builds/{number}", split_slug(&slug)?),
                    None,
                )
                .await?,
        ),
        BuildCommand::Purge { slug, before } => {
            let path = format!("/api/repos/{}/builds?before={before}", split_slug(&slug)?);
            let answer = client.call(Method::DELETE, &path, None).await?;
            println!("{} builds deleted", answer["deleted"]);
            Ok(ExitCode::SUCCESS)
        }
        BuildCommand::Logs {
            slug,
            number,
            stage,
            step,
        } => {
            let path = format!(
                "/api/repos/{}/builds/{number}/logs/{stage}/{step}",
                split_slug(&slug)?
            );
            let lines = client.call(Method::GET, &path, None).await?;
            for l in lines.as_array().into_iter().flatten() {
                print!("{}", l["out"].as_str().unwrap_or(""));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
