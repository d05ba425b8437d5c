//! Ask the team's context in the browser: conversations (chat sessions) on the left, the
//! selected one's messages with their numbered sources and tool calls, and a form to ask. A
//! turn streams: the page opens the run's Server-Sent Events (`/chat/sessions/{id}/runs/{run}/
//! events`, the same events as `/api/v1/ai/chat/stream`) and `app.js` shows the sources, then
//! the answer as it is written; when the turn is done the page shows the stored answer. Without
//! script, the page says the answer is on its way and a reload shows it.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use tc_domain::pagination::PageParams;
use tc_domain::views::{AnswerMode, ChatRequest, MessageView};
use tc_domain::{DomainError, WebCaller};

use super::layout::{
    Chrome, Nav, csrf_field, error_page, form_error, page_with_status, status_of, trusted,
};
use super::path_id;
use super::session::Web;
use crate::state::AppState;

fn session_not_found() -> DomainError {
    DomainError::not_found("chat session")
}

#[derive(Debug, Default, Deserialize)]
pub struct ChatQuery {
    session: Option<String>,
    run: Option<String>,
}

/// `GET /chat`
pub async fn chat(
    State(state): State<AppState>,
    Web(web): Web,
    Query(q): Query<ChatQuery>,
) -> Response {
    chat_page(&state, &web, &q, None, StatusCode::OK).await
}

async fn chat_page(
    state: &AppState,
    web: &WebCaller,
    q: &ChatQuery,
    error: Option<&DomainError>,
    status: StatusCode,
) -> Response {
    let s = &state.services;
    let recent = PageParams { limit: Some(50), cursor: None };
    let sessions = match s.list_chat_sessions(&web.caller, &recent).await {
        Ok(p) => p.items,
        Err(e) => return error_page(Some(web), e),
    };
    let current = match q.session.as_deref().filter(|v| !v.is_empty()) {
        None => None,
        Some(raw) => match path_id(raw) {
            None => return error_page(Some(web), session_not_found()),
            Some(id) => match s
                .chat_session_messages(
                    &web.caller,
                    id,
                    &PageParams { limit: Some(100), cursor: None },
                )
                .await
            {
                Ok(p) => Some((id, p.items.into_iter().rev().collect::<Vec<_>>())),
                Err(e) => return error_page(Some(web), e),
            },
        },
    };
    let projects = super::my_projects(state, web).await;
    let has_model = s.has_language_model_for(web.caller.user_id).await;
    let run = q.run.as_deref().and_then(path_id);
    let body = html! {
        h1 { "Ask" }
        div.chat {
            nav.sessions aria-label="Conversations" {
                a.button.secondary href="/chat" { "New conversation" }
                @if sessions.is_empty() { p.meta { "Your conversations appear here." } }
                ul {
                    @for c in &sessions {
                        li { a href={"/chat?session=" (c.session_id)} aria-current=[(current.as_ref().map(|(id, _)| *id) == Some(c.session_id)).then_some("page")] { (c.title) } }
                    }
                }
            }
            div.conversation {
                @if !has_model {
                    p.meta { "No language model is set up, so answers are built from the retrieved text itself (extractive), with their sources. Your administrator can configure one (LLM_BASE_URL), or you can set your own in your " a href="/account/ai" { "AI settings" } "." }
                }
                @match &current {
                    None => {
                        div.empty.panel { strong { "Ask your team's memory" } "Questions are answered from the projects you can read, citing the context they used: decisions, code, Jira issues and pages." }
                    }
                    Some((id, messages)) => {
                        ol.messages aria-label="Messages" {
                            @for m in messages { li { (message(m)) } }
                        }
                        @if let Some(run) = run {
                            div.message.assistant #live data-stream={"/chat/sessions/" (id) "/runs/" (run) "/events"} aria-live="polite" aria-busy="true" {
                                p.meta #live-status { "Answering…" noscript { " Reload the page in a moment to see the answer." } }
                                ol.sources #live-sources {}
                                div.answer #live-answer {}
                            }
                        }
                    }
                }
                @if let Some(e) = error { (form_error(e)) }
                form.stack.panel #ask method="post" action="/chat" {
                    (csrf_field(web))
                    @if let Some((id, _)) = &current { input type="hidden" name="session_id" value=(id); }
                    label { "Your question" textarea name="message" required placeholder="How do we rotate the Stripe keys?" {} }
                    div.row {
                        @if current.is_none() {
                            label { "About" select name="project_id" {
                                option value="" { "All my projects" }
                                @for p in &projects { option value=(p.id) { (p.name) } }
                            } }
                        }
                        label.check { input type="checkbox" name="agent" value="on" disabled[!has_model]; "Let the assistant use tools (save, scan, tasks…)" }
                        div.shrink { button type="submit" { "Ask" } }
                    }
                }
                @if let Some((id, _)) = &current {
                    form method="post" action={"/chat/sessions/" (id) "/delete"} data-confirm="Delete this conversation?" {
                        (csrf_field(web))
                        button.link type="submit" { "Delete this conversation" }
                    }
                }
            }
        }
    };
    page_with_status(status, Chrome::signed_in(web, Nav::Chat), "Ask", body)
}

