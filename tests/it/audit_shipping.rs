//! Stories of the audit trail leaving the database: retention prunes old entries up to a signed
//! checkpoint and verification goes on from it; sinks deliver every entry in order, once, and
//! pick up where they stopped.

use hangar::audit::sinks::{Destination, ship_once};
use hangar::audit::verify::{Finding, verify};
use hangar::audit::{chainer, retention};
use hangar::auth::keys::SecretBox;
use hangar::domain::{Actor, AuditAction, AuditEvent};
use hangar::store::Store;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const MINUTE: i64 = 60_000;
const START: i64 = 1_800_000_000_000;

struct Trail {
    store: Store,
    keys: SecretBox,
    dir: tempfile::TempDir,
}

/// A trail of three rounds of five entries, a minute apart, each chained with a checkpoint.
async fn trail() -> Trail {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("hangar.db").display());
    let store = Store::open(&url).await.expect("store");
    let keys = SecretBox::load_or_create(&dir.path().join("secret.key")).expect("key");
    for round in 0..3 {
        let now = START + round * (MINUTE + 1_000);
        let events: Vec<AuditEvent> = (0..5)
            .map(|i| {
                AuditEvent::new(
                    &Actor::system(),
                    AuditAction::RepoUpdated,
                    format!("repo:acme/r{round}-{i}"),
                )
            })
            .collect();
        store.append_audit(&events, now).await.expect("append");
        chainer::chain_once(&store, &keys, now)
            .await
            .expect("chain");
    }
    Trail { store, keys, dir }
}

#[tokio::test]
async fn retention_prunes_up_to_a_signed_checkpoint_and_verification_goes_on_from_it() {
    let t = trail().await;
    assert_eq!(t.store.list_checkpoints().await.expect("cps").len(), 3);
    // A minute after the last round, with 150 s retention: only the first round is old
    // enough to sit below a checkpoint older than the cut-off.
    let now = START + 3 * MINUTE;
    let deleted = retention::prune_once(&t.store, Duration::from_secs(150), now)
        .await
        .expect("prune");
    assert_eq!(deleted, 5);
    chainer::chain_once(&t.store, &t.keys, now)
        .await
        .expect("chain");
    let report = verify(&t.store, &t.keys).await.expect("verify");
    assert_eq!(report.finding, None, "{report:?}");
    assert_eq!(
        report.verified, 11,
        "ten older entries and the pruning itself"
    );
    let left = t.store.list_audit(0, 100).await.expect("audit");
    assert_eq!(left.last().map(|e| e.action.as_str()), Some("audit.pruned"));
    assert!(left.iter().all(|e| !e.target.starts_with("repo:acme/r0-")));

    let again = retention::prune_once(&t.store, Duration::from_secs(150), now)
        .await
        .expect("prune");
    assert_eq!(
        again, 0,
        "nothing more is old enough, and nothing is recorded"
    );
    assert_eq!(
        t.store.list_audit(0, 100).await.expect("audit").len(),
        left.len()
    );
}

