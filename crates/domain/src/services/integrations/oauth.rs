//! Connecting Atlassian Cloud through OAuth 2.0 (3LO): the consent URL with a sealed `state`,
//! the callback that exchanges the code and stores the site, and access tokens refreshed
//! before they expire: single-flight per connection in this process, and saved with a
//! compare-and-swap on the connection's token version, so that of two replicas refreshing at
//! once one saves its rotated tokens and the other uses them. A refresh Atlassian refuses
//! disables the connection, and its status says why.

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tc_atlassian::AtlassianError;
use tc_atlassian::oauth::Tokens;
use tc_store::{ConnectionRecord, SecretRecord};
use tracing::{info, warn};
use uuid::Uuid;

use super::{Integrations, Product, atlassian_error};
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::services::Services;
use crate::views::ConnectionStatus;

pub(super) const ACCESS_TOKEN: &str = "access_token";
pub(super) const REFRESH_TOKEN: &str = "refresh_token";
/// The sealing kind of `state` values (never a stored secret's kind).
const STATE_KIND: &str = "oauth_state";
/// How long a consent may take.
const STATE_TTL_MINUTES: i64 = 15;
/// Access tokens are refreshed this long before they expire.
const REFRESH_LEEWAY_SECS: i64 = 60;

/// What `state` carries through the consent: who asked, for which product, until when.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    user: Uuid,
    product: String,
    expires: i64,
}

fn scopes(product: Product) -> &'static [&'static str] {
    match product {
        Product::Jira => {
            &["read:jira-work", "read:jira-user", "write:jira-work", "read:me", "offline_access"]
        }
        // Confluence's v2 API needs granular scopes; its v1 CQL search classic ones.
        Product::Confluence => &[
            "read:page:confluence",
            "read:space:confluence",
            "read:confluence-content.all",
            "search:confluence",
            "read:confluence-space.summary",
            "read:me",
            "offline_access",
        ],
    }
}

fn not_configured() -> DomainError {
    DomainError::validation(
        "kind",
        "OAuth is not configured on this server (ATLASSIAN_CLIENT_ID, ATLASSIAN_CLIENT_SECRET): \
         connect with `cloud_api_token` instead, or ask the operator",
    )
}

fn bad_state() -> DomainError {
    DomainError::invalid("the consent link is not valid or has expired: connect again")
}

impl Services {
    /// The consent URL for the caller; the connection is stored by the callback.
    pub(super) fn start_oauth(
        &self,
        caller: &Caller,
        product: Product,
    ) -> DomainResult<ConnectionStatus> {
        let integrations = self.integrations()?;
        let app = integrations.settings.oauth.as_ref().ok_or_else(not_configured)?;
        let state = State {
            user: caller.user_id,
            product: product.as_str().into(),
            expires: (self.now() + Duration::minutes(STATE_TTL_MINUTES)).timestamp(),
        };
        let sealer = &integrations.settings.sealer;
        let sealed = sealer.seal(
            Uuid::nil(),
            STATE_KIND,
            &serde_json::to_string(&state).unwrap_or_default(),
        );
        let mut bytes = sealed.key_version.to_be_bytes().to_vec();
        bytes.extend_from_slice(&sealed.bytes);
        let state = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        Ok(ConnectionStatus {
            connected: false,
            kind: Some("cloud_oauth".into()),
            site: None,
            account: None,
            last_sync_at: None,
            error: None,
            authorize_url: Some(app.authorize_url(scopes(product), &state)),
        })
    }

