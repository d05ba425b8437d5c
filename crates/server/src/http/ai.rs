//! `/ai/*`: questions answered with sources, summaries, and chat sessions, a turn of which is
//! answered as JSON (`/ai/chat`) or streamed as Server-Sent Events (`/ai/chat/stream`).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream, StreamExt};
use serde_json::json;
use tc_domain::pagination::{PageParams, Paged};
use tc_domain::services::Watch;
use tc_domain::views::{
    AgentChatRequest, AgentChatResponse, ChatEvent, ChatRequest, ChatResponse,
    CreateSessionRequest, MessageView, MindMapRequest, MindMapResponse, QaRequest, QaResponse,
    SessionView, SummarizeRequest, SummaryResponse,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::extract::{Auth, Id, Ids, Json, Query, resource};
use crate::mcp::agent_tools;
use crate::state::AppState;

/// A comment line this often keeps proxies from closing a quiet stream (a model reading a long
/// prompt) and lets the server notice a client that left.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_session, list_sessions))
        .routes(routes!(session_messages))
        .routes(routes!(delete_session))
        .routes(routes!(chat))
        .routes(routes!(agent_chat))
        .routes(routes!(chat_stream))
        .routes(routes!(run_events))
        .routes(routes!(stop_run))
        .routes(routes!(qa))
        .routes(routes!(summarize))
        .routes(routes!(mind_map))
}

/// Start a chat session (about one project, or every project you can read).
#[utoipa::path(post, path = "/ai/sessions", tag = "ai", security(("bearer" = [])),
    request_body = CreateSessionRequest, responses((status = 201, body = SessionView), (status = 404)))]
async fn create_session(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Json(req): Json<CreateSessionRequest>,
) -> ApiResult<(StatusCode, Json<SessionView>)> {
    Ok((StatusCode::CREATED, Json(state.services.create_chat_session(&caller, req).await?)))
}

/// Your chat sessions, the most recently active first.
#[utoipa::path(get, path = "/ai/sessions", tag = "ai", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = Paged<SessionView>)))]
async fn list_sessions(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Paged<SessionView>>> {
    Ok(Json(state.services.list_chat_sessions(&caller, &page).await?))
}

/// A session's messages, the latest first, with each answer's sources and usage.
#[utoipa::path(get, path = "/ai/sessions/{id}/messages", tag = "ai", security(("bearer" = [])),
    params(("id" = String, Path), PageParams),
    responses((status = 200, body = Paged<MessageView>), (status = 404)))]
async fn session_messages(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::ChatSession>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Paged<MessageView>>> {
    Ok(Json(state.services.chat_session_messages(&caller, id, &page).await?))
}

/// Delete a session and its messages.
#[utoipa::path(delete, path = "/ai/sessions/{id}", tag = "ai", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404)))]
async fn delete_session(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::ChatSession>,
) -> ApiResult<StatusCode> {
    state.services.delete_chat_session(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One chat turn, answered when done: the stored answer with its sources. Without
/// `session_id` a session is started. Without a language model (or when it fails) the answer
/// is extractive, and says so.
#[utoipa::path(post, path = "/ai/chat", tag = "ai", security(("bearer" = [])),
    request_body = ChatRequest,
    responses((status = 200, body = ChatResponse), (status = 404), (status = 422), (status = 429)))]
async fn chat(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Json(req): Json<ChatRequest>,
) -> ApiResult<Json<ChatResponse>> {
    state.limits.check_search(caller.user_id).await?;
    let tools = agent_tools::for_turn(&state, &caller, req.agent.unwrap_or(false)).await?;
    Ok(Json(state.services.chat(&caller, req, tools).await?))
}

/// One turn of the agent (seed 002): it may call the tools MCP exposes (with your key's
/// scope) and answers when done, with every call it made: name, arguments, result or error,
/// and duration. The conversation is a chat session (`conversation_id`), rebuilt from the
/// database on every turn. Without a language model the answer is extractive and no tool is
/// called.
#[utoipa::path(post, path = "/chat", tag = "ai", security(("bearer" = [])),
    request_body = AgentChatRequest,
    responses((status = 200, body = AgentChatResponse), (status = 404), (status = 422), (status = 429)))]
