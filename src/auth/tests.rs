//! The authenticator against a real SQLite store and a clock moved by hand.

use super::*;
use crate::clock::FixedClock;
use crate::domain::Actor;
use crate::store::{NewUser, UserPatch};
use std::collections::BTreeMap;

const ADMIN: &str = "unit-test-admin-token-0123456789";
const START: i64 = 1_700_000_000_000;

struct Fixture {
    auth: Authenticator,
    store: Store,
    clock: Arc<FixedClock>,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = BTreeMap::from([("HANGAR_ADMIN_TOKEN".to_string(), ADMIN.to_string())]);
    let config = Config::load(None, &env).expect("config").config;
    let url = format!("sqlite://{}", dir.path().join("h.db").display());
    let store = Store::open(&url).await.expect("store");
    let clock = Arc::new(FixedClock::at(START));
    store
        .set_bootstrap_token(Some(&token::hash(ADMIN)), START)
        .await
        .expect("bootstrap");
    let shared: SharedClock = clock.clone();
    Fixture {
        auth: Authenticator::start(store.clone(), shared, &config),
        store,
        clock,
        _dir: dir,
    }
}

async fn person(f: &Fixture, login: &str) -> crate::domain::User {
    let new = NewUser {
        login: login.into(),
        email: String::new(),
        machine: false,
        admin: false,
    };
    f.auth
        .create_user(&Actor::system(), new)
        .await
        .expect("user")
        .0
}

async fn pat(f: &Fixture, owner: &crate::domain::User, seconds: i64) -> Issued {
    let request = TokenRequest {
        name: "laptop".into(),
        expires_in: Some(seconds),
        ..TokenRequest::default()
    };
    f.auth
        .issue_token(&Actor::system(), owner, request)
        .await
        .expect("token")
}

#[tokio::test]
async fn a_malformed_or_unknown_foreign_token_is_refused_without_a_lookup() {
    let f = fixture().await;
    let bob = person(&f, "bob").await;
    let good = pat(&f, &bob, 3600).await;
    let mut flipped = good.secret.expose().to_string();
    flipped.replace_range(10..11, if &flipped[10..11] == "a" { "b" } else { "a" });
    // With the database closed, any lookup would be an error; these are answered by shape.
    f.store.close().await;
    for t in [
        flipped.as_str(),
        "hgr_pat_short_123456",
        "some-other-string-1234567",
    ] {
        assert!(matches!(f.auth.authenticate(t).await, Ok(None)), "{t}");
    }
}

#[tokio::test]
async fn a_valid_token_is_served_from_memory_after_its_first_use() {
    let f = fixture().await;
    let bob = person(&f, "bob").await;
    let t = pat(&f, &bob, 3600).await;
    let first = f.auth.authenticate(t.secret.expose()).await.expect("ok");
    assert_eq!(first.map(|i| i.user.login).as_deref(), Some("bob"));
    f.store.close().await;
    let again = f
        .auth
        .authenticate(t.secret.expose())
        .await
        .expect("cached");
    assert_eq!(again.map(|i| i.token), Some(t.token.id));
}

#[tokio::test]
async fn a_revoked_token_fails_at_once_though_it_was_cached() {
    let f = fixture().await;
    let bob = person(&f, "bob").await;
    let t = pat(&f, &bob, 3600).await;
    assert!(
        f.auth
            .authenticate(t.secret.expose())
            .await
            .expect("ok")
            .is_some()
    );
    assert!(
        f.auth
            .revoke_token(&Actor::system(), t.token.id)
            .await
            .expect("revoked")
    );
    assert!(
        f.auth
            .authenticate(t.secret.expose())
            .await
            .expect("ok")
            .is_none()
    );
    assert!(
        !f.auth
            .revoke_token(&Actor::system(), t.token.id)
            .await
            .expect("again")
    );
}

#[tokio::test]
async fn an_expired_token_fails_at_its_expiry_even_when_cached() {
    let f = fixture().await;
    let bob = person(&f, "bob").await;
    let t = pat(&f, &bob, 2).await;
    assert!(
        f.auth
            .authenticate(t.secret.expose())
            .await
            .expect("ok")
            .is_some()
    );
    f.clock.advance_ms(1_999);
    assert!(
        f.auth
            .authenticate(t.secret.expose())
            .await
            .expect("ok")
            .is_some()
    );
    f.clock.advance_ms(1);
    assert!(
        f.auth
            .authenticate(t.secret.expose())
            .await
            .expect("ok")
            .is_none()
    );
}

