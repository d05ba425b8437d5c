//! The TeamContext server: configuration, the HTTP front door, and the process around it
//! (opening the store, background upkeep, graceful shutdown). `main.rs` is the CLI; tests start
//! the same server in-process on a loopback port through [`start`].

pub mod cli_key;
pub mod client_ip;
pub mod config;
pub mod error;
pub mod extract;
pub mod http;
pub mod listener;
pub mod mail;
pub mod mcp;
pub mod metrics;
pub mod middleware;
pub mod rate_limit;
pub mod redis;
pub mod request_id;
pub mod scan_cli;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod web;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;

use crate::redis::Redis;
use crate::store::Backend;
use tc_atlassian::RetryPolicy;
use tc_atlassian::oauth::OAuthApp;
use tc_domain::sealing::Sealer;
use tc_domain::services::{
    AiSettings, IntegrationSettings, JobSettings, Pricing, ScanSettings, reseal_connections,
    reseal_mcp_servers, reseal_user_llms,
};
use tc_domain::{AuthSettings, Clock, Services};
use tc_embed::{Embedder, LocalEmbedder, OpenAiConfig, OpenAiEmbedder};
use tc_llm::{OpenAiCompatible, OpenAiSettings};
use tc_outbound::AllowList;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{Config, DatabaseConfig, EmbeddingConfig};
use crate::rate_limit::RateLimits;
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot use data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("cannot open the database: {0}")]
    Store(#[from] tc_store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("{0}\n(for the local model run `make model`, or set EMBEDDING_MODEL_DIR)")]
    Embedder(tc_embed::EmbedError),
    #[error("a TeamContext server is already running on data directory {0}; stop it first")]
    DataDirInUse(String),
    #[error("REDIS_URL: {0}")]
    Redis(String),
    #[error("{0}")]
    Mail(String),
    #[error("LLM_BASE_URL: {0}")]
    Llm(String),
}

// Not `#[from]`: that would also chain the error as its own cause and print it twice.
impl From<tc_embed::EmbedError> for StartError {
    fn from(e: tc_embed::EmbedError) -> Self {
        StartError::Embedder(e)
    }
}

/// The embedding model as configured: loads the local model, or prepares the remote client.
pub fn load_embedder(config: &Config) -> Result<Arc<dyn Embedder>, StartError> {
    Ok(match &config.embedding {
        EmbeddingConfig::Local { model_dir, precision } => {
            Arc::new(LocalEmbedder::load(model_dir, *precision)?)
        }
        EmbeddingConfig::OpenAi { base_url, api_key, model, dimension } => {
            Arc::new(OpenAiEmbedder::new(OpenAiConfig {
                base_url: base_url.clone(),
                api_key: api_key.as_ref().map(|k| k.0.clone()),
                model: model.clone(),
                dimension: *dimension,
                timeout: Duration::from_secs(30),
            })?)
        }
    })
}

