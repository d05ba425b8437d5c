//! Jira stories in the browser: the drafts of one's projects and a form to draft one from
//! requirements; a draft's page with the story, the contexts it was made from, its history,
//! the quality check (run on request: it may ask the language model), a form to refine it by
//! instructions or by editing it, and the button that creates it in Jira. The same story
//! service as `/api/v1/ai/stories` and the `draft_jira_story` / `create_jira_story` tools.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use tc_domain::pagination::PageParams;
use tc_domain::views::{
    CreateStoryRequest, DraftStoryRequest, RefineStoryRequest, StoryDraftView, StoryEdits,
    StoryQuery, StoryValidationView,
};
use tc_domain::{DomainError, WebCaller};

use super::layout::{
    Chrome, Nav, csrf_field, error_page, form_error, notice, page_with_status, status_of, trusted,
    when,
};
use super::session::Web;
use super::{blank_to_none, path_id};
use crate::state::AppState;

const FORMATS: [(&str, &str); 4] =
    [("story", "Story"), ("task", "Task"), ("bug", "Bug"), ("subtask", "Sub-task")];

fn draft_not_found() -> DomainError {
    DomainError::not_found("story draft")
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    project: Option<String>,
    done: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DraftForm {
    project_id: Option<String>,
    requirements: Option<String>,
    format: Option<String>,
    jira_project_key: Option<String>,
    parent_key: Option<String>,
}

/// `GET /stories`
pub async fn list(
    State(state): State<AppState>,
    Web(web): Web,
    Query(q): Query<ListQuery>,
) -> Response {
    list_page(&state, &web, &q, None, &DraftForm::default()).await
}

async fn list_page(
    state: &AppState,
    web: &WebCaller,
    q: &ListQuery,
    error: Option<&DomainError>,
    form: &DraftForm,
) -> Response {
    let project = q.project.clone().filter(|p| !p.is_empty());
    let query = StoryQuery { project_id: project.clone() };
    let page = PageParams { limit: Some(100), cursor: None };
    let drafts = match state.services.list_stories(&web.caller, &query, &page).await {
        Ok(d) => d.items,
        Err(e) => return error_page(Some(web), e),
    };
    let projects = super::my_projects(state, web).await;
    let names: HashMap<uuid::Uuid, String> =
        projects.iter().map(|p| (p.id, p.name.clone())).collect();
    let chosen = form.project_id.as_deref().or(project.as_deref());
    let body = html! {
        h1 { "Jira stories" }
        p.lede { "Describe what is wanted; the draft is written from your project's own context (code, decisions, Jira issues) and cites it. Check it against the story quality rules, refine it, then create it in Jira through your connection." }
        (notice(q.done.as_deref()))
        section.panel aria-labelledby="draft" {
            h2 #draft { "Draft a story" }
            @if let Some(e) = error { (form_error(e)) }
            @if projects.is_empty() {
                p { "Create a project first: a draft is made from a project's context." }
            } @else {
                form.stack method="post" action="/stories" {
                    (csrf_field(web))
                    label { "Requirements" span.hint { "In your words; a “As a …, I want …, so that …” first sentence is kept as the story." }
                        textarea name="requirements" rows="5" required { (form.requirements.as_deref().unwrap_or_default()) } }
                    div.row {
                        label { "Project" select name="project_id" {
                            @for p in &projects { option value=(p.id) selected[chosen == Some(&p.id.to_string())] { (p.name) } }
                        } }
                        label { "Kind" select name="format" {
                            @for (value, label) in FORMATS { option value=(value) selected[form.format.as_deref().unwrap_or("story") == value] { (label) } }
                        } }
                        label { "Jira project" span.hint { "Key, such as OPS." } input type="text" name="jira_project_key" maxlength="255" value=(form.jira_project_key.as_deref().unwrap_or_default()); }
                        label { "Parent" span.hint { "For a sub-task." } input type="text" name="parent_key" maxlength="100" value=(form.parent_key.as_deref().unwrap_or_default()); }
                    }
                    button type="submit" { "Draft it" }
                }
            }
        }
        section aria-labelledby="drafts" {
            h2 #drafts { "Drafts" }
            @if drafts.is_empty() {
                div.empty.panel { strong { "No drafts yet" } "Draft one above, or ask an assistant to call draft_jira_story." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th scope="col" { "Story" } th scope="col" { "Project" } th scope="col" { "State" } th scope="col" { "Changed" } } }
                    tbody { @for d in &drafts { tr {
                        td { a href={"/stories/" (d.id)} { (d.story.summary) } }
                        td { (names.get(&d.project_id).map(String::as_str).unwrap_or("—")) }
                        td { (state_label(d)) }
                        td { (when(d.updated_at)) }
                    } } }
                } }
            }
        }
    };
    let status = error.map_or(StatusCode::OK, status_of);
    page_with_status(status, Chrome::signed_in(web, Nav::Stories), "Jira stories", body)
}

