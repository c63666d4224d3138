//! Who is calling. API tokens (stored as SHA-256 hashes), including the bootstrap admin token of
//! first set-up; lookups are cached in memory for a few seconds so the hot path (every API call)
//! rarely touches the database. `login/`: logging in through an OpenID provider or GitHub.
//! `session.rs`: the browser sessions a login makes, and their revalidation.
//!
//! What does not live here: HTTP header parsing (`http::auth`), the decision what a caller may
//! do (`http::auth::require_*` for now).

pub mod keys;
pub mod login;
pub mod session;
pub mod token;

use crate::clock::SharedClock;
use crate::error::Result;
use crate::store::{Identity, Store};
use std::collections::HashMap;
use std::sync::RwLock;

/// How long a token lookup is trusted before the store is asked again.
const CACHE_MS: i64 = 5_000;
const CACHE_MAX: usize = 10_000;

/// Resolves bearer tokens to identities.
pub struct Authenticator {
    store: Store,
    clock: SharedClock,
    cache: RwLock<HashMap<String, (Identity, i64)>>,
}

impl Authenticator {
    pub fn new(store: Store, clock: SharedClock) -> Authenticator {
        Authenticator {
            store,
            clock,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The identity behind `token`, if it is a live token of an active user.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Identity>> {
        let hash = token::hash(token);
        let now = self.clock.now_ms();
        if let Ok(cache) = self.cache.read()
            && let Some((identity, until)) = cache.get(&hash)
            && *until > now
        {
            return Ok(Some(identity.clone()));
        }
        let found = self.store.find_identity(&hash, now).await?;
        if let (Some(identity), Ok(mut cache)) = (&found, self.cache.write()) {
            if cache.len() >= CACHE_MAX {
                cache.retain(|_, (_, until)| *until > now);
            }
            cache.insert(hash, (identity.clone(), now + CACHE_MS));
        }
        Ok(found)
    }

    /// Forgets every cached lookup (after a token is revoked or a user changes).
    pub fn invalidate(&self) {
        if let Ok(mut cache) = self.cache.write() {
            cache.clear();
        }
    }
}
