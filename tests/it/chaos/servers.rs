//! The two servers of the chaos story: A runs in the test's process (a `TestApp`); B is a
//! `hangar server` process on the same database and key, so that it can be killed and started
//! again on the same port, where its runner finds it by itself.

#![allow(clippy::disallowed_methods)] // B is a process the story kills and starts again

use crate::support::database::TestDatabase;
use crate::support::{ADMIN_TOKEN, TestApp};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A silent runner's leases end after this long: short, so a killed runner is noticed quickly,
/// but well above a heartbeat's delay on a loaded machine.
pub const RUNNER_TIMEOUT: Duration = Duration::from_secs(3);

/// Server A: no in-process runner, remote runners lost after [`RUNNER_TIMEOUT`].
pub async fn server_a(database: TestDatabase) -> TestApp {
    TestApp::spawn_with(database, |c| {
        c.runner_capacity = 0;
        c.runner_timeout = RUNNER_TIMEOUT;
    })
    .await
}

/// Server B: a `hangar server` process on A's database and secret key.
pub struct ServerProcess {
    child: Option<Child>,
    pub url: String,
    port: u16,
    database_url: String,
    secret_key_file: PathBuf,
    data: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts B beside `a` (same database, same key for secrets) on a free port.
    pub async fn beside(a: &TestApp) -> ServerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut b = ServerProcess {
            child: None,
            url: format!("http://127.0.0.1:{port}"),
            port,
            database_url: a.database.url(a.data.path()),
            secret_key_file: hangar::config::IdentityConfig::defaults(a.data.path())
                .secret_key_file,
            data: tempfile::tempdir().expect("a data folder"),
        };
        b.start().await;
        b
    }

    async fn start(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_hangar"))
            .arg("server")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HANGAR_ADDR", format!("127.0.0.1:{}", self.port))
            .env("HANGAR_SERVER_URL", "http://127.0.0.1:8080")
            .env("HANGAR_DATA_DIR", self.data.path())
            .env("HANGAR_DATABASE_URL", &self.database_url)
            .env("HANGAR_SECRET_KEY_FILE", &self.secret_key_file)
            .env("HANGAR_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("HANGAR_RUNNER_CAPACITY", "0")
            .env(
                "HANGAR_RUNNER_TIMEOUT",
                format!("{}s", RUNNER_TIMEOUT.as_secs()),
            )
            .env("HANGAR_SANDBOX", "off")
            .env("HANGAR_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("server B starts");
        self.child = Some(child);
        wait_until_it_answers(&self.url).await;
    }

    /// Kills B with SIGKILL, leaves its runner without a server for `offline`, and starts it
    /// again on the same port and database.
    pub async fn restart_after(&mut self, offline: Duration) {
        self.kill();
        tokio::time::sleep(offline).await;
        self.start().await;
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn wait_until_it_answers(url: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while reqwest::get(format!("{url}/healthz")).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "server B never answered at {url}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
