//! Chat sessions: created, listed by last activity, read message by message, deleted. A
//! session is its creator's alone; one about a project is visible only while its creator may
//! read the project, and a key restricted to a project sees only that project's sessions.

use tc_store::{ChatMessageRecord, ChatSessionRecord, ChatToolCallRecord, Scope};
use tracing::instrument;
use uuid::Uuid;

use super::sources::clip;
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult};
use crate::pagination::{PageParams, Paged};
use crate::services::Services;
use crate::services::access::Access;
use crate::views::{
    AnswerMode, CreateSessionRequest, MessageView, SessionView, ToolCallView, UsageView,
};

const MAX_TITLE_CHARS: usize = 200;
/// How much of a first message names its session.
pub(crate) const TITLE_FROM_MESSAGE_CHARS: usize = 80;

impl Services {
    /// `POST /ai/sessions`.
    #[instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn create_chat_session(
        &self,
        caller: &Caller,
        req: CreateSessionRequest,
    ) -> DomainResult<SessionView> {
        let title = req.title.unwrap_or_default().trim().to_string();
        if title.chars().count() > MAX_TITLE_CHARS {
            return Err(DomainError::validation(
                "title",
                format!("`title` must be at most {MAX_TITLE_CHARS} characters"),
            ));
        }
        let session = self.new_chat_session(caller, req.project_id, title).await?;
        Ok(session_view(session))
    }

    /// A new session of `caller`'s, stored (about the key's project when the key is
    /// restricted and none is given).
    pub(crate) async fn new_chat_session(
        &self,
        caller: &Caller,
        project_id: Option<Uuid>,
        title: String,
    ) -> DomainResult<ChatSessionRecord> {
        // A session stores a conversation: a read-only key may ask questions, not keep chats.
        caller.require_scope(Scope::Write)?;
        self.require_verified(caller)?;
        let project_id = project_id.or(caller.project_restriction());
        if let Some(id) = project_id {
            self.project_for(caller, id, Access::Read).await?;
        }
        let now = self.now();
        let session = ChatSessionRecord {
            id: Uuid::now_v7(),
            user_id: caller.user_id,
            project_id,
            title,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_chat_session(&session).await?;
        Ok(session)
    }

    /// `GET /ai/sessions`: the caller's sessions, the most recently active first.
    pub async fn list_chat_sessions(
        &self,
        caller: &Caller,
        params: &PageParams,
    ) -> DomainResult<Paged<SessionView>> {
        caller.require_scope(Scope::Read)?;
        self.require_verified(caller)?;
        let page = params.to_page()?;
        let rows = self.store.list_chat_sessions(caller.user_id, page).await?;
        let mut paged = Paged::from_rows(rows, page, |s| s.id, |s| s);
        // A restricted key sees its project's sessions only (a page may come out shorter).
        if let Some(only) = caller.project_restriction() {
            paged.items.retain(|s| s.project_id == Some(only));
        }
        Ok(Paged {
            items: paged.items.into_iter().map(session_view).collect(),
            next_cursor: paged.next_cursor,
        })
    }

    /// `GET /ai/sessions/{id}/messages`: the latest messages first.
    pub async fn chat_session_messages(
        &self,
        caller: &Caller,
        id: Uuid,
        params: &PageParams,
    ) -> DomainResult<Paged<MessageView>> {
        self.own_chat_session(caller, id).await?;
        let page = params.to_page()?;
        let rows = self.store.chat_messages(id, page).await?;
        Ok(Paged::from_rows(rows, page, |m| m.id, message_view))
    }

    /// `DELETE /ai/sessions/{id}`: the session and its messages.
    #[instrument(skip_all, fields(user_id = %caller.user_id, session_id = %id))]
    pub async fn delete_chat_session(&self, caller: &Caller, id: Uuid) -> DomainResult<()> {
        self.own_chat_session(caller, id).await?;
        caller.require_scope(Scope::Write)?;
        if !self.store.delete_chat_session(id).await? {
            return Err(session_not_found());
        }
        Ok(())
    }

    /// Session `id` if it is `caller`'s and still within what the caller may read; 404
    /// otherwise, whoever's it is.
    pub(crate) async fn own_chat_session(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> DomainResult<ChatSessionRecord> {
        caller.require_scope(Scope::Read)?;
        self.require_verified(caller)?;
        let session = self
            .store
            .chat_session(id)
            .await?
            .filter(|s| s.user_id == caller.user_id)
            .filter(|s| caller.project_restriction().is_none_or(|r| s.project_id == Some(r)))
            .ok_or_else(session_not_found)?;
        if let Some(project) = session.project_id {
            self.project_for(caller, project, Access::Read)
                .await
                .map_err(|_| session_not_found())?;
        }
        Ok(session)
    }
}

pub(crate) fn session_not_found() -> DomainError {
    DomainError::not_found("chat session")
}

/// What names a session after its first message.
pub(crate) fn title_from(message: &str) -> String {
    clip(message.lines().next().unwrap_or(message).trim(), TITLE_FROM_MESSAGE_CHARS)
}

fn session_view(s: ChatSessionRecord) -> SessionView {
    SessionView {
        session_id: s.id,
        title: s.title,
        project_id: s.project_id,
        created_at: s.created_at,
        last_activity: s.updated_at,
    }
}

pub(crate) fn message_view(m: ChatMessageRecord) -> MessageView {
    let usage = match (m.prompt_tokens, m.completion_tokens) {
        (Some(p), Some(c)) => {
            Some(UsageView { prompt_tokens: p.max(0) as u64, completion_tokens: c.max(0) as u64 })
        }
        _ => None,
    };
    MessageView {
        id: m.id,
        role: m.role,
        content: m.content,
        mode: m.mode.as_deref().and_then(|mode| match mode {
            "llm" => Some(AnswerMode::Llm),
            "extractive" => Some(AnswerMode::Extractive),
            _ => None,
        }),
        status: m.status,
        finish_reason: m.finish_reason,
        model: m.model,
        usage,
        sources: serde_json::from_value(m.sources).unwrap_or_default(),
        error: m.error,
        tool_calls: m.tool_calls.into_iter().map(tool_call_view).collect(),
        created_at: m.created_at,
    }
}

pub(crate) fn tool_call_view(c: ChatToolCallRecord) -> ToolCallView {
    ToolCallView {
        id: c.call_id,
        name: c.name,
        server: c.server,
        arguments: c.arguments,
        writes: c.writes,
        result: c.result,
        error: c.error,
        duration_ms: Some(c.duration_ms.max(0) as u64),
    }
}
