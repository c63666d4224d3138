//! Step isolation with bubblewrap (`bwrap`). A sandboxed step sees the host read-only, its
//! stage's workspace writable (its scripts and pid files read-only), a private `/tmp`, a fresh
//! `/dev`, and its own pid and IPC namespaces with their own `/proc` (so no other process's
//! environment or files); Hangar's own files (the data folder, the key file, the SQLite database,
//! the configuration file, the audit file) are covered with empty mounts. A repository cloned
//! from a path on this machine is readable. The network and the user are the server's.
//!
//! What does not live here: starting processes and stopping them (`process.rs`; a sandbox's
//! leader is `bwrap`, which `process::Leader::Sandbox` accounts for).

use super::process::{self, Leader};
use super::workspace::Workspace;
use crate::config::{Config, SandboxMode, SecretSource};
use std::path::{Path, PathBuf};

/// The host read-only, fresh `/dev` and `/proc`, an empty `/tmp`.
const HOST: [&str; 9] = [
    "--ro-bind",
    "/",
    "/",
    "--dev",
    "/dev",
    "--proc",
    "/proc",
    "--tmpfs",
    "/tmp",
];

/// Own pid and IPC namespaces; everything dies with the `bwrap` the runner started.
const NAMESPACES: [&str; 3] = ["--unshare-pid", "--unshare-ipc", "--die-with-parent"];

/// `bwrap` and what it hides.
#[derive(Debug, Clone)]
pub struct Sandbox {
    program: PathBuf,
    hidden: Vec<PathBuf>,
}

impl Sandbox {
    /// The sandbox `mode` asks for: `None` when off, or when `auto` finds no working `bwrap`
    /// (with a warning); an error when `on` finds none.
    pub async fn detect(
        mode: SandboxMode,
        hidden: Vec<PathBuf>,
    ) -> Result<Option<Sandbox>, String> {
        Sandbox::detect_in(mode, hidden, std::env::var_os("PATH")).await
    }

    /// [`Sandbox::detect`], looking for `bwrap` in `path` (a `PATH` value).
    async fn detect_in(
        mode: SandboxMode,
        hidden: Vec<PathBuf>,
        path: Option<std::ffi::OsString>,
    ) -> Result<Option<Sandbox>, String> {
        if mode == SandboxMode::Off {
            return Ok(None);
        }
        let found = match find_program("bwrap", path) {
            None => Err("bwrap was not found in PATH".to_string()),
            Some(program) => match probe(&program).await {
                Ok(()) => Ok(program),
                Err(why) => Err(format!("{} does not work here: {why}", program.display())),
            },
        };
        match (found, mode) {
            (Ok(program), _) => Ok(Some(Sandbox { program, hidden })),
            (Err(why), SandboxMode::On) => Err(format!(
                "sandbox = on (HANGAR_SANDBOX) but {why}; install bubblewrap (apt-get install bubblewrap) or set HANGAR_SANDBOX=auto or off"
            )),
            (Err(why), _) => {
                tracing::warn!(
                    "steps run without isolation: {why} (install bubblewrap, or set HANGAR_SANDBOX=off to silence this)"
                );
                Ok(None)
            }
        }
    }

    /// `program args` run inside the sandbox for a step of workspace `ws`; `readable` are extra
    /// paths the step may read (a local repository).
    fn wrap(
        &self,
        program: &str,
        args: &[String],
        ws: &Workspace,
        readable: &[&Path],
    ) -> (String, Vec<String>) {
        let mut out: Vec<String> = HOST.iter().map(|w| w.to_string()).collect();
        let mut push = |words: &[&str]| out.extend(words.iter().map(|w| w.to_string()));
        let dirs: Vec<&PathBuf> = self.hidden.iter().filter(|p| p.is_dir()).collect();
        for path in &dirs {
            push(&["--tmpfs", &path.to_string_lossy()]);
        }
        // A file inside a hidden folder is gone already; covering it again would show it.
        for path in self.hidden.iter().filter(|p| p.is_file()) {
            if !dirs.iter().any(|d| path.starts_with(d)) {
                push(&["--ro-bind", "/dev/null", &path.to_string_lossy()]);
            }
        }
        for path in readable.iter().filter(|p| p.exists()) {
            let p = path.to_string_lossy();
            push(&["--ro-bind", &p, &p]);
        }
        let root = ws.root.to_string_lossy();
        push(&["--bind", &root, &root]);
        for path in [&ws.scripts, &ws.pids] {
            let p = path.to_string_lossy();
            push(&["--ro-bind", &p, &p]);
        }
        let cwd = ws.src.to_string_lossy();
        push(&NAMESPACES);
        push(&["--chdir", &cwd, "--", program]);
        out.extend(args.iter().cloned());
        (self.program.to_string_lossy().into_owned(), out)
    }
}

/// What a step runs: `program args` as they are, or inside the runner's sandbox.
pub(super) fn command(
    sandbox: Option<&Sandbox>,
    program: String,
    args: Vec<String>,
    ws: &Workspace,
    clone_url: &str,
) -> (String, Vec<String>, Leader) {
    match sandbox {
        None => (program, args, Leader::Step),
        Some(sandbox) => {
            let local = super::script::local_objects(clone_url).map(Path::new);
            let readable: Vec<&Path> = local.into_iter().collect();
            let (program, args) = sandbox.wrap(&program, &args, ws, &readable);
            (program, args, Leader::Sandbox)
        }
    }
}

/// Hangar's own files, which no step may see: the data folder, the key file, the SQLite
/// database (with its journal files), the configuration file, the audit file, the OpenID
/// client secret's file and the GitHub App's key.
pub fn hidden_paths(config: &Config) -> Vec<PathBuf> {
    let mut paths = vec![
        config.data_dir.clone(),
        config.identity.secret_key_file.clone(),
    ];
    if let Some(db) = config.sqlite_file() {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = db.clone().into_os_string();
            name.push(suffix);
            paths.push(PathBuf::from(name));
        }
    }
    paths.extend(config.config_file.iter().cloned());
    paths.extend(config.identity.audit_sinks.file.iter().cloned());
    if let Some(oidc) = &config.identity.oidc
        && let SecretSource::File(path) = &oidc.client_secret
    {
        paths.push(path.clone());
    }
    paths.extend(
        config
            .statuses
            .github_app
            .iter()
            .map(|a| a.key_file.clone()),
    );
    paths
        .into_iter()
        .filter_map(|p| std::path::absolute(&p).ok())
        .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
        .collect()
}

fn find_program(name: &str, path: Option<std::ffi::OsString>) -> Option<PathBuf> {
    std::env::split_paths(&path?)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Runs `true` in a sandbox like a step's, so a `bwrap` that cannot work here (no user
/// namespaces) is found at start rather than at the first step.
async fn probe(program: &Path) -> Result<(), String> {
    let args: Vec<&str> = HOST
        .iter()
        .chain(&NAMESPACES)
        .chain(&["--", "true"])
        .copied()
        .collect();
    let out = process::probe(program, &args)
        .await
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

#[cfg(test)]
mod tests;
