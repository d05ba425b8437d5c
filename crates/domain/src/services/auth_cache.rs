//! A short-lived cache of authentication lookups, so that a request carrying a known credential
//! does not pay a database round trip just to be identified (the dominant cost of a small
//! request on SQLite).
//!
//! Correctness rule: a cached entry is trusted only while it is younger than the TTL *and* was
//! made under the current generation. Every change that can make a credential invalid in this
//! process (key revoked or rotated, account deactivated, email verification changed) bumps the
//! generation, so it takes effect on the very next request here. A change made outside this
//! process (the operator CLI writing to the database directly) takes effect within the TTL.
//!
//! With shared state configured (Redis), an entry also carries the deployment-wide generation
//! it was made under, which every replica bumps on such a change and every lookup reads: a
//! revocation through one replica is honoured by all of them on their next request. When the
//! shared generation cannot be read, the cache is not used at all.

use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tc_store::{ApiKeyRecord, UserRecord};
use uuid::Uuid;

/// Beyond this many entries the cache is emptied rather than grown; a busy server has far fewer
/// live credentials than this.
const MAX_ENTRIES: usize = 50_000;

#[derive(Debug, Clone)]
pub(crate) enum Cached {
    ApiKey(Box<(ApiKeyRecord, UserRecord)>),
    User(Box<UserRecord>),
}

/// The generations an entry was made under: this process's and the deployment's (0 without
/// shared state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub local: u64,
    pub shared: u64,
}

#[derive(Debug)]
struct Entry {
    value: Cached,
    stamp: Stamp,
    stored: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum CacheKey {
    /// The SHA-256 of an API key.
    KeyHash(String),
    /// The subject of an access token.
    User(Uuid),
}

#[derive(Debug)]
pub(crate) struct AuthCache {
    ttl: Duration,
    generation: AtomicU64,
    entries: RwLock<HashMap<CacheKey, Entry>>,
}

impl AuthCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        AuthCache { ttl, generation: AtomicU64::new(0), entries: RwLock::new(HashMap::new()) }
    }

    pub(crate) fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// The entry for `key` if it is young enough and was made under this process's current
    /// generation and the deployment's `shared` one.
    pub(crate) fn get(&self, key: &CacheKey, shared: u64) -> Option<Cached> {
        if !self.enabled() {
            return None;
        }
        let stamp = Stamp { local: self.generation.load(Ordering::Acquire), shared };
        let entries = self.entries.read();
        let entry = entries.get(key)?;
        (entry.stamp == stamp && entry.stored.elapsed() < self.ttl).then(|| entry.value.clone())
    }

    /// Stores a lookup made under `stamp` (read before the lookup started, so a bump that
    /// raced with the lookup leaves the entry unusable).
    pub(crate) fn put(&self, key: CacheKey, value: Cached, stamp: Stamp) {
        if !self.enabled() {
            return;
        }
        let mut entries = self.entries.write();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, Entry { value, stamp, stored: Instant::now() });
    }

    /// This process's generation.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Makes every cached entry unusable.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserRecord {
        let now = chrono::Utc::now();
        UserRecord {
            id: Uuid::now_v7(),
            email: "a@b.io".into(),
            name: "a".into(),
            password_hash: String::new(),
            is_active: true,
            email_verified: false,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn invalidation_and_racing_lookups() {
        let cache = AuthCache::new(Duration::from_secs(60));
        let key = CacheKey::User(Uuid::now_v7());
        let stamp = Stamp { local: cache.generation(), shared: 7 };
        cache.put(key.clone(), Cached::User(Box::new(user())), stamp);
        assert!(cache.get(&key, 7).is_some());
        assert!(cache.get(&key, 8).is_none(), "another replica moved the shared generation on");
        cache.invalidate();
        assert!(cache.get(&key, 7).is_none());

        // A lookup that started before a bump must not be served afterwards.
        let stale = Stamp { local: cache.generation(), shared: 7 };
        cache.invalidate();
        cache.put(key.clone(), Cached::User(Box::new(user())), stale);
        assert!(cache.get(&key, 7).is_none());
    }

    #[test]
    fn entries_expire_and_zero_ttl_disables() {
        let cache = AuthCache::new(Duration::from_millis(1));
        let key = CacheKey::User(Uuid::now_v7());
        let stamp = Stamp { local: cache.generation(), shared: 0 };
        cache.put(key.clone(), Cached::User(Box::new(user())), stamp);
        std::thread::sleep(Duration::from_millis(5));
        assert!(cache.get(&key, 0).is_none());

        let off = AuthCache::new(Duration::ZERO);
        off.put(key.clone(), Cached::User(Box::new(user())), stamp);
        assert!(off.get(&key, 0).is_none());
    }
}
