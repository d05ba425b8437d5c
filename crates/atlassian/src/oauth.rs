//! OAuth 2.0 (3LO) for Atlassian Cloud: the consent URL, the code exchange, refreshing with
//! rotating refresh tokens, and the sites a grant reaches. Atlassian supports no PKCE, so the
//! app is a confidential client (its secret stays on the server) and `state` protects the
//! redirect. Nothing here retries a token call on a timeout: a refresh Atlassian performed but
//! whose answer was lost has already rotated the refresh token.

use serde_json::{Value, json};
use tc_outbound::AllowList;
use uuid::Uuid;

use crate::client::{AtlassianError, Auth, Breakers, Endpoint, RetryPolicy};

/// The OAuth app the operator registered in Atlassian's developer console, and where
/// Atlassian's authorization server and API gateway are (configurable for tests).
#[derive(Clone)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    /// `https://auth.atlassian.com` in production.
    pub auth_url: String,
    /// `https://api.atlassian.com` in production.
    pub api_url: String,
}

impl std::fmt::Debug for OAuthApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthApp")
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// What the token endpoint grants.
#[derive(Clone)]
pub struct Tokens {
    pub access_token: String,
    /// Present when `offline_access` was granted; a new one with every refresh.
    pub refresh_token: Option<String>,
    /// Seconds the access token lives.
    pub expires_in: i64,
}

/// A site a grant reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The cloud id API calls go through.
    pub id: String,
    /// The site people browse, e.g. `https://acme.atlassian.net`.
    pub url: String,
    pub name: String,
    pub scopes: Vec<String>,
}

impl OAuthApp {
    /// The URL a person opens to give consent; Atlassian sends them back to `redirect_uri`
    /// with `code` and `state`.
    pub fn authorize_url(&self, scopes: &[&str], state: &str) -> String {
        let mut url =
            url::Url::parse(&format!("{}/authorize", self.auth_url.trim_end_matches('/')))
                .expect("the authorization server's URL is checked at start");
        url.query_pairs_mut()
            .append_pair("audience", "api.atlassian.com")
            .append_pair("client_id", &self.client_id)
            .append_pair("scope", &scopes.join(" "))
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("state", state)
            .append_pair("response_type", "code")
            .append_pair("prompt", "consent");
        url.to_string()
    }

    fn endpoint(
        &self,
        base: &str,
        auth: Auth,
        connection: Uuid,
        allow: &AllowList,
        policy: RetryPolicy,
        breakers: &Breakers,
    ) -> Result<Endpoint, AtlassianError> {
        Endpoint::new(connection, base, auth, allow, policy, breakers.clone())
    }

    async fn token(
        &self,
        body: Value,
        connection: Uuid,
        allow: &AllowList,
        policy: RetryPolicy,
        breakers: &Breakers,
    ) -> Result<Tokens, AtlassianError> {
        let endpoint =
            self.endpoint(&self.auth_url, Auth::None, connection, allow, policy, breakers)?;
        let answer = endpoint.post("/oauth/token", &body).await.map_err(|e| match e {
            // The authorization server refuses a bad code or refresh token with 400 or 403.
            AtlassianError::BadRequest(m)
            | AtlassianError::Forbidden(m)
            | AtlassianError::Unauthorized(m) => {
                AtlassianError::Unauthorized(format!("Atlassian refused the authorization: {m}"))
            }
            other => other,
        })?;
        let text = |k: &str| answer.body.get(k).and_then(Value::as_str).map(str::to_string);
        Ok(Tokens {
            access_token: text("access_token").ok_or_else(|| {
                AtlassianError::Protocol("the token endpoint sent no access_token".into())
            })?,
            refresh_token: text("refresh_token"),
            expires_in: answer.body.get("expires_in").and_then(Value::as_i64).unwrap_or(3600),
        })
    }

    /// Exchanges the code of a consent for tokens.
    pub async fn exchange_code(
        &self,
        code: &str,
        allow: &AllowList,
        policy: RetryPolicy,
        breakers: &Breakers,
    ) -> Result<Tokens, AtlassianError> {
        let body = json!({
            "grant_type": "authorization_code",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "code": code,
            "redirect_uri": self.redirect_uri,
        });
        self.token(body, Uuid::now_v7(), allow, policy, breakers).await
    }

    /// Trades a refresh token for new tokens (the old refresh token stops working).
    pub async fn refresh(
        &self,
        connection: Uuid,
        refresh_token: &str,
        allow: &AllowList,
        policy: RetryPolicy,
        breakers: &Breakers,
    ) -> Result<Tokens, AtlassianError> {
        let body = json!({
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": refresh_token,
        });
        self.token(body, connection, allow, policy, breakers).await
    }

    /// The sites an access token reaches.
    pub async fn accessible_resources(
        &self,
        access_token: &str,
        allow: &AllowList,
        policy: RetryPolicy,
        breakers: &Breakers,
    ) -> Result<Vec<Resource>, AtlassianError> {
        let auth = Auth::Bearer(access_token.to_string());
        let endpoint =
            self.endpoint(&self.api_url, auth, Uuid::now_v7(), allow, policy, breakers)?;
        let answer = endpoint.get("/oauth/token/accessible-resources", &[]).await?;
        let list = answer.body.as_array().ok_or_else(|| {
            AtlassianError::Protocol("accessible-resources did not answer a list".into())
        })?;
        Ok(list
            .iter()
            .filter_map(|r| {
                Some(Resource {
                    id: r.get("id")?.as_str()?.to_string(),
                    url: r.get("url")?.as_str()?.trim_end_matches('/').to_string(),
                    name: r.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
                    scopes: r
                        .get("scopes")
                        .and_then(Value::as_array)
                        .map(|s| s.iter().filter_map(Value::as_str).map(str::to_string).collect())
                        .unwrap_or_default(),
                })
            })
            .collect())
    }

    /// The API base of a product on a site, through the gateway.
    pub fn api_base(&self, product: &str, cloud_id: &str) -> String {
        format!("{}/ex/{product}/{cloud_id}", self.api_url.trim_end_matches('/'))
    }
}
