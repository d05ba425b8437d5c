//! Every setting the server reads, declared once: its variable, its default and its meaning live
//! on one field of [`Settings`], parsed and checked by clap's derive. `config/mod.rs` feeds it
//! the file and the environment and turns it into a [`super::Config`]; the README's table is
//! rendered from the same metadata ([`markdown_table`]) and a test keeps the two equal.
//!
//! A setting with no fixed default is an `Option`; its doc comment ends with `Unset: …`, saying
//! what happens then (the README's default column). A setting that holds a secret (or a URL
//! that may carry a password) is marked `hide_env_values`, and errors never repeat its value.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use tc_domain::EmailVerification;
use tc_domain::services::Registration;
use tc_embed::Precision;

use super::{DatabaseConfig, EncryptionKey, LogFormat, Origins, Secret};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Provider {
    Local,
    Openai,
}

/// A comma-separated list (empty items ignored), as one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List<T>(pub Vec<T>);

/// `model=price` pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct Prices(pub BTreeMap<String, f64>);

#[derive(Debug, clap::Parser)]
#[command(name = "teamcontext", no_binary_name = true, disable_help_flag = true)]
pub struct Settings {
    /// where the SQLite database and generated secrets live
    #[arg(long, env = "TEAMCONTEXT_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// `sqlite:///path/to/file.db`, or `postgres://user:password@host:5432/db` for PostgreSQL with
    /// pgvector (several replicas on one database; requires `JWT_SECRET_KEY` and
    /// `ENCRYPTION_KEY`; TLS by
    /// `?sslmode=verify-full&sslrootcert=ca.pem` as with `psql`; see docs/operations.md). Unset:
    /// SQLite in the data dir
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_parser = database_url)]
    pub database_url: Option<DatabaseConfig>,

    /// `redis://[user:password@]host:6379[/db]`, or `rediss://…` for TLS: replicas share rate
    /// limits and credential revocations through it; if it goes down they keep serving (see
    /// docs/operations.md). Unset: none
    #[arg(long, env = "REDIS_URL", hide_env_values = true, value_parser = redis_url)]
    pub redis_url: Option<Secret>,

    /// the authority that signed a `rediss://` server's certificate, when it is a private one.
    /// Unset: system roots
    #[arg(long, env = "REDIS_CA_FILE")]
    pub redis_ca_file: Option<PathBuf>,

    /// address and port to listen on
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080", value_parser = socket_addr)]
    pub bind_addr: SocketAddr,

    /// open connections at most; more wait until one closes
    #[arg(long, env = "MAX_CONNECTIONS", default_value = "1024", value_parser = at_least(1usize))]
    pub max_connections: usize,

    /// a connection on which nothing is read or written this long is closed (slow or silent clients
    /// cannot hold connections)
    #[arg(long, env = "CONNECTION_IDLE_SECS", default_value = "60", value_parser = at_least(1u64))]
    pub connection_idle_secs: u64,

    /// HS256 secret, at least 32 bytes. Unset: generated into `DATA_DIR/jwt_secret`
    #[arg(long, env = "JWT_SECRET_KEY", hide_env_values = true, value_parser = jwt_secret)]
    pub jwt_secret_key: Option<Secret>,

    /// AES-256-GCM key that seals Jira and Confluence secrets: 32 bytes of base64
    /// (`openssl rand -base64 32`). Unset: generated into `DATA_DIR/encryption_key` (SQLite
    /// only; replicas on PostgreSQL must share one)
    #[arg(long, env = "ENCRYPTION_KEY", hide_env_values = true, value_parser = encryption_key)]
    pub encryption_key: Option<EncryptionKey>,

    /// keys that sealed secrets before ENCRYPTION_KEY (comma-separated base64), read until
    /// `teamcontext rotate-encryption-key` has resealed everything. Unset: none
    #[arg(long, env = "ENCRYPTION_KEY_PREVIOUS", hide_env_values = true, value_parser = encryption_keys)]
    pub encryption_key_previous: Option<List<EncryptionKey>>,

    /// the client id of the OAuth 2.0 (3LO) app registered in Atlassian's developer console,
    /// for `cloud_oauth` connections. Unset: OAuth connections are off
    #[arg(long, env = "ATLASSIAN_CLIENT_ID")]
    pub atlassian_client_id: Option<String>,

    /// that app's secret. Unset: none
    #[arg(long, env = "ATLASSIAN_CLIENT_SECRET", hide_env_values = true, value_parser = secret)]
    pub atlassian_client_secret: Option<Secret>,

    /// the callback URL registered with that app. Unset:
    /// `PUBLIC_URL/api/v1/integrations/jira/callback` (one URL serves Jira and Confluence)
    #[arg(long, env = "ATLASSIAN_REDIRECT_URI")]
    pub atlassian_redirect_uri: Option<String>,

    /// Atlassian's authorization server
    #[arg(long, env = "ATLASSIAN_AUTH_URL", default_value = "https://auth.atlassian.com")]
    pub atlassian_auth_url: String,

    /// Atlassian's API gateway for OAuth connections
    #[arg(long, env = "ATLASSIAN_API_URL", default_value = "https://api.atlassian.com")]
    pub atlassian_api_url: String,

    /// one call to Jira or Confluence may take this long
    #[arg(long, env = "ATLASSIAN_TIMEOUT_SECS", default_value = "30", value_parser = at_least(1u64))]
    pub atlassian_timeout_secs: u64,

    /// the longest wait before retrying Jira or Confluence (a larger `Retry-After` is clamped)
    #[arg(long, env = "ATLASSIAN_MAX_RETRY_DELAY_SECS", default_value = "60", value_parser = at_least(1u64))]
    pub atlassian_max_retry_delay_secs: u64,

    /// access token lifetime (15 minutes)
    #[arg(long, env = "ACCESS_TOKEN_TTL_SECS", default_value = "900", value_parser = at_least(1i64))]
    pub access_token_ttl_secs: i64,

    /// refresh token lifetime (7 days)
    #[arg(long, env = "REFRESH_TOKEN_TTL_SECS", default_value = "604800", value_parser = at_least(1i64))]
    pub refresh_token_ttl_secs: i64,

    /// a dashboard session ends after this long unused (12 hours)
    #[arg(long, env = "WEB_SESSION_IDLE_SECS", default_value = "43200", value_parser = at_least(60i64))]
    pub web_session_idle_secs: i64,

    /// a dashboard session ends this long after sign-in, however active (7 days)
    #[arg(long, env = "WEB_SESSION_MAX_SECS", default_value = "604800", value_parser = at_least(60i64))]
    pub web_session_max_secs: i64,

    /// how long a rotated API key keeps working
    #[arg(long, env = "API_KEY_ROTATION_GRACE_SECS", default_value = "86400", value_parser = at_least(1i64))]
    pub api_key_rotation_grace_secs: i64,

    /// how long a credential lookup is reused; revocations through this server apply at once
    /// (through any replica, with `REDIS_URL`), changes made by `teamcontext user …` while it runs
    /// within this time; `0` disables
    #[arg(long, env = "AUTH_CACHE_TTL_MS", default_value = "1000", value_parser = at_least(0u64))]
    pub auth_cache_ttl_ms: u64,

    /// `off`, `limited` (may save context, not retrieve) or `required`
    #[arg(long, env = "EMAIL_VERIFICATION", default_value = "off", value_parser = email_verification)]
    pub email_verification: EmailVerification,

    /// who may register: `open` (anyone who reaches the server: they can then read every `team`
    /// project), `invite` (holders of a `teamcontext user invite` token) or `closed`. Unset: `open`
    /// on a loopback `BIND_ADDR`, else `invite`
    #[arg(long, env = "REGISTRATION", value_parser = registration)]
    pub registration: Option<Registration>,

    /// the mail server for password resets and address verification: `smtp://host:25` (plain),
    /// `smtp://user:password@host:587?tls=required` (STARTTLS) or `smtps://user:password@host`
    /// (TLS). Unset: no mail; `forgot-password` answers `MAIL_NOT_CONFIGURED` and the operator
    /// resets passwords and verifies addresses with `teamcontext user`
    #[arg(long, env = "SMTP_URL", hide_env_values = true, value_parser = smtp_url)]
    pub smtp_url: Option<Secret>,

    /// the sender of that mail, e.g. `TeamContext <teamcontext@example.com>`. Unset:
    /// `teamcontext@` and the host of `PUBLIC_URL`
    #[arg(long, env = "SMTP_FROM")]
    pub smtp_from: Option<String>,

    /// the address users reach this server at, for the links in mail (e.g.
    /// `https://context.example.com`). Unset: `http://` and `BIND_ADDR`
    #[arg(long, env = "PUBLIC_URL", value_parser = http_url)]
    pub public_url: Option<String>,

    /// comma-separated addresses or CIDRs of your reverse proxies: their `X-Forwarded-For` /
    /// `Forwarded` header names the client for per-IP limits; from anyone else it is ignored.
    /// Unset: none
    #[arg(long, env = "TRUSTED_PROXIES", value_parser = trusted_proxies)]
    pub trusted_proxies: Option<List<ipnet::IpNet>>,

    /// comma-separated origins allowed by CORS, or `*`; also the browser origins `/mcp` accepts.
    /// Unset: none
    #[arg(long, env = "ALLOWED_ORIGINS", value_parser = allowed_origins)]
    pub allowed_origins: Option<Origins>,

    /// `Host` values `/mcp` accepts (DNS-rebinding guard); add the name clients use, or `*`
    #[arg(long, env = "MCP_ALLOWED_HOSTS", default_value = "localhost,127.0.0.1,::1", value_parser = mcp_allowed_hosts)]
    pub mcp_allowed_hosts: List<String>,

    /// per API key (or per user for a JWT session); `0` disables
    #[arg(long, env = "RATE_LIMIT_PER_KEY_PER_MIN", default_value = "100", value_parser = at_least(0u32))]
    pub rate_limit_per_key_per_min: u32,

    /// burst allowance for the per-key limit
    #[arg(long, env = "RATE_LIMIT_PER_KEY_BURST", default_value = "120", value_parser = at_least(0u32))]
    pub rate_limit_per_key_burst: u32,

    /// per client IP; `0` disables
    #[arg(long, env = "RATE_LIMIT_PER_IP_PER_MIN", default_value = "200", value_parser = at_least(0u32))]
    pub rate_limit_per_ip_per_min: u32,

    /// context searches per user per minute; `0` disables
    #[arg(long, env = "RATE_LIMIT_SEARCH_PER_MIN", default_value = "30", value_parser = at_least(0u32))]
    pub rate_limit_search_per_min: u32,

    /// login attempts per account per minute, from any address; `0` disables
    #[arg(long, env = "RATE_LIMIT_LOGIN_PER_MIN", default_value = "10", value_parser = at_least(0u32))]
    pub rate_limit_login_per_min: u32,

    /// `local` (all-MiniLM-L6-v2 in process) or `openai` (any OpenAI-compatible `/embeddings`
    /// endpoint: OpenAI, Ollama, vLLM, llama.cpp, LM Studio)
    #[arg(long, env = "EMBEDDING_PROVIDER", default_value = "local")]
    pub embedding_provider: Provider,

    /// local model files, ONNX graphs and `libonnxruntime.so` (`make run` sets it to
    /// `.model-cache/…`; `make model` or `scripts/fetch-model.sh DIR` fetches them);
    /// `ORT_DYLIB_PATH` names another ONNX Runtime library (1.31 or later). Unset:
    /// `DATA_DIR/models/all-MiniLM-L6-v2`
    #[arg(long, env = "EMBEDDING_MODEL_DIR")]
    pub embedding_model_dir: Option<PathBuf>,

    /// local model: `fp32` (vectors identical to sentence-transformers) or `int8` (about twice as
    /// fast; vectors within cosine 0.99 of fp32). Switching re-embeds stored context in the
    /// background while search keeps serving
    #[arg(long, env = "EMBEDDING_PRECISION", default_value = "fp32", value_parser = precision)]
    pub embedding_precision: Precision,

    /// how long a search or a save waits for the embedding model before answering without it
    /// (a search by keyword with `"degraded"`, a save stored at once and embedded later)
    #[arg(long, env = "EMBEDDING_TIMEOUT_SECS", default_value = "10", value_parser = at_least(1u64))]
    pub embedding_timeout_secs: u64,

    /// the `openai` provider's base URL, e.g. `http://127.0.0.1:11434/v1`. Unset: none
    #[arg(long, env = "EMBEDDING_BASE_URL", value_parser = http_url)]
    pub embedding_base_url: Option<String>,

    /// the `openai` provider's bearer key, if the endpoint needs one. Unset: none
    #[arg(long, env = "EMBEDDING_API_KEY", hide_env_values = true, value_parser = secret)]
    pub embedding_api_key: Option<Secret>,

    /// the `openai` provider's model name. Unset: none
    #[arg(long, env = "EMBEDDING_MODEL")]
    pub embedding_model: Option<String>,

    /// the `openai` provider's vector length. Unset: none
    #[arg(long, env = "EMBEDDING_DIMENSION", value_parser = at_least(1usize))]
    pub embedding_dimension: Option<usize>,

    /// the model whose input price values retrieved context
    #[arg(long, env = "DEFAULT_LLM_MODEL", default_value = "claude-3-sonnet")]
    pub default_llm_model: String,

    /// internal hosts (name, address, either with `:port`) that git scans, Jira and Confluence
    /// may reach: private, loopback and link-local addresses are refused otherwise; `*` for any,
    /// `file` to allow `file://` repositories. Unset: none
    #[arg(long, env = "OUTBOUND_ALLOWED_HOSTS", value_parser = host_list)]
    pub outbound_allowed_hosts: Option<List<String>>,

    /// the former name of OUTBOUND_ALLOWED_HOSTS, read when that is unset. Unset: none
    #[arg(long, env = "SCAN_ALLOWED_HOSTS", value_parser = host_list)]
    pub scan_allowed_hosts: Option<List<String>>,

    /// scans skip larger files
    #[arg(long, env = "SCAN_MAX_FILE_BYTES", default_value = "1048576", value_parser = at_least(0u64))]
    pub scan_max_file_bytes: u64,

    /// largest scan upload (files or archive); larger answers 413
    #[arg(long, env = "SCAN_MAX_UPLOAD_BYTES", default_value = "209715200", value_parser = at_least(0usize))]
    pub scan_max_upload_bytes: usize,

    /// background job workers in this process (scans embed on the CPU; 0 leaves jobs to other
    /// replicas)
    #[arg(long, env = "JOB_WORKERS", default_value = "1", value_parser = at_least(0usize))]
    pub job_workers: usize,

    /// how long a job whose worker died waits before another worker takes it over
    #[arg(long, env = "JOB_LEASE_SECS", default_value = "30", value_parser = at_least(1u64))]
    pub job_lease_secs: u64,

    /// if set, `/api/v1/metrics` requires `Authorization: Bearer <token>`. Unset: none
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true, value_parser = secret)]
    pub metrics_token: Option<Secret>,

    /// extra or changed prices: `model=USD per million input tokens`, comma-separated (built in:
    /// claude-3-opus 15, claude-3-sonnet 3, gpt-4-turbo 10, gpt-4o 5). Unset: built in
    #[arg(long, env = "LLM_PRICES", value_parser = prices)]
    pub llm_prices: Option<Prices>,

    /// the language model behind chat, questions and summaries: any OpenAI-compatible Chat
    /// Completions base URL, e.g. `http://127.0.0.1:11434/v1`. Unset: none (every AI feature
    /// answers extractively, from the retrieved text)
    #[arg(long, env = "LLM_BASE_URL", value_parser = http_url)]
    pub llm_base_url: Option<String>,

    /// the language model's bearer key, if it needs one. Unset: none
    #[arg(long, env = "LLM_API_KEY", hide_env_values = true, value_parser = secret)]
    pub llm_api_key: Option<Secret>,

    /// the language model's name (required with LLM_BASE_URL). Unset: none
    #[arg(long, env = "LLM_MODEL")]
    pub llm_model: Option<String>,

    /// extra headers for gateways that authenticate otherwise, as a JSON object, e.g.
    /// `{"Cookie": "session=…"}`. Unset: none
    #[arg(long, env = "LLM_HEADERS", hide_env_values = true, value_parser = headers)]
    pub llm_headers: Option<Headers>,

    /// longest a whole answer may take; a model that is slower is answered for extractively
    #[arg(long, env = "LLM_TIMEOUT_SECS", default_value = "120", value_parser = at_least(1u64))]
    pub llm_timeout_secs: u64,

    /// most tokens the model may write per answer
    #[arg(long, env = "LLM_MAX_TOKENS", default_value = "1024", value_parser = at_least(1u32))]
    pub llm_max_tokens: u32,

    /// how long a streamed chat turn goes on after its last watcher disconnected, so that the
    /// client can resume it (`Last-Event-ID`); then the model's request is closed
    #[arg(long, env = "CHAT_RESUME_GRACE_SECS", default_value = "15", value_parser = at_least(0u64))]
    pub chat_resume_grace_secs: u64,

    /// most rounds of tool calls the AI agent makes in one turn before it must answer
    #[arg(long, env = "AGENT_MAX_STEPS", default_value = "6", value_parser = at_least(1u32))]
    pub agent_max_steps: u32,

    /// what the language model costs per million prompt tokens, in USD (analytics of the AI
    /// features). Unset: LLM_MODEL's price in LLM_PRICES or the built-in table, else 0
    #[arg(long, env = "LLM_INPUT_PRICE_PER_MTOK", value_parser = price)]
    pub llm_input_price_per_mtok: Option<f64>,

    /// what the language model costs per million completion tokens, in USD. Unset: LLM_MODEL's
    /// built-in output price (claude-3-opus 75, claude-3-sonnet 15, gpt-4-turbo 30, gpt-4o 15),
    /// else 0
    #[arg(long, env = "LLM_OUTPUT_PRICE_PER_MTOK", value_parser = price)]
    pub llm_output_price_per_mtok: Option<f64>,

    /// saves above this many tokens answer with a warning
    #[arg(long, env = "CONTEXT_WARN_TOKENS", default_value = "10000", value_parser = at_least(0usize))]
    pub context_warn_tokens: usize,

    /// saves above this many tokens are split into searchable chunks (at least 1000)
    #[arg(long, env = "CONTEXT_CHUNK_TOKENS", default_value = "100000", value_parser = at_least(1000usize))]
    pub context_chunk_tokens: usize,

    /// largest request body; larger answers 413 (at least 1024)
    #[arg(long, env = "MAX_BODY_BYTES", default_value = "10485760", value_parser = at_least(1024usize))]
    pub max_body_bytes: usize,

    /// `json`, `pretty`, or `auto` (pretty on a terminal, JSON otherwise)
    #[arg(long, env = "LOG_FORMAT", default_value = "auto")]
    pub log_format: LogFormat,

    /// a tracing filter, e.g. `warn` or `teamcontext=debug,info`
    #[arg(long, env = "LOG_LEVEL", default_value = "info", value_parser = log_filter)]
    pub log_level: String,
}

