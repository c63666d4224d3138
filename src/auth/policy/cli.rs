//! `hangar policy test` (ask the policy in force one question, without a server) and
//! `hangar policy check` (validate a policy file against the schema). Both load the
//! configuration (roles, protected targets, policy file) exactly as the server does.

use super::{Action, Authz, RepoRef, Sources};
use crate::auth::principal::Principal;
use crate::config::Config;
use crate::domain::{Slug, Visibility};
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `hangar policy ...`
#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Print ALLOW or DENY for one request, and the policy that decided.
    Test {
        /// The user's login.
        #[arg(long, required_unless_present = "anonymous")]
        user: Option<String>,
        /// Ask as a caller who is not signed in.
        #[arg(long, conflicts_with_all = ["user", "groups", "admin"])]
        anonymous: bool,
        /// The user's groups (comma separated or repeated).
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        /// The user has the admin flag (as the bootstrap admin account does).
        #[arg(long)]
        admin: bool,
        /// repo.read, build.trigger, build.promote, user.manage, ...
        #[arg(long)]
        action: String,
        /// owner/name (needed by repository actions).
        #[arg(long)]
        repo: Option<String>,
        #[arg(long, default_value = "private")]
        visibility: String,
        /// The deploy target (for build.promote).
        #[arg(long)]
        target: Option<String>,
        /// Ask as a token limited to this scope (ACTION or ACTION:REPO_GLOB; repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// Validate a policy file (default: the configured policy_file) against the schema.
    Check { file: Option<PathBuf> },
}

/// Runs a `hangar policy` command. Exit 0 for ALLOW and DENY alike; bad input is an error.
pub fn run(cmd: PolicyCommand, config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = Config::from_env(config)?.config;
    match cmd {
        PolicyCommand::Test {
            user,
            anonymous,
            groups,
            admin,
            action,
            repo,
            visibility,
            target,
            scopes,
        } => {
            let action = Action::parse(&action).map_err(anyhow::Error::msg)?;
            let visibility = Visibility::parse(&visibility)
                .context("--visibility must be public, internal or private")?;
            let slug = repo
                .map(|r| Slug::parse(&r).map(|s| s.to_string()))
                .transpose()
                .map_err(anyhow::Error::msg)?;
            match (&slug, action.on_repo(), action) {
                (None, true, _) => {
                    bail!("{action} is done to a repository: give --repo owner/name")
                }
                (Some(_), false, a) if a != Action::AuditRead => {
                    bail!("{action} concerns the server, not a repository: leave out --repo")
                }
                _ => {}
            }
            if target.is_some() && action != Action::BuildPromote {
                bail!("--target is only for build.promote");
            }
            let principal = if anonymous {
                Principal::anonymous()
            } else {
                let scopes = (!scopes.is_empty()).then_some(scopes.as_slice());
                Principal::hypothetical(user.as_deref().unwrap_or(""), groups, admin, scopes)
                    .map_err(anyhow::Error::msg)?
            };
            let authz = Authz::load(&config.identity).map_err(anyhow::Error::new)?;
            let repo = slug.as_deref().map(|slug| RepoRef { slug, visibility });
            let decision = authz.decide(&principal, action, repo, target.as_deref());
            println!("{decision}");
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Check { file } => {
            let path = match file.or(config.identity.policy_file.clone()) {
                Some(p) => p,
                None => bail!("give a policy file, or set policy_file (HANGAR_POLICY_FILE)"),
            };
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let name = path.display().to_string();
            match Authz::from_sources(&Sources {
                roles: &config.identity.roles,
                protected_targets: &config.identity.protected_targets,
                file: Some((&name, &text)),
            }) {
                Ok(authz) => {
                    let own = authz
                        .policy_ids()
                        .iter()
                        .filter(|(_, f)| *f == name)
                        .count();
                    println!("{name}: ok ({own} policies, valid against the schema)");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("{e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}