    fn open_state(&self, integrations: &Integrations, state: &str) -> DomainResult<State> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(state)
            .map_err(|_| bad_state())?;
        if bytes.len() < 8 {
            return Err(bad_state());
        }
        let (version, sealed) = bytes.split_at(8);
        let sealed = crate::sealing::Sealed {
            key_version: i64::from_be_bytes(version.try_into().map_err(|_| bad_state())?),
            bytes: sealed.to_vec(),
        };
        let text = integrations
            .settings
            .sealer
            .open(Uuid::nil(), STATE_KIND, &sealed)
            .map_err(|_| bad_state())?;
        let state: State = serde_json::from_str(&text).map_err(|_| bad_state())?;
        if state.expires < self.now().timestamp() {
            return Err(bad_state());
        }
        Ok(state)
    }

    /// Atlassian's redirect after consent (`GET /integrations/{product}/callback`): checks
    /// `state`, exchanges the code, finds the site, verifies the account and stores the
    /// connection for the user who asked.
    pub async fn oauth_callback(
        &self,
        product_name: &str,
        code: Option<String>,
        state: Option<String>,
        error: Option<String>,
    ) -> DomainResult<ConnectionStatus> {
        Product::parse(product_name).ok_or_else(|| DomainError::not_found("integration"))?;
        let integrations = self.integrations()?;
        let app = integrations.settings.oauth.as_ref().ok_or_else(not_configured)?;
        let state = self.open_state(integrations, state.as_deref().unwrap_or(""))?;
        // The product comes from the state: one redirect URI serves both.
        let product = Product::parse(&state.product).ok_or_else(bad_state)?;
        if let Some(error) = error {
            return Err(DomainError::invalid(format!(
                "Atlassian did not grant access ({error}): connect again and accept the consent"
            )));
        }
        let code = code.filter(|c| !c.is_empty()).ok_or_else(|| DomainError::missing("code"))?;
        let s = &integrations.settings;
        let tokens = app
            .exchange_code(&code, &s.allow, s.policy, &integrations.breakers)
            .await
            .map_err(|e| atlassian_error(product, e))?;
        let resources = app
            .accessible_resources(&tokens.access_token, &s.allow, s.policy, &integrations.breakers)
            .await
            .map_err(|e| atlassian_error(product, e))?;
        let site = resources.into_iter().next().ok_or_else(|| {
            DomainError::new(
                ErrorCode::JiraConnectionFailed,
                "the consent reached no Atlassian site: choose a site when you accept",
            )
        })?;
        let now = self.now();
        let id = Uuid::now_v7();
        let mut conn = ConnectionRecord {
            id,
            user_id: state.user,
            product: product.as_str().into(),
            kind: "cloud_oauth".into(),
            base_url: app.api_base(product.as_str(), &site.id),
            site_url: site.url.clone(),
            cloud_id: Some(site.id.clone()),
            email: None,
            account_name: None,
            account_display_name: None,
            secrets: Vec::new(),
            token_expires_at: Some(now + Duration::seconds(tokens.expires_in)),
            token_version: 0,
            status: "active".into(),
            error: None,
            last_sync_at: None,
            created_at: now,
            updated_at: now,
        };
        conn.secrets = self.seal_tokens(id, &tokens, None)?;
        let account = self.verify(product, &conn).await?;
        conn.account_name = Some(account.name);
        conn.account_display_name = Some(account.display_name);
        self.store.put_connection(&conn).await?;
        info!(user_id = %state.user, product = product.as_str(), site = %site.url, "Atlassian OAuth connection made");
        Ok(super::connect::status_of(Some(&conn)))
    }

    /// The sealed secrets of `tokens`; a grant without a new refresh token keeps `previous`.
    fn seal_tokens(
        &self,
        id: Uuid,
        tokens: &Tokens,
        previous: Option<&str>,
    ) -> DomainResult<Vec<SecretRecord>> {
        let sealer = &self.integrations()?.settings.sealer;
        let mut secrets = Vec::new();
        let refresh = tokens.refresh_token.as_deref().or(previous);
        for (kind, value) in
            [(ACCESS_TOKEN, Some(tokens.access_token.as_str())), (REFRESH_TOKEN, refresh)]
        {
            if let Some(value) = value {
                let sealed = sealer.seal(id, kind, value);
                secrets.push(SecretRecord {
                    kind: kind.into(),
                    key_version: sealed.key_version,
                    sealed: sealed.bytes,
                });
            }
        }
        Ok(secrets)
    }

    /// An OAuth connection whose access token is good for a while: refreshed first when it
    /// expires within a minute. One refresh per connection at a time in this process; across
    /// replicas the token version decides, and the loser uses the winner's tokens.
    pub(super) async fn fresh_oauth(
        &self,
        conn: &ConnectionRecord,
    ) -> DomainResult<ConnectionRecord> {
        let due = |c: &ConnectionRecord, now: DateTime<Utc>| {
            c.token_expires_at.is_none_or(|at| at <= now + Duration::seconds(REFRESH_LEEWAY_SECS))
        };
        if !due(conn, self.now()) {
            return Ok(conn.clone());
        }
        let integrations = self.integrations()?;
        let lock = {
            let mut locks = integrations.refresh_locks.lock();
            locks.entry(conn.id).or_insert_with(|| Arc::new(tokio::sync::Mutex::new(()))).clone()
        };
        let _guard = lock.lock().await;
        // Another task (or replica) may have refreshed while this one waited.
        let current = self.store.connection_by_id(conn.id).await?.ok_or_else(|| {
            DomainError::new(
                ErrorCode::JiraAuthExpired,
                "the connection was removed: connect again",
            )
        })?;
        if current.status != "active" {
            return Err(DomainError::new(
                ErrorCode::JiraAuthExpired,
                format!(
                    "the connection is disabled: {}",
                    current.error.clone().unwrap_or_default()
                ),
            ));
        }
        if !due(&current, self.now()) {
            return Ok(current);
        }
        let app = integrations.settings.oauth.as_ref().ok_or_else(not_configured)?;
        let refresh_token = self.open_secret(&current, REFRESH_TOKEN)?;
        let s = &integrations.settings;
        let product = Product::parse(&current.product).unwrap_or(Product::Jira);
        let tokens = match app
            .refresh(current.id, &refresh_token, &s.allow, s.policy, &integrations.breakers)
            .await
        {
            Ok(tokens) => tokens,
            Err(AtlassianError::Unauthorized(m)) => {
                let why = format!("{m}; connect again");
                warn!(connection = %current.id, "OAuth refresh refused: the connection is disabled");
                self.store
                    .set_connection_state(current.id, "disabled", Some(&why), None, self.now())
                    .await?;
                return Err(DomainError::new(ErrorCode::JiraAuthExpired, why));
            }
            Err(e) => return Err(atlassian_error(product, e)),
        };
        let secrets = self.seal_tokens(current.id, &tokens, Some(&refresh_token))?;
        let expires = Some(self.now() + Duration::seconds(tokens.expires_in));
        let saved = self
            .store
            .replace_connection_secrets(
                current.id,
                current.token_version,
                &secrets,
                expires,
                self.now(),
            )
            .await?;
        let fresh = self.store.connection_by_id(current.id).await?.ok_or_else(|| {
            DomainError::new(
                ErrorCode::JiraAuthExpired,
                "the connection was removed: connect again",
            )
        })?;
        if !saved {
            info!(connection = %current.id, "another server refreshed the OAuth tokens first");
        }
        Ok(fresh)
    }
}
