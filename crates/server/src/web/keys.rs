//! API keys: the list with last use, creating one (scopes, an optional project) and showing it
//! once with the set-up snippets for Claude Code, Cursor and Claude Desktop filled in,
//! rotating, and revoking.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use tc_domain::views::{CreateApiKeyRequest, RotateApiKeyRequest};
use tc_domain::{DomainError, WebCaller};

use super::account::DoneQuery;
use super::layout::{
    Chrome, Nav, csrf_field, error_page, form_error, notice, page_with_status, status_of, when,
};
use super::session::Web;
use super::{base_url, path_id};
use crate::state::AppState;

/// The secret, with a copy button and the snippets that use it.
pub fn key_once(key: &str, base: &str) -> Markup {
    let mcp = format!("{base}/mcp");
    let claude_code = format!(
        "claude mcp add --transport http teamcontext {mcp} \\\n  --header \"Authorization: Bearer {key}\""
    );
    let cursor = serde_json::to_string_pretty(&serde_json::json!({
        "mcpServers": { "teamcontext": { "url": mcp, "headers": { "Authorization": format!("Bearer {key}") } } }
    }))
    .unwrap_or_default();
    let desktop = serde_json::to_string_pretty(&serde_json::json!({
        "mcpServers": { "teamcontext": {
            "command": "/path/to/teamcontext",
            "args": ["mcp", "--server", base],
            "env": { "TEAMCONTEXT_API_KEY": key }
        } }
    }))
    .unwrap_or_default();
    let snippets = [
        ("claude-code", "Claude Code", "Run in a terminal:", claude_code),
        ("cursor", "Cursor", "In ~/.cursor/mcp.json, or .cursor/mcp.json in a repository:", cursor),
        (
            "claude-desktop",
            "Claude Desktop",
            "In claude_desktop_config.json (the path of your teamcontext binary in \"command\"):",
            desktop,
        ),
    ];
    html! {
        div.panel {
            p #new-key .secret { (key) }
            div.actions { button.secondary type="button" data-copy="new-key" { "Copy the key" } }
            h2 { "Connect an assistant" }
            div role="tablist" aria-label="MCP clients" {
                @for (i, (id, label, _, _)) in snippets.iter().enumerate() {
                    button type="button" role="tab" #{"tab-" (id)} aria-controls={"panel-" (id)}
                        aria-selected=(if i == 0 { "true" } else { "false" }) tabindex=(if i == 0 { "0" } else { "-1" }) { (label) }
                }
            }
            @for (i, (id, _, hint, text)) in snippets.iter().enumerate() {
                div role="tabpanel" #{"panel-" (id)} aria-labelledby={"tab-" (id)} hidden[i != 0] {
                    p.hint { (hint) }
                    pre.code #{"snippet-" (id)} { (text) }
                    button.secondary type="button" data-copy={"snippet-" (id)} { "Copy" }
                }
            }
        }
    }
}

/// `GET /keys`
pub async fn list(
    State(state): State<AppState>,
    Web(web): Web,
    Query(q): Query<DoneQuery>,
) -> Response {
    keys_page(&state, &web, q.done.as_deref(), None, None, StatusCode::OK).await
}

