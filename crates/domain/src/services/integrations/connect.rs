//! Connecting to Jira or Confluence (the credentials are verified before anything is stored),
//! the connection's status, and disconnecting.
//!
//! Connections belong to a user, not a project: managing them needs an unrestricted credential
//! (a login, or an API key not restricted to one project) with the `write` scope.

use std::time::Duration;

use tc_atlassian::RetryPolicy;
use tc_atlassian::confluence::Confluence;
use tc_atlassian::jira::{Account, Flavour, Jira};
use tc_store::{ConnectionRecord, Scope, SecretRecord};
use uuid::Uuid;

use super::{API_TOKEN, PERSONAL_ACCESS_TOKEN, Product, atlassian_error};
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::services::Services;
use crate::views::{AtlassianAccount, ConnectRequest, ConnectionStatus, Disconnected};

/// Longest token accepted (Atlassian's are a few hundred characters).
const MAX_TOKEN_LEN: usize = 4096;

fn required(value: Option<String>, field: &str) -> DomainResult<String> {
    let value = value.map(|v| v.trim().to_string()).unwrap_or_default();
    if value.is_empty() {
        return Err(DomainError::missing(field));
    }
    if value.len() > MAX_TOKEN_LEN {
        return Err(DomainError::validation(field, format!("`{field}` is too long")));
    }
    Ok(value)
}

/// `jira` or `confluence`; anything else is not found.
fn product(name: &str) -> DomainResult<Product> {
    Product::parse(name).ok_or_else(|| DomainError::not_found("integration"))
}

impl Services {
    /// Connections are account-level: managing them needs a verified account and a credential
    /// not restricted to one project.
    pub(crate) fn require_account_credential(
        &self,
        caller: &Caller,
        scope: Scope,
    ) -> DomainResult<()> {
        self.require_verified(caller)?;
        caller.require_scope(scope)?;
        if caller.project_restriction().is_some() {
            return Err(DomainError::new(
                ErrorCode::InsufficientPermissions,
                "an API key restricted to one project cannot manage integrations",
            ));
        }
        Ok(())
    }

    /// Connects the caller to `product`, replacing the connection they had once the new
    /// credentials are verified.
    pub async fn connect(
        &self,
        caller: &Caller,
        product_name: &str,
        req: ConnectRequest,
    ) -> DomainResult<ConnectionStatus> {
        self.require_account_credential(caller, Scope::Write)?;
        let product = product(product_name)?;
        self.integrations()?;
        let kind = required(req.kind, "kind")?;
        let (email, secret_kind, secret) = match kind.as_str() {
            "datacenter" => (
                None,
                PERSONAL_ACCESS_TOKEN,
                required(req.personal_access_token, "personal_access_token")?,
            ),
            "cloud_api_token" => {
                let email = required(req.email, "email")?;
                if !email.contains('@') {
                    return Err(DomainError::validation(
                        "email",
                        "`email` must be the Atlassian account's email address",
                    ));
                }
                (Some(email), API_TOKEN, required(req.api_token, "api_token")?)
            }
            "cloud_oauth" => return self.start_oauth(caller, product),
            _ => {
                return Err(DomainError::validation(
                    "kind",
                    "`kind` must be `datacenter`, `cloud_api_token` or `cloud_oauth`",
                ));
            }
        };
        let base_url = normalise_base_url(product, &kind, &required(req.base_url, "base_url")?)?;
        let now = self.now();
        let id = Uuid::now_v7();
        let sealer = &self.integrations()?.settings.sealer;
        let sealed = sealer.seal(id, secret_kind, &secret);
        let mut conn = ConnectionRecord {
            id,
            user_id: caller.user_id,
            product: product.as_str().into(),
            kind: kind.clone(),
            base_url: base_url.clone(),
            site_url: base_url.clone(),
            cloud_id: None,
            email,
            account_name: None,
            account_display_name: None,
            secrets: vec![SecretRecord {
                kind: secret_kind.into(),
                key_version: sealed.key_version,
                sealed: sealed.bytes,
            }],
            token_expires_at: None,
            token_version: 0,
            status: "active".into(),
            error: None,
            last_sync_at: None,
            created_at: now,
            updated_at: now,
        };
        let account = self.verify(product, &conn).await?;
        conn.account_name = Some(account.name);
        conn.account_display_name = Some(account.display_name);
        self.store.put_connection(&conn).await?;
        tracing::info!(user_id = %caller.user_id, product = product.as_str(), kind, site = %base_url, "Atlassian connection made");
        Ok(status_of(Some(&conn)))
    }

