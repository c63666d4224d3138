//! The only place that starts processes: step scripts (each in its own process group, stdout
//! and stderr merged into one pipe) and `git`. Also the signals that stop them.
//!
//! Children get a clean environment: only what the caller passes plus `PATH`, so nothing of the
//! server's own environment (its tokens, its database URL) reaches a step.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};
use std::time::Duration;
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};

/// What to start for a step.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    pub program: &'a str,
    pub args: &'a [String],
    pub cwd: &'a Path,
    pub env: &'a [(String, String)],
    /// What `program` is: the step itself, or the sandbox around it.
    pub leader: Leader,
}

/// What leads a step's process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leader {
    /// The step's own shell.
    Step,
    /// `bwrap`, which dies at SIGTERM and takes the whole sandbox with it (`--die-with-parent`):
    /// so SIGTERM goes to the step's processes without it, and they keep their grace.
    Sandbox,
}

/// A running step: the child (leader of its own process group) and the read end of its output.
pub struct StepProcess {
    pub child: Child,
    pub pid: i32,
    pub leader: Leader,
    pub output: pipe::Receiver,
}

fn base_path() -> String {
    std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into())
}

/// Starts a step's process in a new process group, its stdout and stderr on one pipe.
#[allow(clippy::disallowed_methods)] // this module is where processes are spawned
pub fn spawn_step(spec: &Spec<'_>) -> io::Result<StepProcess> {
    let (reader, writer) = io::pipe()?;
    let writer_err = writer.try_clone()?;
    let mut cmd = Command::new(spec.program);
    cmd.args(spec.args)
        .current_dir(spec.cwd)
        .env_clear()
        .env("PATH", base_path())
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(writer_err))
        .process_group(0)
        .kill_on_drop(false);
    let child = cmd.spawn()?;
    // The parent's copies of the write end live in `cmd`; drop them so the pipe ends when the
    // step's processes end.
    drop(cmd);
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .ok_or_else(|| io::Error::other("the step exited before its pid was known"))?;
    let output = pipe::Receiver::from_owned_fd(OwnedFd::from(reader))?;
    Ok(StepProcess {
        child,
        pid,
        leader: spec.leader,
        output,
    })
}

/// Runs a helper program (`gpg`) with `args`, the extra environment `env` and `input` on its
/// standard input; collects its output.
#[allow(clippy::disallowed_methods)] // this module is where processes are spawned
pub async fn tool(
    program: &str,
    args: &[&str],
    env: &[(String, String)],
    input: Option<&[u8]>,
) -> io::Result<Output> {
    let mut child = Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", base_path())
        .env("LC_ALL", "C")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        use tokio::io::AsyncWriteExt;
        stdin.write_all(input).await?;
    }
    child.wait_with_output().await
}

/// Runs a program to see whether it works here (`bwrap` at start); its output is collected.
#[allow(clippy::disallowed_methods)] // this module is where processes are spawned
pub async fn probe(program: &Path, args: &[&str]) -> io::Result<Output> {
    Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", base_path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await
}

/// Sends `signal` to every process of the group led by `pgid`. A group that is gone is fine.
pub fn signal_group(pgid: i32, signal: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), signal);
}

/// Sends `signal` to every process of the group led by `pgid` but the leader itself.
fn signal_members(pgid: i32, signal: nix::sys::signal::Signal) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if pid != pgid && process_group(pid) == Some(pgid) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
        }
    }
}

/// The process group of `pid` (field 5 of `/proc/PID/stat`).
fn process_group(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// Stops a step: SIGTERM to its group (a sandbox's leader excepted), up to `grace` for the
/// leader to exit, then SIGKILL to whatever is left of the group. Returns the leader's exit
/// status.
pub async fn terminate(
    child: &mut Child,
    pgid: i32,
    leader: Leader,
    grace: Duration,
) -> io::Result<ExitStatus> {
    match leader {
        Leader::Step => signal_group(pgid, nix::sys::signal::Signal::SIGTERM),
        Leader::Sandbox => signal_members(pgid, nix::sys::signal::Signal::SIGTERM),
    }
    let status = match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status?,
        Err(_) => {
            signal_group(pgid, nix::sys::signal::Signal::SIGKILL);
            child.wait().await?
        }
    };
    signal_group(pgid, nix::sys::signal::Signal::SIGKILL);
    Ok(status)
}

