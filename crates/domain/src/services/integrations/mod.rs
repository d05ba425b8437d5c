//! Jira and Confluence: a user's connections (one per product, secrets sealed at rest), the
//! sync jobs that turn issues and pages into context, and live Jira reads. REST and MCP call
//! these; the HTTP work happens in `tc_atlassian`.
//!
//! - `connect`: connect (verifying the credentials at once), status, disconnect.
//! - `sync`: the engine every sync job runs (list, fetch what changed, remove what is gone).
//! - `jira_sync`: Jira issues as a sync source, and the live issue and search calls.
//! - `confluence_sync`: Confluence pages as a sync source.
//! - `oauth`: OAuth 2.0 (3LO) consent, callback and token refresh for Cloud.

mod confluence_sync;
mod connect;
mod jira_sync;
mod oauth;
mod sync;

use std::collections::HashMap;
use std::sync::Arc;

use tc_atlassian::jira::{Flavour, Jira};
use tc_atlassian::oauth::OAuthApp;
use tc_atlassian::{AtlassianError, Auth, Breakers, Endpoint, RetryPolicy};
use tc_outbound::AllowList;
use tc_store::ConnectionRecord;

pub use confluence_sync::{CONFLUENCE_SOURCE, CONFLUENCE_SYNC_KIND, ConfluenceSyncJob};
pub use jira_sync::{JIRA_SOURCE, JIRA_SYNC_KIND, JiraSyncJob};

use super::Services;
use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::sealing::Sealer;

/// The products a user can connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    Jira,
    Confluence,
}

impl Product {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "jira" => Some(Product::Jira),
            "confluence" => Some(Product::Confluence),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Product::Jira => "jira",
            Product::Confluence => "confluence",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Product::Jira => "Jira",
            Product::Confluence => "Confluence",
        }
    }
}

/// How connections are made and used: the key that seals their secrets, where the server may
/// connect, and the retry policy of every call.
#[derive(Debug, Clone)]
pub struct IntegrationSettings {
    pub sealer: Sealer,
    /// `OUTBOUND_ALLOWED_HOSTS`.
    pub allow: AllowList,
    pub policy: RetryPolicy,
    /// The OAuth app for `cloud_oauth` connections, when the operator registered one.
    pub oauth: Option<OAuthApp>,
}

/// The settings and the state every call shares (the circuit breakers).
#[derive(Debug)]
pub(crate) struct Integrations {
    settings: IntegrationSettings,
    breakers: Breakers,
    /// One lock per OAuth connection: its refreshes happen one at a time.
    refresh_locks: parking_lot::Mutex<HashMap<uuid::Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

/// Secret kinds, as sealed (they are part of each secret's associated data).
const PERSONAL_ACCESS_TOKEN: &str = "personal_access_token";
const API_TOKEN: &str = "api_token";

impl Services {
    /// Enables Jira and Confluence with these settings.
    pub fn with_integrations(mut self, settings: IntegrationSettings) -> Self {
        self.integrations = Some(Arc::new(Integrations {
            settings,
            breakers: Breakers::default(),
            refresh_locks: parking_lot::Mutex::new(HashMap::new()),
        }));
        self
    }

    fn integrations(&self) -> DomainResult<&Integrations> {
        self.integrations
            .as_deref()
            .ok_or_else(|| DomainError::internal("integrations are not configured"))
    }

    /// The key that seals every stored secret (connections, MCP servers' tokens).
    pub(crate) fn sealer(&self) -> DomainResult<&Sealer> {
        Ok(&self.integrations()?.settings.sealer)
    }

    /// Where the server may connect on a user's behalf.
    pub(crate) fn outbound(&self) -> DomainResult<&AllowList> {
        Ok(&self.integrations()?.settings.allow)
    }

    /// One of a stored connection's secrets, opened.
    fn open_secret(&self, conn: &ConnectionRecord, kind: &str) -> DomainResult<String> {
        let sealed = conn.secrets.iter().find(|s| s.kind == kind).ok_or_else(|| {
            DomainError::new(
                ErrorCode::JiraAuthExpired,
                "the connection has no stored token: connect again",
            )
        })?;
        let sealed = crate::sealing::Sealed {
            key_version: sealed.key_version,
            bytes: sealed.sealed.clone(),
        };
        self.integrations()?.settings.sealer.open(conn.id, kind, &sealed).map_err(|e| {
            DomainError::new(
                ErrorCode::JiraAuthExpired,
                format!("the stored token cannot be read ({e}); connect again"),
            )
        })
    }

    /// The endpoint of a stored connection, its secret opened (an OAuth access token refreshed
    /// first when it is about to expire).
    async fn endpoint(&self, conn: &ConnectionRecord) -> DomainResult<Endpoint> {
        self.endpoint_with(conn, self.integrations()?.settings.policy).await
    }

