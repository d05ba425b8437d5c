//! The MCP servers users registered for the agent, in SQLite; the trait's methods for users'
//! own language models are in `user_llms`.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use tc_store::{McpServerRecord, SecretRecord, StoreResult, UserLlmRecord};
use uuid::Uuid;

use crate::convert::{self, get, ms, opt_ms};
use crate::db_err;

/// The kind of the one secret a server has.
const TOKEN: &str = "bearer_token";

const COLS: &str = "id, user_id, name, url, token_key_version, token_sealed, tools, \
    tools_refreshed_at, error, created_at, updated_at";

fn record(r: &rusqlite::Row<'_>) -> StoreResult<McpServerRecord> {
    let key_version: Option<i64> = get(r, "token_key_version")?;
    let sealed: Option<Vec<u8>> = get(r, "token_sealed")?;
    let tools: String = get(r, "tools")?;
    Ok(McpServerRecord {
        id: convert::get_uuid(r, "id")?,
        user_id: convert::get_uuid(r, "user_id")?,
        name: get(r, "name")?,
        url: get(r, "url")?,
        token: key_version.zip(sealed).map(|(key_version, sealed)| SecretRecord {
            kind: TOKEN.into(),
            key_version,
            sealed,
        }),
        tools: serde_json::from_str(&tools)
            .map_err(|_| convert::corrupt(format!("mcp_servers.tools {tools:?}")))?,
        tools_refreshed_at: convert::get_opt_time(r, "tools_refreshed_at")?,
        error: get(r, "error")?,
        created_at: convert::get_time(r, "created_at")?,
        updated_at: convert::get_time(r, "updated_at")?,
    })
}

fn select(
    c: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> StoreResult<Vec<McpServerRecord>> {
    let sql = format!("SELECT {COLS} FROM mcp_servers {filter}");
    let mut stmt = c.prepare_cached(&sql).map_err(db_err)?;
    convert::collect(stmt.query(args).map_err(db_err)?, record)
}

fn insert(c: &Connection, r: &McpServerRecord) -> StoreResult<()> {
    c.execute(
        &format!("INSERT INTO mcp_servers ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
        params![
            r.id.to_string(),
            r.user_id.to_string(),
            r.name,
            r.url,
            r.token.as_ref().map(|t| t.key_version),
            r.token.as_ref().map(|t| t.sealed.clone()),
            r.tools.to_string(),
            opt_ms(r.tools_refreshed_at),
            r.error,
            ms(r.created_at),
            ms(r.updated_at),
        ],
    )
    .map_err(db_err)?;
    Ok(())
}

#[async_trait::async_trait]
impl tc_store::McpServerStore for crate::SqliteStore {
    async fn insert_mcp_server(&self, server: &McpServerRecord) -> StoreResult<()> {
        let server = server.clone();
        self.write(move |c| insert(c, &server)).await
    }
    async fn mcp_servers(&self, user_id: Uuid) -> StoreResult<Vec<McpServerRecord>> {
        self.read(|c| select(c, "WHERE user_id = ? ORDER BY name", [user_id.to_string()]))
    }
    async fn mcp_server(&self, id: Uuid) -> StoreResult<Option<McpServerRecord>> {
        self.read(|c| Ok(select(c, "WHERE id = ?", [id.to_string()])?.pop()))
    }
    async fn delete_mcp_server(&self, user_id: Uuid, id: Uuid) -> StoreResult<bool> {
        self.write(move |c| {
            let removed = c
                .execute(
                    "DELETE FROM mcp_servers WHERE id = ? AND user_id = ?",
                    params![id.to_string(), user_id.to_string()],
                )
                .map_err(db_err)?;
            Ok(removed > 0)
        })
        .await
    }
    async fn set_mcp_server_tools(
        &self,
        id: Uuid,
        tools: &serde_json::Value,
        refreshed_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let tools = tools.to_string();
        self.write(move |c| {
            c.execute(
                "UPDATE mcp_servers SET tools = ?2, tools_refreshed_at = ?3, error = NULL, \
                 updated_at = ?3 WHERE id = ?1",
                params![id.to_string(), tools, ms(refreshed_at)],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }
    async fn set_mcp_server_error(
        &self,
        id: Uuid,
        error: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let error = error.to_string();
        self.write(move |c| {
            c.execute(
                "UPDATE mcp_servers SET error = ?2, updated_at = ?3 WHERE id = ?1",
                params![id.to_string(), error, ms(now)],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }
    async fn replace_mcp_server_token(
        &self,
        id: Uuid,
        token: &SecretRecord,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let token = token.clone();
        self.write(move |c| {
            c.execute(
                "UPDATE mcp_servers SET token_key_version = ?2, token_sealed = ?3, \
                 updated_at = ?4 WHERE id = ?1",
                params![id.to_string(), token.key_version, token.sealed, ms(now)],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }
    async fn list_all_mcp_servers(&self) -> StoreResult<Vec<McpServerRecord>> {
        self.read_blocking(|c| select(c, "ORDER BY created_at", [])).await
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
