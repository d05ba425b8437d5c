//! The AI features: questions answered with numbered sources, summaries, chat sessions and
//! their messages, and the events a streamed chat sends.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A byte range within a context's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// A retrieved context an answer was given, numbered as the answer cites it (`[n]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct SourceView {
    /// The number the answer cites it by, from 1.
    pub n: usize,
    pub context_id: Uuid,
    pub project_id: Uuid,
    /// Its title, file path or first line.
    pub title: String,
    /// Where it came from (`claude_code`, `codebase_scan`, `jira`, …).
    pub source: String,
    /// The search's ranking score.
    pub score: f32,
    /// The part of the context that matched best.
    pub snippet: String,
    /// The sentences an extractive answer quoted, as byte ranges of the context's content.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub highlights: Vec<Span>,
}

/// How an answer was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AnswerMode {
    /// Written by the configured language model.
    Llm,
    /// Built from the retrieved text itself, with the local embedding model: no language
    /// model is configured, or it failed (`fallback_reason` says how).
    Extractive,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct QaRequest {
    pub question: Option<String>,
    /// Search only these projects (default: every project you can read).
    pub project_ids: Option<Vec<Uuid>>,
    /// Sources to retrieve, 1–20 (default 5).
    pub top_k: Option<u32>,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct QaResponse {
    pub answer: String,
    pub mode: AnswerMode,
    /// The model that answered, or `not configured`.
    pub llm: String,
    /// Why the language model did not answer although one is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
    pub sources: Vec<SourceView>,
    /// The source numbers the answer cites (citations of sources that do not exist are
    /// removed from the answer).
    pub citations: Vec<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageView>,
}

/// Tokens a language model used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct UsageView {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct SummarizeRequest {
    /// The text to summarize (or give `context_ids`).
    pub text: Option<String>,
    /// Contexts to summarize together (at most 50).
    pub context_ids: Option<Vec<Uuid>>,
    /// `concise` (default), `detailed` or `bullet`.
    pub style: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct SummaryResponse {
    pub summary: String,
    pub style: String,
    pub mode: AnswerMode,
    pub llm: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
    /// Characters and words in and out.
    pub original_length: usize,
    pub summary_length: usize,
    pub original_words: usize,
    pub summary_words: usize,
    /// `summary_length / original_length`.
    pub compression_ratio: f32,
    /// The contexts summarized, when given by id.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageView>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct CreateSessionRequest {
    pub title: Option<String>,
    /// The project the chat is about (default: every project you can read).
    pub project_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct SessionView {
    pub session_id: Uuid,
    pub title: String,
    pub project_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct MessageView {
    pub id: Uuid,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<AnswerMode>,
    /// `complete`, `cancelled` or `error`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The tools an agent turn called, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallView>,
    pub created_at: DateTime<Utc>,
}

/// A tool call of the agent: streamed as `tool_call` when it starts (without an outcome) and
/// as `tool_result` when it ends, and stored with the answer.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, JsonSchema)]
pub struct ToolCallView {
    /// The model's id for the call.
    pub id: String,
    pub name: String,
    /// The registered MCP server the tool belongs to; absent for TeamContext's own tools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    pub arguments: serde_json::Value,
    /// The tool writes on the user's behalf (saves, scans, syncs, or an external tool not
    /// declared read-only).
    pub writes: bool,
    /// What the tool answered (on success).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Why the call failed (the text the model was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ChatRequest {
    pub message: Option<String>,
    /// Continue this session (default: a new one).
    pub session_id: Option<Uuid>,
    /// The project a new session is about (default: every project you can read).
    pub project_id: Option<Uuid>,
    /// Answer as an agent that may call TeamContext's tools (the ones MCP exposes, with your
    /// key's scope) and your registered MCP servers' tools (default false). Needs a language
    /// model; without one the answer is extractive.
    pub agent: Option<bool>,
}

/// `POST /chat` (seed 002): one agent turn.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct AgentChatRequest {
    pub message: Option<String>,
    /// Continue this conversation (a chat session's id; default: a new one).
    pub conversation_id: Option<Uuid>,
    /// The project a new conversation is about (default: every project you can read).
    pub project_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct AgentChatResponse {
    pub conversation_id: Uuid,
    pub agent_response: String,
    pub tool_calls: Vec<ToolCallView>,
    /// The stored answer, with its mode, sources and usage.
    pub message: MessageView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct ChatResponse {
    pub session_id: Uuid,
    pub message: MessageView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
}

/// What a streamed chat sends, in order: `start`, `sources`, then `delta`s (and in agent mode
/// `tool_call` / `tool_result` pairs between them), `usage`, and `completed` (the stored
/// message) and `done`; a failure sends `error`. Each is one Server-Sent Event named by its
/// kind.
#[derive(Debug, Clone)]
pub enum ChatEvent {
    /// The session, the run (also the id the answer's message will have) and the question's
    /// message.
    Start {
        session_id: Uuid,
        run_id: Uuid,
        user_message_id: Uuid,
        mode: AnswerMode,
        llm: String,
        /// The turn may call tools.
        agent: bool,
    },
    /// The contexts the answer may cite, before any text.
    Sources(Vec<SourceView>),
    /// Text to append to the answer.
    Delta(String),
    /// The language model could not answer; an extractive answer follows.
    Fallback {
        reason: String,
    },
    Usage(UsageView),
    /// The agent calls a tool.
    ToolCall(ToolCallView),
    /// The tool answered or failed.
    ToolResult(ToolCallView),
    /// The answer as stored (citations of sources that do not exist removed).
    Completed(Box<MessageView>),
    /// The turn failed; nothing more follows but `done`.
    Error {
        code: String,
        message: String,
    },
    /// The turn is over and stored.
    Done {
        session_id: Uuid,
        message_id: Uuid,
        finish_reason: String,
    },
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct MindMapRequest {
    pub project_id: Option<Uuid>,
    /// What the map is about (default: the whole project).
    pub topic: Option<String>,
    /// Levels including the root, 1–5 (default 3).
    pub depth: Option<u32>,
    /// Build the map from the project's contexts (default true). Without a language model the
    /// map is always built from them.
    pub use_documents: Option<bool>,
}

/// A node of a mind map, linked to the contexts it came from.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct MindMapNode {
    /// Unique within the map: the path of child positions from the root (`0`, `0.2`, `0.2.1`).
    pub id: String,
    pub label: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub context_ids: Vec<Uuid>,
    #[schema(no_recursion)]
    pub children: Vec<MindMapNode>,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct MindMapResponse {
    pub root: MindMapNode,
    pub mode: AnswerMode,
    pub llm: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
    /// The contexts the map was built from.
    pub sources: Vec<SourceView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageView>,
}

/// `POST /ai/upload`: the documents read and the task indexing them.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct UploadAccepted {
    /// The indexing job; follow it at `status_url` (or `/jobs/{task_id}`).
    pub task_id: Uuid,
    pub project_id: Uuid,
    pub status: tc_store::JobStatus,
    pub status_url: String,
    pub documents: Vec<UploadedDocumentView>,
}

/// One uploaded document as read.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct UploadedDocumentView {
    pub file_name: String,
    /// `pdf`, `docx`, `html`, `markdown` or `text`.
    pub kind: String,
    /// Characters of text extracted (as Markdown).
    pub characters: u64,
    /// Where it is indexed in the project (the contexts' `file_path`).
    pub path: String,
}

/// `POST /api/v1/ai/mcp-servers`: an MCP server (Streamable HTTP) whose tools the agent may
/// call on the user's behalf.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct RegisterMcpServerRequest {
    /// Lowercase letters, digits, `-` and `_`, at most 32, unique among the user's servers:
    /// the agent sees its tools as `<name>__<tool>`.
    pub name: Option<String>,
    /// The server's MCP endpoint, e.g. `https://tools.example.com/mcp`.
    pub url: Option<String>,
    /// Sent as `Authorization: Bearer <token>`; stored encrypted, never shown again.
    pub bearer_token: Option<String>,
}

/// A tool of a registered MCP server, as its last listing described it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct McpServerToolView {
    /// The server's own name for it.
    pub name: String,
    /// The name the agent calls it by (`<server>__<name>`).
    pub agent_name: String,
    pub description: String,
    /// Not annotated read-only: the agent marks its calls as writes.
    pub writes: bool,
}

/// A registered MCP server, without its token.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct McpServerView {
    pub id: Uuid,
    pub name: String,
    pub url: String,
    pub has_token: bool,
    pub tools: Vec<McpServerToolView>,
    /// When the tool list was last fetched; it is fetched again when older than six hours.
    pub tools_refreshed_at: Option<DateTime<Utc>>,
    pub tools_expire_at: Option<DateTime<Utc>>,
    /// Why the last refresh failed (the cached tools are still offered).
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// `GET /api/v1/ai/mcp-servers`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct McpServerList {
    pub servers: Vec<McpServerView>,
}

