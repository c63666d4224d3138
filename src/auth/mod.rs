//! Who is calling. For now: API tokens (stored as SHA-256 hashes), including the bootstrap
//! admin token of first set-up.
//!
//! The hot path (every API call) does no database work once a token has been seen:
//! 1. the token's shape is checked first (`token::parse`: prefix, length, checksum); a malformed
//!    token, or a foreign string that is not the bootstrap token, is refused without a lookup;
//! 2. a bounded in-memory cache maps the token's SHA-256 to its identity. An entry is trusted
//!    for [`FRESH_MS`] (the bound on how stale a change made by *another* server on the same
//!    database can be seen here); then one request asks the store again while the others go on
//!    with the entry. The token's own expiry is checked on every hit, so an expired token fails
//!    at its expiry time even when cached;
//! 3. changes made through this server drop entries at once, by token id or by user id
//!    ([`Authenticator::forget_token`], [`Authenticator::forget_user`]): the writes in
//!    `credentials.rs` do so after they commit; any other code that revokes a token or changes a
//!    user's rights (deactivation, admin flag, groups) must call them too. A generation counter
//!    keeps a lookup that raced with such a change from putting the old identity back;
//! 4. `last_used` is recorded off the request path, at most once a minute per token
//!    (`usage.rs`).
//!
//! Also here: `login/`, logging in through an OpenID provider or GitHub; `session.rs`, the
//! browser sessions a login makes, and their revalidation; `issuer/`, Hangar's own OpenID
//! provider for local users; `oauth/`, the `/oauth` grants that hand out short-lived API access
//! tokens (client credentials for service accounts, the device grant behind `hangar login`);
//! `workload.rs`, builds' ID tokens and the secrets a step receives; `netrc.rs`, clone
//! credentials of private repositories.
//!
//! What does not live here: HTTP header parsing (`http::auth`). What a principal may do is
//! decided in `policy`.

pub mod commit_keys;
mod credentials;
pub mod encrypted;
pub mod issuer;
pub mod keys;
pub mod login;
pub mod netrc;
pub mod oauth;
pub mod policy;
pub mod principal;
pub mod session;
pub mod token;
mod usage;
pub mod workload;

pub use credentials::{DRONE_TOKEN_NAME, Issued, TokenRequest, check_login};

use crate::clock::SharedClock;
use crate::config::Config;
use crate::domain::{TokenId, UserId};
use crate::error::Result;
use crate::store::{Identity, Store, TokenUse};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::sync::{Notify, mpsc};

/// How long a cached lookup is trusted before the store is asked again.
pub const FRESH_MS: i64 = 5_000;
/// The most identities kept in memory.
const CACHE_MAX: usize = 10_000;
/// `last_used` is written at most this often per token.
const USE_EVERY_MS: i64 = 60_000;

/// A cached lookup.
struct Entry {
    identity: Identity,
    /// Until when the entry is trusted without asking the store.
    fresh_until: i64,
    /// The last use recorded (or sent to be recorded).
    last_used: AtomicI64,
    /// Set by the one request that asks the store again once the entry is no longer fresh;
    /// meanwhile the others keep using it (for at most another [`FRESH_MS`]).
    refreshing: AtomicBool,
}

/// Resolves bearer tokens to identities, and issues and revokes them (`credentials.rs`).
pub struct Authenticator {
    store: Store,
    clock: SharedClock,
    /// SHA-256 of `HANGAR_ADMIN_TOKEN`, the only token without Hangar's format.
    bootstrap: Option<[u8; 32]>,
    /// The longest lifetime a personal or service token may have.
    max_expiry: Duration,
    cache: RwLock<HashMap<[u8; 32], Arc<Entry>>>,
    /// Moves on every invalidation; a lookup started before one does not fill the cache.
    generation: AtomicU64,
    uses: mpsc::UnboundedSender<TokenUse>,
    /// Notified after every revocation or user change, so running builds acting through what
    /// changed are checked at once (see `crate::credential`).
    changed: Arc<Notify>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authenticator")
    }
}

impl Authenticator {
    /// An authenticator for the server configured by `config`; starts the task that records
    /// token use (so it must be called inside a Tokio runtime). The task ends when the
    /// authenticator is dropped.
    pub fn start(store: Store, clock: SharedClock, config: &Config) -> Authenticator {
        let (uses, rx) = mpsc::unbounded_channel();
        tokio::spawn(usage::record(store.clone(), rx));
        Authenticator {
            store,
            clock,
            bootstrap: config
                .admin_token
                .as_ref()
                .map(|t| token::digest(t.expose())),
            max_expiry: config.identity.token_max_expiry,
            cache: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            uses,
            changed: Arc::new(Notify::new()),
        }
    }

