//! A provider's signing keys (its JWKS), cached. A token signed with a key id the cache lacks
//! makes one fetch of the JWKS (a provider rotating its keys), but at most one such fetch per
//! [`COOLDOWN_MS`] whatever the number of tokens: a flood of made-up key ids costs the provider
//! one request, not one each. The keys are also fetched again when older than [`MAX_AGE_MS`].

use super::outbound::{Outbound, Spent};
use openidconnect::core::CoreJsonWebKeySet;
use openidconnect::{JsonWebKey, JsonWebKeySetUrl};
use std::sync::{Arc, RwLock};

/// The least time between two fetches caused by unknown key ids.
pub const COOLDOWN_MS: i64 = 60_000;
/// Keys older than this are fetched again on next use.
pub const MAX_AGE_MS: i64 = 3_600_000;

/// The cached key set of one provider.
#[derive(Debug)]
pub struct Jwks {
    uri: JsonWebKeySetUrl,
    keys: RwLock<(Arc<CoreJsonWebKeySet>, i64)>,
    /// When an unknown key id last caused a fetch (`None`: never); held across the fetch so
    /// concurrent callers wait for it instead of fetching too.
    forced: tokio::sync::Mutex<Option<i64>>,
    fetches: std::sync::atomic::AtomicU64,
}

impl Jwks {
    /// A cache holding `keys`, fetched from `uri` at `now`.
    pub fn new(uri: JsonWebKeySetUrl, keys: CoreJsonWebKeySet, now: i64) -> Jwks {
        Jwks {
            uri,
            keys: RwLock::new((Arc::new(keys), now)),
            forced: tokio::sync::Mutex::new(None),
            fetches: Default::default(),
        }
    }

    /// How many times the keys were fetched after the first (for tests and metrics).
    pub fn refetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn cached(&self) -> (Arc<CoreJsonWebKeySet>, i64) {
        match self.keys.read() {
            Ok(k) => (k.0.clone(), k.1),
            Err(poisoned) => {
                let k = poisoned.into_inner();
                (k.0.clone(), k.1)
            }
        }
    }

    /// The keys to verify a token signed with `kid`: the cached ones, or freshly fetched ones
    /// when the cache lacks `kid` (and the cooldown allows) or has grown old. A failed fetch
    /// keeps the cached keys.
    pub async fn keys_for(
        &self,
        kid: Option<&str>,
        now: i64,
        http: &Outbound,
        spent: &Spent,
    ) -> Arc<CoreJsonWebKeySet> {
        let (keys, fetched) = self.cached();
        let known = kid.is_none_or(|kid| has(&keys, kid));
        let stale = now - fetched >= MAX_AGE_MS;
        if known && !stale {
            return keys;
        }
        let mut forced = self.forced.lock().await;
        // Another caller may have fetched while this one waited.
        let (keys, fetched) = self.cached();
        let known = kid.is_none_or(|kid| has(&keys, kid));
        let stale = now - fetched >= MAX_AGE_MS;
        if known && !stale {
            return keys;
        }
        if !stale && forced.is_some_and(|at| now - at < COOLDOWN_MS) {
            metrics::counter!("hangar_login_jwks_refetch_refused_total").increment(1);
            return keys;
        }
        if !known {
            *forced = Some(now);
        }
        self.fetch(now, http, spent).await.unwrap_or(keys)
    }

    async fn fetch(
        &self,
        now: i64,
        http: &Outbound,
        spent: &Spent,
    ) -> Option<Arc<CoreJsonWebKeySet>> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let client = http.with(spent);
        match CoreJsonWebKeySet::fetch_async(&self.uri, &client).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                if let Ok(mut cached) = self.keys.write() {
                    *cached = (keys.clone(), now);
                }
                Some(keys)
            }
            Err(e) => {
                tracing::warn!(error = %e, "fetching the login provider's signing keys failed");
                None
            }
        }
    }
}

fn has(keys: &CoreJsonWebKeySet, kid: &str) -> bool {
    keys.keys()
        .iter()
        .any(|k| k.key_id().is_some_and(|id| id.as_str() == kid))
}
