//! Configuration: one typed [`Config`], loaded once at start from the defaults, then an optional
//! TOML file (`TEAMCONTEXT_CONFIG` or `--config`), then the environment, which wins. Each setting
//! is declared once, with its default and its meaning, in [`settings`]; a bad value stops the
//! server with an error naming the variable. File keys are the variable names in lower case
//! (`bind_addr = "0.0.0.0:8080"`). Secrets are hidden from `Debug` so the configuration can be
//! logged.

mod settings;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, FromArgMatches};
use tc_domain::EmailVerification;
use tc_domain::services::Registration;
use tc_embed::Precision;

pub use settings::markdown_table;
use settings::{Provider, Settings};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid {name}: {reason}")]
    Invalid { name: String, reason: String },
    #[error("cannot read config file {path}: {reason}")]
    File { path: PathBuf, reason: String },
}

fn invalid(name: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { name: name.to_string(), reason: reason.into() }
}

/// A secret string whose `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

/// The operator's Atlassian OAuth app.
#[derive(Debug, Clone)]
pub struct AtlassianOAuth {
    pub client_id: String,
    pub client_secret: Secret,
    pub redirect_uri: String,
    pub auth_url: String,
    pub api_url: String,
}

/// The language model behind the AI features.
#[derive(Clone)]
pub struct LlmConfig {
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub model: String,
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("headers", &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// An AES-256 key from the settings; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptionKey(pub [u8; tc_domain::sealing::KEY_LEN]);

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptionKey(version {})", tc_domain::sealing::key_version(&self.0))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<hidden>)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
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
    /// Seals connection secrets; `None`: the generated key in the data dir.
    pub encryption_key: Option<EncryptionKey>,
    pub encryption_key_previous: Vec<EncryptionKey>,
    pub atlassian_timeout_secs: u64,
    pub atlassian_max_retry_delay_secs: u64,
    /// The OAuth 2.0 (3LO) app, when both its id and secret are set.
    pub atlassian_oauth: Option<AtlassianOAuth>,
    /// The language model, when `LLM_BASE_URL` is set.
    pub llm: Option<LlmConfig>,
    pub llm_timeout_secs: u64,
    pub llm_max_tokens: u32,
    pub chat_resume_grace_secs: u64,
    pub agent_max_steps: u32,
    /// The language model's price per million prompt and completion tokens, in USD.
    pub llm_input_price_per_mtok: f64,
    pub llm_output_price_per_mtok: f64,
    /// The bearer token `/metrics` requires, if any.
    pub metrics_token: Option<Secret>,
    pub outbound_allowed_hosts: Vec<String>,
    pub scan_max_file_bytes: u64,
    pub scan_max_upload_bytes: usize,
    pub job_workers: usize,
    pub job_lease_secs: u64,
    /// How long a request waits for the embedding model before going on without it.
    pub embedding_timeout_secs: u64,
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_secs: i64,
    pub web_session_idle_secs: i64,
    pub web_session_max_secs: i64,
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
    /// Outgoing mail, when `SMTP_URL` is set.
    pub mail: Option<MailConfig>,
    /// Where users reach the server, for links in mail; no trailing slash.
    pub public_url: String,
    /// Whether `PUBLIC_URL` was set (otherwise pages name the server by the `Host` they were
    /// asked under).
    pub public_url_set: bool,
}

/// The SMTP server and the sender of the mail the server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailConfig {
    pub url: Secret,
    /// A mailbox: `Name <address>` or an address.
    pub from: String,
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
        let command = Settings::command();
        // Variable name → the setting's long flag.
        let flags: HashMap<String, String> = command
            .get_arguments()
            .filter_map(|arg| {
                Some((arg.get_env()?.to_string_lossy().into_owned(), arg.get_long()?.to_string()))
            })
            .collect();
        let mut values = match file {
            Some(path) => read_file(path, &flags)?,
            None => HashMap::new(),
        };
        for name in flags.keys() {
            if let Some(v) = env.get(name) {
                values.insert(name.clone(), v.clone());
            }
        }
        // The settings reach clap as flags, and clap's own reading of the environment is
        // switched off, so what is parsed is exactly the file and `env` (never the test
        // process's environment).
        let args = values.iter().filter_map(|(name, value)| {
            let value = value.trim();
            (!value.is_empty()).then(|| format!("--{}={value}", flags[name]))
        });
        let matches = command
            .clone()
            .mut_args(|arg| arg.env(None::<&str>))
            .try_get_matches_from(args)
            .map_err(|e| clap_error(&e, &command))?;
        let settings =
            Settings::from_arg_matches(&matches).map_err(|e| clap_error(&e, &command))?;
        Self::from_settings(settings)
    }

    /// The checks that involve more than one setting, and the shape the server uses.
    fn from_settings(s: Settings) -> Result<Config, ConfigError> {
        let database = s
            .database_url
            .unwrap_or_else(|| DatabaseConfig::Sqlite { path: s.data_dir.join("teamcontext.db") });
        if s.redis_ca_file.is_some()
            && !s.redis_url.as_ref().is_some_and(|u| u.0.starts_with("rediss://"))
        {
            return Err(invalid("REDIS_CA_FILE", "needs a rediss:// REDIS_URL"));
        }
        let atlassian_oauth =
            match (s.atlassian_client_id.clone(), s.atlassian_client_secret.clone()) {
                (Some(client_id), Some(client_secret)) => {
                    for (name, value) in [
                        ("ATLASSIAN_AUTH_URL", &s.atlassian_auth_url),
                        ("ATLASSIAN_API_URL", &s.atlassian_api_url),
                    ] {
                        if !value.starts_with("https://") && !value.starts_with("http://") {
                            return Err(invalid(name, "must be an http(s) URL"));
                        }
                    }
                    Some(AtlassianOAuth {
                        client_id,
                        client_secret,
                        redirect_uri: s.atlassian_redirect_uri.clone().unwrap_or_default(),
                        auth_url: s.atlassian_auth_url.trim_end_matches('/').to_string(),
                        api_url: s.atlassian_api_url.trim_end_matches('/').to_string(),
                    })
                }
                (None, None) => None,
                _ => {
                    return Err(invalid(
                        "ATLASSIAN_CLIENT_SECRET",
                        "ATLASSIAN_CLIENT_ID and ATLASSIAN_CLIENT_SECRET are set together",
                    ));
                }
            };
        if matches!(database, DatabaseConfig::Postgres { .. }) && s.encryption_key.is_none() {
            // A generated key lives in one replica's data dir; the others could not open what
            // it sealed.
            return Err(invalid(
                "ENCRYPTION_KEY",
                "is required with a PostgreSQL DATABASE_URL (every replica must open the same secrets)",
            ));
        }
        if matches!(database, DatabaseConfig::Postgres { .. }) && s.jwt_secret_key.is_none() {
            // A generated secret lives in one replica's data dir; the others would reject its
            // tokens.
            return Err(invalid(
                "JWT_SECRET_KEY",
                "is required with a PostgreSQL DATABASE_URL (every replica must sign with the same secret)",
            ));
        }
        // A server only this machine reaches may let anyone register; one others reach must
        // not, unless its operator says so.
        let registration = s.registration.unwrap_or(if s.bind_addr.ip().is_loopback() {
            Registration::Open
        } else {
            Registration::Invite
        });
        let embedding = match s.embedding_provider {
            Provider::Local => EmbeddingConfig::Local {
                model_dir: s
                    .embedding_model_dir
                    .unwrap_or_else(|| s.data_dir.join("models").join("all-MiniLM-L6-v2")),
                precision: s.embedding_precision,
            },
            Provider::Openai => {
                fn required<T>(name: &str, value: Option<T>) -> Result<T, ConfigError> {
                    value.ok_or_else(|| invalid(name, "is required when EMBEDDING_PROVIDER=openai"))
                }
                EmbeddingConfig::OpenAi {
                    base_url: required("EMBEDDING_BASE_URL", s.embedding_base_url)?,
                    api_key: s.embedding_api_key,
                    model: required("EMBEDDING_MODEL", s.embedding_model)?,
                    dimension: required("EMBEDDING_DIMENSION", s.embedding_dimension)?,
                }
            }
        };
        let public_url_set = s.public_url.is_some();
        let public_url = match s.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            // A wildcard bind answers on every address; `localhost` is the one sure to work here.
            None if s.bind_addr.ip().is_unspecified() => {
                format!("http://localhost:{}", s.bind_addr.port())
            }
            None => format!("http://{}", s.bind_addr),
        };
        let atlassian_oauth = atlassian_oauth.map(|mut app| {
            if app.redirect_uri.is_empty() {
                app.redirect_uri = format!("{public_url}/api/v1/integrations/jira/callback");
            }
            app
        });
        let mail = match s.smtp_url {
            None => None,
            Some(url) => {
                let from = match s.smtp_from {
                    Some(from) => from,
                    None => {
                        let host = url::Url::parse(&public_url)
                            .ok()
                            .and_then(|u| u.host_str().map(str::to_string))
                            .unwrap_or_else(|| "localhost".into());
                        format!("TeamContext <teamcontext@{}>", host.trim_matches(['[', ']']))
                    }
                };
                if from.parse::<lettre::message::Mailbox>().is_err() {
                    return Err(invalid(
                        "SMTP_FROM",
                        format!(
                            "{from:?} is not a mailbox like `TeamContext <teamcontext@example.com>`"
                        ),
                    ));
                }
                Some(MailConfig { url, from })
            }
        };
        let llm = match (s.llm_base_url, s.llm_model) {
            (None, _) => None,
            (Some(_), None) => return Err(invalid("LLM_MODEL", "is required with LLM_BASE_URL")),
            (Some(base_url), Some(model)) => Some(LlmConfig {
                base_url,
                api_key: s.llm_api_key,
                model,
                headers: s.llm_headers.map(|h| h.0).unwrap_or_default(),
            }),
        };
        let mut llm_prices = tc_domain::services::default_prices();
        llm_prices.extend(s.llm_prices.map(|p| p.0).unwrap_or_default());
        let price_per_mtok = *llm_prices.get(&s.default_llm_model).ok_or_else(|| {
            invalid(
                "DEFAULT_LLM_MODEL",
                format!("no price for {:?}; add it with LLM_PRICES", s.default_llm_model),
            )
        })?;
        let llm_model = llm.as_ref().map(|l| l.model.as_str()).unwrap_or_default();
        let llm_input_price_per_mtok = s
            .llm_input_price_per_mtok
            .or_else(|| llm_prices.get(llm_model).copied())
            .unwrap_or_default();
        let llm_output_price_per_mtok = s
            .llm_output_price_per_mtok
            .or_else(|| tc_domain::services::default_output_prices().get(llm_model).copied())
            .unwrap_or_default();
        Ok(Config {
            llm_input_price_per_mtok,
            llm_output_price_per_mtok,
            data_dir: s.data_dir,
            database,
            redis_url: s.redis_url,
            redis_ca_file: s.redis_ca_file,
            bind_addr: s.bind_addr,
            max_connections: s.max_connections,
            connection_idle_secs: s.connection_idle_secs,
            jwt_secret: s.jwt_secret_key,
            encryption_key: s.encryption_key,
            encryption_key_previous: s.encryption_key_previous.map(|l| l.0).unwrap_or_default(),
            atlassian_timeout_secs: s.atlassian_timeout_secs,
            atlassian_max_retry_delay_secs: s.atlassian_max_retry_delay_secs,
            atlassian_oauth,
            llm,
            llm_timeout_secs: s.llm_timeout_secs,
            llm_max_tokens: s.llm_max_tokens,
            chat_resume_grace_secs: s.chat_resume_grace_secs,
            agent_max_steps: s.agent_max_steps,
            metrics_token: s.metrics_token,
            outbound_allowed_hosts: s
                .outbound_allowed_hosts
                .or(s.scan_allowed_hosts)
                .map(|l| l.0)
                .unwrap_or_default(),
            scan_max_file_bytes: s.scan_max_file_bytes,
            scan_max_upload_bytes: s.scan_max_upload_bytes,
            job_workers: s.job_workers,
            job_lease_secs: s.job_lease_secs,
            embedding_timeout_secs: s.embedding_timeout_secs,
            access_token_ttl_secs: s.access_token_ttl_secs,
            refresh_token_ttl_secs: s.refresh_token_ttl_secs,
            web_session_idle_secs: s.web_session_idle_secs,
            web_session_max_secs: s.web_session_max_secs,
            rotation_grace_secs: s.api_key_rotation_grace_secs,
            auth_cache_ttl_ms: s.auth_cache_ttl_ms,
            email_verification: s.email_verification,
            registration,
            trusted_proxies: s.trusted_proxies.map(|l| l.0).unwrap_or_default(),
            allowed_origins: s.allowed_origins.unwrap_or(Origins::None),
            mcp_allowed_hosts: s.mcp_allowed_hosts.0,
            rate_limits: RateLimitConfig {
                per_key_per_min: s.rate_limit_per_key_per_min,
                per_key_burst: s.rate_limit_per_key_burst,
                per_ip_per_min: s.rate_limit_per_ip_per_min,
                search_per_min: s.rate_limit_search_per_min,
                login_per_min: s.rate_limit_login_per_min,
            },
            max_body_bytes: s.max_body_bytes,
            embedding,
            pricing_model: s.default_llm_model,
            price_per_mtok,
            llm_prices,
            context_limits: tc_domain::services::ContextLimits {
                warn_tokens: s.context_warn_tokens,
                chunk_above_tokens: s.context_chunk_tokens,
            },
            log_format: s.log_format,
            log_level: s.log_level,
            mail,
            public_url,
            public_url_set,
        })
    }
}

