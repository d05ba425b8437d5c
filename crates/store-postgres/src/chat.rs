//! AI chat sessions and their messages in PostgreSQL.

use tc_store::{
    ChatMessageRecord, ChatSessionRecord, ChatToolCallRecord, Page, StoreError, StoreResult,
};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::db::{self, client};
use crate::db_err;
use crate::rows;

const SESSION_COLS: &str = "id, user_id, project_id, title, created_at, updated_at";
const MESSAGE_COLS: &str = "id, session_id, seq, role, content, mode, status, finish_reason, \
    model, prompt_tokens, completion_tokens, sources, error, created_at";
const CALL_COLS: &str = "id, message_id, position, call_id, name, server, arguments, result, \
    error, writes, duration_ms, created_at";

fn session(r: &Row) -> StoreResult<ChatSessionRecord> {
    Ok(ChatSessionRecord {
        id: rows::get(r, "id")?,
        user_id: rows::get(r, "user_id")?,
        project_id: rows::get(r, "project_id")?,
        title: rows::get(r, "title")?,
        created_at: rows::get(r, "created_at")?,
        updated_at: rows::get(r, "updated_at")?,
    })
}

fn message(r: &Row) -> StoreResult<ChatMessageRecord> {
    Ok(ChatMessageRecord {
        id: rows::get(r, "id")?,
        session_id: rows::get(r, "session_id")?,
        seq: rows::get(r, "seq")?,
        role: rows::get(r, "role")?,
        content: rows::get(r, "content")?,
        mode: rows::get(r, "mode")?,
        status: rows::get(r, "status")?,
        finish_reason: rows::get(r, "finish_reason")?,
        model: rows::get(r, "model")?,
        prompt_tokens: rows::get(r, "prompt_tokens")?,
        completion_tokens: rows::get(r, "completion_tokens")?,
        sources: rows::get(r, "sources")?,
        error: rows::get(r, "error")?,
        created_at: rows::get(r, "created_at")?,
        tool_calls: Vec::new(),
    })
}

fn tool_call(r: &Row) -> StoreResult<(Uuid, ChatToolCallRecord)> {
    let call = ChatToolCallRecord {
        id: rows::get(r, "id")?,
        call_id: rows::get(r, "call_id")?,
        name: rows::get(r, "name")?,
        server: rows::get(r, "server")?,
        arguments: rows::get(r, "arguments")?,
        result: rows::get(r, "result")?,
        error: rows::get(r, "error")?,
        writes: rows::get(r, "writes")?,
        duration_ms: rows::get(r, "duration_ms")?,
        created_at: rows::get(r, "created_at")?,
    };
    Ok((rows::get(r, "message_id")?, call))
}

#[async_trait::async_trait]
impl tc_store::ChatStore for crate::PgStore {
    async fn insert_chat_session(&self, s: &ChatSessionRecord) -> StoreResult<()> {
        db::execute(
            &client(&self.pool).await?,
            &format!("INSERT INTO chat_sessions ({SESSION_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"),
            &[&s.id, &s.user_id, &s.project_id, &s.title, &s.created_at, &s.updated_at],
        )
        .await?;
        Ok(())
    }

    async fn chat_session(&self, id: Uuid) -> StoreResult<Option<ChatSessionRecord>> {
        let sql = format!("SELECT {SESSION_COLS} FROM chat_sessions WHERE id = $1");
        db::query_opt(&client(&self.pool).await?, &sql, &[&id])
            .await?
            .as_ref()
            .map(session)
            .transpose()
    }

    async fn list_chat_sessions(
        &self,
        user_id: Uuid,
        page: Page,
    ) -> StoreResult<Vec<ChatSessionRecord>> {
        // Ordered by activity; the cursor is a session id, located by its activity time.
        let sql = format!(
            "SELECT {SESSION_COLS} FROM chat_sessions WHERE user_id = $1 AND ($2::uuid IS NULL \
             OR (updated_at, id) < (SELECT updated_at, id FROM chat_sessions WHERE id = $2)) \
             ORDER BY updated_at DESC, id DESC LIMIT $3"
        );
        let found = db::query(
            &client(&self.pool).await?,
            &sql,
            &[&user_id, &page.before, &i64::from(page.limit)],
        )
        .await?;
        rows::all(found, session)
    }