    /// [`Self::endpoint`] with its own retry policy.
    async fn endpoint_with(
        &self,
        conn: &ConnectionRecord,
        policy: RetryPolicy,
    ) -> DomainResult<Endpoint> {
        let auth = match conn.kind.as_str() {
            "datacenter" => Auth::Bearer(self.open_secret(conn, PERSONAL_ACCESS_TOKEN)?),
            "cloud_api_token" => Auth::Basic {
                email: conn.email.clone().unwrap_or_default(),
                token: self.open_secret(conn, API_TOKEN)?,
            },
            "cloud_oauth" => {
                let fresh = self.fresh_oauth(conn).await?;
                Auth::Bearer(self.open_secret(&fresh, oauth::ACCESS_TOKEN)?)
            }
            other => {
                return Err(DomainError::internal(format!("unknown connection kind {other:?}")));
            }
        };
        let integrations = self.integrations()?;
        let s = &integrations.settings;
        Endpoint::new(
            conn.id,
            &conn.base_url,
            auth,
            &s.allow,
            policy,
            integrations.breakers.clone(),
        )
        .map_err(|e| atlassian_error(Product::Jira, e))
    }

    pub(crate) async fn jira_client(&self, conn: &ConnectionRecord) -> DomainResult<Jira> {
        let flavour = if conn.kind == "datacenter" { Flavour::DataCenter } else { Flavour::Cloud };
        Ok(Jira::new(self.endpoint(conn).await?, flavour, &conn.site_url))
    }

    /// The caller's usable connection to `product`, or why there is none.
    pub(crate) async fn active_connection(
        &self,
        user_id: uuid::Uuid,
        product: Product,
    ) -> DomainResult<ConnectionRecord> {
        let title = product.title();
        let conn = self.store.connection(user_id, product.as_str()).await?.ok_or_else(|| {
            DomainError::invalid(format!(
                "{title} is not connected: connect it first (POST /api/v1/integrations/{}/connect)",
                product.as_str()
            ))
        })?;
        if conn.status != "active" {
            let why = conn.error.clone().unwrap_or_else(|| "it is not usable".into());
            return Err(DomainError::new(
                ErrorCode::JiraAuthExpired,
                format!("the {title} connection is disabled: {why}; connect again"),
            ));
        }
        Ok(conn)
    }
}

/// An Atlassian failure as the API reports it (SPEC §4: `JIRA_AUTH_EXPIRED` 401,
/// `JIRA_RATE_LIMIT` 429, `JIRA_CONNECTION_FAILED` 502; the same codes serve Confluence).
pub(crate) fn atlassian_error(product: Product, e: AtlassianError) -> DomainError {
    let title = product.title();
    match e {
        AtlassianError::Refused(m) => DomainError::validation("base_url", m),
        AtlassianError::Unauthorized(m) => {
            DomainError::new(ErrorCode::JiraAuthExpired, format!("{title}: {m}"))
        }
        AtlassianError::NotFound(m) => {
            DomainError::new(ErrorCode::ResourceNotFound, format!("{title}: {m}"))
        }
        AtlassianError::BadRequest(m) => DomainError::invalid(format!("{title}: {m}")),
        AtlassianError::RateLimited(m) => {
            DomainError::new(ErrorCode::JiraRateLimit, format!("{title}: {m}"))
        }
        AtlassianError::Forbidden(m)
        | AtlassianError::Unavailable(m)
        | AtlassianError::Protocol(m) => {
            DomainError::new(ErrorCode::JiraConnectionFailed, format!("{title}: {m}"))
        }
    }
}

/// What `teamcontext rotate-encryption-key` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResealReport {
    /// Connections whose secrets are now sealed with the current key.
    pub resealed: usize,
    /// Connections already sealed with it.
    pub current: usize,
    /// Connections no key opened: disabled, their owners must connect again.
    pub unreadable: Vec<uuid::Uuid>,
}

/// Reseals every connection's secrets with `sealer`'s current key (opening them with any key it
/// holds). Each connection is rewritten in one transaction, guarded by its token version: a
/// connection a running server changed meanwhile is read again and resealed.
pub async fn reseal_connections(
    store: &dyn tc_store::Store,
    sealer: &Sealer,
    now: chrono::DateTime<chrono::Utc>,
) -> DomainResult<ResealReport> {
    let mut report = ResealReport::default();
    for listed in store.list_connections().await? {
        let mut conn = listed;
        loop {
            let stale = conn.secrets.iter().any(|s| s.key_version != sealer.key_version());
            if !stale {
                report.current += 1;
                break;
            }
            let opened: Result<Vec<_>, _> = conn
                .secrets
                .iter()
                .map(|s| {
                    let sealed = crate::sealing::Sealed {
                        key_version: s.key_version,
                        bytes: s.sealed.clone(),
                    };
                    sealer.open(conn.id, &s.kind, &sealed).map(|plain| {
                        let resealed = sealer.seal(conn.id, &s.kind, &plain);
                        tc_store::SecretRecord {
                            kind: s.kind.clone(),
                            key_version: resealed.key_version,
                            sealed: resealed.bytes,
                        }
                    })
                })
                .collect();
            let Ok(secrets) = opened else {
                let why =
                    "its secrets were sealed with a key this server no longer holds: connect again";
                store.set_connection_state(conn.id, "disabled", Some(why), None, now).await?;
                report.unreadable.push(conn.id);
                break;
            };
            if store
                .replace_connection_secrets(
                    conn.id,
                    conn.token_version,
                    &secrets,
                    conn.token_expires_at,
                    now,
                )
                .await?
            {
                report.resealed += 1;
                break;
            }
            // Changed meanwhile (a refresh): read it again.
            match store.connection_by_id(conn.id).await? {
                Some(fresh) => conn = fresh,
                None => break,
            }
        }
    }
    Ok(report)
}
