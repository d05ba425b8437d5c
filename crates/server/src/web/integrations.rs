//! Jira and Confluence from the browser: each product's connection (its site, the account it
//! acts as, its last sync and any error), the connect form (Data Center personal access token,
//! Cloud API token, or Cloud OAuth, which goes to Atlassian for consent), disconnecting, and a
//! sync into a project (JQL or issue keys; space keys or CQL) followed live on a job page, the
//! same way as a scan. The same services as `/api/v1/integrations/*` and `/jira|confluence/sync`.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use tc_domain::views::{
    ConfluenceSyncRequest, ConnectRequest, ConnectionStatus, JiraSyncRequest, JobView, ProjectView,
    SyncProgress, SyncResult,
};
use tc_domain::{DomainError, WebCaller};
use tc_store::JobStatus;

use super::account::DoneQuery;
use super::layout::{
    Chrome, Nav, csrf_field, error_page, form_error, live_fragment, notice, page, page_with_status,
    status_of, when,
};
use super::path_id;
use super::session::Web;
use crate::state::AppState;

const PRODUCTS: [(&str, &str); 2] = [("jira", "Jira"), ("confluence", "Confluence")];

fn product_label(product: &str) -> Option<&'static str> {
    PRODUCTS.iter().find(|(p, _)| *p == product).map(|(_, l)| *l)
}

/// `GET /integrations`
pub async fn integrations(
    State(state): State<AppState>,
    Web(web): Web,
    Query(q): Query<DoneQuery>,
) -> Response {
    integrations_page(&state, &web, q.done.as_deref(), None).await
}

async fn integrations_page(
    state: &AppState,
    web: &WebCaller,
    done: Option<&str>,
    error: Option<(&str, &DomainError)>,
) -> Response {
    let s = &state.services;
    let projects = super::my_projects(state, web).await;
    let mut sections = Vec::new();
    for (product, label) in PRODUCTS {
        let status = s.connection_status(&web.caller, product).await;
        let failed = error.filter(|(p, _)| *p == product).map(|(_, e)| e);
        sections.push(product_section(web, product, label, status, failed, &projects));
    }
    let body = html! {
        h1 { "Jira and Confluence" }
        p.lede { "Bring issues and pages in as context: assistants then find them beside your decisions and code. Each person connects with their own account, so a sync sees what they may see." }
        (notice(done))
        @for section in &sections { (section) }
    };
    let status = error.map_or(StatusCode::OK, |(_, e)| status_of(e));
    page_with_status(status, Chrome::signed_in(web, Nav::Integrations), "Jira and Confluence", body)
}

fn product_section(
    web: &WebCaller,
    product: &str,
    label: &str,
    status: Result<ConnectionStatus, DomainError>,
    error: Option<&DomainError>,
    projects: &[ProjectView],
) -> Markup {
    html! {
        section.panel aria-labelledby={"p-" (product)} {
            h2 #{"p-" (product)} { (label) }
            @if let Some(e) = error { (form_error(e)) }
            @match status {
                Err(e) => { (form_error(&e)) }
                Ok(c) if c.connected => {
                    dl.facts {
                        dt { "Site" } dd { (c.site.clone().unwrap_or_default()) }
                        @if let Some(a) = &c.account { dt { "Account" } dd { (a.display_name) " (" (a.name) ")" } }
                        dt { "Connected with" } dd { (kind_label(c.kind.as_deref())) }
                        dt { "Last sync" } dd { @match c.last_sync_at { Some(t) => (when(t)), None => "never" } }
                    }
                    @if let Some(problem) = &c.error { div.error-box role="alert" { (problem) } }
                    (sync_form(web, product, projects))
                    form method="post" action={"/integrations/" (product) "/disconnect"} data-confirm={"Disconnect " (label) "? What was synced stays."} {
                        (csrf_field(web))
                        button.danger type="submit" { "Disconnect" }
                    }
                }
                Ok(c) => {
                    @if let Some(problem) = &c.error { div.error-box role="alert" { (problem) } }
                    (connect_form(web, product, label))
                }
            }
        }
    }
}

fn kind_label(kind: Option<&str>) -> &'static str {
    match kind {
        Some("datacenter") => "a personal access token (Data Center)",
        Some("cloud_api_token") => "an API token (Cloud)",
        Some("cloud_oauth") => "OAuth (Cloud)",
        _ => "unknown",
    }
}