async fn keys_page(
    state: &AppState,
    web: &WebCaller,
    done: Option<&str>,
    shown: Option<Markup>,
    error: Option<&DomainError>,
    status: StatusCode,
) -> Response {
    let keys = match state.services.list_api_keys(&web.caller).await {
        Ok(keys) => keys,
        Err(e) => return error_page(Some(web), e),
    };
    let projects = super::my_projects(state, web).await;
    let project_name = |id: uuid::Uuid| {
        projects
            .iter()
            .find(|p| p.id == id)
            .map_or_else(|| "a project".to_string(), |p| p.name.clone())
    };
    let body = html! {
        h1 { "API keys" }
        p.lede { "Keys let MCP clients and scripts act for you. A key can be limited to reading, or to one project." }
        (notice(done))
        @if let Some(shown) = shown { (shown) }
        section.panel aria-labelledby="new" {
            h2 #new { "Create a key" }
            @if let Some(e) = error { (form_error(e)) }
            form.stack method="post" action="/keys" {
                (csrf_field(web))
                label { "Name" span.hint { "Where it will be used, such as “laptop – Cursor”." }
                    input type="text" name="name" maxlength="100" required; }
                fieldset {
                    legend { "Scopes" }
                    label.check { input type="checkbox" name="read" value="on" checked; "read: search and read context" }
                    label.check { input type="checkbox" name="write" value="on" checked; "write: save context, scan, create" }
                }
                label { "Project" span.hint { "Restrict the key to one project, or leave it for all of yours." }
                    select name="project_id" {
                        option value="" { "All my projects" }
                        @for p in &projects { option value=(p.id) { (p.name) } }
                    }
                }
                button type="submit" { "Create the key" }
            }
        }
        section aria-labelledby="yours" {
            h2 #yours { "Your keys" }
            @if keys.is_empty() {
                div.empty.panel { strong { "No keys yet" } "Create one above to connect Claude, Cursor or a script." }
            } @else {
                div.table-wrap { table.stack-narrow {
                    thead { tr { th { "Name" } th { "Key" } th { "Scopes" } th { "Project" } th { "Last used" } th { span.visually-hidden { "Actions" } } } }
                    tbody {
                        @for k in &keys {
                            tr {
                                td { (k.name) @if let Some(exp) = k.expires_at { br; span.meta { "works until " (when(exp)) } } }
                                td data-label="Key" { code { (k.prefix) "…" } }
                                td data-label="Scopes" { (k.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")) }
                                td data-label="Project" { @match k.project_id { Some(id) => (project_name(id)), None => "all" } }
                                td data-label="Last used" { @match k.last_used_at { Some(t) => (when(t)), None => "never" } }
                                td {
                                    div.actions {
                                        form.inline method="post" action={"/keys/" (k.id) "/rotate"} {
                                            (csrf_field(web))
                                            button.secondary type="submit" aria-label={"Rotate " (k.name)} { "Rotate" }
                                        }
                                        form.inline method="post" action={"/keys/" (k.id) "/revoke"} data-confirm={"Revoke " (k.name) "? Clients using it stop working at once."} {
                                            (csrf_field(web))
                                            button.danger type="submit" aria-label={"Revoke " (k.name)} { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
        }
    };
    page_with_status(status, Chrome::signed_in(web, Nav::Keys), "API keys", body)
}

#[derive(Debug, Deserialize)]
pub struct CreateForm {
    name: Option<String>,
    read: Option<String>,
    write: Option<String>,
    project_id: Option<String>,
}

/// `POST /keys`
pub async fn create(
    State(state): State<AppState>,
    Web(web): Web,
    headers: HeaderMap,
    Form(form): Form<CreateForm>,
) -> Response {
    let scopes: Vec<String> = [("read", &form.read), ("write", &form.write)]
        .into_iter()
        .filter(|(_, on)| on.is_some())
        .map(|(s, _)| s.to_string())
        .collect();
    let project_id = match form.project_id.as_deref().filter(|p| !p.is_empty()) {
        None => None,
        Some(raw) => match uuid::Uuid::parse_str(raw) {
            Ok(id) => Some(id),
            Err(_) => return error_page(Some(&web), DomainError::project_not_found()),
        },
    };
    let req = CreateApiKeyRequest { name: form.name, scopes: Some(scopes), project_id };
    match state.services.create_api_key(&web.caller, req).await {
        Ok(key) => {
            let shown = html! {
                div.notice role="status" { "Key “" (key.api_key.name) "” created. Copy it now: it is not shown again." }
                (key_once(&key.key, &base_url(&state, &headers)))
            };
            keys_page(&state, &web, None, Some(shown), None, StatusCode::CREATED).await
        }
        Err(e) => {
            let status = status_of(&e);
            keys_page(&state, &web, None, None, Some(&e), status).await
        }
    }
}

/// `POST /keys/{id}/rotate`: the new key shown once; the old one works for the grace period.
pub async fn rotate(
    State(state): State<AppState>,
    Web(web): Web,
    headers: HeaderMap,
    axum::extract::Path(raw): axum::extract::Path<String>,
) -> Response {
    let Some(id) = path_id(&raw) else {
        return error_page(Some(&web), DomainError::not_found("API key"));
    };
    match state.services.rotate_api_key(&web.caller, RotateApiKeyRequest { key_id: Some(id) }).await
    {
        Ok(rotated) => {
            let shown = html! {
                div.notice role="status" { "Key “" (rotated.api_key.name) "” rotated. The old key works until " (when(rotated.previous_expires_at)) "." }
                (key_once(&rotated.key, &base_url(&state, &headers)))
            };
            keys_page(&state, &web, None, Some(shown), None, StatusCode::OK).await
        }
        Err(e) => error_page(Some(&web), e),
    }
}

/// `POST /keys/{id}/revoke`
pub async fn revoke(
    State(state): State<AppState>,
    Web(web): Web,
    axum::extract::Path(raw): axum::extract::Path<String>,
) -> Response {
    let Some(id) = path_id(&raw) else {
        return error_page(Some(&web), DomainError::not_found("API key"));
    };
    match state.services.revoke_api_key(&web.caller, id).await {
        Ok(()) => Redirect::to("/keys?done=key-revoked").into_response(),
        Err(e) => error_page(Some(&web), e),
    }
}