    /// The identity behind `token`, if it is a live token of an active user.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Identity>> {
        let digest = match token::parse(token) {
            token::Shape::Valid(_) => token::digest(token),
            token::Shape::Malformed => return Ok(None),
            token::Shape::Foreign => {
                let digest = token::digest(token);
                match &self.bootstrap {
                    Some(b) if bool::from(b.ct_eq(&digest)) => digest,
                    _ => return Ok(None),
                }
            }
        };
        let now = self.clock.now_ms();
        let cached = self
            .cache
            .read()
            .ok()
            .and_then(|cache| cache.get(&digest).cloned());
        if let Some(entry) = &cached {
            let expires = entry.identity.expires;
            if expires != 0 && expires <= now {
                self.drop_entry(&digest);
                return Ok(None);
            }
            // Only once the entry is stale: the first request claims the refresh (swap returns
            // false), the others see it claimed and go on.
            let fresh = entry.fresh_until > now;
            let refreshed_elsewhere = !fresh
                && entry.fresh_until + FRESH_MS > now
                && entry.refreshing.swap(true, Ordering::AcqRel);
            if fresh || refreshed_elsewhere {
                self.note_use(entry, now);
                return Ok(Some(entry.identity.clone()));
            }
        }
        let generation = self.generation.load(Ordering::Acquire);
        let found = self.store.find_token_use(&hex::encode(digest), now).await?;
        let Some((identity, stored_use)) = found else {
            self.drop_entry(&digest);
            return Ok(None);
        };
        // A refresh keeps the newest use already sent, so it is not sent again.
        let last_used = cached
            .map(|e| e.last_used.load(Ordering::Relaxed))
            .unwrap_or(0)
            .max(stored_use);
        let entry = Arc::new(Entry {
            identity: identity.clone(),
            fresh_until: now + FRESH_MS,
            last_used: AtomicI64::new(last_used),
            refreshing: AtomicBool::new(false),
        });
        self.note_use(&entry, now);
        if let Ok(mut cache) = self.cache.write()
            && self.generation.load(Ordering::Acquire) == generation
        {
            if cache.len() >= CACHE_MAX && !cache.contains_key(&digest) {
                cache.retain(|_, e| e.fresh_until > now);
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
            }
            cache.insert(digest, entry);
        }
        Ok(Some(identity))
    }

    /// Sends a use to be recorded when the last one recorded is a minute old (or there is none).
    fn note_use(&self, entry: &Entry, now: i64) {
        let last = entry.last_used.load(Ordering::Relaxed);
        if now - last >= USE_EVERY_MS
            && entry
                .last_used
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let _ = self.uses.send(TokenUse {
                token: entry.identity.token,
                actor: entry.identity.actor(),
                at: now,
            });
        }
    }

    fn drop_entry(&self, digest: &[u8; 32]) {
        if let Ok(mut cache) = self.cache.write() {
            cache.remove(digest);
        }
    }

    fn forget_where(&self, gone: impl Fn(&Identity) -> bool) {
        self.forget_here_where(gone);
        // Other servers on the same database drop their lookups too (all of them: a revocation
        // is rare, a lookup cheap).
        self.store.announce(crate::store::Notice::Forget);
    }

    fn forget_here_where(&self, gone: impl Fn(&Identity) -> bool) {
        if let Ok(mut cache) = self.cache.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            cache.retain(|_, e| !gone(&e.identity));
        }
        self.changed.notify_one();
    }

    /// Forgets every cached lookup on this server only (another server changed something).
    pub fn forget_here(&self) {
        self.forget_here_where(|_| true);
    }

    /// Notified after a token is revoked or a user changes (deactivated, admin flag, rotation).
    pub fn changes(&self) -> Arc<Notify> {
        self.changed.clone()
    }

    /// Forgets the cached lookup of one token (after it is revoked).
    pub fn forget_token(&self, id: TokenId) {
        self.forget_where(|i| i.token == id);
    }

    /// Forgets every cached lookup of a user's tokens (after the user is deactivated, or their
    /// admin flag or groups change).
    pub fn forget_user(&self, id: UserId) {
        self.forget_where(|i| i.user.id == id);
    }

    /// Forgets every cached lookup.
    pub fn invalidate(&self) {
        self.forget_where(|_| true);
    }

    /// How many lookups are cached (for tests and metrics).
    pub fn cached(&self) -> usize {
        self.cache.read().map(|c| c.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests;
