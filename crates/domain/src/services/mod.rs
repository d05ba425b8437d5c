//! The service layer: one [`Services`] value holds the store, the clock and the settings, and
//! its methods (grouped by resource in the submodules) are the only way REST and MCP reach
//! data. Each method takes the [`Caller`](crate::Caller) it acts for and enforces scopes and
//! membership itself, through the rules of `access` (one module for every rule).

mod access;
mod ai;
mod analytics;
mod api_keys;
mod auth;
mod auth_cache;
mod backlog;
mod context;
mod email;
mod embedding;
mod integrations;
mod invitations;
mod jobs;
mod mcp_sessions;
mod pending;
mod pricing;
mod projects;
mod save;
mod scan;
mod search;
mod stories;
mod tasks;
mod tokens;
mod users;
mod validate;
mod web_sessions;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use chrono::{DateTime, Utc};
use tc_embed::Embedder;
use tc_store::Store;
use uuid::Uuid;

pub use ai::{
    AgentTool, AgentTools, AiSettings, ChatRun, LlmResealReport, MAX_DOCUMENTS, MAX_SERVERS,
    McpResealReport, NOT_CONFIGURED, RemoteTool, RemoteToolset, TOOL_CACHE_TTL, TurnServer,
    UploadedDocument, Watch, agent_tool_name, outcome, reseal_mcp_servers, reseal_user_llms,
};
pub use analytics::MAX_REPORT_DAYS;
pub(crate) use auth::mask_email;
pub use backlog::{EMBED_KIND, EmbedJob, EmbedProgress};
pub use context::{ContextLimits, source_for_mcp_client};
pub use email::{MAIL_INTERVAL_SECS, RESET_TOKEN_TTL_MINUTES, VERIFY_TOKEN_TTL_HOURS};
pub use integrations::{
    CONFLUENCE_SOURCE, CONFLUENCE_SYNC_KIND, ConfluenceSyncJob, IntegrationSettings, JIRA_SOURCE,
    JIRA_SYNC_KIND, JiraSyncJob, Product, ResealReport, reseal_connections,
};
pub use invitations::SIGNUP_INVITATION_DAYS;
pub use jobs::{JobContext, JobError, JobHandler, JobSettings};
pub use pricing::{Pricing, default_output_prices, default_prices};
pub use save::{EMBEDDER_UNAVAILABLE, MAX_BATCH};
pub use scan::{SCAN_KIND, ScanJob, ScanSettings, Upload};
pub use search::{
    ASSISTANT_DEFAULT_LIMIT, CODE_QUERY_VECTOR_WEIGHT, DEFAULT_SIMILARITY_THRESHOLD, VECTOR_WEIGHT,
    fuse, names_code, vector_weight,
};
pub use web_sessions::{OpenedWebSession, WebCaller, csrf_token};

use crate::clock::Clock;
use crate::jwt::JwtKeys;

/// How long a request waits for the embedding model unless configured otherwise.
pub const DEFAULT_EMBED_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The `EMAIL_VERIFICATION` policy of SPEC §5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailVerification {
    /// Unverified accounts may do everything.
    Off,
    /// Unverified accounts may save context but not retrieve it.
    Limited,
    /// Unverified accounts may only read their own profile.
    Required,
}

impl EmailVerification {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "off" => Some(Self::Off),
            "limited" => Some(Self::Limited),
            "required" => Some(Self::Required),
            _ => None,
        }
    }
}

/// Who may create an account (`REGISTRATION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Anyone who reaches the server.
    Open,
    /// Only holders of an operator's invitation (`teamcontext user invite`).
    Invite,
    /// Nobody through the API; accounts come from invitations made before, or the operator.
    Closed,
}

impl Registration {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Self::Open),
            "invite" => Some(Self::Invite),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

/// Token lifetimes and account policy.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_secs: i64,
    /// A dashboard session unused for this long is over.
    pub web_session_idle_secs: i64,
    /// A dashboard session is over this long after sign-in, however active.
    pub web_session_max_secs: i64,
    /// How long a rotated API key keeps working.
    pub rotation_grace_secs: i64,
    /// A spent refresh token presented again later than this is treated as stolen.
    pub refresh_reuse_window_secs: i64,
    pub email_verification: EmailVerification,
    pub registration: Registration,
    /// How long an authentication lookup may be reused when nothing in this process has
    /// invalidated it (see `auth_cache`); zero disables the cache.
    pub auth_cache_ttl: std::time::Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 7 * 24 * 3600,
            web_session_idle_secs: 12 * 3600,
            web_session_max_secs: 7 * 24 * 3600,
            rotation_grace_secs: 24 * 3600,
            refresh_reuse_window_secs: 5,
            email_verification: EmailVerification::Off,
            registration: Registration::Open,
            auth_cache_ttl: std::time::Duration::from_secs(1),
        }
    }
}

