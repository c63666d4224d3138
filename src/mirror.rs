//! Cached bare mirrors of activated repositories, from which the server reads `.drone.yml` at a
//! build's commit (the runner clones on its own). A mirror is fetched only when the commit asked
//! for is not in it yet. Mirrors of repositories on this machine share the source's objects
//! (`git clone --shared`), so a fresh commit there is readable without a fetch. A private
//! repository's clone credentials (`auth/netrc.rs`) reach git through its environment.

use crate::auth::netrc::{CloneCredentials, GIT_HELPER};
use crate::domain::{Repo, RepoId};
use crate::error::{Error, Result};
use crate::runner::process;
use sha2::Digest;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Largest configuration file read (larger ones fail the build).
pub const MAX_CONFIG_BYTES: u64 = 10 << 20;

/// What reading a file at a commit found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileAt {
    Found(String),
    /// The commit exists but has no such file.
    NoFile,
    /// The commit is not in the repository (even after a fetch).
    NoCommit,
    /// The file is over [`MAX_CONFIG_BYTES`]; its size.
    TooLarge(u64),
}

/// The tip of a branch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Commit {
    pub sha: String,
    pub message: String,
    pub author_name: String,
    pub author_email: String,
    pub timestamp: i64,
}

/// All mirrors, under one folder.
#[derive(Debug)]
pub struct Mirrors {
    root: PathBuf,
    locks: Mutex<HashMap<RepoId, Arc<tokio::sync::Mutex<()>>>>,
    /// Files already read at a full commit id: a commit never changes, so a burst of builds of
    /// one commit reads its configuration once.
    files: Mutex<HashMap<(String, String, String), FileAt>>,
    /// Where private repositories' clone credentials come from.
    credentials: Option<CloneCredentials>,
}

const CACHED_FILES: usize = 512;

fn failed(what: &str, out: &std::process::Output) -> Error {
    let stderr = String::from_utf8_lossy(&out.stderr);
    Error::Internal(anyhow::anyhow!("{what} failed: {}", stderr.trim()))
}

impl Mirrors {
    pub fn new(root: PathBuf) -> Mirrors {
        Mirrors {
            root,
            locks: Mutex::new(HashMap::new()),
            files: Mutex::new(HashMap::new()),
            credentials: None,
        }
    }

    /// Mirrors that fetch private repositories with their clone credentials.
    pub fn with_credentials(mut self, credentials: CloneCredentials) -> Mirrors {
        self.credentials = Some(credentials);
        self
    }

    /// Runs a git command that talks to `repo`'s remote, with its clone credentials if it has
    /// some.
    async fn remote_git(
        &self,
        repo: &Repo,
        dir: Option<&Path>,
        args: &[&str],
    ) -> Result<std::process::Output> {
        let netrc = match &self.credentials {
            Some(c) => c.find(repo).await?,
            None => None,
        };
        Ok(match netrc {
            Some(netrc) => {
                let all: Vec<&str> = GIT_HELPER.iter().chain(args).copied().collect();
                process::git_with_env(dir, &all, &netrc.variables()).await?
            }
            None => process::git(dir, args).await?,
        })
    }

