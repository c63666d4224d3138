//! `hangar user add | passwd | list | link | key | disable`: local users of the embedded provider (and forge
//! logins linked to any user), managed by an administrator on the server's machine. Like `hangar migrate`, these open the database with
//! the server's configuration; no server needs to run. A password is read from stdin with
//! `--password-stdin`, or generated and printed once.

use super::{issuer_url, password};
use crate::config::{Config, Secret};
use crate::domain::Actor;
use crate::store::{NewLocalUser, Store};
use anyhow::{Context, bail};
use clap::Subcommand;
use std::io::Read;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a local user (prints a generated password unless --password-stdin).
    Add {
        /// The login name (letters, digits, `.`, `_`, `-`).
        name: String,
        /// A group the user is in (repeat for several).
        #[arg(long = "group")]
        groups: Vec<String>,
        /// The name shown in the UI.
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a local user's password (prints a generated one unless --password-stdin); unlocks.
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List local users and their groups.
    List,
    /// Link a forge login to a user, so that account's pushes build as the user.
    Link {
        /// The Hangar login.
        name: String,
        /// `github:LOGIN` or `gitea:LOGIN`.
        #[arg(long)]
        forge: String,
    },
    /// Commit signing keys of a user (for repositories with verified commits).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Offboard a user at once: deactivate the account, revoke its tokens and sessions, refuse
    /// its next login; builds it started are cancelled by the server within a second.
    Disable {
        /// The Hangar login.
        name: String,
    },
}

/// `hangar user key add | ls | rm`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Register an SSH public key or an armored OpenPGP public key to user NAME.
    Add {
        name: String,
        /// The public key file (`id_ed25519.pub`, or `gpg --armor --export` output).
        #[arg(long)]
        file: std::path::PathBuf,
    },
    /// List a user's keys.
    Ls { name: String },
    /// Remove key ID (from `key ls`) of user NAME.
    Rm { name: String, id: i64 },
}

/// Whether `name` is usable as a login or a group.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn read_password(from_stdin: bool) -> anyhow::Result<(Secret, bool)> {
    if !from_stdin {
        return Ok((password::generate(), true));
    }
    let mut text = String::new();
    std::io::stdin()
        .take(password::MAX_LENGTH as u64 + 2)
        .read_to_string(&mut text)
        .context("reading the password from stdin")?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    password::check_strength(text).map_err(anyhow::Error::msg)?;
    Ok((Secret::new(text), false))
}

async fn hash(password: &Secret) -> anyhow::Result<String> {
    let password = password.clone();
    tokio::task::spawn_blocking(move || password::hash(password.expose())).await?
}

fn admin_actor() -> Actor {
    let mut actor = Actor::system();
    actor.name = "@cli".into();
    actor
}

/// Runs a `hangar user` command against the configured database.
pub async fn run(config: &Config, command: UserCommand) -> anyhow::Result<ExitCode> {
    let store = Store::open(&config.database_url).await?;
    let now = crate::clock::system().now_ms();
    let outcome = match command {
        UserCommand::Add {
            name,
            groups,
            display_name,
            email,
            password_stdin,
        } => {
            if !valid_name(&name) {
                bail!(
                    "{name:?} is not a valid user name (letters, digits, '.', '_', '-'; at most 64)"
                );
            }
            if let Some(bad) = groups.iter().find(|g| !valid_name(g)) {
                bail!("{bad:?} is not a valid group name (letters, digits, '.', '_', '-')");
            }
            let (password, generated) = read_password(password_stdin)?;
            let hash = hash(&password).await?;
            let sub = crate::auth::token::mint()[..32].to_string();
            let iss = issuer_url(&config.server_url);
            let new = NewLocalUser {
                login: &name,
                display_name: display_name.as_deref().unwrap_or(""),
                email: email.as_deref().unwrap_or(""),
                groups: &groups,
                password_hash: &hash,
                iss: &iss,
                sub: &sub,
            };
            match store.create_local_user(&new, &admin_actor(), now).await {
                Ok(_) => {}
                Err(crate::Error::Conflict(_)) => bail!("a user named {name:?} exists already"),
                Err(e) => return Err(e.into()),
            }
            println!("added {name} (groups: {})", groups.join(", "));
            if generated {
                println!("password (shown once): {}", password.expose());
            }
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let (password, generated) = read_password(password_stdin)?;
            let hash = hash(&password).await?;
            if !store
                .update_local_password(&name, &hash, &admin_actor(), now)
                .await?
            {
                bail!("there is no local user named {name:?}");
            }
            println!("changed the password of {name}");
            if generated {
                println!("password (shown once): {}", password.expose());
            }
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Link { name, forge } => {
            let Some((kind, login)) = forge.split_once(':') else {
                bail!("--forge must be github:LOGIN or gitea:LOGIN");
            };
            match store
                .link_forge_login(&name, kind, login, &admin_actor(), now)
                .await
            {
                Ok(_) => {}
                Err(crate::Error::NotFound(_)) => bail!("there is no user named {name:?}"),
                Err(e) => return Err(e.into()),
            }
            println!("linked {kind}:{login} to {name}");
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Key(cmd) => key(&store, cmd, now).await,
        UserCommand::Disable { name } => {
            let patch = crate::store::UserPatch {
                active: Some(false),
                ..Default::default()
            };
            let Some(change) = store
                .update_user(&admin_actor(), &name, &patch, now)
                .await?
            else {
                bail!("there is no user named {name:?}");
            };
            println!(
                "disabled {name}: {} token(s) revoked, sessions ended, logins refused",
                change.revoked.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::List => {
            for a in store.list_local_accounts().await? {
                let mut notes = Vec::new();
                if !a.active {
                    notes.push("disabled".to_string());
                }
                if a.locked_until > now {
                    notes.push(format!("locked for {} s", (a.locked_until - now) / 1000));
                }
                println!(
                    "{:<20} {:<30} {}",
                    a.login,
                    a.groups.join(","),
                    notes.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    };
    store.close().await;
    outcome
}

async fn key(store: &Store, cmd: KeyCommand, now: i64) -> anyhow::Result<ExitCode> {
    match cmd {
        KeyCommand::Add { name, file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            match crate::auth::commit_keys::register(store, &name, &text, &admin_actor(), now).await
            {
                Ok(key) => {
                    println!(
                        "added {} key {} to {name} (id {})",
                        key.kind, key.fingerprint, key.id
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(crate::Error::Invalid(why)) => bail!("{}:1: {why}", file.display()),
                Err(e) => Err(anyhow::anyhow!("{}", e.detail())),
            }
        }
        KeyCommand::Ls { name } => {
            for k in store.list_user_keys(&name).await? {
                println!("{:<5} {:<4} {}", k.id, k.kind, k.fingerprint);
            }
            Ok(ExitCode::SUCCESS)
        }
        KeyCommand::Rm { name, id } => {
            if !store
                .delete_user_key(&name, id, &admin_actor(), now)
                .await?
            {
                bail!("{name:?} has no key {id}");
            }
            println!("removed key {id} of {name}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_group_names_are_plain() {
        assert!(valid_name("ada"));
        assert!(valid_name("release-team_2.x"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name("ada@example.com"));
        assert!(!valid_name(&"a".repeat(65)));
    }
}