/// `PUT /api/v1/ai/llm-settings`: the caller's own language model, used by their questions,
/// summaries, mind maps, chats and agent instead of the server's.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct LlmSettingsRequest {
    /// An OpenAI-compatible Chat Completions base URL, e.g. `https://api.example.com/v1`.
    pub base_url: Option<String>,
    /// The model's name.
    pub model: Option<String>,
    /// Sent as `Authorization: Bearer <api_key>`; stored encrypted.
    pub api_key: Option<String>,
    /// Extra headers for gateways that authenticate otherwise (seed 003's cookie), stored
    /// encrypted; only their names are shown again.
    pub headers: Option<std::collections::BTreeMap<String, String>>,
}

/// The language model the caller's AI calls use.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LlmSettingsView {
    /// `user` (their own), `server` (the operator's) or `none` (answers are extractive).
    pub source: String,
    pub model: Option<String>,
    /// Shown for the user's own model only.
    pub base_url: Option<String>,
    pub has_api_key: bool,
    pub header_names: Vec<String>,
    /// The last connection test of the user's own model, and why it failed.
    pub tested_at: Option<DateTime<Utc>>,
    pub test_error: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// `POST /api/v1/ai/llm-settings/test`: one short completion from the model the caller's AI
/// calls use.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LlmTestView {
    pub ok: bool,
    /// `user` or `server`.
    pub source: String,
    pub model: String,
    pub latency_ms: u64,
    /// What the model answered (cut to 200 characters).
    pub reply: Option<String>,
    pub error: Option<String>,
}
