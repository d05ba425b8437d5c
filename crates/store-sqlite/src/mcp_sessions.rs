//! MCP sessions in SQLite: owner and protocol state (see `Store::claim_mcp_session`).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use tc_store::{McpSessionRecord, StoreResult};
use uuid::Uuid;

use crate::convert::{self, ms};
use crate::db_err;

pub(crate) fn claim_mcp_session(
    c: &Connection,
    id: &str,
    user_id: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    c.execute(
        "INSERT INTO mcp_sessions (id, user_id, created_at, last_used_at) VALUES (?1, ?2, ?3, ?3) \
         ON CONFLICT (id) DO UPDATE SET user_id = COALESCE(mcp_sessions.user_id, excluded.user_id), \
         last_used_at = excluded.last_used_at",
        params![id, user_id.to_string(), ms(at)],
    )
    .map_err(db_err)?;
    Ok(())
}

pub(crate) fn set_mcp_session_state(
    c: &Connection,
    id: &str,
    state: &str,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    c.execute(
        "INSERT INTO mcp_sessions (id, state, created_at, last_used_at) VALUES (?1, ?2, ?3, ?3) \
         ON CONFLICT (id) DO UPDATE SET state = excluded.state",
        params![id, state, ms(at)],
    )
    .map_err(db_err)?;
    Ok(())
}

pub(crate) fn mcp_session(c: &Connection, id: &str) -> StoreResult<Option<McpSessionRecord>> {
    let mut stmt = c
        .prepare_cached(
            "SELECT id, user_id, state, created_at, last_used_at FROM mcp_sessions WHERE id = ?",
        )
        .map_err(db_err)?;
    convert::first(stmt.query([id]).map_err(db_err)?, |r| {
        Ok(McpSessionRecord {
            id: convert::get(r, "id")?,
            user_id: convert::get_opt_uuid(r, "user_id")?,
            state: convert::get(r, "state")?,
            created_at: convert::get_time(r, "created_at")?,
            last_used_at: convert::get_time(r, "last_used_at")?,
        })
    })
}

pub(crate) fn delete_mcp_session(c: &Connection, id: &str) -> StoreResult<()> {
    c.execute("DELETE FROM mcp_sessions WHERE id = ?", [id]).map_err(db_err)?;
    Ok(())
}

pub(crate) fn purge_mcp_sessions(c: &Connection, before: DateTime<Utc>) -> StoreResult<u64> {
    let removed = c
        .execute("DELETE FROM mcp_sessions WHERE last_used_at < ?", [ms(before)])
        .map_err(db_err)?;
    Ok(removed as u64)
}

#[async_trait::async_trait]
impl tc_store::McpSessionStore for crate::SqliteStore {
    async fn claim_mcp_session(
        &self,
        id: &str,
        user_id: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<()> {
        let id = id.to_string();
        self.write(move |c| claim_mcp_session(c, &id, user_id, at)).await
    }
    async fn set_mcp_session_state(
        &self,
        id: &str,
        state: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<()> {
        let (id, state) = (id.to_string(), state.to_string());
        self.write(move |c| set_mcp_session_state(c, &id, &state, at)).await
    }
    async fn mcp_session(
        &self,
        id: &str,
    ) -> tc_store::StoreResult<Option<tc_store::McpSessionRecord>> {
        self.read(|c| mcp_session(c, id))
    }
    async fn delete_mcp_session(&self, id: &str) -> tc_store::StoreResult<()> {
        let id = id.to_string();
        self.write(move |c| delete_mcp_session(c, &id)).await
    }
    async fn purge_mcp_sessions(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<u64> {
        self.write(move |c| purge_mcp_sessions(c, before)).await
    }
}
