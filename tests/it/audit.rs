//! Stories of the audit trail's tamper evidence: the chain covers every entry soon after it is
//! written, and `hangar audit verify` names the first entry edited, deleted, inserted or
//! reordered directly in the database.

#![allow(clippy::disallowed_methods)] // one story runs the `hangar` binary itself

use crate::support::{GitRepo, TestApp};
use hangar::audit::verify::{Finding, verify};
use hangar::auth::keys::SecretBox;
use hangar::store::Store;
use std::time::Duration;

/// A stopped server whose trail holds a build's worth of entries, all chained.
async fn chained_trail() -> (TestApp, Store, SecretBox) {
    let mut app = TestApp::spawn().await;
    let git = GitRepo::with_pipeline(
        "kind: pipeline\ntype: exec\nclone: {disable: true}\nsteps:\n- name: ok\n  commands: [true]\n",
    );
    app.activate("acme/api", &git).await;
    app.start_build("acme/api", "main").await;
    app.wait_for_build("acme/api", 1).await;
    let url = app.database.url(app.data.path());
    chained(&url).await;
    let store = Store::connect(&url).await.expect("store");
    app.stop().await;
    let keys = SecretBox::load(&app.data.path().join("secret.key")).expect("key");
    (app, store, keys)
}

async fn exec(store_url: &str, sql: &str) {
    let pool = sqlx::SqlitePool::connect(store_url).await.expect("pool");
    sqlx::query(sql).execute(&pool).await.expect("tamper");
    pool.close().await;
}

#[tokio::test]
async fn an_untouched_trail_verifies() {
    let (_app, store, keys) = chained_trail().await;
    let report = verify(&store, &keys).await.expect("verify");
    assert_eq!(report.finding, None);
    assert!(report.verified > 5 && report.checkpoints >= 1, "{report:?}");
}

#[tokio::test]
async fn an_edited_entry_is_found() {
    let (app, store, keys) = chained_trail().await;
    exec(
        &app.database.url(app.data.path()),
        "UPDATE audit_events SET actor_name = 'someone-else' WHERE id = 3",
    )
    .await;
    let report = verify(&store, &keys).await.expect("verify");
    assert!(
        matches!(report.finding, Some(Finding::Altered { audit_id: 3, .. })),
        "{report:?}"
    );
    assert_eq!(report.verified, 2);
}

#[tokio::test]
async fn a_deleted_entry_is_found() {
    let (app, store, keys) = chained_trail().await;
    exec(
        &app.database.url(app.data.path()),
        "DELETE FROM audit_events WHERE id = 4",
    )
    .await;
    let report = verify(&store, &keys).await.expect("verify");
    assert!(
        matches!(report.finding, Some(Finding::Deleted { audit_id: 4, .. })),
        "{report:?}"
    );
}

#[tokio::test]
async fn reordered_entries_are_found() {
    let (app, store, keys) = chained_trail().await;
    let url = app.database.url(app.data.path());
    // Swap the contents of entries 2 and 3 (ids stay): the order of events changes.
    exec(&url, "UPDATE audit_events SET id = -2 WHERE id = 2").await;
    exec(&url, "UPDATE audit_events SET id = 2 WHERE id = 3").await;
    exec(&url, "UPDATE audit_events SET id = 3 WHERE id = -2").await;
    let report = verify(&store, &keys).await.expect("verify");
    assert!(
        matches!(report.finding, Some(Finding::Altered { audit_id: 2, .. })),
        "{report:?}"
    );
}

#[tokio::test]
async fn an_inserted_entry_is_found_and_the_command_exits_non_zero() {
    let (app, _store, _keys) = chained_trail().await;
    let url = app.database.url(app.data.path());
    exec(&url, "DELETE FROM audit_events WHERE id = 5").await;
    exec(&url, "INSERT INTO audit_events (id, time, actor_kind, actor_name, action, target, outcome) VALUES (5, 0, 'user', 'mallory', 'repo.updated', 'repo:acme/api', 'success')").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hangar"))
        .args(["audit", "verify"])
        .env("HANGAR_DATA_DIR", app.data.path())
        .env("HANGAR_DATABASE_URL", &url)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("entry 5"), "{err}");
}

/// Waits until the chainer has linked every entry written so far.
pub async fn chained(url: &str) {
    let store = Store::connect(url).await.expect("store");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let newest = store
            .list_audit(0, 100_000)
            .await
            .expect("audit")
            .last()
            .map(|e| e.id);
        let tail = store.chain_tail().await.expect("tail").map(|t| t.audit_id);
        if newest.is_some() && newest == tail {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the chain never caught up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    store.close().await;
}