    fn lock(&self, repo: RepoId) -> Arc<tokio::sync::Mutex<()>> {
        match self.locks.lock() {
            Ok(mut map) => map.entry(repo).or_default().clone(),
            Err(_) => Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// The mirror's folder: a new URL gets a new mirror.
    fn path(&self, repo: &Repo) -> PathBuf {
        let url_hash = hex::encode(&sha2::Sha256::digest(repo.clone_url().as_bytes())[..6]);
        self.root.join(format!("{}-{url_hash}.git", repo.id))
    }

    async fn ensure(&self, repo: &Repo) -> Result<PathBuf> {
        let path = self.path(repo);
        if path.join("HEAD").exists() {
            return Ok(path);
        }
        tokio::fs::create_dir_all(&self.root).await?;
        let url = repo.clone_url();
        let tmp = self
            .root
            .join(format!("{}.tmp-{:08x}", repo.id, rand::random::<u32>()));
        let tmp_s = tmp.to_string_lossy().to_string();
        let mut args = vec!["clone", "--quiet", "--mirror"];
        let source = match local_path(url) {
            Some(path) => {
                args.push("--shared");
                path
            }
            None => url,
        };
        args.extend(["--", source, &tmp_s]);
        let out = self.remote_git(repo, None, &args).await?;
        if !out.status.success() {
            let _ = tokio::fs::remove_dir_all(&tmp).await;
            return Err(failed(&format!("cloning {url}"), &out));
        }
        tokio::fs::rename(&tmp, &path).await?;
        Ok(path)
    }

    async fn fetch(&self, repo: &Repo, path: &Path) -> Result<()> {
        let out = self
            .remote_git(repo, Some(path), &["fetch", "--quiet", "--prune", "origin"])
            .await?;
        if !out.status.success() {
            return Err(failed("fetching", &out));
        }
        // Pull request heads are not in the default refspec of every forge's mirror.
        let _ = self
            .remote_git(
                repo,
                Some(path),
                &["fetch", "--quiet", "origin", "+refs/pull/*:refs/pull/*"],
            )
            .await;
        Ok(())
    }

    /// Reads `file` at `commit`, fetching once if the commit is not in the mirror yet.
    pub async fn read_file(&self, repo: &Repo, commit: &str, file: &str) -> Result<FileAt> {
        let key = (
            self.path(repo).to_string_lossy().into_owned(),
            commit.to_string(),
            file.to_string(),
        );
        if let Ok(files) = self.files.lock()
            && let Some(found) = files.get(&key)
        {
            return Ok(found.clone());
        }
        let found = self.read_file_uncached(repo, commit, file).await?;
        let immutable = commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit());
        if immutable
            && found != FileAt::NoCommit
            && let Ok(mut files) = self.files.lock()
        {
            if files.len() >= CACHED_FILES {
                files.clear();
            }
            files.insert(key, found.clone());
        }
        Ok(found)
    }

    async fn read_file_uncached(&self, repo: &Repo, commit: &str, file: &str) -> Result<FileAt> {
        let lock = self.lock(repo.id);
        let _guard = lock.lock().await;
        let path = self.ensure(repo).await?;
        let spec = format!("{commit}:{file}\n");
        for attempt in 0..2 {
            if let Some(found) = read_blob(&path, &spec).await? {
                return Ok(found);
            }
            if self.has_commit(&path, commit).await {
                return Ok(FileAt::NoFile);
            }
            if attempt == 0 {
                self.fetch(repo, &path).await?;
            }
        }
        Ok(FileAt::NoCommit)
    }

    /// Runs `git <config> verify-commit --raw <commit>` in the mirror with `env`, fetching once
    /// if the commit is not there yet; `None` when it is not there even then.
    pub async fn verify_commit(
        &self,
        repo: &Repo,
        commit: &str,
        config: &[String],
        env: &[(String, String)],
    ) -> Result<Option<std::process::Output>> {
        let lock = self.lock(repo.id);
        let _guard = lock.lock().await;
        let path = self.ensure(repo).await?;
        if !self.has_commit(&path, commit).await {
            self.fetch(repo, &path).await?;
            if !self.has_commit(&path, commit).await {
                return Ok(None);
            }
        }
        let mut args: Vec<&str> = config.iter().map(String::as_str).collect();
        args.extend(["verify-commit", "--raw", commit]);
        Ok(Some(process::git_with_env(Some(&path), &args, env).await?))
    }

    async fn has_commit(&self, path: &Path, commit: &str) -> bool {
        let object = format!("{commit}^{{commit}}");
        process::git(Some(path), &["cat-file", "-e", &object])
            .await
            .is_ok_and(|o| o.status.success())
    }

    /// The commit at the tip of `branch`, fetched fresh.
    pub async fn branch_head(&self, repo: &Repo, branch: &str) -> Result<Option<Commit>> {
        let lock = self.lock(repo.id);
        let _guard = lock.lock().await;
        let path = self.ensure(repo).await?;
        self.fetch(repo, &path).await?;
        self.describe(&path, &format!("refs/heads/{branch}")).await
    }

    /// The commit `rev` names (a sha or a ref), fetching once if it is unknown.
    pub async fn commit(&self, repo: &Repo, rev: &str) -> Result<Option<Commit>> {
        let lock = self.lock(repo.id);
        let _guard = lock.lock().await;
        let path = self.ensure(repo).await?;
        if let Some(c) = self.describe(&path, rev).await? {
            return Ok(Some(c));
        }
        self.fetch(repo, &path).await?;
        self.describe(&path, rev).await
    }

    async fn describe(&self, path: &Path, rev: &str) -> Result<Option<Commit>> {
        let object = format!("{rev}^{{commit}}");
        let out = process::git(
            Some(path),
            &[
                "log",
                "-1",
                "--format=%H%x00%an%x00%ae%x00%ct%x00%B",
                &object,
                "--",
            ],
        )
        .await?;
        if !out.status.success() {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut parts = text.splitn(5, '\0');
        let sha = parts.next().unwrap_or_default().trim().to_string();
        let author_name = parts.next().unwrap_or_default().to_string();
        let author_email = parts.next().unwrap_or_default().to_string();
        let timestamp = parts.next().unwrap_or_default().trim().parse().unwrap_or(0);
        let message = parts.next().unwrap_or_default().trim_end().to_string();
        Ok((!sha.is_empty()).then_some(Commit {
            sha,
            message,
            author_name,
            author_email,
            timestamp,
        }))
    }
}

/// Reads the blob `spec` names (`commit:path`) with one `git cat-file --batch`: `None` when there
/// is no such blob. The size comes first, so an oversized file is refused without reading it.
async fn read_blob(mirror: &Path, spec: &str) -> Result<Option<FileAt>> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let mut child = process::git_spawn(Some(mirror), &["cat-file", "--batch"])?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(Error::internal(anyhow::anyhow!(
            "git cat-file has no pipes"
        )));
    };
    stdin.write_all(spec.as_bytes()).await?;
    drop(stdin);
    let mut out = tokio::io::BufReader::new(stdout);
    let mut header = String::new();
    (&mut out).take(4096).read_line(&mut header).await?;
    let fields: Vec<&str> = header.split_whitespace().collect();
    let [_, "blob", size] = fields.as_slice() else {
        let _ = child.wait().await;
        return Ok(None);
    };
    let size: u64 = size.parse().unwrap_or(u64::MAX);
    if size > MAX_CONFIG_BYTES {
        return Ok(Some(FileAt::TooLarge(size)));
    }
    let mut content = vec![0u8; usize::try_from(size).unwrap_or(0)];
    out.read_exact(&mut content).await?;
    let _ = child.wait().await;
    Ok(Some(FileAt::Found(
        String::from_utf8_lossy(&content).into_owned(),
    )))
}

/// The path of a clone URL that names this machine's file system.
fn local_path(url: &str) -> Option<&str> {
    if url.starts_with('/') {
        Some(url)
    } else {
        url.strip_prefix("file://").filter(|p| p.starts_with('/'))
    }
}
