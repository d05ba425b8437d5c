//! Configuration: one typed [`Config`], loaded once at start from defaults, then an optional TOML
//! file (`TEAMCONTEXT_CONFIG` or `--config`), then the environment, which wins. Every value is
//! validated here; a bad one stops the server with an error naming the variable. File keys are
//! the variable names in lower case (`bind_addr = "0.0.0.0:8080"`). Secrets are hidden from
//! `Debug` so the configuration can be logged.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tc_domain::EmailVerification;
use tc_domain::services::Registration;
use tc_embed::Precision;

/// Every variable the server reads, with its default and meaning; the README's table is this
/// list. Keeping it in one place lets unknown keys in the config file be reported.
pub const VARIABLES: &[(&str, &str, &str)] = &[
    ("TEAMCONTEXT_DATA_DIR", "./data", "where the SQLite database and generated secrets live"),
    (
        "DATABASE_URL",
        "sqlite in the data dir",
        "`sqlite:///path/to.db`, or `postgres://user:password@host:5432/db` (PostgreSQL with pgvector, for several replicas; needs JWT_SECRET_KEY)",
    ),
    (
        "REDIS_URL",
        "(none)",
        "`redis://[user:password@]host:6379[/db]`, or `rediss://…` for TLS: shares rate limits and credential revocations between replicas",
    ),
    (
        "REDIS_CA_FILE",
        "(system roots)",
        "PEM file of the certificate authority that signed a `rediss://` server's certificate, when it is not a public one",
    ),
    ("BIND_ADDR", "127.0.0.1:8080", "address and port to listen on"),
    ("MAX_CONNECTIONS", "1024", "open connections at most; more wait until one closes"),
    (
        "CONNECTION_IDLE_SECS",
        "60",
        "a connection on which nothing is read or written this long is closed",
    ),
    (
        "JWT_SECRET_KEY",
        "generated",
        "HS256 secret (≥ 32 bytes); generated and kept in the data dir if unset",
    ),
    ("ACCESS_TOKEN_TTL_SECS", "900", "access token lifetime"),
    ("REFRESH_TOKEN_TTL_SECS", "604800", "refresh token lifetime (7 days)"),
    ("API_KEY_ROTATION_GRACE_SECS", "86400", "how long a rotated API key keeps working"),
    (
        "AUTH_CACHE_TTL_MS",
        "1000",
        "how long a credential lookup is reused (revocations apply at once on this server, and on every replica with REDIS_URL; without Redis, other replicas within this time); `0` disables",
    ),
    ("EMAIL_VERIFICATION", "off", "`off`, `limited` (may save, not retrieve) or `required`"),
    (
        "REGISTRATION",
        "`open` on a loopback BIND_ADDR, else `invite`",
        "who may register: `open` (anyone who reaches the server), `invite` (holders of a `teamcontext user invite` token) or `closed`",
    ),
    (
        "TRUSTED_PROXIES",
        "(none)",
        "comma-separated addresses or CIDRs of reverse proxies whose `X-Forwarded-For` / `Forwarded` header names the client (for per-IP limits and logs)",
    ),
    ("ALLOWED_ORIGINS", "(none)", "comma-separated origins allowed by CORS, or `*`"),
    (
        "MCP_ALLOWED_HOSTS",
        "localhost,127.0.0.1,::1",
        "`Host` values /mcp accepts (DNS-rebinding guard): add the name clients use, or `*`",
    ),
    (
        "RATE_LIMIT_PER_KEY_PER_MIN",
        "100",
        "requests per minute per API key or user session; 0 disables",
    ),
    ("RATE_LIMIT_PER_KEY_BURST", "120", "burst allowance per API key or user session"),
    ("RATE_LIMIT_PER_IP_PER_MIN", "200", "requests per minute per client IP; 0 disables"),
    ("RATE_LIMIT_SEARCH_PER_MIN", "30", "searches per minute per caller; 0 disables"),
    (
        "RATE_LIMIT_LOGIN_PER_MIN",
        "10",
        "login attempts per minute per account, from any address (password guessing); 0 disables",
    ),
    (
        "EMBEDDING_PROVIDER",
        "local",
        "`local` (all-MiniLM-L6-v2 in process) or `openai` (any OpenAI-compatible /embeddings endpoint)",
    ),
    (
        "EMBEDDING_MODEL_DIR",
        "DATA_DIR/models/all-MiniLM-L6-v2",
        "local model files, ONNX graphs and ONNX Runtime library (`make model` fetches them)",
    ),
    (
        "EMBEDDING_PRECISION",
        "fp32",
        "local model: `fp32` (identical to sentence-transformers) or `int8` (about 2x faster, vectors within cosine 0.99)",
    ),
    ("EMBEDDING_BASE_URL", "(none)", "openai provider: base URL, e.g. http://127.0.0.1:11434/v1"),
    ("EMBEDDING_API_KEY", "(none)", "openai provider: bearer key, if the endpoint needs one"),
    ("EMBEDDING_MODEL", "(none)", "openai provider: model name"),
    ("EMBEDDING_DIMENSION", "(none)", "openai provider: vector length the model returns"),
    ("DEFAULT_LLM_MODEL", "claude-3-sonnet", "model whose input price values retrieved context"),
    ("METRICS_TOKEN", "(none)", "if set, /api/v1/metrics requires `Authorization: Bearer <token>`"),
    (
        "SCAN_ALLOWED_HOSTS",
        "(none)",
        "internal git hosts scans may clone from (comma-separated; `*` any; `file` allows file://)",
    ),
    ("SCAN_MAX_FILE_BYTES", "1048576", "files larger than this are skipped by scans"),
    ("SCAN_MAX_UPLOAD_BYTES", "209715200", "largest scan upload (files or archive)"),
    ("JOB_WORKERS", "1", "background job workers in this process (scans embed on the CPU)"),
    ("JOB_LEASE_SECS", "30", "how long a job waits before another worker takes over a dead one"),
    (
        "LLM_PRICES",
        "(built in)",
        "extra or changed prices, `model=USD per million input tokens`, comma-separated",
    ),
    ("CONTEXT_WARN_TOKENS", "10000", "saves above this many tokens get a warning"),
    (
        "CONTEXT_CHUNK_TOKENS",
        "100000",
        "saves above this many tokens are split into searchable chunks",
    ),
    ("MAX_BODY_BYTES", "10485760", "largest accepted request body (413 above it)"),
    ("LOG_FORMAT", "auto", "`json`, `pretty`, or `auto` (pretty on a terminal, JSON otherwise)"),
    ("LOG_LEVEL", "info", "a tracing filter such as `info` or `teamcontext=debug,info`"),
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid {name}: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("cannot read config file {path}: {reason}")]
    File { path: PathBuf, reason: String },
}