/// One row of the settings table: the variable, its default (or what unset means) and its
/// meaning.
pub struct Described {
    pub variable: String,
    pub default: String,
    pub meaning: String,
}

/// Every setting, in declaration order.
pub fn described() -> Vec<Described> {
    use clap::CommandFactory;
    Settings::command()
        .get_arguments()
        .filter_map(|arg| {
            let variable = arg.get_env()?.to_string_lossy().into_owned();
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            let defaults: Vec<String> =
                arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
            let (meaning, default) = match help.split_once(". Unset: ") {
                Some((meaning, unset)) => (meaning.to_string(), unset.to_string()),
                None => (help.clone(), format!("`{}`", defaults.join(","))),
            };
            Some(Described { variable, default, meaning })
        })
        .collect()
}

/// The README's configuration table.
pub fn markdown_table() -> String {
    let mut table = String::from("| variable | default | meaning |\n| --- | --- | --- |\n");
    for d in described() {
        table.push_str(&format!("| `{}` | {} | {} |\n", d.variable, d.default, d.meaning));
    }
    table
}

fn database_url(url: &str) -> Result<DatabaseConfig, String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(DatabaseConfig::Postgres { url: Secret(url.to_string()) });
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or("is neither a sqlite: nor a postgres:// URL")?;
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path == ":memory:" {
        return Err("needs a file path (an in-memory database loses everything)".into());
    }
    Ok(DatabaseConfig::Sqlite { path: PathBuf::from(path) })
}

