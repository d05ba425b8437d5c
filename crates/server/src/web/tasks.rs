//! The team's tasks as a board: three columns (to do, in progress, done), a card per task with
//! its priority, due date, assignee and tags, buttons that move it (plain forms, so the board
//! works by keyboard and without script), a form to add one, and a page to edit or delete one.
//! The same task service as `/api/v1/tasks` and the `todo_*` MCP tools.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use tc_domain::pagination::PageParams;
use tc_domain::views::{CreateTaskRequest, MemberView, TaskQuery, TaskView, UpdateTaskRequest};
use tc_domain::{DomainError, WebCaller};

use super::layout::{
    Chrome, Nav, csrf_field, error_page, form_error, notice, page_with_status, status_of,
};
use super::session::Web;
use super::{blank_to_none, path_id};
use crate::state::AppState;

const COLUMNS: [(&str, &str); 3] =
    [("todo", "To do"), ("in_progress", "In progress"), ("done", "Done")];
const PRIORITIES: [&str; 3] = ["low", "medium", "high"];

fn task_not_found() -> DomainError {
    DomainError::not_found("task")
}

#[derive(Debug, Default, Deserialize)]
pub struct BoardQuery {
    project: Option<String>,
    done: Option<String>,
}

/// `GET /tasks`
pub async fn board(
    State(state): State<AppState>,
    Web(web): Web,
    Query(q): Query<BoardQuery>,
) -> Response {
    board_page(&state, &web, &q, None, &TaskForm::default()).await
}

async fn board_page(
    state: &AppState,
    web: &WebCaller,
    q: &BoardQuery,
    error: Option<&DomainError>,
    form: &TaskForm,
) -> Response {
    let s = &state.services;
    let project = q.project.clone().filter(|p| !p.is_empty());
    let query = TaskQuery { project_id: project.clone(), ..TaskQuery::default() };
    let tasks = match s
        .list_tasks(&web.caller, &query, &PageParams { limit: Some(100), cursor: None })
        .await
    {
        Ok(t) => t.items,
        Err(e) => return error_page(Some(web), e),
    };
    let projects = super::my_projects(state, web).await;
    let names: HashMap<uuid::Uuid, String> =
        projects.iter().map(|p| (p.id, p.name.clone())).collect();
    let people = people_of(state, web, &tasks).await;
    let here = match &project {
        Some(p) => format!("/tasks?project={p}"),
        None => "/tasks".to_string(),
    };
    let body = html! {
        h1 { "Tasks" }
        (notice(q.done.as_deref()))
        form.row.panel method="get" action="/tasks" aria-label="Which tasks" {
            label { "Project" select name="project" {
                option value="" { "All my projects and my own tasks" }
                @for p in &projects { option value=(p.id) selected[project.as_deref() == Some(&p.id.to_string())] { (p.name) } }
            } }
            div.shrink { button type="submit" { "Show" } }
        }
        @if tasks.is_empty() {
            div.empty.panel { strong { "No tasks yet" } "Add one below, or ask an assistant: “remind me to rotate the Stripe keys on Friday” becomes a task." }
        }
        div.board {
            @for (status, label) in COLUMNS {
                @let column: Vec<&TaskView> = tasks.iter().filter(|t| t.status == status).collect();
                section.column aria-labelledby={"col-" (status)} {
                    h2 #{"col-" (status)} { (label) " " span.meta { "(" (column.len()) ")" } }
                    ul.cards {
                        @for t in &column { li { (card(web, t, &names, &people, &here)) } }
                    }
                }
            }
        }
        section.panel aria-labelledby="add" {
            h2 #add { "Add a task" }
            @if let Some(e) = error { (form_error(e)) }
            form.stack method="post" action="/tasks" {
                (csrf_field(web))
                input type="hidden" name="back" value=(here);
                label { "Title" input type="text" name="title" maxlength="200" value=(form.title.as_deref().unwrap_or_default()) required; }
                label { "Description" span.hint { "Markdown." } textarea name="description" { (form.description.as_deref().unwrap_or_default()) } }
                div.row {
                    label { "Project" select name="project_id" {
                        option value="" { "None: just for me" }
                        @for p in &projects { option value=(p.id) selected[form.project_id.as_deref().or(project.as_deref()) == Some(&p.id.to_string())] { (p.name) } }
                    } }
                    label { "Priority" select name="priority" {
                        @for p in PRIORITIES { option value=(p) selected[form.priority.as_deref().unwrap_or("medium") == p] { (p) } }
                    } }
                    label { "Due" input type="date" name="due_date" value=(form.due_date.as_deref().unwrap_or_default()); }
                }
                label { "Tags" span.hint { "Separated by commas." } input type="text" name="tags" value=(form.tags.as_deref().unwrap_or_default()); }
                button type="submit" { "Add the task" }
            }
        }
    };
    let status = error.map_or(StatusCode::OK, status_of);
    page_with_status(status, Chrome::signed_in(web, Nav::Tasks), "Tasks", body)
}