fn invalid(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { name, reason: reason.into() }
}

/// A secret string whose `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<hidden>)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Auto,
    Json,
    Pretty,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origins {
    None,
    Any,
    List(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    pub per_key_per_min: u32,
    pub per_key_burst: u32,
    pub per_ip_per_min: u32,
    pub search_per_min: u32,
    pub login_per_min: u32,
}

#[derive(Debug, Clone)]
pub enum EmbeddingConfig {
    Local { model_dir: PathBuf, precision: Precision },
    OpenAi { base_url: String, api_key: Option<Secret>, model: String, dimension: usize },
}

/// Where the data lives.
#[derive(Debug, Clone)]
pub enum DatabaseConfig {
    /// One SQLite file (the embedded default).
    Sqlite { path: PathBuf },
    /// A PostgreSQL database shared by any number of replicas.
    Postgres { url: Secret },
}

impl DatabaseConfig {
    /// Names the database for logs and messages, without credentials.
    pub fn describe(&self) -> String {
        match self {
            DatabaseConfig::Sqlite { path } => path.display().to_string(),
            DatabaseConfig::Postgres { url } => {
                let rest = url.0.split_once("://").map_or(url.0.as_str(), |(_, rest)| rest);
                let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
                format!("postgres://{host}")
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    /// `REDIS_URL`: state shared between replicas.
    pub redis_url: Option<Secret>,
    /// `REDIS_CA_FILE`: the authority a `rediss://` server's certificate is checked against.
    pub redis_ca_file: Option<PathBuf>,
    pub bind_addr: SocketAddr,
    pub max_connections: usize,
    pub connection_idle_secs: u64,
    pub jwt_secret: Option<Secret>,
    /// The bearer token `/metrics` requires, if any.
    pub metrics_token: Option<Secret>,
    pub scan_allowed_hosts: Vec<String>,
    pub scan_max_file_bytes: u64,
    pub scan_max_upload_bytes: usize,
    pub job_workers: usize,
    pub job_lease_secs: u64,
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_secs: i64,
    pub rotation_grace_secs: i64,
    pub auth_cache_ttl_ms: u64,
    pub email_verification: EmailVerification,
    pub registration: Registration,
    /// `TRUSTED_PROXIES`: peers whose forwarding headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub allowed_origins: Origins,
    /// `Host` header values the MCP endpoint accepts; empty means any.
    pub mcp_allowed_hosts: Vec<String>,
    pub rate_limits: RateLimitConfig,
    pub max_body_bytes: usize,
    pub embedding: EmbeddingConfig,
    /// The model that values savings and its price per million input tokens.
    pub pricing_model: String,
    pub price_per_mtok: f64,
    /// Input price per million tokens of every model reports may value savings at.
    pub llm_prices: std::collections::BTreeMap<String, f64>,
    pub context_limits: tc_domain::services::ContextLimits,
    pub log_format: LogFormat,
    pub log_level: String,
}

impl Config {
    /// Loads from the process environment, reading the file named by `file` or
    /// `TEAMCONTEXT_CONFIG` first.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| env.get("TEAMCONTEXT_CONFIG").map(PathBuf::from));
        Self::from_sources(file.as_deref(), &env)
    }

    /// Loads from an explicit environment map (tests use this to avoid touching the process's).
    pub fn from_sources(
        file: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let mut values = match file {
            Some(path) => read_file(path)?,
            None => HashMap::new(),
        };
        for (name, _, _) in VARIABLES {
            if let Some(v) = env.get(*name) {
                values.insert((*name).to_string(), v.clone());
            }
        }
        let get = |name: &str| values.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());

        let data_dir = PathBuf::from(get("TEAMCONTEXT_DATA_DIR").unwrap_or("./data"));
        let database = match get("DATABASE_URL") {
            None => DatabaseConfig::Sqlite { path: data_dir.join("teamcontext.db") },
            Some(url) => parse_database_url(url)?,
        };
        let redis_url = match get("REDIS_URL") {
            None => None,
            Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
                Some(Secret(url.to_string()))
            }
            Some(_) => {
                return Err(invalid("REDIS_URL", "is not a redis:// or rediss:// URL".to_string()));
            }
        };
        let redis_ca_file = get("REDIS_CA_FILE").map(PathBuf::from);
        if redis_ca_file.is_some()
            && !redis_url.as_ref().is_some_and(|u| u.0.starts_with("rediss://"))
        {
            return Err(invalid("REDIS_CA_FILE", "needs a rediss:// REDIS_URL"));
        }
        let jwt_secret = get("JWT_SECRET_KEY").map(|s| Secret(s.to_string()));
        if let Some(secret) = &jwt_secret
            && secret.0.len() < 32
        {
            return Err(invalid("JWT_SECRET_KEY", "must be at least 32 bytes"));
        }
        if matches!(database, DatabaseConfig::Postgres { .. }) && jwt_secret.is_none() {
            // A generated secret lives in one replica's data dir; the others would reject its
            // tokens.
            return Err(invalid(
                "JWT_SECRET_KEY",
                "is required with a PostgreSQL DATABASE_URL (every replica must sign with the same secret)",
            ));
        }
        let email_verification = match get("EMAIL_VERIFICATION") {
            None => EmailVerification::Off,
            Some(v) => EmailVerification::parse(v).ok_or_else(|| {
                invalid("EMAIL_VERIFICATION", format!("{v:?} is not off, limited or required"))
            })?,
        };
        let bind_addr = match get("BIND_ADDR") {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(v) => v.parse().map_err(|_| {
                invalid("BIND_ADDR", format!("{v:?} is not an address like 127.0.0.1:8080"))
            })?,
        };
        // A server only this machine reaches may let anyone register; one others reach must
        // not, unless its operator says so.
        let registration = match get("REGISTRATION") {
            None if bind_addr.ip().is_loopback() => Registration::Open,
            None => Registration::Invite,
            Some(v) => Registration::parse(v).ok_or_else(|| {
                invalid("REGISTRATION", format!("{v:?} is not open, invite or closed"))
            })?,
        };
        let mut trusted_proxies = Vec::new();
        for item in get("TRUSTED_PROXIES").unwrap_or("").split(',').map(str::trim) {
            if item.is_empty() {
                continue;
            }
            let net = item
                .parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    invalid(
                        "TRUSTED_PROXIES",
                        format!("{item:?} is not an address or CIDR like 10.0.0.0/8"),
                    )
                })?;
            trusted_proxies.push(net.trunc());
        }
        let allowed_origins = match get("ALLOWED_ORIGINS") {
            None => Origins::None,
            Some("*") => Origins::Any,
            Some(list) => {
                let mut origins = Vec::new();
                for origin in list.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                    if !(origin.starts_with("http://") || origin.starts_with("https://"))
                        || origin.ends_with('/')
                    {
                        return Err(invalid(
                            "ALLOWED_ORIGINS",
                            format!("{origin:?} is not an origin like https://app.example.com"),
                        ));
                    }
                    origins.push(origin.to_string());
                }
                Origins::List(origins)
            }
        };
        let mcp_allowed_hosts = match get("MCP_ALLOWED_HOSTS") {
            None => vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            Some("*") => Vec::new(),
            Some(list) => {
                let hosts: Vec<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(str::to_string)
                    .collect();
                if let Some(bad) = hosts.iter().find(|h| h.contains(['/', ' ', '@'])) {
                    return Err(invalid(
                        "MCP_ALLOWED_HOSTS",
                        format!("{bad:?} is not a host name or host:port"),
                    ));
                }
                hosts
            }
        };
        let log_format = match get("LOG_FORMAT") {
            None | Some("auto") => LogFormat::Auto,
            Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(v) => {
                return Err(invalid("LOG_FORMAT", format!("{v:?} is not auto, json or pretty")));
            }
        };
        let log_level = get("LOG_LEVEL").unwrap_or("info").to_string();
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(invalid("LOG_LEVEL", format!("{log_level:?} is not a valid filter")));
        }
        let ttl = |name: &'static str, default: i64| -> Result<i64, ConfigError> {
            let v: i64 = number(name, get(name), default)?;
            if v <= 0 {
                return Err(invalid(name, "must be a positive number of seconds"));
            }
            Ok(v)
        };
        let embedding = match get("EMBEDDING_PROVIDER").unwrap_or("local") {
            "local" => EmbeddingConfig::Local {
                model_dir: get("EMBEDDING_MODEL_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| data_dir.join("models").join("all-MiniLM-L6-v2")),
                precision: match get("EMBEDDING_PRECISION").unwrap_or("fp32") {
                    "fp32" => Precision::Fp32,
                    "int8" => Precision::Int8,
                    other => {
                        return Err(invalid(
                            "EMBEDDING_PRECISION",
                            format!("{other:?} is neither `fp32` nor `int8`"),
                        ));
                    }
                },
            },
            "openai" => {
                let required = |name: &'static str| {
                    get(name)
                        .map(str::to_string)
                        .ok_or_else(|| invalid(name, "is required when EMBEDDING_PROVIDER=openai"))
                };
                let base_url = required("EMBEDDING_BASE_URL")?;
                if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
                    return Err(invalid(
                        "EMBEDDING_BASE_URL",
                        format!("{base_url:?} is not an http(s) URL"),
                    ));
                }
                let dimension: usize =
                    number("EMBEDDING_DIMENSION", Some(&required("EMBEDDING_DIMENSION")?), 0)?;
                if dimension == 0 {
                    return Err(invalid("EMBEDDING_DIMENSION", "must be a positive number"));
                }
                EmbeddingConfig::OpenAi {
                    base_url,
                    api_key: get("EMBEDDING_API_KEY").map(|k| Secret(k.to_string())),
                    model: required("EMBEDDING_MODEL")?,
                    dimension,
                }
            }
            other => {
                return Err(invalid(
                    "EMBEDDING_PROVIDER",
                    format!("{other:?} is not local or openai"),
                ));
            }
        };
        let mut prices = tc_domain::services::default_prices();
        if let Some(list) = get("LLM_PRICES") {
            for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                let parsed = item
                    .split_once('=')
                    .and_then(|(m, p)| Some((m.trim(), p.trim().parse::<f64>().ok()?)));
                match parsed {
                    Some((model, price)) if !model.is_empty() && price >= 0.0 => {
                        prices.insert(model.to_string(), price);
                    }
                    _ => return Err(invalid("LLM_PRICES", format!("{item:?} is not model=price"))),
                }
            }
        }
        let pricing_model = get("DEFAULT_LLM_MODEL").unwrap_or("claude-3-sonnet").to_string();
        let price_per_mtok = *prices.get(&pricing_model).ok_or_else(|| {
            invalid(
                "DEFAULT_LLM_MODEL",
                format!("no price for {pricing_model:?}; add it with LLM_PRICES"),
            )
        })?;
        let context_limits = tc_domain::services::ContextLimits {
            warn_tokens: number("CONTEXT_WARN_TOKENS", get("CONTEXT_WARN_TOKENS"), 10_000)?,
            chunk_above_tokens: number(
                "CONTEXT_CHUNK_TOKENS",
                get("CONTEXT_CHUNK_TOKENS"),
                100_000,
            )?,
        };
        if context_limits.chunk_above_tokens < 1000 {
            return Err(invalid("CONTEXT_CHUNK_TOKENS", "must be at least 1000"));
        }
        let config = Config {
            context_limits,
            embedding,
            pricing_model,
            price_per_mtok,
            llm_prices: prices,
            mcp_allowed_hosts,
            bind_addr,
            max_connections: match number("MAX_CONNECTIONS", get("MAX_CONNECTIONS"), 1024)? {
                0 => return Err(invalid("MAX_CONNECTIONS", "must be at least 1")),
                n => n,
            },
            connection_idle_secs: match number(
                "CONNECTION_IDLE_SECS",
                get("CONNECTION_IDLE_SECS"),
                60,
            )? {
                0 => return Err(invalid("CONNECTION_IDLE_SECS", "must be at least 1")),
                n => n,
            },
            access_token_ttl_secs: ttl("ACCESS_TOKEN_TTL_SECS", 900)?,
            refresh_token_ttl_secs: ttl("REFRESH_TOKEN_TTL_SECS", 7 * 24 * 3600)?,
            rotation_grace_secs: ttl("API_KEY_ROTATION_GRACE_SECS", 24 * 3600)?,
            auth_cache_ttl_ms: number("AUTH_CACHE_TTL_MS", get("AUTH_CACHE_TTL_MS"), 1000)?,
            rate_limits: RateLimitConfig {
                per_key_per_min: number(
                    "RATE_LIMIT_PER_KEY_PER_MIN",
                    get("RATE_LIMIT_PER_KEY_PER_MIN"),
                    100,
                )?,
                per_key_burst: number(
                    "RATE_LIMIT_PER_KEY_BURST",
                    get("RATE_LIMIT_PER_KEY_BURST"),
                    120,
                )?,
                per_ip_per_min: number(
                    "RATE_LIMIT_PER_IP_PER_MIN",
                    get("RATE_LIMIT_PER_IP_PER_MIN"),
                    200,
                )?,
                search_per_min: number(
                    "RATE_LIMIT_SEARCH_PER_MIN",
                    get("RATE_LIMIT_SEARCH_PER_MIN"),
                    30,
                )?,
                login_per_min: number(
                    "RATE_LIMIT_LOGIN_PER_MIN",
                    get("RATE_LIMIT_LOGIN_PER_MIN"),
                    10,
                )?,
            },
            max_body_bytes: number("MAX_BODY_BYTES", get("MAX_BODY_BYTES"), 10 * 1024 * 1024)?,
            data_dir,
            database,
            redis_url,
            redis_ca_file,
            jwt_secret,
            metrics_token: get("METRICS_TOKEN").filter(|t| !t.is_empty()).map(|t| Secret(t.into())),
            scan_allowed_hosts: get("SCAN_ALLOWED_HOSTS")
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(str::to_string)
                .collect(),
            scan_max_file_bytes: number(
                "SCAN_MAX_FILE_BYTES",
                get("SCAN_MAX_FILE_BYTES"),
                1024 * 1024,
            )?,
            scan_max_upload_bytes: number(
                "SCAN_MAX_UPLOAD_BYTES",
                get("SCAN_MAX_UPLOAD_BYTES"),
                200 * 1024 * 1024,
            )?,
            job_workers: number("JOB_WORKERS", get("JOB_WORKERS"), 1)?,
            job_lease_secs: match number("JOB_LEASE_SECS", get("JOB_LEASE_SECS"), 30)? {
                0 => return Err(invalid("JOB_LEASE_SECS", "must be at least 1")),
                n => n,
            },
            email_verification,
            registration,
            trusted_proxies,
            allowed_origins,
            log_format,
            log_level,
        };
        if config.max_body_bytes < 1024 {
            return Err(invalid("MAX_BODY_BYTES", "must be at least 1024"));
        }
        Ok(config)
    }
}