/// Turns clap's message about a flag into one about the variable the user set. The value is
/// repeated unless the setting is a secret.
fn clap_error(error: &clap::Error, command: &clap::Command) -> ConfigError {
    use clap::error::{ContextKind, ContextValue};
    let text = |kind| match error.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let flag = text(ContextKind::InvalidArg).unwrap_or_default();
    let long = flag.trim_start_matches("--").split([' ', '=']).next().unwrap_or_default();
    let setting = command.get_arguments().find(|arg| arg.get_long() == Some(long));
    let Some(name) = setting.and_then(|arg| arg.get_env()).map(|env| env.to_string_lossy()) else {
        return invalid("configuration", error.kind().to_string());
    };
    let secret = setting.is_some_and(|arg| arg.is_hide_env_values_set());
    let cause = match std::error::Error::source(error) {
        Some(cause) => cause.to_string(),
        None => match error.get(ContextKind::ValidValue) {
            Some(ContextValue::Strings(valid)) => format!("is not one of {}", valid.join(", ")),
            _ => error.kind().to_string(),
        },
    };
    let value = text(ContextKind::InvalidValue).unwrap_or_default();
    if secret || cause.contains(&format!("{value:?}")) {
        invalid(&name, cause)
    } else {
        invalid(&name, format!("{value:?} {cause}"))
    }
}

fn read_file(
    path: &Path,
    flags: &HashMap<String, String>,
) -> Result<HashMap<String, String>, ConfigError> {
    let file_err = |reason: String| ConfigError::File { path: path.to_path_buf(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| file_err(e.to_string()))?;
    let mut values = HashMap::new();
    for (key, value) in table {
        let name = key.to_uppercase();
        if !flags.contains_key(&name) {
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
mod tests;
