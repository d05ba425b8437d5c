//! The MCP servers users registered for the agent, in PostgreSQL; the trait's methods for users'
//! own language models are in `user_llms`.

use chrono::{DateTime, Utc};
use tc_store::{McpServerRecord, SecretRecord, StoreResult, UserLlmRecord};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::db::{self, client};
use crate::rows;

/// The kind of the one secret a server has.
const TOKEN: &str = "bearer_token";

const COLS: &str = "id, user_id, name, url, token_key_version, token_sealed, tools, \
    tools_refreshed_at, error, created_at, updated_at";

fn record(r: &Row) -> StoreResult<McpServerRecord> {
    let key_version: Option<i64> = rows::get(r, "token_key_version")?;
    let sealed: Option<Vec<u8>> = rows::get(r, "token_sealed")?;
    Ok(McpServerRecord {
        id: rows::get(r, "id")?,
        user_id: rows::get(r, "user_id")?,
        name: rows::get(r, "name")?,
        url: rows::get(r, "url")?,
        token: key_version.zip(sealed).map(|(key_version, sealed)| SecretRecord {
            kind: TOKEN.into(),
            key_version,
            sealed,
        }),
        tools: rows::get(r, "tools")?,
        tools_refreshed_at: rows::get(r, "tools_refreshed_at")?,
        error: rows::get(r, "error")?,
        created_at: rows::get(r, "created_at")?,
        updated_at: rows::get(r, "updated_at")?,
    })
}

impl crate::PgStore {
    async fn select_mcp_servers(
        &self,
        filter: &str,
        args: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> StoreResult<Vec<McpServerRecord>> {
        let c = client(&self.pool).await?;
        let found =
            db::query(&c, &format!("SELECT {COLS} FROM mcp_servers {filter}"), args).await?;
        rows::all(found, record)
    }

    async fn change_mcp_servers(
        &self,
        sql: &str,
        args: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> StoreResult<u64> {
        db::execute(&client(&self.pool).await?, sql, args).await
    }
}

#[async_trait::async_trait]
impl tc_store::McpServerStore for crate::PgStore {
    async fn insert_mcp_server(&self, r: &McpServerRecord) -> StoreResult<()> {
        self.change_mcp_servers(
            &format!(
                "INSERT INTO mcp_servers ({COLS}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ),
            &[
                &r.id,
                &r.user_id,
                &r.name,
                &r.url,
                &r.token.as_ref().map(|t| t.key_version),
                &r.token.as_ref().map(|t| t.sealed.clone()),
                &r.tools,
                &r.tools_refreshed_at,
                &r.error,
                &r.created_at,
                &r.updated_at,
            ],
        )
        .await?;
        Ok(())
    }
    async fn mcp_servers(&self, user_id: Uuid) -> StoreResult<Vec<McpServerRecord>> {
        self.select_mcp_servers("WHERE user_id = $1 ORDER BY name", &[&user_id]).await
    }
    async fn mcp_server(&self, id: Uuid) -> StoreResult<Option<McpServerRecord>> {
        Ok(self.select_mcp_servers("WHERE id = $1", &[&id]).await?.pop())
    }
    async fn delete_mcp_server(&self, user_id: Uuid, id: Uuid) -> StoreResult<bool> {
        let removed = self
            .change_mcp_servers(
                "DELETE FROM mcp_servers WHERE id = $1 AND user_id = $2",
                &[&id, &user_id],
            )
            .await?;
        Ok(removed > 0)
    }
    async fn set_mcp_server_tools(
        &self,
        id: Uuid,
        tools: &serde_json::Value,
        refreshed_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.change_mcp_servers(
            "UPDATE mcp_servers SET tools = $2, tools_refreshed_at = $3, error = NULL, \
             updated_at = $3 WHERE id = $1",
            &[&id, tools, &refreshed_at],
        )
        .await?;
        Ok(())
    }
    async fn set_mcp_server_error(
        &self,
        id: Uuid,
        error: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.change_mcp_servers(
            "UPDATE mcp_servers SET error = $2, updated_at = $3 WHERE id = $1",
            &[&id, &error, &now],
        )
        .await?;
        Ok(())
    }
    async fn replace_mcp_server_token(
        &self,
        id: Uuid,
        token: &SecretRecord,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.change_mcp_servers(
            "UPDATE mcp_servers SET token_key_version = $2, token_sealed = $3, updated_at = $4 \
             WHERE id = $1",
            &[&id, &token.key_version, &token.sealed, &now],
        )
        .await?;
        Ok(())
    }
    async fn list_all_mcp_servers(&self) -> StoreResult<Vec<McpServerRecord>> {
        self.select_mcp_servers("ORDER BY created_at", &[]).await
    }

    async fn put_user_llm(&self, llm: &UserLlmRecord) -> StoreResult<()> {
        self.put_user_llm_row(llm).await
    }
    async fn user_llm(&self, user_id: Uuid) -> StoreResult<Option<UserLlmRecord>> {
        self.user_llm_row(user_id).await
    }
    async fn delete_user_llm(&self, user_id: Uuid) -> StoreResult<bool> {
        self.delete_user_llm_row(user_id).await
    }
    async fn set_user_llm_tested(
        &self,
        user_id: Uuid,
        at: DateTime<Utc>,
        error: Option<&str>,
    ) -> StoreResult<()> {
        self.set_user_llm_tested_row(user_id, at, error).await
    }
    async fn list_user_llms(&self) -> StoreResult<Vec<UserLlmRecord>> {
        self.list_user_llm_rows().await
    }
}