/// The members of the tasks' projects, by user id, to name assignees.
async fn people_of(
    state: &AppState,
    web: &WebCaller,
    tasks: &[TaskView],
) -> HashMap<uuid::Uuid, String> {
    let mut projects: Vec<uuid::Uuid> = tasks.iter().filter_map(|t| t.project_id).collect();
    projects.sort_unstable();
    projects.dedup();
    let mut people = HashMap::new();
    for p in projects {
        for m in state.services.list_contributors(&web.caller, p).await.unwrap_or_default() {
            people.insert(m.user_id, m.name);
        }
    }
    people
}

fn card(
    web: &WebCaller,
    t: &TaskView,
    names: &HashMap<uuid::Uuid, String>,
    people: &HashMap<uuid::Uuid, String>,
    back: &str,
) -> Markup {
    let index = COLUMNS.iter().position(|(s, _)| *s == t.status).unwrap_or(0);
    let moves: Vec<(&str, String)> = [
        index.checked_sub(1).map(|i| (COLUMNS[i].0, format!("← {}", COLUMNS[i].1))),
        COLUMNS.get(index + 1).map(|(s, l)| (*s, format!("{l} →"))),
    ]
    .into_iter()
    .flatten()
    .collect();
    html! {
        article.card.task aria-labelledby={"task-" (t.id)} {
            h3 #{"task-" (t.id)} { a href={"/tasks/" (t.id)} { (t.title) } }
            p.meta {
                span.tag { (t.priority) " priority" }
                @if let Some(due) = t.due_date { " due " (due) }
            }
            p.meta {
                @match t.project_id.and_then(|p| names.get(&p)) { Some(name) => (name), None => "personal" }
                @if let Some(a) = t.assignee_id.and_then(|a| people.get(&a)) { " · " (a) }
            }
            @if !t.tags.is_empty() { p { @for tag in &t.tags { span.tag { (tag) } } } }
            @if !t.jira_keys.is_empty() { p.meta { (t.jira_keys.join(", ")) } }
            div.actions {
                @for (status, label) in &moves {
                    form.inline method="post" action={"/tasks/" (t.id) "/move"} {
                        (csrf_field(web))
                        input type="hidden" name="status" value=(status);
                        input type="hidden" name="back" value=(back);
                        button.secondary type="submit" aria-label={"Move “" (t.title) "” to " (label.trim_matches(|c| c == '←' || c == '→' || c == ' '))} { (label) }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct TaskForm {
    title: Option<String>,
    description: Option<String>,
    project_id: Option<String>,
    status: Option<String>,
    priority: Option<String>,
    assignee_id: Option<String>,
    due_date: Option<String>,
    tags: Option<String>,
    back: Option<String>,
}

fn tags(raw: Option<&str>) -> Vec<String> {
    raw.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

/// `/tasks?…` pages only: where to go back to after a change.
fn back_to(back: Option<&str>) -> String {
    match back {
        Some(b) if b.starts_with("/tasks") && !b.starts_with("//") => b.to_string(),
        _ => "/tasks".to_string(),
    }
}

fn with_done(back: &str, done: &str) -> String {
    let sep = if back.contains('?') { '&' } else { '?' };
    format!("{back}{sep}done={done}")
}

/// `POST /tasks`
pub async fn create(
    State(state): State<AppState>,
    Web(web): Web,
    Form(form): Form<TaskForm>,
) -> Response {
    let project_id =
        match blank_to_none(form.project_id.as_deref()).map(|p| uuid::Uuid::parse_str(&p)) {
            None => None,
            Some(Ok(id)) => Some(id),
            Some(Err(_)) => return error_page(Some(&web), DomainError::project_not_found()),
        };
    let req = CreateTaskRequest {
        title: form.title.clone(),
        description: form.description.clone(),
        project_id,
        status: None,
        priority: blank_to_none(form.priority.as_deref()),
        assignee_id: None,
        due_date: blank_to_none(form.due_date.as_deref()),
        tags: Some(tags(form.tags.as_deref())),
        context_ids: None,
        jira_keys: None,
    };
    let back = back_to(form.back.as_deref());
    match state.services.create_task(&web.caller, req).await {
        Ok(_) => Redirect::to(&with_done(&back, "task-added")).into_response(),
        Err(e) => {
            let project = back.split("project=").nth(1).map(String::from);
            board_page(&state, &web, &BoardQuery { project, done: None }, Some(&e), &form).await
        }
    }
}

/// `POST /tasks/{id}/move`
pub async fn move_to(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
    Form(form): Form<TaskForm>,
) -> Response {
    let Some(id) = path_id(&raw) else { return error_page(Some(&web), task_not_found()) };
    let req = UpdateTaskRequest { status: form.status.clone(), ..UpdateTaskRequest::default() };
    match state.services.update_task(&web.caller, id, req).await {
        Ok(_) => Redirect::to(&back_to(form.back.as_deref())).into_response(),
        Err(e) => error_page(Some(&web), e),
    }
}

/// `GET /tasks/{id}`
pub async fn edit(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
    Query(q): Query<BoardQuery>,
) -> Response {
    edit_page(&state, &web, &raw, q.done.as_deref(), None).await
}

async fn edit_page(
    state: &AppState,
    web: &WebCaller,
    raw: &str,
    done: Option<&str>,
    error: Option<&DomainError>,
) -> Response {
    let Some(id) = path_id(raw) else { return error_page(Some(web), task_not_found()) };
    let t = match state.services.get_task(&web.caller, id).await {
        Ok(t) => t,
        Err(e) => return error_page(Some(web), e),
    };
    let members: Vec<MemberView> = match t.project_id {
        Some(p) => state.services.list_contributors(&web.caller, p).await.unwrap_or_default(),
        None => Vec::new(),
    };
    let body = html! {
        p.crumbs { a href="/tasks" { "Tasks" } " / " (t.title) }
        h1 { (t.title) }
        (notice(done))
        @if let Some(e) = error { (form_error(e)) }
        div.prose { (super::layout::trusted(super::contexts::render_markdown(&t.description))) }
        section.panel aria-labelledby="edit" {
            h2 #edit { "Edit" }
            form.stack method="post" action={"/tasks/" (t.id)} {
                (csrf_field(web))
                label { "Title" input type="text" name="title" maxlength="200" value=(t.title) required; }
                label { "Description" textarea name="description" { (t.description) } }
                div.row {
                    label { "Status" select name="status" {
                        @for (s, l) in COLUMNS { option value=(s) selected[t.status == s] { (l) } }
                    } }
                    label { "Priority" select name="priority" {
                        @for p in PRIORITIES { option value=(p) selected[t.priority == p] { (p) } }
                    } }
                    label { "Due" input type="date" name="due_date" value=(t.due_date.map(|d| d.to_string()).unwrap_or_default()); }
                    @if t.project_id.is_some() {
                        label { "Assignee" select name="assignee_id" {
                            option value="" { "Nobody" }
                            @for m in &members { option value=(m.user_id) selected[t.assignee_id == Some(m.user_id)] { (m.name) } }
                        } }
                    }
                }
                label { "Tags" span.hint { "Separated by commas." } input type="text" name="tags" value=(t.tags.join(", ")); }
                button type="submit" { "Save" }
            }
        }
        form method="post" action={"/tasks/" (t.id) "/delete"} data-confirm="Delete this task?" {
            (csrf_field(web))
            button.danger type="submit" { "Delete the task" }
        }
    };
    let status = error.map_or(StatusCode::OK, status_of);
    page_with_status(status, Chrome::signed_in(web, Nav::Tasks), &t.title, body)
}

/// `POST /tasks/{id}`
pub async fn update(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
    Form(form): Form<TaskForm>,
) -> Response {
    let Some(id) = path_id(&raw) else { return error_page(Some(&web), task_not_found()) };
    let assignee = match form.assignee_id.as_deref() {
        None => None,
        Some("") => Some(None),
        Some(a) => match uuid::Uuid::parse_str(a) {
            Ok(a) => Some(Some(a)),
            Err(_) => {
                return edit_page(
                    &state,
                    &web,
                    &raw,
                    None,
                    Some(&DomainError::validation("assignee_id", "no such member")),
                )
                .await;
            }
        },
    };
    let req = UpdateTaskRequest {
        title: form.title,
        description: form.description,
        status: form.status,
        priority: form.priority,
        assignee_id: assignee,
        due_date: form.due_date.map(|d| blank_to_none(Some(&d))),
        tags: Some(tags(form.tags.as_deref())),
        context_ids: None,
        jira_keys: None,
    };
    match state.services.update_task(&web.caller, id, req).await {
        Ok(_) => Redirect::to(&format!("/tasks/{id}?done=task-saved")).into_response(),
        Err(e) if e.code == tc_domain::ErrorCode::ResourceNotFound => error_page(Some(&web), e),
        Err(e) => edit_page(&state, &web, &raw, None, Some(&e)).await,
    }
}

/// `POST /tasks/{id}/delete`
pub async fn delete(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
) -> Response {
    let Some(id) = path_id(&raw) else { return error_page(Some(&web), task_not_found()) };
    match state.services.delete_task(&web.caller, id).await {
        Ok(()) => Redirect::to("/tasks?done=task-deleted").into_response(),
        Err(e) => error_page(Some(&web), e),
    }
}