/// The configured store, the shared state (with `REDIS_URL`) and the service layer over them.
pub async fn open_services(
    config: &Config,
    clock: Arc<dyn Clock>,
    embedder: Arc<dyn Embedder>,
) -> Result<(Arc<Services>, Backend, Option<Arc<Redis>>), StartError> {
    let data_dir_err =
        |source| StartError::DataDir { path: config.data_dir.display().to_string(), source };
    std::fs::create_dir_all(&config.data_dir).map_err(data_dir_err)?;
    if let DatabaseConfig::Sqlite { path } = &config.database
        && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(data_dir_err)?;
    }
    let secret = match &config.jwt_secret {
        Some(s) => s.0.clone().into_bytes(),
        None => load_or_create_secret(&config.data_dir.join("jwt_secret")).map_err(data_dir_err)?,
    };
    let store = Backend::open(&config.database).await?;
    let settings = AuthSettings {
        access_token_ttl_secs: config.access_token_ttl_secs,
        refresh_token_ttl_secs: config.refresh_token_ttl_secs,
        web_session_idle_secs: config.web_session_idle_secs,
        web_session_max_secs: config.web_session_max_secs,
        rotation_grace_secs: config.rotation_grace_secs,
        email_verification: config.email_verification,
        registration: config.registration,
        auth_cache_ttl: Duration::from_millis(config.auth_cache_ttl_ms),
        ..AuthSettings::default()
    };
    let pricing = Pricing {
        model: config.pricing_model.clone(),
        price_per_mtok: config.price_per_mtok,
        prices: config.llm_prices.clone(),
        limits: config.context_limits,
    };
    let lease = Duration::from_secs(config.job_lease_secs);
    let jobs = JobSettings {
        lease,
        heartbeat: (lease / 4).clamp(Duration::from_millis(250), Duration::from_secs(2)),
        ..JobSettings::default()
    };
    let scan = ScanSettings {
        workspace_dir: config.data_dir.join("scans"),
        allowed_hosts: config.outbound_allowed_hosts.clone(),
        max_file_bytes: config.scan_max_file_bytes,
        share_uploads: matches!(config.database, DatabaseConfig::Postgres { .. }),
    };
    let (key, previous) = encryption_keys(config).map_err(data_dir_err)?;
    let integrations = IntegrationSettings {
        sealer: Sealer::new(&key, &previous),
        allow: AllowList::new(&config.outbound_allowed_hosts),
        policy: RetryPolicy {
            timeout: Duration::from_secs(config.atlassian_timeout_secs),
            max_delay: Duration::from_secs(config.atlassian_max_retry_delay_secs),
            ..RetryPolicy::default()
        },
        oauth: config.atlassian_oauth.as_ref().map(|app| OAuthApp {
            client_id: app.client_id.clone(),
            client_secret: app.client_secret.0.clone(),
            redirect_uri: app.redirect_uri.clone(),
            auth_url: app.auth_url.clone(),
            api_url: app.api_url.clone(),
        }),
    };
    let mut services = Services::new(store.shared(), clock, embedder, &secret, settings, pricing)
        .with_jobs(jobs, scan)
        .with_integrations(integrations)
        .with_embed_timeout(Duration::from_secs(config.embedding_timeout_secs))
        .with_ai(ai_settings(config)?);
    if let Some(mail) = &config.mail {
        let mailer = mail::SmtpMailer::new(&mail.url.0, &mail.from).map_err(StartError::Mail)?;
        services = services.with_mail(Arc::new(mailer), &config.public_url);
    }
    let redis = match &config.redis_url {
        None => None,
        Some(url) => Some(
            Redis::connect(&url.0, config.redis_ca_file.as_deref())
                .await
                .map_err(StartError::Redis)?,
        ),
    };
    if let Some(redis) = &redis {
        services = services.with_shared_state(redis.clone());
    }
    Ok((Arc::new(services), store, redis))
}

/// The language model as configured (the operator's own endpoint, so not held to the
/// outbound rule that user-given addresses are).
fn ai_settings(config: &Config) -> Result<AiSettings, StartError> {
    let timeout = Duration::from_secs(config.llm_timeout_secs);
    let model = match &config.llm {
        None => None,
        Some(llm) => {
            let settings = OpenAiSettings {
                base_url: llm.base_url.clone(),
                api_key: llm.api_key.as_ref().map(|k| k.0.clone()),
                model: llm.model.clone(),
                extra_headers: llm.headers.clone(),
                read_timeout: timeout,
            };
            let client = OpenAiCompatible::new(settings, None)
                .map_err(|e| StartError::Llm(e.to_string()))?;
            Some(Arc::new(client) as Arc<dyn tc_llm::ChatModel>)
        }
    };
    Ok(AiSettings {
        model,
        max_tokens: config.llm_max_tokens,
        timeout,
        resume_grace: Duration::from_secs(config.chat_resume_grace_secs),
        agent_max_steps: config.agent_max_steps,
        input_price_per_mtok: config.llm_input_price_per_mtok,
        output_price_per_mtok: config.llm_output_price_per_mtok,
        ..AiSettings::default()
    })
}