    async fn delete_chat_session(&self, id: Uuid) -> StoreResult<bool> {
        let n = db::execute(
            &client(&self.pool).await?,
            "DELETE FROM chat_sessions WHERE id = $1",
            &[&id],
        )
        .await?;
        Ok(n > 0)
    }

    async fn append_chat_message(
        &self,
        m: &ChatMessageRecord,
        title: Option<&str>,
    ) -> StoreResult<i64> {
        let mut c = client(&self.pool).await?;
        let tx = c.transaction().await.map_err(db_err)?;
        // The session row's lock orders concurrent appends, so each gets its own `seq`; it
        // also fails (no row) when the session is gone, before anything is written.
        let touched = db::execute(
            &tx,
            "UPDATE chat_sessions SET updated_at = GREATEST(updated_at, $2), \
             title = CASE WHEN title = '' AND $3::text IS NOT NULL THEN $3 ELSE title END \
             WHERE id = $1",
            &[&m.session_id, &m.created_at, &title],
        )
        .await?;
        if touched == 0 {
            return Err(StoreError::NotFound);
        }
        let seq: i64 = db::query_one(
            &tx,
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM chat_messages WHERE session_id = $1",
            &[&m.session_id],
        )
        .await?
        .get(0);
        db::execute(
            &tx,
            &format!(
                "INSERT INTO chat_messages ({MESSAGE_COLS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            ),
            &[
                &m.id,
                &m.session_id,
                &seq,
                &m.role,
                &m.content,
                &m.mode,
                &m.status,
                &m.finish_reason,
                &m.model,
                &m.prompt_tokens,
                &m.completion_tokens,
                &m.sources,
                &m.error,
                &m.created_at,
            ],
        )
        .await?;
        for (position, call) in m.tool_calls.iter().enumerate() {
            db::execute(
                &tx,
                &format!(
                    "INSERT INTO chat_tool_calls ({CALL_COLS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                ),
                &[
                    &call.id,
                    &m.id,
                    &(position as i32),
                    &call.call_id,
                    &call.name,
                    &call.server,
                    &call.arguments,
                    &call.result,
                    &call.error,
                    &call.writes,
                    &call.duration_ms,
                    &call.created_at,
                ],
            )
            .await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(seq)
    }

    async fn chat_messages(
        &self,
        session_id: Uuid,
        page: Page,
    ) -> StoreResult<Vec<ChatMessageRecord>> {
        let sql = format!(
            "SELECT {MESSAGE_COLS} FROM chat_messages WHERE session_id = $1 AND ($2::uuid IS NULL \
             OR seq < (SELECT seq FROM chat_messages WHERE id = $2)) ORDER BY seq DESC LIMIT $3"
        );
        let found = db::query(
            &client(&self.pool).await?,
            &sql,
            &[&session_id, &page.before, &i64::from(page.limit)],
        )
        .await?;
        let mut messages = rows::all(found, message)?;
        if messages.is_empty() {
            return Ok(messages);
        }
        let ids: Vec<Uuid> = messages.iter().map(|m| m.id).collect();
        let calls = db::query(
            &client(&self.pool).await?,
            &format!(
                "SELECT {CALL_COLS} FROM chat_tool_calls WHERE message_id = ANY($1) \
                 ORDER BY message_id, position"
            ),
            &[&ids],
        )
        .await?;
        for (message_id, call) in rows::all(calls, tool_call)? {
            if let Some(m) = messages.iter_mut().find(|m| m.id == message_id) {
                m.tool_calls.push(call);
            }
        }
        Ok(messages)
    }
}