fn number<T: std::str::FromStr>(
    name: &'static str,
    value: Option<&str>,
    default: T,
) -> Result<T, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| invalid(name, format!("{v:?} is not a valid number"))),
    }
}

fn parse_database_url(url: &str) -> Result<DatabaseConfig, ConfigError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(DatabaseConfig::Postgres { url: Secret(url.to_string()) });
    }
    let path =
        url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).ok_or_else(|| {
            invalid("DATABASE_URL", "is neither a sqlite: nor a postgres:// URL".to_string())
        })?;
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path == ":memory:" {
        return Err(invalid(
            "DATABASE_URL",
            "needs a file path (an in-memory database loses everything)",
        ));
    }
    Ok(DatabaseConfig::Sqlite { path: PathBuf::from(path) })
}

fn read_file(path: &Path) -> Result<HashMap<String, String>, ConfigError> {
    let file_err = |reason: String| ConfigError::File { path: path.to_path_buf(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| file_err(e.to_string()))?;
    let mut values = HashMap::new();
    for (key, value) in table {
        let name = key.to_uppercase();
        if !VARIABLES.iter().any(|(n, _, _)| *n == name) {
            return Err(file_err(format!("unknown setting {key:?}")));
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string).unwrap_or_else(|| i.to_string()))
                .collect::<Vec<_>>()
                .join(","),
            other => return Err(file_err(format!("{key}: unsupported value {other}"))),
        };
        values.insert(name, text);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// A variable read but not listed would be ignored in the environment (the environment is
    /// read through the list); this once hid AUTH_CACHE_TTL_MS.
    #[test]
    fn every_variable_read_is_listed() {
        let source = include_str!("config.rs");
        for read in source.split("get(\"").skip(1) {
            let name = &read[..read.find('"').unwrap()];
            if name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                && name != "TEAMCONTEXT_CONFIG"
            {
                assert!(VARIABLES.iter().any(|(n, _, _)| *n == name), "{name} is not in VARIABLES");
            }
        }
        let c = Config::from_sources(None, &env(&[("AUTH_CACHE_TTL_MS", "0")])).unwrap();
        assert_eq!(c.auth_cache_ttl_ms, 0);
    }

    #[test]
    fn postgres_urls_need_a_shared_jwt_secret() {
        let url = ("DATABASE_URL", "postgres://tc:pw@db.internal:5432/teamcontext");
        let err = Config::from_sources(None, &env(&[url])).unwrap_err().to_string();
        assert!(err.contains("JWT_SECRET_KEY"), "{err}");
        let secret = ("JWT_SECRET_KEY", "0123456789abcdef0123456789abcdef");
        let c = Config::from_sources(None, &env(&[url, secret])).unwrap();
        assert!(matches!(c.database, DatabaseConfig::Postgres { .. }));
        // Logs name the host, never the password.
        assert_eq!(c.database.describe(), "postgres://db.internal:5432/teamcontext");
    }

    #[test]
    fn redis_urls_may_use_tls_with_a_private_authority() {
        let tls = ("REDIS_URL", "rediss://cache.internal:6380/0");
        let ca = ("REDIS_CA_FILE", "/etc/teamcontext/redis-ca.pem");
        let c = Config::from_sources(None, &env(&[tls, ca])).unwrap();
        assert_eq!(c.redis_url.unwrap().0, "rediss://cache.internal:6380/0");
        assert_eq!(c.redis_ca_file.unwrap(), Path::new("/etc/teamcontext/redis-ca.pem"));
        let plain = ("REDIS_URL", "redis://cache.internal:6379");
        let err = Config::from_sources(None, &env(&[plain, ca])).unwrap_err().to_string();
        assert!(err.contains("REDIS_CA_FILE") && err.contains("rediss://"), "{err}");
        let other = ("REDIS_URL", "http://cache.internal");
        let err = Config::from_sources(None, &env(&[other])).unwrap_err().to_string();
        assert!(err.contains("REDIS_URL"), "{err}");
    }

    #[test]
    fn defaults() {
        let c = Config::from_sources(None, &env(&[])).unwrap();
        assert_eq!(c.bind_addr.to_string(), "127.0.0.1:8080");
        assert!(
            matches!(&c.database, DatabaseConfig::Sqlite { path } if path == Path::new("./data/teamcontext.db"))
        );
        assert_eq!(c.rate_limits.per_key_per_min, 100);
        assert_eq!(c.rate_limits.per_key_burst, 120);
        assert_eq!(c.email_verification, EmailVerification::Off);
        assert_eq!(c.price_per_mtok, 3.0);
        assert!(matches!(c.embedding, EmbeddingConfig::Local { .. }));
        assert_eq!(c.registration, Registration::Open, "on a loopback address");
        assert!(c.trusted_proxies.is_empty());
    }

    #[test]
    fn a_server_others_reach_registers_by_invitation_unless_told_otherwise() {
        let public = ("BIND_ADDR", "0.0.0.0:8080");
        let c = Config::from_sources(None, &env(&[public])).unwrap();
        assert_eq!(c.registration, Registration::Invite);
        let c = Config::from_sources(None, &env(&[public, ("REGISTRATION", "open")])).unwrap();
        assert_eq!(c.registration, Registration::Open);
        let c = Config::from_sources(None, &env(&[("REGISTRATION", "closed")])).unwrap();
        assert_eq!(c.registration, Registration::Closed);
    }

    #[test]
    fn trusted_proxies_are_addresses_and_networks() {
        let list = ("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7 ,fd00::/8");
        let c = Config::from_sources(None, &env(&[list])).unwrap();
        let nets: Vec<String> = c.trusted_proxies.iter().map(|n| n.to_string()).collect();
        assert_eq!(nets, ["10.0.0.0/8", "192.168.1.7/32", "fd00::/8"]);
    }

    #[test]
    fn openai_embedding_needs_its_settings() {
        let err =
            Config::from_sources(None, &env(&[("EMBEDDING_PROVIDER", "openai")])).unwrap_err();
        assert!(err.to_string().contains("EMBEDDING_BASE_URL"), "{err}");
        let c = Config::from_sources(
            None,
            &env(&[
                ("EMBEDDING_PROVIDER", "openai"),
                ("EMBEDDING_BASE_URL", "http://127.0.0.1:11434/v1"),
                ("EMBEDDING_MODEL", "nomic-embed-text"),
                ("EMBEDDING_DIMENSION", "768"),
                ("LLM_PRICES", "local-llama=0, gpt-4o=2.5"),
                ("DEFAULT_LLM_MODEL", "gpt-4o"),
            ]),
        )
        .unwrap();
        assert!(matches!(c.embedding, EmbeddingConfig::OpenAi { dimension: 768, .. }));
        assert_eq!(c.price_per_mtok, 2.5);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("BIND_ADDR", "localhost"),
            ("ACCESS_TOKEN_TTL_SECS", "-5"),
            ("EMAIL_VERIFICATION", "sometimes"),
            ("JWT_SECRET_KEY", "short"),
            ("DATABASE_URL", "mysql://x"),
            ("ALLOWED_ORIGINS", "example.com"),
            ("RATE_LIMIT_PER_IP_PER_MIN", "lots"),
            ("LOG_FORMAT", "xml"),
            ("EMBEDDING_PROVIDER", "magic"),
            ("EMBEDDING_PRECISION", "fp16"),
            ("DEFAULT_LLM_MODEL", "gpt-9"),
            ("LLM_PRICES", "gpt-9"),
            ("REGISTRATION", "sometimes"),
            ("TRUSTED_PROXIES", "10.0.0.0/33"),
            ("TRUSTED_PROXIES", "proxy.internal"),
        ] {
            let err = Config::from_sources(None, &env(&[(name, value)])).unwrap_err().to_string();
            assert!(err.contains(name), "{err} should name {name}");
        }
    }

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tc.toml");
        std::fs::write(&path, "bind_addr = \"0.0.0.0:9000\"\nrate_limit_per_ip_per_min = 7\n")
            .unwrap();
        let c =
            Config::from_sources(Some(&path), &env(&[("RATE_LIMIT_PER_IP_PER_MIN", "9")])).unwrap();
        assert_eq!(c.bind_addr.to_string(), "0.0.0.0:9000");
        assert_eq!(c.rate_limits.per_ip_per_min, 9, "environment wins");

        std::fs::write(&path, "bind_adr = \"x\"\n").unwrap();
        let err = Config::from_sources(Some(&path), &env(&[])).unwrap_err().to_string();
        assert!(err.contains("bind_adr"), "{err}");
        assert!(
            format!(
                "{:?}",
                Config::from_sources(None, &env(&[("JWT_SECRET_KEY", &"s".repeat(40))])).unwrap()
            )
            .contains("<hidden>")
        );
    }
}