fn state_label(d: &StoryDraftView) -> Markup {
    html! {
        @match &d.jira {
            Some(j) => { "created as " a href=(j.url) rel="noopener noreferrer" { (j.key) } }
            None if d.status == "creating" => { "being created" }
            None => { "draft, revision " (d.revision) }
        }
    }
}

/// `POST /stories`
pub async fn draft(
    State(state): State<AppState>,
    Web(web): Web,
    Form(form): Form<DraftForm>,
) -> Response {
    let project_id =
        match blank_to_none(form.project_id.as_deref()).map(|p| uuid::Uuid::parse_str(&p)) {
            None => None,
            Some(Ok(id)) => Some(id),
            Some(Err(_)) => return error_page(Some(&web), DomainError::project_not_found()),
        };
    let req = DraftStoryRequest {
        project_id,
        requirements: form.requirements.clone(),
        format: blank_to_none(form.format.as_deref()),
        jira_project_key: blank_to_none(form.jira_project_key.as_deref()),
        parent_key: blank_to_none(form.parent_key.as_deref()),
        task_id: None,
    };
    if let Err(e) = state.limits.check_search(web.caller.user_id).await {
        return error_page(Some(&web), e.0);
    }
    match state.services.draft_story(&web.caller, req).await {
        Ok(d) => Redirect::to(&format!("/stories/{}?done=story-drafted", d.id)).into_response(),
        Err(e) => list_page(&state, &web, &ListQuery::default(), Some(&e), &form).await,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

/// `GET /stories/{id}`
pub async fn show(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Response {
    story_page(&state, &web, &raw, q.done.as_deref(), None, None).await
}

async fn story_page(
    state: &AppState,
    web: &WebCaller,
    raw: &str,
    done: Option<&str>,
    error: Option<&DomainError>,
    check: Option<&StoryValidationView>,
) -> Response {
    let Some(id) = path_id(raw) else { return error_page(Some(web), draft_not_found()) };
    let d = match state.services.get_story(&web.caller, id).await {
        Ok(d) => d,
        Err(e) => return error_page(Some(web), e),
    };
    let s = &d.story;
    let open = d.status == "draft";
    let body = html! {
        p.crumbs { a href="/stories" { "Jira stories" } " / " (FORMATS.iter().find(|f| f.0 == s.format).map_or("Story", |f| f.1)) }
        h1 { (s.summary) }
        (notice(done))
        @if let Some(e) = error { (form_error(e)) }
        @if let Some(why) = &d.last_error { @if open { div.error-box role="alert" { p { "The last create failed: " (why) } } } }
        p.meta {
            (state_label(&d))
            " · " @match d.mode.as_str() {
                "llm" => { "written by " (d.llm) }
                "edit" => { "edited by hand" }
                _ => { "from the template (no language model)" }
            }
            @if let Some(key) = &d.jira_project_key { " · Jira project " (key) }
            @if let Some(p) = &d.parent_key { " · parent " (p) }
        }
        @if let Some(note) = &d.note { div.notice role="status" { (note) } }
        @if let Some(why) = &d.fallback_reason { p.hint { "The language model did not write this revision: " (why) } }
        div.prose { (trusted(super::contexts::render_markdown(&s.description))) }
        @if !s.acceptance_criteria.is_empty() {
            h2 { "Acceptance criteria" }
            ol { @for c in &s.acceptance_criteria { li { (c) } } }
        }
        p { @for l in &s.labels { span.tag { (l) } " " } @if let Some(e) = s.estimate { span.meta { (super::count(e, "point")) } } }
        @if let Some(check) = check { (findings(check)) }
        div.actions {
            form.inline method="post" action={"/stories/" (d.id) "/validate"} {
                (csrf_field(web))
                button.secondary type="submit" { "Check it" }
            }
        }
        @if open {
            section.panel aria-labelledby="create" {
                h2 #create { "Create in Jira" }
                p.hint { "Through your own Jira connection; required fields your project adds are named if missing. Never created twice." }
                form.row method="post" action={"/stories/" (d.id) "/create"} {
                    (csrf_field(web))
                    label { "Jira project" input type="text" name="jira_project_key" maxlength="255" value=(d.jira_project_key.as_deref().unwrap_or_default()) required; }
                    div.shrink { button type="submit" { "Create the issue" } }
                }
            }
            section.panel aria-labelledby="refine" {
                h2 #refine { "Refine" }
                form.stack method="post" action={"/stories/" (d.id) "/refine"} {
                    (csrf_field(web))
                    label { "Instructions" span.hint { "For the language model; without one, the fixes the rules can make are applied." }
                        textarea name="instructions" rows="2" {} }
                    details {
                        summary { "Or edit it yourself" }
                        label { "Summary" input type="text" name="summary" maxlength="255" value=(s.summary); }
                        label { "Description" span.hint { "Markdown." } textarea name="description" rows="8" { (s.description) } }
                        label { "Acceptance criteria" span.hint { "One per line." } textarea name="acceptance_criteria" rows="4" { (s.acceptance_criteria.join("\n")) } }
                        div.row {
                            label { "Labels" span.hint { "Separated by commas." } input type="text" name="labels" value=(s.labels.join(", ")); }
                            label { "Estimate" input type="number" name="estimate" min="0" max="100" value=(s.estimate.map(|e| e.to_string()).unwrap_or_default()); }
                        }
                    }
                    button type="submit" { "Refine" }
                }
            }
        }
        @if !d.sources.is_empty() {
            h2 { "Made from" }
            ol.sources { @for src in &d.sources { li { a href={"/contexts/" (src.context_id)} { (src.title) } " " span.meta { (src.source) } } } }
        }
        h2 { "History" }
        ol { @for r in d.revisions.iter().rev() { li {
            "Revision " (r.revision) ", " (r.kind) " (" (r.mode) "), " (when(r.at))
            @if let Some(i) = &r.instructions { ": “" (i) "”" }
        } } }
        @if d.status != "creating" {
            form method="post" action={"/stories/" (d.id) "/delete"} data-confirm="Delete this draft? An issue created from it stays in Jira." {
                (csrf_field(web))
                button.danger type="submit" { "Delete the draft" }
            }
        }
    };
    let status = error.map_or(StatusCode::OK, status_of);
    page_with_status(status, Chrome::signed_in(web, Nav::Stories), &s.summary, body)
}

fn findings(v: &StoryValidationView) -> Markup {
    html! {
        section.panel aria-labelledby="check" {
            h2 #check { @if v.passed { "No errors" } @else { (super::count(v.errors, "error")) } ", " (super::count(v.warnings, "warning")) }
            @if v.findings.is_empty() { p { "Every rule that ran is met." } }
            ul.results { @for f in &v.findings { li {
                h3 { span.tag { (f.severity) } " " (f.rule.replace('_', " ")) ": " (f.message) }
                @if let Some(x) = &f.excerpt { p.snippet { "“" (x) "”" } }
                p { (f.suggestion) }
            } } }
            p.meta { "Checked: " (v.checked.join(", ").replace('_', " ")) "." }
            @if !v.skipped.is_empty() {
                p.meta { "Not checked: " @for (i, s) in v.skipped.iter().enumerate() { @if i > 0 { ", " } (s.rule.replace('_', " ")) } " (" (v.skipped[0].reason) ")." }
            }
        }
    }
}

/// `POST /stories/{id}/validate`: the page with the findings (nothing is stored).
pub async fn validate(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
) -> Response {
    let Some(id) = path_id(&raw) else { return error_page(Some(&web), draft_not_found()) };
    if let Err(e) = state.limits.check_search(web.caller.user_id).await {
        return error_page(Some(&web), e.0);
    }
    match state.services.validate_story(&web.caller, id).await {
        Ok(v) => story_page(&state, &web, &raw, None, None, Some(&v)).await,
        Err(e) if e.code == tc_domain::ErrorCode::ResourceNotFound => error_page(Some(&web), e),
        Err(e) => story_page(&state, &web, &raw, None, Some(&e), None).await,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct RefineForm {
    instructions: Option<String>,
    summary: Option<String>,
    description: Option<String>,
    acceptance_criteria: Option<String>,
    labels: Option<String>,
    estimate: Option<String>,
}

/// `POST /stories/{id}/refine`: the edits that differ from the story, then the instructions.
pub async fn refine(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
    Form(form): Form<RefineForm>,
) -> Response {
    let Some(id) = path_id(&raw) else { return error_page(Some(&web), draft_not_found()) };
    let current = match state.services.get_story(&web.caller, id).await {
        Ok(d) => d.story,
        Err(e) => return error_page(Some(&web), e),
    };
    let criteria: Option<Vec<String>> = form
        .acceptance_criteria
        .as_deref()
        .map(|c| c.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect());
    let labels: Option<Vec<String>> = form
        .labels
        .as_deref()
        .map(|l| l.split(',').map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect());
    let estimate = match blank_to_none(form.estimate.as_deref()).map(|e| e.parse::<u32>()) {
        None => None,
        Some(Ok(e)) => Some(e),
        Some(Err(_)) => {
            let e = DomainError::validation("estimate", "the estimate is a whole number of points");
            return story_page(&state, &web, &raw, None, Some(&e), None).await;
        }
    };
    let edits = StoryEdits {
        summary: form.summary.filter(|v| *v != current.summary),
        description: form
            .description
            .map(|v| v.replace("\r\n", "\n"))
            .filter(|v| *v != current.description),
        acceptance_criteria: criteria.filter(|v| *v != current.acceptance_criteria),
        labels: labels.filter(|v| *v != current.labels),
        estimate: estimate.filter(|e| Some(*e) != current.estimate),
    };
    let changed = edits.summary.is_some()
        || edits.description.is_some()
        || edits.acceptance_criteria.is_some()
        || edits.labels.is_some()
        || edits.estimate.is_some();
    let req = RefineStoryRequest {
        instructions: blank_to_none(form.instructions.as_deref()),
        story: changed.then_some(edits),
    };
    if let Err(e) = state.limits.check_search(web.caller.user_id).await {
        return error_page(Some(&web), e.0);
    }
    match state.services.refine_story(&web.caller, id, req).await {
        Ok(_) => Redirect::to(&format!("/stories/{id}?done=story-refined")).into_response(),
        Err(e) if e.code == tc_domain::ErrorCode::ResourceNotFound => error_page(Some(&web), e),
        Err(e) => story_page(&state, &web, &raw, None, Some(&e), None).await,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct CreateForm {
    jira_project_key: Option<String>,
}

/// `POST /stories/{id}/create`
pub async fn create(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
    Form(form): Form<CreateForm>,
) -> Response {
    let Some(id) = path_id(&raw) else { return error_page(Some(&web), draft_not_found()) };
    let req = CreateStoryRequest {
        jira_project_key: blank_to_none(form.jira_project_key.as_deref()),
        ..CreateStoryRequest::default()
    };
    match state.services.create_story(&web.caller, id, req).await {
        Ok(_) => Redirect::to(&format!("/stories/{id}?done=story-created")).into_response(),
        Err(e) if e.code == tc_domain::ErrorCode::ResourceNotFound => error_page(Some(&web), e),
        Err(e) => story_page(&state, &web, &raw, None, Some(&e), None).await,
    }
}

/// `POST /stories/{id}/delete`
pub async fn delete(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
) -> Response {
    let Some(id) = path_id(&raw) else { return error_page(Some(&web), draft_not_found()) };
    match state.services.delete_story(&web.caller, id).await {
        Ok(()) => Redirect::to("/stories?done=story-deleted").into_response(),
        Err(e) => error_page(Some(&web), e),
    }
}