#[tokio::test]
async fn a_deactivated_users_tokens_fail_at_once() {
    let f = fixture().await;
    let bob = person(&f, "bob").await;
    let a = pat(&f, &bob, 3600).await;
    let b = pat(&f, &bob, 3600).await;
    for t in [&a, &b] {
        assert!(
            f.auth
                .authenticate(t.secret.expose())
                .await
                .expect("ok")
                .is_some()
        );
    }
    let patch = UserPatch {
        active: Some(false),
        ..UserPatch::default()
    };
    f.auth
        .update_user(&Actor::system(), "bob", patch)
        .await
        .expect("updated");
    for t in [&a, &b] {
        assert!(
            f.auth
                .authenticate(t.secret.expose())
                .await
                .expect("ok")
                .is_none()
        );
    }
    let listed = f.store.list_tokens(bob.id).await.expect("list");
    assert!(listed.iter().all(|t| t.revoked == START));
}

#[tokio::test]
async fn the_bootstrap_token_keeps_working_without_hangars_format() {
    let f = fixture().await;
    let id = f
        .auth
        .authenticate(ADMIN)
        .await
        .expect("ok")
        .expect("known");
    assert_eq!(id.user.login, crate::store::BOOTSTRAP_LOGIN);
    assert_eq!(id.kind, crate::domain::TokenKind::Bootstrap);
    assert!(id.scopes.is_none());
}

#[tokio::test]
async fn use_is_recorded_once_a_minute_and_the_first_use_is_audited() {
    let f = fixture().await;
    let bob = person(&f, "bob").await;
    let t = pat(&f, &bob, 3600).await;
    let used = |f: &Fixture| {
        let store = f.store.clone();
        let id = t.token.id;
        async move {
            store
                .find_token(id)
                .await
                .expect("find")
                .map(|t| t.last_used)
        }
    };
    f.auth.authenticate(t.secret.expose()).await.expect("ok");
    wait_for(|| used(&f), Some(START)).await;
    f.clock.advance_ms(30_000);
    f.auth.authenticate(t.secret.expose()).await.expect("ok");
    f.clock.advance_ms(30_000);
    f.auth.authenticate(t.secret.expose()).await.expect("ok");
    wait_for(|| used(&f), Some(START + 60_000)).await;
    let audit = f.store.list_audit(0, 1000).await.expect("audit");
    let firsts = audit
        .iter()
        .filter(|e| e.action == "token.first_used")
        .count();
    assert_eq!(firsts, 1);
}

/// Polls `probe` until it answers `want` (the recorder writes off the request path).
async fn wait_for<F, Fut>(probe: F, want: Option<i64>)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<i64>>,
{
    for _ in 0..500 {
        if probe().await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never got {want:?}; last {:?}", probe().await);
}

#[tokio::test]
async fn a_stale_entry_is_looked_up_again_by_one_request_while_the_others_go_on() {
    let f = fixture().await;
    let bob = person(&f, "bob").await;
    let t = pat(&f, &bob, 3600).await;
    assert!(
        f.auth
            .authenticate(t.secret.expose())
            .await
            .expect("ok")
            .is_some()
    );
    f.clock.advance_ms(FRESH_MS);
    // The first request after the entry went stale claims the refresh and reads the store.
    let digest = token::digest(t.secret.expose());
    let entry = |f: &Fixture| {
        f.auth
            .cache
            .read()
            .expect("lock")
            .get(&digest)
            .cloned()
            .expect("cached")
    };
    assert!(!entry(&f).refreshing.load(Ordering::Acquire));
    assert!(
        f.auth
            .authenticate(t.secret.expose())
            .await
            .expect("ok")
            .is_some()
    );
    assert_eq!(entry(&f).fresh_until, START + 2 * FRESH_MS, "refreshed");
    // A claimed refresh lets the others use the stale entry, without the store.
    f.clock.advance_ms(FRESH_MS);
    entry(&f).refreshing.store(true, Ordering::Release);
    f.store.close().await;
    assert!(
        f.auth
            .authenticate(t.secret.expose())
            .await
            .expect("stale")
            .is_some()
    );
    // Never beyond one more freshness period.
    f.clock.advance_ms(FRESH_MS);
    assert!(f.auth.authenticate(t.secret.expose()).await.is_err());
}