/// When a process started, in clock ticks since boot (field 22 of `/proc/PID/stat`): with the
/// pid it names one process for good, so a pid reused after a crash is never signalled.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses; fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Runs `git` with `args` (in `dir` if given) and collects its output. Never prompts.
pub async fn git(dir: Option<&Path>, args: &[&str]) -> io::Result<Output> {
    git_with_input(dir, args, None).await
}

/// Runs `git` with `args` and the extra environment `env` (credentials for a credential helper:
/// the environment, unlike the command line, is not readable by other users).
pub async fn git_with_env(
    dir: Option<&Path>,
    args: &[&str],
    env: &[(String, String)],
) -> io::Result<Output> {
    let mut cmd = git_command(dir, args);
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn()?.wait_with_output().await
}

/// Runs `git`, writing `input` to its standard input.
pub async fn git_with_input(
    dir: Option<&Path>,
    args: &[&str],
    input: Option<&[u8]>,
) -> io::Result<Output> {
    let mut cmd = git_command(dir, args);
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        use tokio::io::AsyncWriteExt;
        stdin.write_all(input).await?;
    }
    child.wait_with_output().await
}

/// Starts `git` with piped standard input and output, for a conversation (`cat-file --batch`).
/// The child is killed if dropped.
pub fn git_spawn(dir: Option<&Path>, args: &[&str]) -> io::Result<Child> {
    let mut cmd = git_command(dir, args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    cmd.spawn()
}

#[allow(clippy::disallowed_methods)] // this module is where processes are spawned
fn git_command(dir: Option<&Path>, args: &[&str]) -> Command {
    let mut cmd = Command::new("git");
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    cmd.args(args)
        .env_clear()
        .env("PATH", base_path())
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", std::env::var("HOME").unwrap_or_else(|_| "/".into()))
        .env("LC_ALL", "C")
        .kill_on_drop(true);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_step_writes_stdout_and_stderr_into_one_pipe_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let args = vec![
            "-c".to_string(),
            "echo one; echo two >&2; echo three".to_string(),
        ];
        let mut p = spawn_step(&Spec {
            program: "sh",
            args: &args,
            cwd: dir.path(),
            env: &[],
            leader: Leader::Step,
        })
        .expect("spawns");
        let mut out = String::new();
        p.output.read_to_string(&mut out).await.expect("reads");
        assert_eq!(out, "one\ntwo\nthree\n");
        assert!(p.child.wait().await.expect("waits").success());
    }

    #[tokio::test]
    async fn a_step_sees_only_the_environment_it_is_given() {
        let dir = tempfile::tempdir().expect("tempdir");
        let args = vec![
            "-c".to_string(),
            "echo \"$GIVEN:${HOME:-none}\"".to_string(),
        ];
        let env = vec![("GIVEN".to_string(), "yes".to_string())];
        let mut p = spawn_step(&Spec {
            program: "sh",
            args: &args,
            cwd: dir.path(),
            env: &env,
            leader: Leader::Step,
        })
        .expect("spawns");
        let mut out = String::new();
        p.output.read_to_string(&mut out).await.expect("reads");
        assert_eq!(out, "yes:none\n");
    }

    #[tokio::test]
    async fn terminating_a_step_stops_its_whole_process_group() {
        let dir = tempfile::tempdir().expect("tempdir");
        let args = vec!["-c".to_string(), "sleep 30 & sleep 30; wait".to_string()];
        let mut p = spawn_step(&Spec {
            program: "sh",
            args: &args,
            cwd: dir.path(),
            env: &[],
            leader: Leader::Step,
        })
        .expect("spawns");
        let status = terminate(&mut p.child, p.pid, p.leader, Duration::from_millis(200))
            .await
            .expect("terminates");
        assert!(!status.success());
        // Every holder of the pipe is gone, so reading reaches the end at once.
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), p.output.read_to_end(&mut out))
            .await
            .expect("the group is gone")
            .expect("reads");
    }

    #[test]
    fn the_start_time_of_this_process_is_known() {
        let pid = i32::try_from(std::process::id()).expect("pid");
        assert!(start_time(pid).is_some());
    }
}