async fn agent_chat(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Json(req): Json<AgentChatRequest>,
) -> ApiResult<Json<AgentChatResponse>> {
    state.limits.check_search(caller.user_id).await?;
    let tools = agent_tools::for_turn(&state, &caller, true).await?;
    let req = ChatRequest {
        message: req.message,
        session_id: req.conversation_id,
        project_id: req.project_id,
        agent: Some(true),
    };
    let answered = state.services.chat(&caller, req, tools).await?;
    Ok(Json(AgentChatResponse {
        conversation_id: answered.session_id,
        agent_response: answered.message.content.clone(),
        tool_calls: answered.message.tool_calls.clone(),
        message: answered.message,
        fallback_reason: answered.fallback_reason,
    }))
}

/// One chat turn as Server-Sent Events, each named by its kind and numbered by `id`:
/// `start` (`{session_id, run_id, user_message_id, mode, llm, agent}`), `sources` (`[{n,
/// context_id, title, source, score, snippet}]`, before any text), `delta` (`{text}`, many),
/// in agent mode (`agent: true`) `tool_call` (`{id, name, server?, arguments, writes}`) and
/// `tool_result` (the same with `result` or `error`, and `duration_ms`), `fallback`
/// (`{reason}`, when the model failed and an extractive answer follows), `usage`, `completed`
/// (the stored message), `error` (`{code, message}`), and last `done`, whose data is the
/// session id. Comment lines keep a quiet stream open. Disconnecting stops the model; what it
/// wrote so far is stored as `cancelled`.
#[utoipa::path(post, path = "/ai/chat/stream", tag = "ai", security(("bearer" = [])),
    request_body = ChatRequest,
    responses((status = 200, content_type = "text/event-stream", body = ChatSse), (status = 404), (status = 422), (status = 429)))]
async fn chat_stream(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Json(req): Json<ChatRequest>,
) -> ApiResult<Response> {
    state.limits.check_search(caller.user_id).await?;
    let tools = agent_tools::for_turn(&state, &caller, req.agent.unwrap_or(false)).await?;
    let run = state.services.start_chat(&caller, req, tools).await?;
    Ok(sse_response(run.events))
}

/// The events of a watch as a Server-Sent Events response.
pub(crate) fn sse_response(watch: Watch) -> Response {
    let events = stream::unfold(watch, |mut watch| async move {
        let (seq, event) = watch.next().await?;
        Some((sse_event(event, seq), watch))
    });
    // nginx and similar proxies would otherwise hold the events back until the end.
    ([("x-accel-buffering", "no")], sse(events)).into_response()
}

/// Where to resume a run from.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
struct ResumeQuery {
    /// The number of the last event received (the `Last-Event-ID` header says the same and
    /// wins).
    after: Option<u64>,
}

/// Resume watching a chat turn on the replica that runs it: its events after the last one
/// received (`Last-Event-ID`, or `?after=`), then the live ones to `done`. 204 when the turn
/// is over and nothing is left to send (its answer is in the session's messages); 404 for a
/// run this replica does not know (finished runs are kept five minutes).
#[utoipa::path(get, path = "/ai/sessions/{id}/runs/{run_id}/events", tag = "ai",
    security(("bearer" = [])), params(("id" = String, Path), ("run_id" = String, Path), ResumeQuery),
    responses((status = 200, content_type = "text/event-stream", body = ChatSse), (status = 204), (status = 404)))]