pub struct Services {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    jwt: JwtKeys,
    settings: AuthSettings,
    /// API key uses not yet written: key id → latest use. Flushed in batches by
    /// [`Services::flush_key_usage`] so that authentication never writes.
    key_usage: Mutex<HashMap<Uuid, DateTime<Utc>>>,
    auth_cache: auth_cache::AuthCache,
    embedder: Arc<dyn Embedder>,
    pricing: Pricing,
    /// Context accesses and analytics events waiting to be written in one batch.
    pending: pending::Pending,
    job_settings: JobSettings,
    /// One handler per job kind; the workers run these.
    job_handlers: Vec<Arc<dyn JobHandler>>,
    /// Wakes idle workers when a job is submitted through this process.
    job_wakeup: tokio::sync::Notify,
    /// Scanning is configured by the server (it knows the data directory).
    scan: Option<ScanSettings>,
    /// State shared with the other replicas (Redis), when configured.
    shared: Option<Arc<dyn crate::SharedState>>,
    /// How long a request waits for the embedding model before going on without it.
    embed_timeout: std::time::Duration,
    /// Outgoing mail (password reset, address verification), when configured.
    mail: Option<email::MailSettings>,
    /// Jira and Confluence, when configured (the server always does).
    integrations: Option<Arc<integrations::Integrations>>,
    /// The language model behind the AI features, if any.
    ai: AiSettings,
    /// Chat turns under way in this process.
    runs: Arc<ai::RunRegistry>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Services {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        embedder: Arc<dyn Embedder>,
        jwt_secret: &[u8],
        settings: AuthSettings,
        pricing: Pricing,
    ) -> Self {
        Services {
            embedder,
            pricing,
            pending: pending::Pending::default(),
            store,
            clock,
            jwt: JwtKeys::new(jwt_secret),
            auth_cache: auth_cache::AuthCache::new(settings.auth_cache_ttl),
            settings,
            key_usage: Mutex::new(HashMap::new()),
            job_settings: JobSettings::default(),
            job_handlers: vec![
                Arc::new(ScanJob),
                Arc::new(EmbedJob),
                Arc::new(JiraSyncJob),
                Arc::new(ConfluenceSyncJob),
            ],
            job_wakeup: tokio::sync::Notify::new(),
            scan: None,
            shared: None,
            embed_timeout: DEFAULT_EMBED_TIMEOUT,
            mail: None,
            integrations: None,
            ai: AiSettings::default(),
            runs: Arc::default(),
        }
    }

    /// Shares credential invalidations with the other replicas through `shared`.
    pub fn with_shared_state(mut self, shared: Arc<dyn crate::SharedState>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Enables codebase scans with these settings, and sets the job timings.
    pub fn with_jobs(mut self, jobs: JobSettings, scan: ScanSettings) -> Self {
        self.scan = Some(scan);
        self.with_job_settings(jobs)
    }

    /// Sets the job timings and retry rules.
    pub fn with_job_settings(mut self, jobs: JobSettings) -> Self {
        self.job_settings = jobs;
        self
    }

    /// Sets how long a search or a save waits for the embedding model before it answers
    /// without it (a search by keyword, a save embedded later by the embedding job).
    pub fn with_embed_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.embed_timeout = timeout;
        self
    }

    /// Adds a kind of job for the workers to run (the scan and the embedding job are always
    /// there).
    pub fn with_job_handler(mut self, handler: Arc<dyn JobHandler>) -> Self {
        self.job_handlers.push(handler);
        self
    }

    /// The current time at the precision every store keeps (milliseconds), so that what a
    /// create returns equals what a later read returns.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now_millis()
    }

    /// Whether the store answers; used by the health check.
    pub async fn store_healthy(&self) -> Result<(), String> {
        self.store.ping().await.map_err(|e| e.to_string())
    }

    /// The store's connection use, for metrics.
    pub fn store_pool_status(&self) -> tc_store::PoolStatus {
        self.store.pool_status()
    }

    /// Whether the embedding model answers, by embedding a short text; used by the health
    /// check (which caches the answer, since this costs a model call).
    pub async fn embedder_healthy(&self) -> Result<(), String> {
        match self.embedder.embed(vec!["health check".into()]).await {
            Ok(v) if v.first().is_some_and(|v| v.len() == self.embedder.dimension()) => Ok(()),
            Ok(_) => Err("the model returned a vector of the wrong size".into()),
            Err(e) => Err(e.to_string()),
        }
    }
}
