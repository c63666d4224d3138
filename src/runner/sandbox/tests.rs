use super::*;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// The sandbox, when `bwrap` works here. Without it the test is skipped with a message, except
/// in CI (`CI` set), which installs it: there a missing `bwrap` fails.
async fn sandbox(hidden: Vec<PathBuf>) -> Option<Sandbox> {
    match Sandbox::detect(SandboxMode::On, hidden).await {
        Ok(sandbox) => sandbox,
        Err(why) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: no working bwrap here ({why}); apt-get install bubblewrap");
            None
        }
        Err(why) => panic!("CI needs a working bwrap: {why}"),
    }
}

/// A folder outside `/tmp` (which a sandbox replaces), so what a step sees of it is real.
fn host_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("hangar-sandbox-test")
        .tempdir_in("/var/tmp")
        .expect("a folder in /var/tmp")
}

/// Starts `sh -c script` in the sandbox in workspace `ws`.
fn start(sandbox: &Sandbox, ws: &Workspace, script: &str) -> process::StepProcess {
    let (program, args, leader) = command(
        Some(sandbox),
        "sh".into(),
        vec!["-c".into(), script.into()],
        ws,
        "",
    );
    process::spawn_step(&process::Spec {
        program: &program,
        args: &args,
        cwd: &ws.src,
        env: &[],
        leader,
    })
    .expect("spawns")
}

/// Runs `script` with `sh -e` in the sandbox in a fresh workspace under `work`; returns its
/// output and whether it succeeded.
async fn run(sandbox: &Sandbox, work: &Path, script: &str) -> (String, bool) {
    let ws = Workspace::create(work, 1, "").await.expect("workspace");
    let mut p = start(sandbox, &ws, &format!("set -e; {script}"));
    let mut out = String::new();
    p.output.read_to_string(&mut out).await.expect("reads");
    let ok = p.child.wait().await.expect("waits").success();
    (out, ok)
}

#[tokio::test]
async fn a_sandboxed_step_writes_its_workspace_and_nothing_else() {
    let host = host_dir();
    let Some(sandbox) = sandbox(vec![]).await else {
        return;
    };
    let outside = host.path().join("outside");
    let script = format!(
        "echo kept > file && cat file; if touch {0}; then echo wrote outside; fi; if touch /etc/hangar-test; then echo wrote etc; fi",
        outside.display()
    );
    let (out, ok) = run(&sandbox, &host.path().join("work"), &script).await;
    assert!(ok, "{out}");
    assert!(out.starts_with("kept\n"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(!out.contains("wrote"), "{out}");
    assert!(!outside.exists());
}

#[tokio::test]
async fn a_sandboxed_step_sees_nothing_of_the_data_folder_or_the_key_file() {
    let data = host_dir();
    let keys = host_dir();
    let key_file = keys.path().join("secret.key");
    std::fs::write(data.path().join("hangar.db"), "DATABASE BYTES").expect("db");
    std::fs::write(&key_file, "KEY BYTES").expect("key");
    let Some(sandbox) = sandbox(vec![data.path().to_path_buf(), key_file.clone()]).await else {
        return;
    };
    // The workspace lives inside the data folder, as a server's does.
    let script = format!(
        "ls -A {data}; cat {data}/hangar.db || true; cat {key} || true; echo end; touch here",
        data = data.path().display(),
        key = key_file.display()
    );
    let (out, ok) = run(&sandbox, &data.path().join("work"), &script).await;
    assert!(ok, "{out}");
    assert!(!out.contains("BYTES"), "{out}");
    assert!(
        !out.contains("hangar.db\n"),
        "the data folder shows only the workspace: {out}"
    );
    assert!(out.ends_with("end\n"), "{out}");
}

#[tokio::test]
async fn a_sandboxed_step_has_its_own_tmp_and_proc() {
    let host = host_dir();
    let Some(sandbox) = sandbox(vec![]).await else {
        return;
    };
    let shared = tempfile::NamedTempFile::new().expect("a file in /tmp");
    let script = format!(
        "test ! -e {shared} && echo tmp private; echo mine > /tmp/step-file; test ! -e /proc/{server} && echo pid private",
        shared = shared.path().display(),
        server = std::process::id()
    );
    let (out, ok) = run(&sandbox, &host.path().join("work"), &script).await;
    assert!(ok, "{out}");
    assert_eq!(out, "tmp private\npid private\n");
    assert!(!Path::new("/tmp/step-file").exists());
}

#[tokio::test]
async fn cancelling_a_sandboxed_step_gives_it_its_grace_then_kills_it() {
    let host = host_dir();
    let Some(sandbox) = sandbox(vec![]).await else {
        return;
    };
    let ws = Workspace::create(&host.path().join("work"), 1, "")
        .await
        .expect("workspace");
    // The first step cleans up when asked; the second ignores SIGTERM.
    for (script, cleans_up) in [
        (
            "trap 'echo cleaned > done; exit 3' TERM; echo ready; sleep 30 & wait",
            true,
        ),
        ("trap '' TERM; echo ready; sleep 30; sleep 30", false),
    ] {
        let mut p = start(&sandbox, &ws, script);
        let mut ready = [0u8; 6];
        p.output
            .read_exact(&mut ready)
            .await
            .expect("the step starts");
        let started = std::time::Instant::now();
        let status = process::terminate(&mut p.child, p.pid, p.leader, Duration::from_secs(1))
            .await
            .expect("terminates");
        assert!(!status.success());
        if cleans_up {
            assert_eq!(status.code(), Some(3), "the step's own exit code");
            let done = std::fs::read_to_string(ws.src.join("done")).expect("it cleaned up");
            assert_eq!(done, "cleaned\n");
        } else {
            assert!(started.elapsed() >= Duration::from_millis(900));
        }
        // Every process of the sandbox is gone: the pipe reaches its end.
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), p.output.read_to_end(&mut rest))
            .await
            .expect("the sandbox is gone")
            .expect("reads");
    }
}

#[tokio::test]
async fn sandbox_on_without_bwrap_refuses_to_start_and_auto_runs_without() {
    let empty = Some(std::ffi::OsString::from("/nonexistent"));
    let err = Sandbox::detect_in(SandboxMode::On, vec![], empty.clone())
        .await
        .expect_err("refused");
    assert!(err.contains("bwrap was not found"), "{err}");
    assert!(err.contains("apt-get install bubblewrap"), "{err}");
    let auto = Sandbox::detect_in(SandboxMode::Auto, vec![], empty).await;
    assert!(matches!(auto, Ok(None)));
}

#[test]
fn the_sqlite_database_and_its_journals_are_hidden() {
    let data = host_dir();
    let mut config = crate::config::Config::load(None, &Default::default())
        .expect("defaults")
        .config;
    config.data_dir = data.path().join("data");
    config.database_url = "sqlite:///var/lib/elsewhere/ci.db?mode=rwc".into();
    let hidden = hidden_paths(&config);
    assert!(hidden.contains(&data.path().join("data")));
    assert!(hidden.contains(&PathBuf::from("/var/lib/elsewhere/ci.db")));
    assert!(hidden.contains(&PathBuf::from("/var/lib/elsewhere/ci.db-wal")));
    let key = std::path::absolute(&config.identity.secret_key_file).expect("absolute");
    assert!(hidden.contains(&key));
}
