//! MCP sessions as the server's `/mcp` layer keeps them in the store: who opened each, and the
//! MCP SDK's state for it. Not caller-scoped: the `/mcp` middleware decides with these whether a
//! caller may use a session.

use chrono::Duration;
use tc_store::McpSessionRecord;
use uuid::Uuid;

use super::Services;
use crate::error::DomainResult;

impl Services {
    pub async fn mcp_session(&self, id: &str) -> DomainResult<Option<McpSessionRecord>> {
        Ok(self.store.mcp_session(id).await?)
    }

    /// Records `user_id` as the session's owner (the first owner recorded stays) and its use now.
    pub async fn claim_mcp_session(&self, id: &str, user_id: Uuid) -> DomainResult<()> {
        Ok(self.store.claim_mcp_session(id, user_id, self.now()).await?)
    }

    pub async fn set_mcp_session_state(&self, id: &str, state: &str) -> DomainResult<()> {
        Ok(self.store.set_mcp_session_state(id, state, self.now()).await?)
    }

    pub async fn delete_mcp_session(&self, id: &str) -> DomainResult<()> {
        Ok(self.store.delete_mcp_session(id).await?)
    }

    /// Forgets sessions unused for `idle_days`; returns how many.
    pub async fn purge_idle_mcp_sessions(&self, idle_days: i64) -> DomainResult<u64> {
        Ok(self.store.purge_mcp_sessions(self.now() - Duration::days(idle_days)).await?)
    }
}
