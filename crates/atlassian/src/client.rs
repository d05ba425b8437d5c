//! The HTTP side of every Atlassian call: authentication, timeouts, the retry policy, the
//! circuit breaker, and Atlassian's error bodies turned into [`AtlassianError`].
//!
//! Retries (reads, and writes only on 429, which Atlassian did not process): on 429, 502, 503,
//! 504 and on timeouts or dropped connections, never on other statuses. The delay is the
//! server's `Retry-After` (seconds or an HTTP date) clamped to the policy's bounds, so neither
//! `Retry-After: 0` (a storm) nor a huge value (a stuck job) is obeyed literally; without one it
//! is exponential backoff with full jitter. A connection whose calls keep failing opens its
//! circuit: calls fail at once for a cool-down, then one probe decides.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use parking_lot::Mutex;
use rand::Rng;
use reqwest::{Method, StatusCode, header};
use serde_json::Value;
use tc_outbound::AllowList;
use tracing::{debug, warn};
use uuid::Uuid;

/// What went wrong talking to Atlassian, in terms a person can act on. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AtlassianError {
    /// The URL is not one the server may reach, or not a URL.
    #[error("{0}")]
    Refused(String),
    /// 401: the token is wrong, expired or revoked.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the account may not do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// 400 with Atlassian's own explanation (a JQL error, say).
    #[error("{0}")]
    BadRequest(String),
    /// 429 after every retry.
    #[error("{0}")]
    RateLimited(String),
    /// The site could not be reached or kept failing (5xx, timeouts, an open circuit).
    #[error("{0}")]
    Unavailable(String),
    /// The answer was not what the API documents.
    #[error("{0}")]
    Protocol(String),
}

/// How a connection authenticates.
#[derive(Clone)]
pub enum Auth {
    /// A Data Center personal access token or an OAuth access token.
    Bearer(String),
    /// A Cloud API token with the account's email.
    Basic { email: String, token: String },
    /// No credentials (OAuth's token endpoint: the client secret is in the body).
    None,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Bearer(_) => f.write_str("Bearer(…)"),
            Auth::Basic { email, .. } => write!(f, "Basic({email}, …)"),
            Auth::None => f.write_str("None"),
        }
    }
}

impl Auth {
    fn header(&self) -> Option<String> {
        match self {
            Auth::Bearer(token) => Some(format!("Bearer {token}")),
            Auth::Basic { email, token } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{email}:{token}"))
            )),
            Auth::None => None,
        }
    }
}

/// Timeouts, retries and the circuit breaker's thresholds.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// One request, connection to last byte.
    pub timeout: Duration,
    /// Tries of one call, the first included.
    pub max_attempts: u32,
    /// The first backoff; it doubles per retry.
    pub base_delay: Duration,
    /// No wait (backoff or `Retry-After`) is shorter than this...
    pub min_delay: Duration,
    /// ...or longer than this.
    pub max_delay: Duration,
    /// Consecutive failed calls that open a connection's circuit.
    pub breaker_threshold: u32,
    /// How long an open circuit refuses calls before one probe.
    pub breaker_cooldown: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            timeout: Duration::from_secs(30),
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Default)]
struct BreakerState {
    failures: u32,
    open_until: Option<Instant>,
}

/// The circuit breakers of every connection, shared by the server's calls.
#[derive(Debug, Default, Clone)]
pub struct Breakers {
    states: Arc<Mutex<HashMap<Uuid, BreakerState>>>,
}

impl Breakers {
    /// Refuses a call while the connection's circuit is open.
    fn check(&self, connection: Uuid) -> Result<(), AtlassianError> {
        let states = self.states.lock();
        match states.get(&connection).and_then(|s| s.open_until) {
            Some(until) if until > Instant::now() => Err(AtlassianError::Unavailable(format!(
                "Atlassian kept failing, so calls pause for {} s more before trying again",
                until.saturating_duration_since(Instant::now()).as_secs() + 1
            ))),
            _ => Ok(()),
        }
    }

    fn record(&self, connection: Uuid, ok: bool, policy: &RetryPolicy) {
        let mut states = self.states.lock();
        let state = states.entry(connection).or_default();
        if ok {
            *state = BreakerState::default();
            return;
        }
        state.failures += 1;
        if state.failures >= policy.breaker_threshold {
            warn!(%connection, failures = state.failures, "Atlassian circuit open");
            state.open_until = Some(Instant::now() + policy.breaker_cooldown);
        }
    }
}