async fn run_events(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(session, run, ..): Ids<resource::ChatSession, resource::Run>,
    Query(q): Query<ResumeQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let last_seen = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or(q.after)
        .unwrap_or(0);
    Ok(match state.services.watch_chat_run(&caller, session, run, last_seen).await? {
        Some(watch) => sse_response(watch),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// Stop a chat turn now: the model's request is closed and what it wrote is stored with
/// `status: "cancelled"`; watchers receive `completed` and `done`.
#[utoipa::path(post, path = "/ai/sessions/{id}/runs/{run_id}/stop", tag = "ai",
    security(("bearer" = [])), params(("id" = String, Path), ("run_id" = String, Path)),
    responses((status = 204), (status = 404)))]
async fn stop_run(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(session, run, ..): Ids<resource::ChatSession, resource::Run>,
) -> ApiResult<StatusCode> {
    state.services.stop_chat_run(&caller, session, run).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn sse(
    events: impl Stream<Item = Event> + Send + 'static,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    Sse::new(events.map(Ok)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

/// The Server-Sent Event of a chat event, numbered `seq`.
fn sse_event(event: ChatEvent, seq: u64) -> Event {
    ChatSse::of(event, seq).into()
}

/// One Server-Sent Event of a chat turn, as the OpenAPI document describes the stream: its
/// kind, its number within the run (resume after it with `Last-Event-ID`), and its data (JSON,
/// except `done`'s, which is the bare session id).
#[derive(Debug, utoipa::ToSchema)]
struct ChatSse {
    /// `start`, `sources`, `delta`, `tool_call`, `tool_result`, `fallback`, `usage`, `error`,
    /// `completed` or `done`.
    event: &'static str,
    id: String,
    data: String,
}

impl ChatSse {
    fn of(event: ChatEvent, seq: u64) -> Self {
        let (event, data) = match event {
            ChatEvent::Start { session_id, run_id, user_message_id, mode, llm, agent } => (
                "start",
                json!({"session_id": session_id, "run_id": run_id, "user_message_id": user_message_id, "mode": mode, "llm": llm, "agent": agent}),
            ),
            ChatEvent::Sources(sources) => ("sources", json!(sources)),
            ChatEvent::Delta(text) => ("delta", json!({ "text": text })),
            ChatEvent::Fallback { reason } => ("fallback", json!({ "reason": reason })),
            ChatEvent::Usage(usage) => ("usage", json!(usage)),
            ChatEvent::ToolCall(call) => ("tool_call", json!(call)),
            ChatEvent::ToolResult(call) => ("tool_result", json!(call)),
            ChatEvent::Completed(message) => ("completed", json!(message)),
            ChatEvent::Error { code, message } => {
                ("error", json!({"code": code, "message": message}))
            }
            // Seed 001's form: the session id, bare, so a client can continue the conversation.
            ChatEvent::Done { session_id, .. } => {
                return ChatSse {
                    event: "done",
                    id: seq.to_string(),
                    data: session_id.to_string(),
                };
            }
        };
        ChatSse { event, id: seq.to_string(), data: data.to_string() }
    }
}

impl From<ChatSse> for Event {
    fn from(e: ChatSse) -> Self {
        Event::default().id(e.id).event(e.event).data(e.data)
    }
}

/// Answer a question from your projects' context (or `project_ids`'): the answer cites the
/// numbered `sources` as `[n]`; citations of sources that do not exist are removed. Without
/// a language model (or when it fails) the answer is the sentences of the sources that answer
/// best, highlighted in them, and `mode` is `extractive`.
#[utoipa::path(post, path = "/ai/qa", tag = "ai", security(("bearer" = [])),
    request_body = QaRequest,
    responses((status = 200, body = QaResponse), (status = 404), (status = 422), (status = 429)))]
async fn qa(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Json(req): Json<QaRequest>,
) -> ApiResult<Json<QaResponse>> {
    state.limits.check_search(caller.user_id).await?;
    Ok(Json(state.services.answer_question(&caller, req).await?))
}

/// Summarize a text, or contexts you can read, as `concise`, `detailed` or `bullet`, with
/// length statistics. Without a language model (or when it fails) the summary is the text's
/// most central sentences, and `mode` is `extractive`.
#[utoipa::path(post, path = "/ai/summarize", tag = "ai", security(("bearer" = [])),
    request_body = SummarizeRequest,
    responses((status = 200, body = SummaryResponse), (status = 404), (status = 422)))]
async fn summarize(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Json(req): Json<SummarizeRequest>,
) -> ApiResult<Json<SummaryResponse>> {
    Ok(Json(state.services.summarize(&caller, req).await?))
}

/// A mind map of a project (or of `topic` in it): a tree `{id, label, context_ids, children}`
/// whose nodes link the contexts they came from, `depth` levels deep including the root
/// (1–5, default 3). Drawn by the language model from the retrieved contexts; without one (or
/// when it fails) the contexts are clustered by meaning, each cluster labelled by its
/// distinctive words, with the contexts as leaves (`mode: extractive`, at most 3 levels).
#[utoipa::path(post, path = "/ai/mindmap", tag = "ai", security(("bearer" = [])),
    request_body = MindMapRequest,
    responses((status = 200, body = MindMapResponse), (status = 404), (status = 422), (status = 429)))]
async fn mind_map(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Json(req): Json<MindMapRequest>,
) -> ApiResult<Json<MindMapResponse>> {
    state.limits.check_search(caller.user_id).await?;
    Ok(Json(state.services.mind_map(&caller, req).await?))
}
