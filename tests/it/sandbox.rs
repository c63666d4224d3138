//! Stories of step isolation: with `sandbox = on`, a build clones a repository on this machine
//! and runs, while its steps see nothing of the server's data folder or key, and cannot write
//! outside their workspace.

use crate::support::database::TestDatabase;
use crate::support::{GitRepo, TestApp, step};
use hangar::config::SandboxMode;

fn bwrap_works() -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("bwrap").is_file()));
    if !found && std::env::var_os("CI").is_some() {
        panic!("CI needs bwrap (apt-get install bubblewrap)");
    }
    if !found {
        eprintln!("skipped: bwrap is not installed here (apt-get install bubblewrap)");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandboxed_build_clones_and_runs_but_cannot_see_the_servers_files() {
    if !bwrap_works() {
        return;
    }
    let app = TestApp::spawn_with(TestDatabase::sqlite(), |c| c.sandbox = SandboxMode::On).await;
    let data = app.data.path().display().to_string();
    let git = GitRepo::with_pipeline(&format!(
        "kind: pipeline\ntype: exec\nsteps:\n- name: look\n  commands:\n  - test -f .drone.yml\n  - ls -A {data}\n  - cat {data}/secret.key || true\n  - cat {data}/hangar.db || true\n  - touch /usr/hangar-was-here || true\n  - echo done\n"
    ));
    app.activate("acme/api", &git).await;
    let build = app.start_build("acme/api", "main").await;
    let number = build["number"].as_i64().expect("number");
    let build = app.wait_for_build("acme/api", number).await;
    assert_eq!(build["status"], "success", "{build}");
    assert_eq!(step(&build, 1, "clone")["status"], "success");
    let log = app.log_text("acme/api", number, 1, 2).await;
    let key = std::fs::read_to_string(app.data.path().join("secret.key")).expect("the key file");
    assert!(!log.contains(key.trim()), "the key showed: {log}");
    assert!(!log.contains("SQLite format"), "the database showed: {log}");
    assert!(
        !log.lines().any(|l| l == "hangar.db" || l == "secret.key"),
        "the data folder showed: {log}"
    );
    assert!(log.contains("secret.key: No such file"), "{log}");
    assert!(log.contains("Read-only file system"), "{log}");
    assert!(log.ends_with("done\n"), "{log}");
    assert!(!std::path::Path::new("/usr/hangar-was-here").exists());
}