    /// Asks the product who the credentials belong to: the proof that they work. Someone is
    /// waiting for the answer, so a site that does not answer is given one more chance only.
    pub(super) async fn verify(
        &self,
        product: Product,
        conn: &ConnectionRecord,
    ) -> DomainResult<Account> {
        let policy = self.integrations()?.settings.policy;
        let policy = RetryPolicy {
            max_attempts: 2,
            max_delay: policy.max_delay.min(Duration::from_secs(2)),
            ..policy
        };
        let endpoint = self.endpoint_with(conn, policy).await?;
        let cloud = conn.kind != "datacenter";
        let answer = match product {
            Product::Jira => {
                let flavour = if cloud { Flavour::Cloud } else { Flavour::DataCenter };
                Jira::new(endpoint, flavour, &conn.site_url).myself().await
            }
            Product::Confluence => {
                Confluence::new(endpoint, cloud, &conn.site_url).current_user().await
            }
        };
        answer.map_err(|e| match atlassian_error(product, e) {
            // A site that answers 404 to the identity call is not that product (or not there).
            e if e.code == ErrorCode::ResourceNotFound => DomainError::new(
                ErrorCode::JiraConnectionFailed,
                format!(
                    "{} has no {} API here: check `base_url`",
                    conn.base_url,
                    if product == Product::Jira { "Jira" } else { "Confluence" }
                ),
            ),
            e => e,
        })
    }

    /// The caller's connection to `product`.
    pub async fn connection_status(
        &self,
        caller: &Caller,
        product_name: &str,
    ) -> DomainResult<ConnectionStatus> {
        self.require_account_credential(caller, Scope::Read)?;
        let product = product(product_name)?;
        let conn = self.store.connection(caller.user_id, product.as_str()).await?;
        Ok(status_of(conn.as_ref()))
    }

    /// Removes the caller's connection and its secrets; contexts already synced stay.
    pub async fn disconnect(
        &self,
        caller: &Caller,
        product_name: &str,
    ) -> DomainResult<Disconnected> {
        self.require_account_credential(caller, Scope::Write)?;
        let product = product(product_name)?;
        let disconnected = self.store.delete_connection(caller.user_id, product.as_str()).await?;
        Ok(Disconnected { disconnected })
    }
}

/// A base URL checked against the outbound rule, without a trailing slash (and, for Confluence
/// Cloud, without the `/wiki` the API adds itself).
fn normalise_base_url(product: Product, kind: &str, url: &str) -> DomainResult<String> {
    let parsed = url::Url::parse(url.trim()).map_err(|e| {
        DomainError::validation("base_url", format!("`base_url` is not a valid URL: {e}"))
    })?;
    if parsed.scheme() != "https" && parsed.scheme() != "http" {
        return Err(DomainError::validation("base_url", "`base_url` must be an https:// URL"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty() {
        return Err(DomainError::validation(
            "base_url",
            "`base_url` is the site's address only, e.g. https://acme.atlassian.net",
        ));
    }
    let mut base = parsed.as_str().trim_end_matches('/').to_string();
    if product == Product::Confluence && kind != "datacenter" {
        base = base.trim_end_matches("/wiki").to_string();
    }
    Ok(base)
}

pub(super) fn status_of(conn: Option<&ConnectionRecord>) -> ConnectionStatus {
    let Some(c) = conn else {
        return ConnectionStatus {
            connected: false,
            kind: None,
            site: None,
            account: None,
            last_sync_at: None,
            error: None,
            authorize_url: None,
        };
    };
    ConnectionStatus {
        connected: c.status == "active",
        kind: Some(c.kind.clone()),
        site: Some(c.site_url.clone()),
        account: c.account_name.clone().map(|name| AtlassianAccount {
            display_name: c.account_display_name.clone().unwrap_or_else(|| name.clone()),
            name,
        }),
        last_sync_at: c.last_sync_at,
        error: c.error.clone(),
        authorize_url: None,
    }
}
