//! MCP sessions in PostgreSQL: owner and protocol state (see `Store::claim_mcp_session`).

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tc_store::{McpSessionRecord, StoreResult};
use uuid::Uuid;

use crate::db::{self, client};
use crate::rows;

pub(crate) async fn claim_mcp_session(
    pool: &Pool,
    id: &str,
    user_id: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    db::execute(
        &client(pool).await?,
        "INSERT INTO mcp_sessions (id, user_id, created_at, last_used_at) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (id) DO UPDATE SET user_id = COALESCE(mcp_sessions.user_id, EXCLUDED.user_id), \
         last_used_at = EXCLUDED.last_used_at",
        &[&id, &user_id, &at],
    )
    .await?;
    Ok(())
}

pub(crate) async fn set_mcp_session_state(
    pool: &Pool,
    id: &str,
    state: &str,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    db::execute(
        &client(pool).await?,
        "INSERT INTO mcp_sessions (id, state, created_at, last_used_at) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state",
        &[&id, &state, &at],
    )
    .await?;
    Ok(())
}

pub(crate) async fn mcp_session(pool: &Pool, id: &str) -> StoreResult<Option<McpSessionRecord>> {
    let row = db::query_opt(
        &client(pool).await?,
        "SELECT id, user_id, state, created_at, last_used_at FROM mcp_sessions WHERE id = $1",
        &[&id],
    )
    .await?;
    row.map(|r| {
        Ok(McpSessionRecord {
            id: rows::get(&r, "id")?,
            user_id: rows::get(&r, "user_id")?,
            state: rows::get(&r, "state")?,
            created_at: rows::get(&r, "created_at")?,
            last_used_at: rows::get(&r, "last_used_at")?,
        })
    })
    .transpose()
}

pub(crate) async fn delete_mcp_session(pool: &Pool, id: &str) -> StoreResult<()> {
    db::execute(&client(pool).await?, "DELETE FROM mcp_sessions WHERE id = $1", &[&id]).await?;
    Ok(())
}

pub(crate) async fn purge_mcp_sessions(pool: &Pool, before: DateTime<Utc>) -> StoreResult<u64> {
    db::execute(
        &client(pool).await?,
        "DELETE FROM mcp_sessions WHERE last_used_at < $1",
        &[&before],
    )
    .await
}

#[async_trait::async_trait]
impl tc_store::McpSessionStore for crate::PgStore {
    async fn claim_mcp_session(
        &self,
        id: &str,
        user_id: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<()> {
        claim_mcp_session(&self.pool, id, user_id, at).await
    }
    async fn set_mcp_session_state(
        &self,
        id: &str,
        state: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<()> {
        set_mcp_session_state(&self.pool, id, state, at).await
    }
    async fn mcp_session(
        &self,
        id: &str,
    ) -> tc_store::StoreResult<Option<tc_store::McpSessionRecord>> {
        mcp_session(&self.pool, id).await
    }
    async fn delete_mcp_session(&self, id: &str) -> tc_store::StoreResult<()> {
        delete_mcp_session(&self.pool, id).await
    }
    async fn purge_mcp_sessions(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<u64> {
        purge_mcp_sessions(&self.pool, before).await
    }
}
