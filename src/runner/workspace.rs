//! A stage's folder under the runner's work directory: the checkout, a private home, the step
//! scripts, and a pid file per running step. Removed when the stage ends; at start, folders left
//! by a runner that died are swept, and the processes their pid files name are killed.

use super::process;
use std::path::{Path, PathBuf};

/// The folders of one running stage.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    /// Where the repository is checked out and steps run (`DRONE_WORKSPACE`).
    pub src: PathBuf,
    /// The steps' `HOME`.
    pub home: PathBuf,
    pub(super) scripts: PathBuf,
    pub(super) pids: PathBuf,
}

impl Workspace {
    /// Makes a fresh workspace for `stage` under `work_dir`; `path` is the pipeline's
    /// `workspace.path` (relative; empty for the default).
    pub async fn create(work_dir: &Path, stage: i64, path: &str) -> std::io::Result<Workspace> {
        let root = work_dir.join(format!("stage-{stage}-{:08x}", rand::random::<u32>()));
        let relative = sanitize(path);
        let ws = Workspace {
            src: root.join("drone").join(relative),
            home: root.join("home"),
            scripts: root.join("scripts"),
            pids: root.join("pids"),
            root,
        };
        for dir in [&ws.src, &ws.home, &ws.scripts, &ws.pids] {
            tokio::fs::create_dir_all(dir).await?;
        }
        Ok(ws)
    }

    /// Writes a step's script and returns its path.
    pub async fn write_script(&self, number: i64, text: &str) -> std::io::Result<PathBuf> {
        let path = self.scripts.join(format!("step-{number}.sh"));
        tokio::fs::write(&path, text).await?;
        Ok(path)
    }

    /// Records a running step's process group, so a later start can kill it if this runner dies.
    pub async fn record_pid(&self, number: i64, pid: i32) {
        if let Some(start) = process::start_time(pid) {
            let _ = tokio::fs::write(
                self.pids.join(format!("{number}.pid")),
                format!("{pid} {start}"),
            )
            .await;
        }
    }

    pub async fn forget_pid(&self, number: i64) {
        let _ = tokio::fs::remove_file(self.pids.join(format!("{number}.pid"))).await;
    }

    /// Removes the whole workspace.
    pub async fn remove(self) {
        let root = self.root;
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(root)).await;
    }
}

/// `workspace.path` made safe: relative, without `..`; `src` when empty.
fn sanitize(path: &str) -> PathBuf {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != "." && *p != "..")
        .collect();
    if parts.is_empty() {
        PathBuf::from("src")
    } else {
        parts.iter().collect()
    }
}

/// Kills the processes recorded by stages of a runner that died, and removes their folders.
pub async fn sweep(work_dir: &Path) {
    let Ok(mut entries) = tokio::fs::read_dir(work_dir).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let root = entry.path();
        if let Ok(mut pids) = tokio::fs::read_dir(root.join("pids")).await {
            while let Ok(Some(pidfile)) = pids.next_entry().await {
                let Ok(text) = tokio::fs::read_to_string(pidfile.path()).await else {
                    continue;
                };
                let mut fields = text.split_whitespace();
                let pid = fields.next().and_then(|p| p.parse::<i32>().ok());
                let start = fields.next().and_then(|s| s.parse::<u64>().ok());
                if let (Some(pid), Some(start)) = (pid, start)
                    && process::start_time(pid) == Some(start)
                {
                    tracing::warn!(pid, "killing a step process left by a previous run");
                    process::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
                }
            }
        }
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(root)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workspace_path_cannot_climb_out_of_its_stage() {
        assert_eq!(sanitize("../../etc"), PathBuf::from("etc"));
        assert_eq!(sanitize("/abs/path"), PathBuf::from("abs/path"));
        assert_eq!(sanitize(""), PathBuf::from("src"));
    }

    #[tokio::test]
    async fn sweeping_kills_recorded_processes_and_removes_their_folders() {
        let work = tempfile::tempdir().expect("tempdir");
        let ws = Workspace::create(work.path(), 7, "")
            .await
            .expect("workspace");
        let args = vec!["-c".to_string(), "sleep 30".to_string()];
        let mut p = process::spawn_step(&process::Spec {
            program: "sh",
            args: &args,
            cwd: &ws.src,
            env: &[],
            leader: process::Leader::Step,
        })
        .expect("spawns");
        ws.record_pid(1, p.pid).await;
        sweep(work.path()).await;
        let status = tokio::time::timeout(std::time::Duration::from_secs(5), p.child.wait())
            .await
            .expect("killed")
            .expect("waits");
        assert!(!status.success());
        assert!(!ws.root.exists());
    }
}
