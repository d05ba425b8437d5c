//! The user's AI settings: which language model answers them (their own OpenAI-compatible
//! model, the server's, or none, when answers are extractive), with a connection test, and the
//! MCP servers whose tools their agent may use (registered after a handshake; tokens stored
//! encrypted and never shown again). The same services as `/api/v1/ai/llm-settings` and
//! `/api/v1/ai/mcp-servers`.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use tc_domain::views::{LlmSettingsRequest, LlmTestView, RegisterMcpServerRequest};
use tc_domain::{DomainError, WebCaller};

use super::account::DoneQuery;
use super::layout::{
    Chrome, Nav, csrf_field, error_page, form_error, notice, page_with_status, status_of, when,
};
use super::path_id;
use super::session::Web;
use crate::state::AppState;

/// Which form an error belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Model,
    Servers,
}

/// `GET /account/ai`
pub async fn settings(
    State(state): State<AppState>,
    Web(web): Web,
    Query(q): Query<DoneQuery>,
) -> Response {
    settings_page(&state, &web, q.done.as_deref(), None, None).await
}

async fn settings_page(
    state: &AppState,
    web: &WebCaller,
    done: Option<&str>,
    error: Option<(Part, &DomainError)>,
    tested: Option<&LlmTestView>,
) -> Response {
    let s = &state.services;
    let llm = match s.llm_settings(&web.caller).await {
        Ok(v) => v,
        Err(e) => return error_page(Some(web), e),
    };
    let servers = s.mcp_servers(&web.caller).await.map(|l| l.servers).unwrap_or_default();
    let error_of = |part: Part| error.filter(|(p, _)| *p == part).map(|(_, e)| e);
    let body = html! {
        p.crumbs { a href="/account" { "Account" } " / AI" }
        h1 { "AI settings" }
        (notice(done))
        section.panel aria-labelledby="model" {
            h2 #model { "Language model" }
            p { @match llm.source.as_str() {
                "user" => { "Your questions, summaries and chats use your own model, " strong { (llm.model.clone().unwrap_or_default()) } "." }
                "server" => { "You use the server's model, " strong { (llm.model.clone().unwrap_or_default()) } ". Set your own below to use another." }
                _ => { "No model is set up: answers are built from the retrieved text itself (extractive). Set your own below." }
            } }
            @if let Some(t) = tested {
                @if t.ok {
                    div.notice role="status" { "The model answered in " (t.latency_ms) " ms" @if let Some(r) = &t.reply { ": “" (r) "”" } }
                } @else {
                    div.error-box role="alert" { "The model did not answer: " (t.error.clone().unwrap_or_default()) }
                }
            }
            @if let Some(e) = error_of(Part::Model) { (form_error(e)) }
            form.stack method="post" action="/account/ai/model" {
                (csrf_field(web))
                label { "Base URL" span.hint { "An OpenAI-compatible Chat Completions endpoint, such as https://api.example.com/v1 or a local Ollama’s http://localhost:11434/v1." }
                    input type="url" name="base_url" value=(llm.base_url.clone().unwrap_or_default()) required; }
                label { "Model" input type="text" name="model" value=(if llm.source == "user" { llm.model.clone().unwrap_or_default() } else { String::new() }) required; }
                label { "API key" span.hint { @if llm.has_api_key { "Stored encrypted. Leave empty to remove it; type it again to keep it." } @else { "Optional. Stored encrypted, never shown again." } }
                    input type="password" name="api_key" autocomplete="off"; }
                button type="submit" { "Save the model" }
            }
            @if llm.source == "user" {
                p.meta { @match llm.tested_at { Some(t) => { "Last tested " (when(t)) @if let Some(e) = &llm.test_error { ": " (e) } } None => "Not tested yet." } }
                div.actions {
                    form.inline method="post" action="/account/ai/model/test" { (csrf_field(web)) button.secondary type="submit" { "Test the model" } }
                    form.inline method="post" action="/account/ai/model/delete" data-confirm="Stop using your own model?" { (csrf_field(web)) button.danger type="submit" { "Remove" } }
                }
            }
        }
        section.panel aria-labelledby="servers" {
            h2 #servers { "MCP servers for the agent" }
            p { "When you let the assistant use tools, it may also call the tools of these servers, as " code { "<name>__<tool>" } ". Their tool lists are refreshed every six hours." }
            @if servers.is_empty() { p.meta { "None yet." } }
            @for server in &servers {
                article.card {
                    h3 { (server.name) }
                    p.meta { (server.url) @if server.has_token { " · token stored" } " · " (super::count(server.tools.len(), "tool"))
                        @if let Some(t) = server.tools_refreshed_at { " · listed " (when(t)) } }
                    @if let Some(e) = &server.error { div.error-box role="alert" { (e) } }
                    @if !server.tools.is_empty() {
                        details { summary { "Tools" }
                            ul { @for t in &server.tools { li { code { (t.agent_name) } @if t.writes { " (writes)" } " — " (t.description) } } } }
                    }
                    div.actions {
                        form.inline method="post" action={"/account/ai/servers/" (server.id) "/refresh"} { (csrf_field(web)) button.secondary type="submit" { "Refresh" } }
                        form.inline method="post" action={"/account/ai/servers/" (server.id) "/delete"} data-confirm={"Remove " (server.name) "?"} { (csrf_field(web)) button.danger type="submit" { "Remove" } }
                    }
                }
            }
            h3 { "Add a server" }
            @if let Some(e) = error_of(Part::Servers) { (form_error(e)) }
            form.stack method="post" action="/account/ai/servers" {
                (csrf_field(web))
                div.row {
                    label { "Name" span.hint { "Lowercase letters, digits, - and _." } input type="text" name="name" maxlength="32" required; }
                    label { "URL" span.hint { "Its Streamable HTTP endpoint." } input type="url" name="url" placeholder="https://tools.example.com/mcp" required; }
                }
                label { "Bearer token" span.hint { "Optional; stored encrypted." } input type="password" name="bearer_token" autocomplete="off"; }
                button type="submit" { "Add the server" }
            }
        }
    };
    let status = error.map_or(StatusCode::OK, |(_, e)| status_of(e));
    page_with_status(status, Chrome::signed_in(web, Nav::Account), "AI settings", body)
}