/// Where citation `[n]` of an answer leads: its source's page, titled by the source.
fn source_link(m: &MessageView, n: usize) -> Option<(String, String)> {
    let source = m.sources.iter().find(|s| s.n == n)?;
    let title = source.title.trim_start_matches('#').trim().to_string();
    Some((format!("/contexts/{}", source.context_id), title))
}

fn message(m: &MessageView) -> Markup {
    let who = if m.role == "user" { "You" } else { "TeamContext" };
    html! {
        article.message.(m.role) {
            h2.visually-hidden { (who) }
            p.meta { strong { (who) }
                @if m.mode == Some(AnswerMode::Extractive) { " · extractive answer" }
                @if let Some(model) = &m.model { " · " (model) }
                @if m.status != "complete" { " · " (m.status) } }
            @if m.role == "user" {
                p.question { (m.content) }
            } @else {
                div.answer { (trusted(super::contexts::render_answer(&m.content, &|n| source_link(m, n)))) }
            }
            @if !m.tool_calls.is_empty() {
                details {
                    summary { "Tools used (" (m.tool_calls.len()) ")" }
                    ul { @for t in &m.tool_calls {
                        li { code { (t.name) } @if let Some(e) = &t.error { " — failed: " (e) } @else { " — done" } }
                    } }
                }
            }
            @if !m.sources.is_empty() {
                ol.sources aria-label="Sources" {
                    @for src in &m.sources {
                        li value=(src.n) { a href={"/contexts/" (src.context_id)} { (src.title.trim_start_matches('#').trim()) } span.meta { " · " (src.source) } }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct AskForm {
    message: Option<String>,
    session_id: Option<String>,
    project_id: Option<String>,
    agent: Option<String>,
}

/// An id from a form field: absent when blank, an error when malformed.
fn optional_id(raw: Option<&str>) -> Result<Option<uuid::Uuid>, ()> {
    match raw.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => path_id(v).map(Some).ok_or(()),
    }
}

/// `POST /chat`: starts a turn and shows its conversation, where it streams.
pub async fn ask(
    State(state): State<AppState>,
    Web(web): Web,
    Form(form): Form<AskForm>,
) -> Response {
    let (session_id, project_id) =
        match (optional_id(form.session_id.as_deref()), optional_id(form.project_id.as_deref())) {
            (Ok(session), Ok(project)) => (session, project),
            (Err(()), _) => return error_page(Some(&web), session_not_found()),
            (_, Err(())) => return error_page(Some(&web), DomainError::project_not_found()),
        };
    if let Err(e) = state.limits.check_search(web.caller.user_id).await {
        return error_page(Some(&web), e.0);
    }
    let agent = form.agent.is_some();
    let tools = match crate::mcp::agent_tools::for_turn(&state, &web.caller, agent).await {
        Ok(tools) => tools,
        Err(e) => return error_page(Some(&web), e),
    };
    let req = ChatRequest { message: form.message, session_id, project_id, agent: Some(agent) };
    match state.services.start_chat(&web.caller, req, tools).await {
        Ok(run) => {
            Redirect::to(&format!("/chat?session={}&run={}#live", run.session_id, run.run_id))
                .into_response()
        }
        Err(e) => {
            let status = status_of(&e);
            let q = ChatQuery { session: session_id.map(|s| s.to_string()), run: None };
            chat_page(&state, &web, &q, Some(&e), status).await
        }
    }
}

/// `GET /chat/sessions/{id}/runs/{run_id}/events`: the turn's events for the page's script.
pub async fn events(
    State(state): State<AppState>,
    Web(web): Web,
    Path((raw, raw_run)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (Some(session), Some(run)) = (path_id(&raw), path_id(&raw_run)) else {
        return error_page(Some(&web), session_not_found());
    };
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    match state.services.watch_chat_run(&web.caller, session, run, after).await {
        Ok(Some(watch)) => crate::http::ai::sse_response(watch),
        // The turn ended and nothing is left to send: the page shows the stored answer.
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_page(Some(&web), e),
    }
}

/// `POST /chat/sessions/{id}/delete`
pub async fn delete(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
) -> Response {
    let Some(id) = path_id(&raw) else { return error_page(Some(&web), session_not_found()) };
    match state.services.delete_chat_session(&web.caller, id).await {
        Ok(()) => Redirect::to("/chat").into_response(),
        Err(e) => error_page(Some(&web), e),
    }
}