fn connect_form(web: &WebCaller, product: &str, label: &str) -> Markup {
    html! {
        p { "Not connected. Connect with one of:" }
        form.stack method="post" action={"/integrations/" (product) "/connect"} {
            (csrf_field(web))
            // The script shows only the fields the chosen way needs; without it all show.
            label { "How" select name="kind" data-shows-fields {
                option value="datacenter" { "Data Center or Server: personal access token" }
                option value="cloud_api_token" { "Cloud: email and API token" }
                option value="cloud_oauth" { "Cloud: sign in with Atlassian (OAuth)" }
            } }
            label { (label) " site" span.hint { "Such as https://" (product) ".example.com or https://acme.atlassian.net." }
                input type="url" name="base_url" required; }
            label data-for="datacenter" { "Personal access token" span.hint { "Data Center or Server." } input type="password" name="personal_access_token" autocomplete="off"; }
            div.row data-for="cloud_api_token" {
                label { "Atlassian account email" span.hint { "Cloud API token." } input type="email" name="email" autocomplete="off"; }
                label { "API token" span.hint { "Cloud API token." } input type="password" name="api_token" autocomplete="off"; }
            }
            button type="submit" { "Connect " (label) }
        }
    }
}

fn sync_form(web: &WebCaller, product: &str, projects: &[ProjectView]) -> Markup {
    html! {
        h3 { "Sync into a project" }
        @if projects.is_empty() {
            p.meta { a href="/projects" { "Create a project" } " to sync into first." }
        } @else {
            form.stack method="post" action={"/integrations/" (product) "/sync"} {
                (csrf_field(web))
                label { "Project" select name="project_id" required {
                    @for p in projects { option value=(p.id) { (p.name) } }
                } }
                @if product == "jira" {
                    label { "JQL" span.hint { "Such as: project = OPS AND updated >= -30d" } input type="text" name="query"; }
                    label { "Or issue keys" span.hint { "Separated by commas, such as OPS-1, OPS-7." } input type="text" name="keys"; }
                } @else {
                    label { "Space keys" span.hint { "Separated by commas, such as ENG, OPS." } input type="text" name="keys"; }
                    label { "Or CQL" span.hint { "Such as: space = ENG and label = runbook" } input type="text" name="query"; }
                }
                button type="submit" { "Sync now" }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ConnectForm {
    kind: Option<String>,
    base_url: Option<String>,
    personal_access_token: Option<String>,
    email: Option<String>,
    api_token: Option<String>,
}

fn filled(v: Option<String>) -> Option<String> {
    v.filter(|v| !v.trim().is_empty())
}

/// `POST /integrations/{product}/connect`
pub async fn connect(
    State(state): State<AppState>,
    Web(web): Web,
    Path(product): Path<String>,
    Form(form): Form<ConnectForm>,
) -> Response {
    let Some(label) = product_label(&product) else {
        return error_page(Some(&web), DomainError::not_found("integration"));
    };
    let req = ConnectRequest {
        kind: filled(form.kind),
        base_url: filled(form.base_url),
        personal_access_token: filled(form.personal_access_token),
        email: filled(form.email),
        api_token: filled(form.api_token),
    };
    match state.services.connect(&web.caller, &product, req).await {
        // OAuth: consent at Atlassian, which returns to the API's callback.
        Ok(status) if status.authorize_url.is_some() => {
            Redirect::to(status.authorize_url.as_deref().unwrap_or("/integrations")).into_response()
        }
        Ok(_) => Redirect::to(&format!("/integrations?done={}-connected", product)).into_response(),
        Err(e) => {
            tracing::debug!(product = label, "connection refused");
            integrations_page(&state, &web, None, Some((product_static(&product), &e))).await
        }
    }
}

fn product_static(product: &str) -> &'static str {
    PRODUCTS.iter().find(|(p, _)| *p == product).map_or("jira", |(p, _)| *p)
}

/// `POST /integrations/{product}/disconnect`
pub async fn disconnect(
    State(state): State<AppState>,
    Web(web): Web,
    Path(product): Path<String>,
) -> Response {
    if product_label(&product).is_none() {
        return error_page(Some(&web), DomainError::not_found("integration"));
    }
    match state.services.disconnect(&web.caller, &product).await {
        Ok(_) => {
            Redirect::to(&format!("/integrations?done={product}-disconnected")).into_response()
        }
        Err(e) => error_page(Some(&web), e),
    }
}

#[derive(Debug, Deserialize)]
pub struct SyncForm {
    project_id: Option<String>,
    query: Option<String>,
    keys: Option<String>,
}

fn list(raw: Option<&str>) -> Option<Vec<String>> {
    let items: Vec<String> = raw
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(String::from)
        .collect();
    (!items.is_empty()).then_some(items)
}

/// `POST /integrations/{product}/sync`: the sync's job page follows.
pub async fn sync(
    State(state): State<AppState>,
    Web(web): Web,
    Path(product): Path<String>,
    Form(form): Form<SyncForm>,
) -> Response {
    let Some(project_id) = form.project_id.as_deref().and_then(path_id) else {
        return error_page(Some(&web), DomainError::project_not_found());
    };
    let s = &state.services;
    let query = filled(form.query);
    let accepted = match product.as_str() {
        "jira" => {
            s.start_jira_sync(
                &web.caller,
                JiraSyncRequest {
                    project_id: Some(project_id),
                    jql_query: query,
                    issue_keys: list(form.keys.as_deref()),
                },
            )
            .await
        }
        "confluence" => {
            s.start_confluence_sync(
                &web.caller,
                ConfluenceSyncRequest {
                    project_id: Some(project_id),
                    space_keys: list(form.keys.as_deref()),
                    cql: query,
                    page_ids: None,
                },
            )
            .await
        }
        _ => return error_page(Some(&web), DomainError::not_found("integration")),
    };
    match accepted {
        Ok(job) => Redirect::to(&format!("/jobs/{}", job.job_id)).into_response(),
        Err(e) if e.code == tc_domain::ErrorCode::ProjectNotFound => error_page(Some(&web), e),
        Err(e) => integrations_page(&state, &web, None, Some((product_static(&product), &e))).await,
    }
}

/// `GET /jobs/{id}`: a sync's live progress and result.
pub async fn job(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
) -> Response {
    match job_of(&state, &web, &raw).await {
        Ok(job) => {
            let title = match job.kind.as_str() {
                "jira_sync" => "Jira sync",
                "confluence_sync" => "Confluence sync",
                _ => "Job",
            };
            let body = html! {
                p.crumbs { a href="/integrations" { "Jira and Confluence" } " / " (title) }
                h1 { (title) }
                (progress(&web, &job))
            };
            page(Chrome::signed_in(&web, Nav::Integrations), title, body)
        }
        Err(e) => error_page(Some(&web), e),
    }
}

/// `GET /jobs/{id}/progress`: the live part of the job page.
pub async fn fragment(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
) -> Response {
    match job_of(&state, &web, &raw).await {
        Ok(job) => live_fragment(progress(&web, &job)),
        Err(e) => error_page(Some(&web), e),
    }
}

/// The job a path names, as the caller may see it (a malformed id names none).
async fn job_of(state: &AppState, web: &WebCaller, raw: &str) -> Result<JobView, DomainError> {
    let id = path_id(raw).ok_or_else(|| DomainError::not_found("job"))?;
    state.services.job(&web.caller, id).await
}

fn progress(web: &WebCaller, job: &JobView) -> Markup {
    let running =
        !matches!(job.status, JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled);
    let url = format!("/jobs/{}/progress", job.job_id);
    let p: Option<SyncProgress> = serde_json::from_value(job.progress.clone()).ok();
    let r: Option<SyncResult> = job.result.clone().and_then(|r| serde_json::from_value(r).ok());
    html! {
        div #job-progress .panel aria-live="polite"
            hx-get=[running.then_some(&url)] hx-trigger=[running.then_some("every 1s")] hx-swap=[running.then_some("outerHTML")] {
            p { strong { "Status: " } span #job-status { (job.status.as_str()) } }
            @if let Some(p) = &p {
                @if running && p.items_total > 0 {
                    label { "Items " (p.items_done) " of " (p.items_total) progress max=(p.items_total) value=(p.items_done) {} }
                }
                p.meta { (p.phase) " · " (p.synced) " synced · " (p.unchanged) " unchanged · " (p.failed) " failed" }
            }
            @if let Some(e) = &job.error { div.error-box role="alert" { (e) } }
            @if let Some(r) = &r {
                div.stats {
                    div.stat { b { (r.items_found) } span { "found" } }
                    div.stat { b { (r.synced) } span { "synced" } }
                    div.stat { b { (r.unchanged) } span { "unchanged" } }
                    div.stat { b { (r.removed) } span { "removed" } }
                    div.stat { b { (r.failed_total) } span { "failed" } }
                }
                @if !r.failed.is_empty() {
                    details open { summary { "Not brought in (" (r.failed_total) ")" }
                        ul { @for f in &r.failed { li { code { (f.item) } " — " (f.message) } } } }
                }
            }
            div.actions {
                @if running {
                    form.inline method="post" action={"/jobs/" (job.job_id) "/cancel"} {
                        (csrf_field(web)) button.danger type="submit" { "Cancel" }
                    }
                } @else if let Some(project) = job.project_id {
                    a.button href={"/projects/" (project)} { "See the project's context" }
                }
            }
        }
    }
}