#[derive(Debug, Deserialize)]
pub struct ModelForm {
    base_url: Option<String>,
    model: Option<String>,
    api_key: Option<String>,
}

/// `POST /account/ai/model`
pub async fn set_model(
    State(state): State<AppState>,
    Web(web): Web,
    Form(form): Form<ModelForm>,
) -> Response {
    let req = LlmSettingsRequest {
        base_url: form.base_url,
        model: form.model,
        api_key: form.api_key.filter(|k| !k.is_empty()),
        headers: None,
    };
    match state.services.set_llm_settings(&web.caller, req).await {
        Ok(_) => Redirect::to("/account/ai?done=model-saved").into_response(),
        Err(e) => settings_page(&state, &web, None, Some((Part::Model, &e)), None).await,
    }
}

/// `POST /account/ai/model/test`
pub async fn test_model(State(state): State<AppState>, Web(web): Web) -> Response {
    match state.services.test_llm_settings(&web.caller).await {
        Ok(tested) => settings_page(&state, &web, None, None, Some(&tested)).await,
        Err(e) => settings_page(&state, &web, None, Some((Part::Model, &e)), None).await,
    }
}

/// `POST /account/ai/model/delete`
pub async fn delete_model(State(state): State<AppState>, Web(web): Web) -> Response {
    match state.services.delete_llm_settings(&web.caller).await {
        Ok(()) => Redirect::to("/account/ai?done=model-removed").into_response(),
        Err(e) => error_page(Some(&web), e),
    }
}

#[derive(Debug, Deserialize)]
pub struct ServerForm {
    name: Option<String>,
    url: Option<String>,
    bearer_token: Option<String>,
}

/// `POST /account/ai/servers`
pub async fn add_server(
    State(state): State<AppState>,
    Web(web): Web,
    Form(form): Form<ServerForm>,
) -> Response {
    let req = RegisterMcpServerRequest {
        name: form.name,
        url: form.url,
        bearer_token: form.bearer_token.filter(|t| !t.is_empty()),
    };
    match state.services.register_mcp_server(&web.caller, req).await {
        Ok(_) => Redirect::to("/account/ai?done=server-added").into_response(),
        Err(e) => settings_page(&state, &web, None, Some((Part::Servers, &e)), None).await,
    }
}

/// `POST /account/ai/servers/{id}/{action}`: `refresh` or `delete`.
pub async fn server_action(
    State(state): State<AppState>,
    Web(web): Web,
    Path((raw, action)): Path<(String, String)>,
) -> Response {
    let not_found = || DomainError::not_found("MCP server");
    let Some(id) = path_id(&raw) else { return error_page(Some(&web), not_found()) };
    let s = &state.services;
    let outcome = match action.as_str() {
        "refresh" => s.refresh_mcp_server(&web.caller, id).await.map(|_| "server-refreshed"),
        "delete" => s.delete_mcp_server(&web.caller, id).await.map(|()| "server-removed"),
        _ => Err(not_found()),
    };
    match outcome {
        Ok(done) => Redirect::to(&format!("/account/ai?done={done}")).into_response(),
        Err(e) if e.code == tc_domain::ErrorCode::ResourceNotFound => error_page(Some(&web), e),
        Err(e) => settings_page(&state, &web, None, Some((Part::Servers, &e)), None).await,
    }
}