/// One Atlassian site as one connection reaches it: the API's base URL, the credentials, the
/// HTTP client (checked against the outbound rule), the policy and the shared breakers.
#[derive(Clone)]
pub struct Endpoint {
    base: String,
    auth: Auth,
    http: reqwest::Client,
    policy: RetryPolicy,
    breakers: Breakers,
    connection: Uuid,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("base", &self.base).field("auth", &self.auth).finish()
    }
}

/// A successful answer: its JSON body and the headers worth keeping.
#[derive(Debug, Clone)]
pub struct Answer {
    pub body: Value,
    /// The `Link: <…>; rel="next"` target, when the server sent one.
    pub link_next: Option<String>,
}

impl Endpoint {
    /// An endpoint for the API under `base` (no trailing slash needed).
    pub fn new(
        connection: Uuid,
        base: &str,
        auth: Auth,
        allow: &AllowList,
        policy: RetryPolicy,
        breakers: Breakers,
    ) -> Result<Self, AtlassianError> {
        let base = base.trim().trim_end_matches('/').to_string();
        let builder = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("TeamContext/", env!("CARGO_PKG_VERSION")));
        let http = tc_outbound::http_client("the Atlassian URL", builder, &[&base], allow)
            .map_err(|e| AtlassianError::Refused(e.0))?;
        Ok(Endpoint { base, auth, http, policy, breakers, connection })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET base + path` with query parameters.
    pub async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Answer, AtlassianError> {
        self.call(Method::GET, path, query, None).await
    }

    /// `POST base + path` with a JSON body. Retried only where the server did not act on it.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Answer, AtlassianError> {
        self.call(Method::POST, path, &[], Some(body)).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Answer, AtlassianError> {
        self.breakers.check(self.connection)?;
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            // A link the server sent (a next page) is followed only to the same site: the
            // credentials go nowhere else.
            if origin(path) != origin(&self.base) {
                return Err(AtlassianError::Protocol(format!(
                    "Atlassian linked to another site ({}); not followed",
                    host_of(path)
                )));
            }
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        // A read is safe to repeat; a search by POST is a read too.
        let idempotent = method == Method::GET || path.contains("/search");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .header(header::ACCEPT, "application/json")
                .query(query);
            if let Some(credentials) = self.auth.header() {
                request = request.header(header::AUTHORIZATION, credentials);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let outcome = request.send().await;
            let (retry, error) = match outcome {
                Ok(response) if response.status().is_success() => {
                    let link_next = link_next(response.headers());
                    let body = response.json::<Value>().await.map_err(|e| {
                        AtlassianError::Protocol(format!(
                            "Atlassian answered with unreadable JSON: {e}"
                        ))
                    });
                    self.breakers.record(self.connection, body.is_ok(), &self.policy);
                    return body.map(|body| Answer { body, link_next });
                }
                Ok(response) => {
                    let status = response.status();
                    let retry_after = retry_after(response.headers());
                    let text = response.text().await.unwrap_or_default();
                    let error = status_error(status, &text);
                    let transient = matches!(
                        status,
                        StatusCode::TOO_MANY_REQUESTS
                            | StatusCode::BAD_GATEWAY
                            | StatusCode::SERVICE_UNAVAILABLE
                            | StatusCode::GATEWAY_TIMEOUT
                    );
                    // A write is repeated only when the server said it did nothing (429).
                    let may_retry =
                        transient && (idempotent || status == StatusCode::TOO_MANY_REQUESTS);
                    (may_retry.then_some(retry_after), error)
                }
                Err(e) => {
                    let error = AtlassianError::Unavailable(format!(
                        "could not reach {}: {}",
                        host_of(&url),
                        describe(&e)
                    ));
                    (idempotent.then_some(None), error)
                }
            };
            let transient =
                matches!(error, AtlassianError::RateLimited(_) | AtlassianError::Unavailable(_));
            match retry {
                Some(retry_after) if attempt < self.policy.max_attempts => {
                    let delay = self.delay(attempt, retry_after);
                    debug!(%url, attempt, delay_ms = delay.as_millis() as u64, error = %error, "Atlassian call retried");
                    tokio::time::sleep(delay).await;
                }
                _ => {
                    // Only failures of the service itself count against its circuit.
                    if transient {
                        self.breakers.record(self.connection, false, &self.policy);
                    }
                    return Err(error);
                }
            }
        }
    }

    /// The wait before retry `attempt` (1-based): `Retry-After` if given, else full-jitter
    /// exponential backoff, clamped either way.
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let p = &self.policy;
        let wait = match retry_after {
            Some(d) if !d.is_zero() => d,
            _ => {
                let ceiling =
                    p.base_delay.saturating_mul(1 << (attempt - 1).min(16)).min(p.max_delay);
                let jitter = rand::rng().random_range(0.0..=1.0);
                ceiling.mul_f64(jitter)
            }
        };
        wait.clamp(p.min_delay, p.max_delay)
    }
}

/// `Retry-After` as delta-seconds or an HTTP date.
fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// The `rel="next"` target of a `Link` header.
fn link_next(headers: &header::HeaderMap) -> Option<String> {
    let value = headers.get(header::LINK)?.to_str().ok()?;
    value.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params
            .contains("rel=\"next\"")
            .then(|| target.trim().trim_start_matches('<').trim_end_matches('>').to_string())
    })
}

/// Scheme, host and port of a URL.
fn origin(url: &str) -> Option<(String, String, Option<u16>)> {
    let parsed = url::Url::parse(url).ok()?;
    Some((
        parsed.scheme().to_string(),
        parsed.host_str()?.to_string(),
        parsed.port_or_known_default(),
    ))
}

fn host_of(url: &str) -> String {
    url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default()
}

/// The innermost cause of a transport error (the outer ones repeat the URL).
fn describe(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut deepest = None;
    while let Some(s) = source {
        deepest = Some(s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        return "the request timed out".into();
    }
    deepest.unwrap_or_else(|| e.to_string())
}

/// Atlassian's error bodies: Jira's `{"errorMessages": [...], "errors": {...}}`, Confluence's
/// `{"message": ...}` or v2 `{"errors": [{"title": ...}]}`, OAuth's `{"error_description"}`.
pub fn error_message(text: &str) -> Option<String> {
    let body: Value = serde_json::from_str(text).ok()?;
    let mut parts: Vec<String> = Vec::new();
    if let Some(list) = body.get("errorMessages").and_then(Value::as_array) {
        parts.extend(list.iter().filter_map(Value::as_str).map(str::to_string));
    }
    match body.get("errors") {
        Some(Value::Object(map)) => {
            parts.extend(
                map.iter().map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default())),
            );
        }
        Some(Value::Array(list)) => parts.extend(
            list.iter()
                .filter_map(|e| e.get("title").or(e.get("detail")).and_then(Value::as_str))
                .map(str::to_string),
        ),
        _ => {}
    }
    for key in ["message", "error_description", "error"] {
        if parts.is_empty()
            && let Some(m) = body.get(key).and_then(Value::as_str)
        {
            parts.push(m.to_string());
        }
    }
    let joined = parts.join("; ");
    (!joined.is_empty()).then(|| joined.chars().take(500).collect())
}

fn status_error(status: StatusCode, text: &str) -> AtlassianError {
    let detail = error_message(text);
    let with = |lead: &str| match &detail {
        Some(d) => format!("{lead}: {d}"),
        None => lead.to_string(),
    };
    match status.as_u16() {
        400 => AtlassianError::BadRequest(with("Atlassian refused the request")),
        401 => AtlassianError::Unauthorized(with(
            "Atlassian did not accept the credentials (wrong, expired or revoked token)",
        )),
        403 => AtlassianError::Forbidden(with("the Atlassian account may not do this")),
        404 => AtlassianError::NotFound(with(
            "Atlassian has no such item, or the account cannot see it",
        )),
        410 => AtlassianError::Protocol(with("Atlassian removed this API")),
        429 => AtlassianError::RateLimited(with("Atlassian kept refusing: rate limited")),
        500..=599 => AtlassianError::Unavailable(with(&format!("Atlassian answered {status}"))),
        _ => AtlassianError::Protocol(with(&format!("Atlassian answered {status}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_messages() {
        assert_eq!(
            error_message(r#"{"errorMessages":["Field 'x' does not exist"],"errors":{}}"#).unwrap(),
            "Field 'x' does not exist"
        );
        assert_eq!(
            error_message(r#"{"errorMessages":[],"errors":{"summary":"required"}}"#).unwrap(),
            "summary: required"
        );
        assert_eq!(
            error_message(r#"{"code":401,"message":"Unauthorized; scope does not match"}"#)
                .unwrap(),
            "Unauthorized; scope does not match"
        );
        assert_eq!(
            error_message(r#"{"error":"invalid_grant","error_description":"Unknown or invalid refresh token."}"#)
                .unwrap(),
            "Unknown or invalid refresh token."
        );
        assert_eq!(error_message("<html>"), None);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_and_link_finds_next() {
        let mut headers = header::HeaderMap::new();
        headers.insert(header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(header::RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(
            header::LINK,
            r#"</wiki/api/v2/pages?cursor=abc>; rel="next", </x>; rel="base""#.parse().unwrap(),
        );
        assert_eq!(link_next(&headers).unwrap(), "/wiki/api/v2/pages?cursor=abc");
    }

    #[test]
    fn delays_are_clamped_whatever_the_server_says() {
        let policy = RetryPolicy {
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        let endpoint = Endpoint::new(
            Uuid::nil(),
            "https://acme.atlassian.net",
            Auth::Bearer("t".into()),
            &AllowList::default(),
            policy,
            Breakers::default(),
        )
        .unwrap();
        // `Retry-After: 0` is backoff, never an immediate storm.
        assert!(endpoint.delay(1, Some(Duration::ZERO)) >= Duration::from_secs(1));
        assert_eq!(endpoint.delay(1, Some(Duration::from_secs(86_400))), Duration::from_secs(10));
        assert_eq!(endpoint.delay(1, Some(Duration::from_secs(3))), Duration::from_secs(3));
        for attempt in 1..10 {
            let d = endpoint.delay(attempt, None);
            assert!(d >= Duration::from_secs(1) && d <= Duration::from_secs(10), "{d:?}");
        }
    }

    #[tokio::test]
    async fn links_to_another_site_are_not_followed() {
        let endpoint = Endpoint::new(
            Uuid::nil(),
            "https://acme.atlassian.net",
            Auth::Bearer("secret".into()),
            &AllowList::default(),
            RetryPolicy::default(),
            Breakers::default(),
        )
        .unwrap();
        let e = endpoint.get("https://evil.example/wiki/api/v2/pages?cursor=x", &[]).await;
        assert!(matches!(e, Err(AtlassianError::Protocol(m)) if m.contains("evil.example")));
    }

    #[tokio::test]
    async fn a_connection_that_keeps_failing_opens_its_circuit() {
        // Nothing listens on port 9: every call fails to connect.
        let policy = RetryPolicy {
            max_attempts: 1,
            breaker_threshold: 2,
            breaker_cooldown: Duration::from_secs(60),
            ..RetryPolicy::default()
        };
        let allow = AllowList::new(&["127.0.0.1".to_string()]);
        let breakers = Breakers::default();
        let connection = Uuid::now_v7();
        let endpoint = Endpoint::new(
            connection,
            "http://127.0.0.1:9",
            Auth::Bearer("t".into()),
            &allow,
            policy,
            breakers.clone(),
        )
        .unwrap();
        for _ in 0..2 {
            let e = endpoint.get("/rest/api/2/myself", &[]).await.unwrap_err();
            assert!(e.to_string().contains("could not reach"), "{e}");
        }
        // Open: the third call fails at once, without trying the network.
        let e = endpoint.get("/rest/api/2/myself", &[]).await.unwrap_err();
        assert!(matches!(&e, AtlassianError::Unavailable(m) if m.contains("pause")), "{e}");
        // Other connections are not affected.
        let other = Endpoint::new(
            Uuid::now_v7(),
            "http://127.0.0.1:9",
            Auth::Bearer("t".into()),
            &allow,
            policy,
            breakers,
        )
        .unwrap();
        let e = other.get("/rest/api/2/myself", &[]).await.unwrap_err();
        assert!(e.to_string().contains("could not reach"), "{e}");
    }
}
