//! The decision cache: sharded maps from what a decision depends on (the principal's group set
//! and admin flag, the policy version, the repository and its visibility, the action, the
//! target) to the decision. A policy or grant change is a new version, so old entries simply
//! stop matching (and are dropped at the reload); a membership change is a new group set, so it
//! needs no invalidation at all. Readers of different shards never meet; readers of one shard
//! share a read lock.

use super::action::Action;
use super::engine::Decision;
use crate::domain::Visibility;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, RwLock};

const SHARDS: usize = 32;
/// Entries per shard before it is emptied (a crude bound; decisions are cheap to remake).
const SHARD_CAPACITY: usize = 8_192;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Key {
    pub who: Arc<str>,
    pub version: u64,
    pub repo: Option<(Box<str>, Visibility)>,
    pub action: Action,
    pub target: Option<Box<str>>,
}

pub(super) struct DecisionCache {
    hasher: RandomState,
    shards: Vec<RwLock<HashMap<Key, Decision>>>,
}

impl Default for DecisionCache {
    fn default() -> DecisionCache {
        DecisionCache {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
        }
    }
}

impl DecisionCache {
    fn shard(&self, key: &Key) -> &RwLock<HashMap<Key, Decision>> {
        &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    pub(super) fn get(&self, key: &Key) -> Option<Decision> {
        self.shard(key).read().ok()?.get(key).cloned()
    }

    pub(super) fn insert(&self, key: Key, decision: Decision) {
        if let Ok(mut shard) = self.shard(&key).write() {
            if shard.len() >= SHARD_CAPACITY {
                shard.clear();
            }
            shard.insert(key, decision);
        }
    }

    /// Drops every entry (after a reload).
    pub(super) fn clear(&self) {
        for shard in &self.shards {
            if let Ok(mut s) = shard.write() {
                s.clear();
            }
        }
    }
}