fn socket_addr(value: &str) -> Result<SocketAddr, String> {
    value.parse().map_err(|_| "is not an address like 127.0.0.1:8080".to_string())
}

fn redis_url(url: &str) -> Result<Secret, String> {
    if url.starts_with("redis://") || url.starts_with("rediss://") {
        Ok(Secret(url.to_string()))
    } else {
        Err("is not a redis:// or rediss:// URL".into())
    }
}

fn smtp_url(url: &str) -> Result<Secret, String> {
    if url.starts_with("smtp://") || url.starts_with("smtps://") {
        Ok(Secret(url.to_string()))
    } else {
        Err("is not an smtp:// or smtps:// URL".into())
    }
}

/// Header names and values from a JSON object of strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

fn headers(value: &str) -> Result<Headers, String> {
    let map: BTreeMap<String, String> = serde_json::from_str(value).map_err(|_| {
        "must be a JSON object of strings, e.g. {\"Cookie\": \"session=…\"}".to_string()
    })?;
    for (name, value) in &map {
        reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("{name:?} is not a header name"))?;
        reqwest::header::HeaderValue::from_str(value)
            .map_err(|_| format!("the value of {name:?} is not a header value"))?;
    }
    Ok(Headers(map.into_iter().collect()))
}

fn secret(value: &str) -> Result<Secret, String> {
    Ok(Secret(value.to_string()))
}

