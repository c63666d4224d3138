//! The OpenID client secret, from the configuration or from a file. A file is read again when it
//! changes (its modification time, size or inode, checked on each use: one `stat`) or when the
//! server gets SIGHUP, so rotating the secret needs no restart and logs nobody out.

use crate::config::Secret;
use crate::config::SecretSource;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// What identifies one version of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

/// The client secret, current as of its last use.
#[derive(Debug)]
pub struct ClientSecret {
    source: Source,
}

#[derive(Debug)]
enum Source {
    Value(Secret),
    File {
        path: PathBuf,
        cached: Mutex<Option<(Version, Secret)>>,
    },
}

impl ClientSecret {
    pub fn new(source: &SecretSource) -> ClientSecret {
        ClientSecret {
            source: match source {
                SecretSource::Value(s) => Source::Value(s.clone()),
                SecretSource::File(path) => Source::File {
                    path: path.clone(),
                    cached: Mutex::new(None),
                },
            },
        }
    }

    /// The secret now: read again if the file changed since it was last read.
    pub fn current(&self) -> anyhow::Result<Secret> {
        match &self.source {
            Source::Value(s) => Ok(s.clone()),
            Source::File { path, cached } => {
                let version = version(path)?;
                let mut cached = cached
                    .lock()
                    .map_err(|_| anyhow::anyhow!("client secret lock poisoned"))?;
                if let Some((v, s)) = cached.as_ref()
                    && *v == version
                {
                    return Ok(s.clone());
                }
                let secret = read(path)?;
                *cached = Some((version, secret.clone()));
                Ok(secret)
            }
        }
    }

    /// Forgets the cached secret so the next use reads the file (SIGHUP).
    pub fn reload(&self) {
        if let Source::File { cached, .. } = &self.source
            && let Ok(mut cached) = cached.lock()
        {
            *cached = None;
        }
    }
}

fn version(path: &Path) -> anyhow::Result<Version> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)
        .with_context(|| format!("reading the client secret file {}", path.display()))?;
    Ok(Version {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode: meta.ino(),
    })
}

fn read(path: &Path) -> anyhow::Result<Secret> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the client secret file {}", path.display()))?;
    let text = text.trim();
    if text.is_empty() {
        anyhow::bail!("the client secret file {} is empty", path.display());
    }
    Ok(Secret::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_secret_file_is_read_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret");
        std::fs::write(&path, "first\n").expect("write");
        let secret = ClientSecret::new(&SecretSource::File(path.clone()));
        assert_eq!(secret.current().expect("read").expose(), "first");
        std::fs::write(&path, "second-and-longer").expect("write");
        assert_eq!(
            secret.current().expect("read").expose(),
            "second-and-longer"
        );
    }

    #[test]
    fn reload_reads_the_file_even_when_it_looks_unchanged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret");
        std::fs::write(&path, "aaaa").expect("write");
        let secret = ClientSecret::new(&SecretSource::File(path.clone()));
        assert_eq!(secret.current().expect("read").expose(), "aaaa");
        let modified = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .expect("mtime");
        std::fs::write(&path, "bbbb").expect("write");
        // Same size and, forced back, the same modification time: only SIGHUP tells.
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(modified))
            .expect("set mtime");
        assert_eq!(secret.current().expect("read").expose(), "aaaa");
        secret.reload();
        assert_eq!(secret.current().expect("read").expose(), "bbbb");
    }

    #[test]
    fn an_empty_or_missing_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("missing");
        let secret = ClientSecret::new(&SecretSource::File(path));
        assert!(format!("{:#}", secret.current().expect_err("missing")).contains("missing"));
    }
}
