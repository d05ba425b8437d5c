//! Confluence's REST API as TeamContext uses it: who the token belongs to (Cloud under
//! `/wiki`, Data Center at the site root or its context path).

use serde_json::Value;

use crate::client::{AtlassianError, Endpoint};
use crate::jira::Account;

/// A Confluence site through one connection; `cloud` selects the `/wiki` prefix.
#[derive(Debug, Clone)]
pub struct Confluence {
    endpoint: Endpoint,
    cloud: bool,
}

impl Confluence {
    pub fn new(endpoint: Endpoint, cloud: bool) -> Self {
        Confluence { endpoint, cloud }
    }

    fn prefix(&self) -> &'static str {
        if self.cloud { "/wiki" } else { "" }
    }

    /// `GET /rest/api/user/current`: verifies the credentials and names the account.
    pub async fn current_user(&self) -> Result<Account, AtlassianError> {
        let path = format!("{}/rest/api/user/current", self.prefix());
        let me = self.endpoint.get(&path, &[]).await?.body;
        // An unauthenticated call may be answered as the anonymous user instead of 401.
        if me.get("type").and_then(Value::as_str) == Some("anonymous") {
            return Err(AtlassianError::Unauthorized(
                "Confluence treated the token as anonymous: it is wrong or revoked".into(),
            ));
        }
        let name = me
            .get("accountId")
            .or(me.get("username"))
            .or(me.get("userKey"))
            .and_then(Value::as_str)
            .ok_or_else(|| AtlassianError::Protocol("Confluence named no current user".into()))?;
        let display_name = me.get("displayName").and_then(Value::as_str).unwrap_or(name);
        Ok(Account { name: name.to_string(), display_name: display_name.to_string() })
    }
}