fn encryption_key(value: &str) -> Result<EncryptionKey, String> {
    tc_domain::sealing::parse_key(value).map(EncryptionKey)
}

fn encryption_keys(list: &str) -> Result<List<EncryptionKey>, String> {
    items(list).map(encryption_key).collect::<Result<_, _>>().map(List)
}

fn jwt_secret(value: &str) -> Result<Secret, String> {
    if value.len() < 32 {
        return Err("must be at least 32 bytes".into());
    }
    Ok(Secret(value.to_string()))
}

/// A whole number no smaller than `min`.
fn at_least<T>(min: T) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy + Send + Sync + 'static,
{
    move |value| match value.parse::<T>() {
        Ok(n) if n >= min => Ok(n),
        Ok(_) => Err(format!("must be at least {min}")),
        Err(_) => Err("is not a whole number".to_string()),
    }
}

fn email_verification(value: &str) -> Result<EmailVerification, String> {
    EmailVerification::parse(value)
        .ok_or_else(|| format!("{value:?} is not off, limited or required"))
}

fn registration(value: &str) -> Result<Registration, String> {
    Registration::parse(value).ok_or_else(|| format!("{value:?} is not open, invite or closed"))
}

fn precision(value: &str) -> Result<Precision, String> {
    match value {
        "fp32" => Ok(Precision::Fp32),
        "int8" => Ok(Precision::Int8),
        other => Err(format!("{other:?} is neither `fp32` nor `int8`")),
    }
}

