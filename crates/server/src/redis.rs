//! Redis as the state replicas share (`REDIS_URL`): the deployment-wide credential generation
//! that every replica's authentication cache is stamped with, and the rate-limit counters.
//!
//! Redis is an accelerator here, never the source of truth, so its loss degrades the service
//! instead of stopping it. A monitor pings it every second; while it is down every operation
//! answers "unavailable" at once (no request waits on a dead connection), the authentication
//! cache is bypassed (the database decides, so revocations still apply everywhere at once),
//! and rate limits are counted by each replica on its own. `/health` reports it, and the
//! service comes back to shared state by itself when Redis does.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::watch;
use tracing::{info, warn};

/// Longest wait for one Redis answer: beyond it the request goes on without Redis.
const TIMEOUT: Duration = Duration::from_millis(250);
/// How often the monitor pings Redis.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// Every key this server writes starts with this.
const PREFIX: &str = "teamcontext:";
const CREDENTIAL_GENERATION: &str = "teamcontext:auth:generation";

/// A generic cell rate algorithm step on Redis's clock (so replicas agree on time), the same
/// algorithm as the in-process limiter. KEYS[1] holds the theoretical arrival time in µs;
/// ARGV[1] is the emission interval and ARGV[2] the burst tolerance, both in µs. Returns 0
/// when the request is allowed, otherwise how many µs until it would be.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local emission = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local allow_at = tat - tolerance
if now < allow_at then return allow_at - now end
local new_tat = tat + emission
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return 0
";

pub struct Redis {
    conn: ConnectionManager,
    up: AtomicBool,
    /// How many times this process has seen Redis go down. It is folded into the credential
    /// generation, so that what was cached before an outage (when a revocation may have failed
    /// to reach Redis) is never trusted after it.
    outages: AtomicU64,
    gcra: redis::Script,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis").field("up", &self.is_up()).finish_non_exhaustive()
    }
}

impl Redis {
    /// Prepares the connection (made lazily) and tries it once; a Redis that is down at start
    /// is reported and retried by the monitor, not fatal. A `rediss://` URL connects with TLS,
    /// checking the server's certificate against `ca_file` or else the system's roots (the
    /// URL fragment `#insecure` skips the check, as the redis client defines it).
    pub async fn connect(url: &str, ca_file: Option<&Path>) -> Result<Arc<Redis>, String> {
        let client = match ca_file {
            None => redis::Client::open(url),
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("REDIS_CA_FILE {}: {e}", path.display()))?;
                let certificates =
                    redis::TlsCertificates { client_tls: None, root_cert: Some(pem) };
                redis::Client::build_with_tls(url, certificates)
            }
        }
        .map_err(|e| e.to_string())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn =
            ConnectionManager::new_lazy_with_config(client, config).map_err(|e| e.to_string())?;
        let redis = Arc::new(Redis {
            conn,
            up: AtomicBool::new(false),
            outages: AtomicU64::new(0),
            gcra: redis::Script::new(GCRA),
        });
        match redis.ping().await {
            Ok(_) => redis.set_up(true),
            Err(e) => {
                warn!(error = %e, "Redis unreachable at start; serving without shared state until it answers")
            }
        }
        Ok(redis)
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    fn set_up(&self, up: bool) {
        let was = self.up.swap(up, Ordering::AcqRel);
        metrics::gauge!(crate::metrics::REDIS_UP).set(if up { 1.0 } else { 0.0 });
        match (was, up) {
            (false, true) => info!("Redis answers: rate limits and credential changes are shared"),
            (true, false) => {
                self.outages.fetch_add(1, Ordering::AcqRel);
                warn!(
                    "Redis stopped answering: rate limits are per replica and the credential cache is bypassed until it is back"
                );
            }
            _ => {}
        }
    }

    /// One round trip, timed; used by the monitor and by `/health`.
    pub async fn ping(&self) -> Result<Duration, String> {
        let started = Instant::now();
        let mut conn = self.conn.clone();
        let pong =
            tokio::time::timeout(TIMEOUT, redis::cmd("PING").query_async::<String>(&mut conn))
                .await;
        match pong {
            Ok(Ok(_)) => Ok(started.elapsed()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} ms", TIMEOUT.as_millis())),
        }
    }

    /// Pings Redis every second until `stop`, keeping [`Redis::is_up`] current.
    pub fn spawn_monitor(self: &Arc<Self>, mut stop: watch::Receiver<bool>) {
        let redis = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROBE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let result = redis.ping().await;
                        redis.set_up(result.is_ok());
                    }
                    _ = stop.changed() => return,
                }
            }
        });
    }

    /// Runs one operation if Redis is up; a failure marks it down (the monitor brings it back)
    /// and answers `None`.
    async fn run<T: redis::FromRedisValue>(&self, what: &'static str, op: redis::Cmd) -> Option<T> {
        if !self.is_up() {
            return None;
        }
        let mut conn = self.conn.clone();
        let result = tokio::time::timeout(TIMEOUT, op.query_async::<T>(&mut conn)).await;
        self.settle(what, result)
    }

    fn settle<T>(
        &self,
        what: &'static str,
        result: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Option<T> {
        match result {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                metrics::counter!(crate::metrics::REDIS_ERRORS, "operation" => what).increment(1);
                warn!(error = %e, operation = what, "Redis operation failed");
                self.set_up(false);
                None
            }
            Err(_) => {
                metrics::counter!(crate::metrics::REDIS_ERRORS, "operation" => what).increment(1);
                warn!(operation = what, "Redis did not answer in time");
                self.set_up(false);
                None
            }
        }
    }

    /// One request against the shared limiter `key`: `Some(0)` allowed, `Some(µs)` refused
    /// for that long, `None` when Redis cannot say (the caller counts locally).
    pub async fn rate_limit(&self, key: &str, emission_us: u64, tolerance_us: u64) -> Option<u64> {
        if !self.is_up() {
            return None;
        }
        let mut conn = self.conn.clone();
        let mut invocation = self.gcra.key(format!("{PREFIX}rate:{key}"));
        invocation.arg(emission_us).arg(tolerance_us);
        let result = tokio::time::timeout(TIMEOUT, invocation.invoke_async::<u64>(&mut conn)).await;
        self.settle("rate_limit", result)
    }
}

#[async_trait::async_trait]
impl tc_domain::SharedState for Redis {
    async fn credential_generation(&self) -> Option<u64> {
        let op = redis::Cmd::get(CREDENTIAL_GENERATION);
        let value: Option<u64> = self.run("get_generation", op).await?;
        let outages = self.outages.load(Ordering::Acquire);
        Some(value.unwrap_or(0).wrapping_add(outages << 40))
    }

    async fn bump_credential_generation(&self) -> bool {
        // Tried even while marked down: a revocation is worth one short wait.
        let mut conn = self.conn.clone();
        let op = redis::Cmd::incr(CREDENTIAL_GENERATION, 1);
        let result = tokio::time::timeout(TIMEOUT, op.query_async::<u64>(&mut conn)).await;
        self.settle("bump_generation", result).is_some()
    }
}