/// Reads the generated JWT secret, creating it (readable by this user only) on first start.
fn load_or_create_secret(path: &Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().len() >= 32 => return Ok(text.trim().as_bytes().to_vec()),
        Ok(_) => {
            return Err(std::io::Error::other(format!(
                "{} is too short; delete it to regenerate",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let secret: [u8; 32] = rand::random();
    let text = hex::encode(secret);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, text.as_bytes())?;
    info!(path = %path.display(), "generated a JWT secret");
    Ok(text.into_bytes())
}

/// The generated key's file in the data dir, and where a rotation writes its successor.
const KEY_FILE: &str = "encryption_key";
const NEXT_KEY_FILE: &str = "encryption_key.next";

/// The key that seals connection secrets and the older ones that still open them:
/// `ENCRYPTION_KEY` and `ENCRYPTION_KEY_PREVIOUS`, or the generated key file (created, readable
/// by this user only, on first start). A successor key left by an interrupted
/// `rotate-encryption-key` opens too, since some secrets may already be sealed with it.
fn encryption_keys(config: &Config) -> std::io::Result<([u8; 32], Vec<[u8; 32]>)> {
    if let Some(key) = &config.encryption_key {
        return Ok((key.0, config.encryption_key_previous.iter().map(|k| k.0).collect()));
    }
    let current = read_or_create_key(&config.data_dir.join(KEY_FILE))?;
    let mut previous: Vec<[u8; 32]> = config.encryption_key_previous.iter().map(|k| k.0).collect();
    let next = config.data_dir.join(NEXT_KEY_FILE);
    if next.exists() {
        previous.push(read_key(&next)?);
    }
    Ok((current, previous))
}

fn read_key(path: &Path) -> std::io::Result<[u8; 32]> {
    let text = std::fs::read_to_string(path)?;
    tc_domain::sealing::parse_key(&text)
        .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))
}

/// Reads a key file, or writes a fresh key into it (mode 0600) when there is none.
fn read_or_create_key(path: &Path) -> std::io::Result<[u8; 32]> {
    match read_key(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        other => return other,
    }
    let key = tc_domain::sealing::generate_key();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(
        &mut options.open(path)?,
        tc_domain::sealing::encode_key(&key).as_bytes(),
    )?;
    info!(path = %path.display(), "generated an encryption key for connection secrets");
    Ok(key)
}

/// `teamcontext rotate-encryption-key`: reseals every connection secret with the current key.
/// With `ENCRYPTION_KEY` set, that is its value (the old ones go in `ENCRYPTION_KEY_PREVIOUS`
/// until this has run). With the generated key file, a new key is generated first: written
/// beside the old one, used for every secret, then moved into place, so an interruption at any
/// point leaves every secret readable at the next start.
pub async fn rotate_encryption_key(config: &Config) -> anyhow::Result<String> {
    let (mut key, mut previous) = encryption_keys(config)?;
    let file_mode = config.encryption_key.is_none();
    let next_path = config.data_dir.join(NEXT_KEY_FILE);
    if file_mode {
        // Resume an interrupted rotation with its key, or start one with a fresh key.
        let next = match previous.pop().filter(|_| next_path.exists()) {
            Some(next) => next,
            None => read_or_create_key(&next_path)?,
        };
        previous.push(key);
        key = next;
    }
    let sealer = Sealer::new(&key, &previous);
    let store = Backend::open(&config.database).await?;
    let resealed = async {
        let shared = store.shared();
        let now = chrono::Utc::now();
        let connections = reseal_connections(shared.as_ref(), &sealer, now).await?;
        let servers = reseal_mcp_servers(shared.as_ref(), &sealer, now).await?;
        let models = reseal_user_llms(shared.as_ref(), &sealer).await?;
        Ok::<_, tc_domain::DomainError>((connections, servers, models))
    }
    .await;
    store.close().await;
    let (connections, servers, models) = resealed.map_err(|e| anyhow::anyhow!("{}", e.message))?;
    if file_mode {
        std::fs::rename(&next_path, config.data_dir.join(KEY_FILE))?;
    }
    let mut text = format!("key version {}: ", sealer.key_version());
    let what = [
        (
            "connection(s)",
            connections.resealed,
            connections.current,
            connections.unreadable.len(),
            "were disabled (their owners must connect again)",
        ),
        (
            "MCP server token(s)",
            servers.resealed,
            servers.current,
            servers.unreadable.len(),
            "were kept with an error (their owners must register them again)",
        ),
        (
            "language model setting(s)",
            models.resealed,
            models.current,
            models.unreadable.len(),
            "were removed (their owners use the server's model until they set theirs again)",
        ),
    ];
    let parts: Vec<String> = what
        .iter()
        .map(|(name, resealed, current, unreadable, then)| {
            let mut part = format!("{resealed} {name} resealed, {current} already were");
            if *unreadable > 0 {
                part.push_str(&format!(
                    " ({unreadable} {name} could not be opened with any key given and {then})"
                ));
            }
            part
        })
        .collect();
    text.push_str(&parts.join("; "));
    if !file_mode {
        text.push_str("; ENCRYPTION_KEY_PREVIOUS may now be removed");
    }
    Ok(text)
}

/// How long shutdown waits for requests in flight before closing their connections.
const REQUEST_DRAIN: std::time::Duration = std::time::Duration::from_secs(30);

/// A server running in this process.
#[derive(Debug)]
pub struct RunningServer {
    pub addr: SocketAddr,
    pub services: Arc<Services>,
    shutdown: watch::Sender<bool>,
    mcp_shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
    /// The job workers; each ends within the jobs' shutdown grace once told to stop.
    workers: Vec<JoinHandle<()>>,
    store: Backend,
    /// Held while serving; see [`lock_data_dir`].
    _data_lock: std::fs::File,
}

impl RunningServer {
    /// Stops accepting connections, lets requests in flight finish, writes pending bookkeeping
    /// and closes the database.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        self.mcp_shutdown.cancel();
        let mut task = self.task;
        match tokio::time::timeout(REQUEST_DRAIN, &mut task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => warn!(error = %e, "server stopped with an error"),
            Ok(Err(e)) => warn!(error = %e, "server task failed"),
            Err(_) => {
                warn!("requests still running after {REQUEST_DRAIN:?}; closing them");
                task.abort();
            }
        }
        for worker in self.workers {
            let _ = worker.await;
        }
        self.services.flush_pending().await;
        self.store.close().await;
        info!("server stopped");
    }
}

