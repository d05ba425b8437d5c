//! AI chat sessions and their messages in SQLite.

use rusqlite::{Connection, OptionalExtension, params};
use tc_store::{
    ChatMessageRecord, ChatSessionRecord, ChatToolCallRecord, Page, StoreError, StoreResult,
};
use uuid::Uuid;

use crate::convert::{self, get, ms};
use crate::db_err;

const SESSION_COLS: &str = "id, user_id, project_id, title, created_at, updated_at";
const MESSAGE_COLS: &str = "id, session_id, seq, role, content, mode, status, finish_reason, \
    model, prompt_tokens, completion_tokens, sources, error, created_at";
const CALL_COLS: &str = "id, message_id, position, call_id, name, server, arguments, result, \
    error, writes, duration_ms, created_at";

fn session(r: &rusqlite::Row<'_>) -> StoreResult<ChatSessionRecord> {
    Ok(ChatSessionRecord {
        id: convert::get_uuid(r, "id")?,
        user_id: convert::get_uuid(r, "user_id")?,
        project_id: convert::get_opt_uuid(r, "project_id")?,
        title: get(r, "title")?,
        created_at: convert::get_time(r, "created_at")?,
        updated_at: convert::get_time(r, "updated_at")?,
    })
}

fn message(r: &rusqlite::Row<'_>) -> StoreResult<ChatMessageRecord> {
    let sources: String = get(r, "sources")?;
    Ok(ChatMessageRecord {
        id: convert::get_uuid(r, "id")?,
        session_id: convert::get_uuid(r, "session_id")?,
        seq: get(r, "seq")?,
        role: get(r, "role")?,
        content: get(r, "content")?,
        mode: get(r, "mode")?,
        status: get(r, "status")?,
        finish_reason: get(r, "finish_reason")?,
        model: get(r, "model")?,
        prompt_tokens: get(r, "prompt_tokens")?,
        completion_tokens: get(r, "completion_tokens")?,
        sources: serde_json::from_str(&sources)
            .map_err(|_| convert::corrupt(format!("chat sources {sources:?}")))?,
        error: get(r, "error")?,
        created_at: convert::get_time(r, "created_at")?,
        tool_calls: Vec::new(),
    })
}

fn json(r: &rusqlite::Row<'_>, column: &str) -> StoreResult<Option<serde_json::Value>> {
    let text: Option<String> = get(r, column)?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|_| convert::corrupt(format!("tool call {column} {t:?}")))
    })
    .transpose()
}

fn tool_call(r: &rusqlite::Row<'_>) -> StoreResult<(String, ChatToolCallRecord)> {
    let call = ChatToolCallRecord {
        id: convert::get_uuid(r, "id")?,
        call_id: get(r, "call_id")?,
        name: get(r, "name")?,
        server: get(r, "server")?,
        arguments: json(r, "arguments")?.unwrap_or_default(),
        result: json(r, "result")?,
        error: get(r, "error")?,
        writes: get(r, "writes")?,
        duration_ms: get(r, "duration_ms")?,
        created_at: convert::get_time(r, "created_at")?,
    };
    Ok((get(r, "message_id")?, call))
}

/// Gives each of `messages` its tool calls.
fn with_tool_calls(
    c: &Connection,
    mut messages: Vec<ChatMessageRecord>,
) -> StoreResult<Vec<ChatMessageRecord>> {
    if messages.is_empty() {
        return Ok(messages);
    }
    let ids: Vec<String> = messages.iter().map(|m| m.id.to_string()).collect();
    let marks = vec!["?"; ids.len()].join(", ");
    let sql = format!(
        "SELECT {CALL_COLS} FROM chat_tool_calls WHERE message_id IN ({marks}) \
         ORDER BY message_id, position"
    );
    let mut stmt = c.prepare(&sql).map_err(db_err)?;
    let rows = stmt.query(rusqlite::params_from_iter(&ids)).map_err(db_err)?;
    for (message_id, call) in convert::collect(rows, tool_call)? {
        if let Some(m) = messages.iter_mut().find(|m| m.id.to_string() == message_id) {
            m.tool_calls.push(call);
        }
    }
    Ok(messages)
}