#[tokio::test]
async fn entries_removed_from_the_start_without_a_checkpoint_are_found() {
    let t = trail().await;
    let url = format!("sqlite://{}", t.dir.path().join("hangar.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("pool");
    for sql in [
        "DELETE FROM audit_events WHERE id IN (SELECT audit_id FROM audit_chain WHERE seq <= 3)",
        "DELETE FROM audit_chain WHERE seq <= 3",
    ] {
        sqlx::query(sql).execute(&pool).await.expect("tamper");
    }
    pool.close().await;
    let report = verify(&t.store, &t.keys).await.expect("verify");
    assert_eq!(report.finding, Some(Finding::Truncated { first: 4 }));
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[tokio::test]
async fn the_file_sink_appends_each_entry_once_in_chain_order_and_resumes_where_it_stopped() {
    let t = trail().await;
    let path = t.dir.path().join("audit.jsonl");
    let file = Destination::File(path.clone());
    while ship_once(&t.store, &file).await.expect("ship") > 0 {}
    let shipped = lines(&std::fs::read_to_string(&path).expect("file"));
    assert_eq!(shipped.len(), 15);
    assert_eq!(shipped[0]["target"], "repo:acme/r0-0");
    assert_eq!(shipped[14]["target"], "repo:acme/r2-4");
    assert!(
        shipped
            .windows(2)
            .all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64())
    );

    // A restart: a new sink value, the same saved position; only what is new is written.
    let event = AuditEvent::new(
        &Actor::system(),
        AuditAction::RepoDeleted,
        "repo:acme/late".to_string(),
    );
    t.store
        .append_audit(&[event], START + 10 * MINUTE)
        .await
        .expect("append");
    chainer::chain_once(&t.store, &t.keys, START + 10 * MINUTE)
        .await
        .expect("chain");
    let restarted = Destination::File(path.clone());
    assert_eq!(ship_once(&t.store, &restarted).await.expect("ship"), 1);
    assert_eq!(ship_once(&t.store, &restarted).await.expect("ship"), 0);
    let shipped = lines(&std::fs::read_to_string(&path).expect("file"));
    assert_eq!(shipped.len(), 16);
    assert_eq!(shipped[15]["action"], "repo.deleted");
}

#[tokio::test]
async fn the_http_sink_retries_a_failing_endpoint_and_loses_nothing() {
    let t = trail().await;
    let received = Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let attempts = Arc::new(AtomicUsize::new(0));
    let app = {
        let (received, attempts) = (received.clone(), attempts.clone());
        axum::Router::new().route(
            "/ingest",
            axum::routing::post(move |body: String| {
                let (received, attempts) = (received.clone(), attempts.clone());
                async move {
                    // The collector is down for the first two deliveries.
                    if attempts.fetch_add(1, Ordering::SeqCst) < 2 {
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    received.lock().expect("lock").extend(lines(&body));
                    axum::http::StatusCode::OK
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/ingest", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let shutdown = tokio_util::sync::CancellationToken::new();
    let to = Destination::Http {
        client: reqwest::Client::new(),
        url,
    };
    let sink = tokio::spawn(hangar::audit::sinks::run(
        t.store.clone(),
        to,
        shutdown.clone(),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while received.lock().expect("lock").len() < 15 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sink never delivered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    sink.await.expect("the sink stops");
    let got = received.lock().expect("lock").clone();
    assert_eq!(got.len(), 15, "each entry once");
    assert!(attempts.load(Ordering::SeqCst) >= 3);
    assert_eq!(got[0]["target"], "repo:acme/r0-0");
}

#[tokio::test]
async fn the_syslog_sink_sends_rfc_5424_messages() {
    let t = trail().await;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let to = Destination::Syslog {
        address: socket.local_addr().expect("addr").to_string(),
        host: "ci1".into(),
    };
    assert_eq!(ship_once(&t.store, &to).await.expect("ship"), 15);
    let mut buf = vec![0u8; 8192];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf))
        .await
        .expect("a datagram")
        .expect("recv");
    let message = String::from_utf8_lossy(&buf[..n]);
    assert!(message.starts_with("<110>1 20"), "{message}");
    assert!(message.contains(" ci1 hangar - audit1 - {"), "{message}");
    assert!(
        message.contains("\"target\":\"repo:acme/r0-0\""),
        "{message}"
    );
}

#[tokio::test]
async fn shipped_lines_carry_the_actors_identity_at_their_provider() {
    let t = trail().await;
    let user = t
        .store
        .create_machine_user("ada", &[], &Actor::system(), START)
        .await
        .expect("user");
    let url = format!("sqlite://{}", t.dir.path().join("hangar.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("pool");
    sqlx::query("UPDATE users SET iss = 'https://idp.example.com', sub = '00u1ada' WHERE id = $1")
        .bind(user.id.0)
        .execute(&pool)
        .await
        .expect("identity");
    pool.close().await;
    let now = START + 10 * MINUTE;
    let event = AuditEvent::new(
        &Actor::user(user.id, "ada", None),
        AuditAction::RepoDeleted,
        "repo:acme/old".to_string(),
    );
    t.store.append_audit(&[event], now).await.expect("append");
    chainer::chain_once(&t.store, &t.keys, now)
        .await
        .expect("chain");
    let path = t.dir.path().join("audit.jsonl");
    let file = Destination::File(path.clone());
    while ship_once(&t.store, &file).await.expect("ship") > 0 {}
    let shipped = lines(&std::fs::read_to_string(&path).expect("file"));
    let last = shipped.last().expect("lines");
    assert_eq!(last["action"], "repo.deleted");
    assert_eq!(last["actor"]["iss"], "https://idp.example.com");
    assert_eq!(last["actor"]["sub"], "00u1ada");
    assert_eq!(
        shipped[0]["actor"]["sub"],
        Value::Null,
        "the system has none"
    );
}

async fn token_expiry_story(database: crate::support::database::TestDatabase) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&database.url(dir.path())).await.expect("store");
    let user = store
        .create_machine_user("bot", &[], &Actor::system(), START)
        .await
        .expect("user");
    let minted = hangar::auth::token::mint_token(hangar::auth::token::Format::Personal);
    let new = |name: &str, expires| hangar::store::NewToken {
        name: name.into(),
        kind: hangar::domain::TokenKind::Personal,
        hash: hangar::auth::token::hash(&format!("{}{name}", minted.secret.expose())),
        prefix: minted.prefix.clone(),
        scopes: None,
        expires,
        replace_same_name: false,
    };
    for (name, expires) in [("soon", START + 1_000), ("later", START + MINUTE)] {
        store
            .create_token(&Actor::system(), &user, &new(name, expires), START)
            .await
            .expect("token");
    }
    assert_eq!(store.record_expired_tokens(START).await.expect("sweep"), 0);
    assert_eq!(
        store
            .record_expired_tokens(START + 2_000)
            .await
            .expect("sweep"),
        1
    );
    assert_eq!(
        store
            .record_expired_tokens(START + 3_000)
            .await
            .expect("sweep"),
        0,
        "each expiry is recorded once"
    );
    assert_eq!(
        store
            .record_expired_tokens(START + MINUTE)
            .await
            .expect("sweep"),
        1
    );
    let expired: Vec<_> = store
        .list_audit(0, 100)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "token.expired")
        .collect();
    assert_eq!(expired.len(), 2);
    assert!(
        expired[0].detail.contains("\"name\":\"soon\""),
        "{}",
        expired[0].detail
    );
    store.close().await;
}

#[tokio::test]
async fn each_token_expiry_is_audited_once() {
    token_expiry_story(crate::support::database::TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn each_token_expiry_is_audited_once_on_postgres() {
    let Some(db) = crate::support::database::TestDatabase::postgres().await else {
        return;
    };
    token_expiry_story(db).await;
}
