//! Real git repositories for tests: a bare repository (what Hangar clones) and a working copy
//! to commit and push from.

#![allow(clippy::disallowed_methods)] // tests drive git themselves

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct GitRepo {
    _dir: tempfile::TempDir,
    pub bare: PathBuf,
    pub work: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Ada Lovelace")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada Lovelace")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl GitRepo {
    /// A new repository whose `main` holds `.drone.yml` = `pipeline`.
    pub fn with_pipeline(pipeline: &str) -> GitRepo {
        let dir = tempfile::tempdir().expect("temporary folder");
        let bare = dir.path().join("origin.git");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&bare).expect("mkdir");
        git(
            &bare,
            &["init", "--quiet", "--bare", "--initial-branch=main"],
        );
        git(
            dir.path(),
            &["clone", "--quiet", bare.to_str().expect("path"), "work"],
        );
        git(&work, &["checkout", "--quiet", "-B", "main"]);
        let repo = GitRepo {
            _dir: dir,
            bare,
            work,
        };
        repo.commit(".drone.yml", pipeline, "first pipeline");
        repo.push("main");
        repo
    }

    /// The URL Hangar clones from.
    pub fn url(&self) -> String {
        self.bare.to_string_lossy().to_string()
    }

    /// Writes `file` and commits it; returns the commit's sha.
    pub fn commit(&self, file: &str, text: &str, message: &str) -> String {
        let path = self.work.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write");
        git(&self.work, &["add", file]);
        git(&self.work, &["commit", "--quiet", "-m", message]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// Switches the working copy to a new branch from the current commit.
    pub fn branch(&self, name: &str) {
        git(&self.work, &["checkout", "--quiet", "-B", name]);
    }

    /// Pushes the current commit to `branch` of the bare repository.
    pub fn push(&self, branch: &str) {
        git(
            &self.work,
            &[
                "push",
                "--quiet",
                "--force",
                "origin",
                &format!("HEAD:refs/heads/{branch}"),
            ],
        );
    }

    pub fn head(&self) -> String {
        git(&self.work, &["rev-parse", "HEAD"])
    }
}
