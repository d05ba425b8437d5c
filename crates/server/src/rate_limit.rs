//! Rate limits (SPEC §5): per credential (API key, or user for a JWT session), per client IP
//! (an IPv6 client by its /64, which one subscriber usually holds whole), per user for context
//! search, and per account for login attempts (so that guessing one password from many
//! addresses is throttled too). A rejected request answers 429 RATE_LIMIT_EXCEEDED with
//! `Retry-After`. A limit of 0 disables it.
//!
//! Each limit is a generic cell rate algorithm (GCRA). With Redis (`REDIS_URL`) it runs there,
//! so all replicas count against one budget; without Redis, or while Redis is down, each
//! process counts in memory with `governor`, which implements the same algorithm.

use std::fmt::Display;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde_json::json;
use tc_domain::{DomainError, ErrorCode};
use uuid::Uuid;

use crate::config::RateLimitConfig;
use crate::error::ApiError;
use crate::redis::Redis;

/// One limit: its in-process limiter and the same quota in the units the shared one takes.
struct Limit<K: Hash + Eq + Clone> {
    local: DefaultKeyedRateLimiter<K>,
    /// Time between two requests at the sustained rate, in µs.
    emission_us: u64,
    /// How far ahead of that rate a burst may run, in µs.
    tolerance_us: u64,
    /// What a rejection says is exceeded.
    scope: &'static str,
    /// The metric label, and the Redis key's namespace.
    label: &'static str,
}

impl<K: Hash + Eq + Clone> Limit<K> {
    fn new(per_min: u32, burst: u32, scope: &'static str, label: &'static str) -> Option<Self> {
        let per_min = NonZeroU32::new(per_min)?;
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(per_min);
        let emission_us = 60_000_000 / u64::from(per_min.get());
        Some(Limit {
            local: governor::RateLimiter::keyed(Quota::per_minute(per_min).allow_burst(burst)),
            emission_us,
            tolerance_us: emission_us * u64::from(burst.get() - 1),
            scope,
            label,
        })
    }
}

pub struct RateLimits {
    per_caller: Option<Limit<Uuid>>,
    per_ip: Option<Limit<IpAddr>>,
    search: Option<Limit<Uuid>>,
    login: Option<Limit<String>>,
    redis: Option<Arc<Redis>>,
    clock: DefaultClock,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").field("shared", &self.redis.is_some()).finish_non_exhaustive()
    }
}

impl RateLimits {
    /// Limits counted in this process, or in `redis` (shared by every replica) when given.
    pub fn new(config: &RateLimitConfig, redis: Option<Arc<Redis>>) -> Self {
        RateLimits {
            per_caller: Limit::new(
                config.per_key_per_min,
                config.per_key_burst,
                "per API key",
                "key",
            ),
            per_ip: Limit::new(
                config.per_ip_per_min,
                config.per_ip_per_min,
                "per client address",
                "ip",
            ),
            search: Limit::new(
                config.search_per_min,
                config.search_per_min,
                "searches per user",
                "search",
            ),
            login: Limit::new(
                config.login_per_min,
                config.login_per_min,
                "login attempts per account",
                "login",
            ),
            redis,
            clock: DefaultClock::default(),
        }
    }

    /// Counts one request of an authenticated credential (an API key id, or a user id).
    pub async fn check_caller(&self, id: Uuid) -> Result<(), ApiError> {
        self.check(self.per_caller.as_ref(), &id).await
    }

    /// Counts one search by a user.
    pub async fn check_search(&self, user_id: Uuid) -> Result<(), ApiError> {
        self.check(self.search.as_ref(), &user_id).await
    }

    pub async fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.check(self.per_ip.as_ref(), &crate::client_ip::limit_key(ip)).await
    }

    /// Counts one login attempt for the account named `email` (known or not, so the limit
    /// says nothing about which exist). Keyed by a hash: addresses are not kept in Redis.
    pub async fn check_login(&self, email: &str) -> Result<(), ApiError> {
        let digest = tc_domain::secrets::sha256_hex(&email.trim().to_lowercase());
        self.check(self.login.as_ref(), &digest[..32].to_string()).await
    }

    async fn check<K: Hash + Eq + Clone + Display>(
        &self,
        limit: Option<&Limit<K>>,
        key: &K,
    ) -> Result<(), ApiError> {
        let Some(limit) = limit else { return Ok(()) };
        if let Some(redis) = &self.redis {
            let shared_key = format!("{}:{key}", limit.label);
            if let Some(wait_us) =
                redis.rate_limit(&shared_key, limit.emission_us, limit.tolerance_us).await
            {
                return match wait_us {
                    0 => Ok(()),
                    us => Err(rejected(limit, us.div_ceil(1_000_000))),
                };
            }
        }
        limit.local.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            rejected(limit, wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
        })
    }

    /// Forgets keys that are back to full capacity, so the maps do not grow without bound
    /// (Redis expires its keys by itself).
    pub fn shrink(&self) {
        if let Some(l) = &self.per_caller {
            l.local.retain_recent();
        }
        if let Some(l) = &self.per_ip {
            l.local.retain_recent();
        }
        if let Some(l) = &self.search {
            l.local.retain_recent();
        }
        if let Some(l) = &self.login {
            l.local.retain_recent();
        }
    }
}

fn rejected<K: Hash + Eq + Clone>(limit: &Limit<K>, secs: u64) -> ApiError {
    metrics::counter!(crate::metrics::RATE_LIMITED, "limit" => limit.label).increment(1);
    let secs = secs.max(1);
    ApiError(
        DomainError::new(
            ErrorCode::RateLimitExceeded,
            format!("rate limit exceeded ({}); retry in {secs} s", limit.scope),
        )
        .with_details(json!({ "limit": limit.scope, "retry_after_secs": secs })),
    )
}
