//! In-process rate limits (SPEC §5): per credential (API key, or user for a JWT session), per
//! client IP, and per user for context search. GCRA limiters from `governor`; a rejected
//! request answers 429 RATE_LIMIT_EXCEEDED with `Retry-After`. A limit of 0 disables it.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde_json::json;
use tc_domain::{DomainError, ErrorCode};
use uuid::Uuid;

use crate::config::RateLimitConfig;
use crate::error::ApiError;

pub struct RateLimits {
    per_caller: Option<DefaultKeyedRateLimiter<Uuid>>,
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    search: Option<DefaultKeyedRateLimiter<Uuid>>,
    clock: DefaultClock,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").finish_non_exhaustive()
    }
}

fn quota(per_min: u32, burst: u32) -> Option<Quota> {
    let per_min = NonZeroU32::new(per_min)?;
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(per_min);
    Some(Quota::per_minute(per_min).allow_burst(burst))
}

impl RateLimits {
    pub fn new(config: &RateLimitConfig) -> Self {
        RateLimits {
            per_caller: quota(config.per_key_per_min, config.per_key_burst)
                .map(governor::RateLimiter::keyed),
            per_ip: quota(config.per_ip_per_min, config.per_ip_per_min)
                .map(governor::RateLimiter::keyed),
            search: quota(config.search_per_min, config.search_per_min)
                .map(governor::RateLimiter::keyed),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one request of an authenticated credential (an API key id, or a user id).
    pub fn check_caller(&self, id: Uuid) -> Result<(), ApiError> {
        match &self.per_caller {
            Some(limiter) => self.check(limiter, &id, "per API key", "key"),
            None => Ok(()),
        }
    }

    /// Counts one search by a user.
    pub fn check_search(&self, user_id: Uuid) -> Result<(), ApiError> {
        match &self.search {
            Some(limiter) => self.check(limiter, &user_id, "searches per user", "search"),
            None => Ok(()),
        }
    }

    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        match &self.per_ip {
            Some(limiter) => self.check(limiter, &ip, "per client address", "ip"),
            None => Ok(()),
        }
    }

    fn check<K: std::hash::Hash + Eq + Clone>(
        &self,
        limiter: &DefaultKeyedRateLimiter<K>,
        key: &K,
        scope: &str,
        label: &'static str,
    ) -> Result<(), ApiError> {
        limiter.check_key(key).map_err(|not_until| {
            metrics::counter!(crate::metrics::RATE_LIMITED, "limit" => label).increment(1);
            let wait = not_until.wait_time_from(self.clock.now());
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            ApiError(
                DomainError::new(
                    ErrorCode::RateLimitExceeded,
                    format!("rate limit exceeded ({scope}); retry in {secs} s"),
                )
                .with_details(json!({ "limit": scope, "retry_after_secs": secs.max(1) })),
            )
        })
    }

    /// Forgets keys that are back to full capacity, so the maps do not grow without bound.
    pub fn shrink(&self) {
        if let Some(l) = &self.per_caller {
            l.retain_recent();
        }
        if let Some(l) = &self.per_ip {
            l.retain_recent();
        }
        if let Some(l) = &self.search {
            l.retain_recent();
        }
    }
}