/// Opens the store, binds the listener and serves until [`RunningServer::shutdown`].
pub async fn start(
    config: Config,
    clock: Arc<dyn Clock>,
    embedder: Arc<dyn Embedder>,
) -> Result<RunningServer, StartError> {
    create_private_dir(&config.data_dir).map_err(|source| StartError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let data_lock = lock_data_dir(&config.data_dir)?;
    crate::metrics::handle(); // installs the recorder before anything is recorded
    let (services, store, redis) = open_services(&config, clock, embedder).await?;
    let limits = Arc::new(RateLimits::new(&config.rate_limits, redis.clone()));
    let token = config.metrics_token.as_ref().map(|t| t.0.as_str());
    let mut state = AppState::new(services.clone(), limits.clone(), token).with_scans(
        config.scan_max_upload_bytes,
        config.data_dir.join("scans"),
        config.job_workers,
    );
    state.redis = redis.clone();
    state.trusted_proxies = config.trusted_proxies.clone().into();
    if config.public_url_set {
        state.public_url = Some(config.public_url.as_str().into());
        state.secure_cookies = config.public_url.starts_with("https://");
    }
    let mcp_shutdown = CancellationToken::new();
    let app = http::app(state, &config, mcp_shutdown.clone());
    let listener = tokio::net::TcpListener::bind(config.bind_addr)
        .await
        .map_err(|source| StartError::Bind { addr: config.bind_addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr: config.bind_addr, source })?;
    // Connections are capped and closed when idle; TCP_NODELAY is set on each, since responses
    // streamed in small writes (MCP's server-sent events) would otherwise wait out the peer's
    // delayed ACK, 40 ms per answer.
    // (The empty `tap_io` is how axum lets a listener of ours give `ConnectInfo<SocketAddr>`.)
    let listener = crate::listener::GuardedListener::new(
        listener,
        config.max_connections,
        Duration::from_secs(config.connection_idle_secs),
    )
    .tap_io(|_| {});
    let (shutdown, mut stopped) = watch::channel(false);
    if let Some(redis) = &redis {
        redis.spawn_monitor(shutdown.subscribe());
    }
    spawn_upkeep(services.clone(), limits, shutdown.subscribe());
    // Worker names are unique per process, so a restarted server never mistakes a dead
    // process's lease for its own.
    let process = uuid::Uuid::now_v7().simple().to_string();
    let workers: Vec<String> =
        (0..config.job_workers).map(|i| format!("{}-{i}", &process[20..])).collect();
    let worker_tasks = workers
        .iter()
        .map(|w| tokio::spawn(services.clone().run_job_worker(w.clone(), shutdown.subscribe())))
        .collect();
    if !workers.is_empty() {
        // Names what job rows' lease owners mean when several replicas run workers.
        info!(workers = %workers.join(","), "job workers started");
    }
    let task = tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = stopped.changed().await;
            })
            .await
    });
    info!(%addr, database = %config.database.describe(), "TeamContext listening");
    Ok(RunningServer {
        addr,
        services,
        shutdown,
        mcp_shutdown,
        task,
        workers: worker_tasks,
        store,
        _data_lock: data_lock,
    })
}