fn items(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|item| !item.is_empty())
}

fn trusted_proxies(list: &str) -> Result<List<ipnet::IpNet>, String> {
    items(list)
        .map(|item| {
            item.parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map(|net| net.trunc())
                .map_err(|_| format!("{item:?} is not an address or CIDR like 10.0.0.0/8"))
        })
        .collect::<Result<_, _>>()
        .map(List)
}

fn allowed_origins(list: &str) -> Result<Origins, String> {
    if list == "*" {
        return Ok(Origins::Any);
    }
    items(list)
        .map(|origin| {
            if (origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.ends_with('/')
            {
                Ok(origin.to_string())
            } else {
                Err(format!("{origin:?} is not an origin like https://app.example.com"))
            }
        })
        .collect::<Result<_, _>>()
        .map(Origins::List)
}

fn host_list(list: &str) -> Result<List<String>, String> {
    Ok(List(items(list).map(str::to_string).collect()))
}

/// `*` is the empty list: any host.
fn mcp_allowed_hosts(list: &str) -> Result<List<String>, String> {
    if list == "*" {
        return Ok(List(Vec::new()));
    }
    let hosts = host_list(list)?;
    match hosts.0.iter().find(|h| h.contains(['/', ' ', '@'])) {
        Some(bad) => Err(format!("{bad:?} is not a host name or host:port")),
        None => Ok(hosts),
    }
}

fn prices(list: &str) -> Result<Prices, String> {
    items(list)
        .map(|item| {
            let parsed = item
                .split_once('=')
                .and_then(|(m, p)| Some((m.trim(), p.trim().parse::<f64>().ok()?)));
            match parsed {
                Some((model, price)) if !model.is_empty() && price >= 0.0 => {
                    Ok((model.to_string(), price))
                }
                _ => Err(format!("{item:?} is not model=price")),
            }
        })
        .collect::<Result<_, _>>()
        .map(Prices)
}

fn price(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(p) if p.is_finite() && p >= 0.0 => Ok(p),
        _ => Err(format!("{text:?} is not a price (USD per million tokens, 0 or more)")),
    }
}

fn http_url(url: &str) -> Result<String, String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url.to_string())
    } else {
        Err(format!("{url:?} is not an http(s) URL"))
    }
}

fn log_filter(filter: &str) -> Result<String, String> {
    match tracing_subscriber::EnvFilter::try_new(filter) {
        Ok(_) => Ok(filter.to_string()),
        Err(_) => Err(format!("{filter:?} is not a valid filter")),
    }
}