fn append(c: &mut Connection, m: &ChatMessageRecord, title: Option<&str>) -> StoreResult<i64> {
    let tx = c.transaction().map_err(db_err)?;
    let session = m.session_id.to_string();
    // Activity first: it fails (no row) when the session is gone, before anything is written.
    let touched = tx
        .execute(
            "UPDATE chat_sessions SET updated_at = MAX(updated_at, ?2), \
             title = CASE WHEN title = '' AND ?3 IS NOT NULL THEN ?3 ELSE title END WHERE id = ?1",
            params![session, ms(m.created_at), title],
        )
        .map_err(db_err)?;
    if touched == 0 {
        return Err(StoreError::NotFound);
    }
    let seq: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM chat_messages WHERE session_id = ?",
            [&session],
            |r| r.get(0),
        )
        .map_err(db_err)?;
    tx.execute(
        &format!(
            "INSERT INTO chat_messages ({MESSAGE_COLS}) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        params![
            m.id.to_string(),
            session,
            seq,
            m.role,
            m.content,
            m.mode,
            m.status,
            m.finish_reason,
            m.model,
            m.prompt_tokens,
            m.completion_tokens,
            m.sources.to_string(),
            m.error,
            ms(m.created_at),
        ],
    )
    .map_err(db_err)?;
    for (position, call) in m.tool_calls.iter().enumerate() {
        tx.execute(
            &format!(
                "INSERT INTO chat_tool_calls ({CALL_COLS}) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            params![
                call.id.to_string(),
                m.id.to_string(),
                position as i64,
                call.call_id,
                call.name,
                call.server,
                call.arguments.to_string(),
                call.result.as_ref().map(|r| r.to_string()),
                call.error,
                call.writes,
                call.duration_ms,
                ms(call.created_at),
            ],
        )
        .map_err(db_err)?;
    }
    tx.commit().map_err(db_err)?;
    Ok(seq)
}

#[async_trait::async_trait]
impl tc_store::ChatStore for crate::SqliteStore {
    async fn insert_chat_session(&self, s: &ChatSessionRecord) -> StoreResult<()> {
        let s = s.clone();
        self.write(move |c| {
            c.execute(
                &format!("INSERT INTO chat_sessions ({SESSION_COLS}) VALUES (?, ?, ?, ?, ?, ?)"),
                params![
                    s.id.to_string(),
                    s.user_id.to_string(),
                    s.project_id.map(|p| p.to_string()),
                    s.title,
                    ms(s.created_at),
                    ms(s.updated_at),
                ],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn chat_session(&self, id: Uuid) -> StoreResult<Option<ChatSessionRecord>> {
        self.read(|c| {
            c.prepare_cached(&format!("SELECT {SESSION_COLS} FROM chat_sessions WHERE id = ?"))
                .map_err(db_err)?
                .query_row([id.to_string()], |r| Ok(session(r)))
                .optional()
                .map_err(db_err)?
                .transpose()
        })
    }

    async fn list_chat_sessions(
        &self,
        user_id: Uuid,
        page: Page,
    ) -> StoreResult<Vec<ChatSessionRecord>> {
        self.read_blocking(move |c| {
            // Ordered by activity; the cursor is a session id, located by its activity time.
            let sql = format!(
                "SELECT {SESSION_COLS} FROM chat_sessions s WHERE user_id = ?1 AND (?2 IS NULL \
                 OR (updated_at, id) < (SELECT updated_at, id FROM chat_sessions WHERE id = ?2)) \
                 ORDER BY updated_at DESC, id DESC LIMIT ?3"
            );
            let mut stmt = c.prepare_cached(&sql).map_err(db_err)?;
            let rows = stmt
                .query(params![user_id.to_string(), page.before.map(|b| b.to_string()), page.limit])
                .map_err(db_err)?;
            convert::collect(rows, session)
        })
        .await
    }

    async fn delete_chat_session(&self, id: Uuid) -> StoreResult<bool> {
        self.write(move |c| {
            let n = c
                .execute("DELETE FROM chat_sessions WHERE id = ?", [id.to_string()])
                .map_err(db_err)?;
            Ok(n > 0)
        })
        .await
    }

    async fn append_chat_message(
        &self,
        message: &ChatMessageRecord,
        title: Option<&str>,
    ) -> StoreResult<i64> {
        let (message, title) = (message.clone(), title.map(str::to_string));
        self.write(move |c| append(c, &message, title.as_deref())).await
    }

    async fn chat_messages(
        &self,
        session_id: Uuid,
        page: Page,
    ) -> StoreResult<Vec<ChatMessageRecord>> {
        self.read_blocking(move |c| {
            let sql = format!(
                "SELECT {MESSAGE_COLS} FROM chat_messages WHERE session_id = ?1 AND (?2 IS NULL \
                 OR seq < (SELECT seq FROM chat_messages WHERE id = ?2)) \
                 ORDER BY seq DESC LIMIT ?3"
            );
            let mut stmt = c.prepare_cached(&sql).map_err(db_err)?;
            let rows = stmt
                .query(params![
                    session_id.to_string(),
                    page.before.map(|b| b.to_string()),
                    page.limit
                ])
                .map_err(db_err)?;
            let messages = convert::collect(rows, message)?;
            drop(stmt);
            with_tool_calls(c, messages)
        })
        .await
    }
}