/// Creates the data directory reachable by its owner alone (0700): it holds the database, the
/// generated secrets and the scans' workspaces. An existing directory is the operator's to
/// set; a warning says when others may enter it (the files inside are 0600 regardless).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if dir.is_dir() {
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            warn!(dir = %dir.display(), mode = format!("{:o}", mode & 0o777), "the data directory is open to other users; chmod 700 it");
        }
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Takes the data directory's lock file (`teamcontext.lock`), which a running server holds so
/// that a second server, or a restore, cannot use the same database behind its back. The lock is
/// the operating system's and goes away with the process, even after `kill -9`.
pub fn lock_data_dir(dir: &Path) -> Result<std::fs::File, StartError> {
    let path = dir.join("teamcontext.lock");
    let data_dir_err = |source| StartError::DataDir { path: dir.display().to_string(), source };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(data_dir_err)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(StartError::DataDirInUse(dir.display().to_string()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(data_dir_err(e)),
    }
}

/// Periodic upkeep: write API-key usage, context access counts and analytics events; fold
/// recorded latencies into the metrics histograms (they are buffered until then, scraped or
/// not); forget idle rate-limit entries; queue the embedding job when contexts lack vectors
/// from the current model; purge projects whose restore window has passed and uploads of scans
/// that were never queued.
fn spawn_upkeep(services: Arc<Services>, limits: Arc<RateLimits>, mut stop: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut flush = tokio::time::interval(Duration::from_secs(5));
        let mut shrink = tokio::time::interval(Duration::from_secs(60));
        let mut purge = tokio::time::interval(Duration::from_secs(3600));
        // The first tick is at once: a model changed since the last start is noticed now.
        let mut embedding = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = flush.tick() => services.flush_pending().await,
                _ = shrink.tick() => {
                    limits.shrink();
                    crate::metrics::handle().run_upkeep();
                }
                _ = embedding.tick() => {
                    if let Err(e) = services.ensure_embedding_job().await {
                        warn!(error = ?e.cause_chain(), "could not check the embedding backlog");
                    }
                }
                _ = purge.tick() => {
                    if let Err(e) = services.purge_expired_projects().await {
                        warn!(error = %e, "purge of deleted projects failed");
                    }
                    if let Err(e) = services.purge_orphan_job_inputs().await {
                        warn!(error = %e, "purge of orphaned scan uploads failed");
                    }
                    if let Err(e) = services.purge_idle_mcp_sessions(crate::mcp::sessions::SESSION_IDLE_DAYS).await {
                        warn!(error = %e, "purge of idle MCP sessions failed");
                    }
                    match services.purge_stale_workspaces().await {
                        Ok(0) => {}
                        Ok(n) => info!(removed = n, "removed stale scan workspaces"),
                        Err(e) => warn!(error = %e, "purge of stale scan workspaces failed"),
                    }
                }
            }
        }
    });
}

/// Installs the SIGINT and SIGTERM handlers at once (so that a signal arriving right after the
/// server announces itself is not lost to the default action) and returns a future that resolves
/// when one arrives.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let interrupt = signal(SignalKind::interrupt()).ok();
        let wait = |s: Option<Signal>| async move {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        async move {
            tokio::select! {
                _ = wait(term) => {}
                _ = wait(interrupt) => {}
            }
            info!("shutdown requested");
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        info!("shutdown requested");
    }
}
