//! Projects: the list (with invitations waiting for the user, and the owner's deleted projects
//! to restore), creating one, its settings page (name, description, visibility, delete) and
//! its people (contributors, invitations by email, removal).

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use tc_domain::pagination::PageParams;
use tc_domain::views::{
    AddContributorRequest, CreateProjectRequest, ProjectView, UpdateProjectRequest,
};
use tc_domain::{DomainError, WebCaller};
use tc_store::{Role, Visibility};

use super::account::DoneQuery;
use super::layout::{
    Chrome, Nav, csrf_field, error_page, form_error, notice, page_with_status, status_of, when,
};
use super::path_id;
use super::session::Web;
use crate::state::AppState;

const ALL: PageParams = PageParams { limit: Some(100), cursor: None };

/// `GET /projects` (and `/`)
pub async fn list(
    State(state): State<AppState>,
    Web(web): Web,
    Query(q): Query<DoneQuery>,
) -> Response {
    list_page(&state, &web, q.done.as_deref(), None, &CreateForm::default()).await
}

async fn list_page(
    state: &AppState,
    web: &WebCaller,
    done: Option<&str>,
    error: Option<&DomainError>,
    form: &CreateForm,
) -> Response {
    let s = &state.services;
    let projects = match s.list_projects(&web.caller, false, &ALL).await {
        Ok(p) => p.items,
        Err(e) => return error_page(Some(web), e),
    };
    let deleted =
        s.list_projects(&web.caller, true, &ALL).await.map(|p| p.items).unwrap_or_default();
    let invitations = s.my_invitations(&web.caller).await.unwrap_or_default();
    let body = html! {
        h1 { "Projects" }
        (notice(done))
        @if !invitations.is_empty() {
            section.panel aria-labelledby="inv" {
                h2 #inv { "Invitations" }
                ul.results {
                    @for inv in &invitations {
                        li {
                            strong { (inv.project_name) }
                            @if let Some(by) = &inv.invited_by { " — from " (by.name) }
                            div.actions {
                                form.inline method="post" action={"/invitations/" (inv.id) "/accept"} {
                                    (csrf_field(web)) button type="submit" { "Join " (inv.project_name) }
                                }
                                form.inline method="post" action={"/invitations/" (inv.id) "/decline"} {
                                    (csrf_field(web)) button.secondary type="submit" { "Decline" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if projects.is_empty() {
            div.empty.panel {
                strong { "No projects yet" }
                "A project holds one team's or one codebase's context. Create one below, then save a note or scan a repository into it."
            }
        } @else {
            div.grid {
                @for p in &projects {
                    a.card href={"/projects/" (p.id)} {
                        h2 { (p.name) }
                        @if !p.description.is_empty() { p { (truncate(&p.description, 140)) } }
                        p.meta { (role_label(p)) " · " (visibility_label(p.visibility)) }
                    }
                }
            }
        }
        section.panel aria-labelledby="create" {
            h2 #create { "Create a project" }
            @if let Some(e) = error { (form_error(e)) }
            form.stack method="post" action="/projects" {
                (csrf_field(web))
                label { "Name" input type="text" name="name" maxlength="200" value=(form.name.as_deref().unwrap_or_default()) required; }
                label { "Description" span.hint { "What this project is about: assistants use it to pick the project when none is named." }
                    textarea name="description" maxlength="10000" { (form.description.as_deref().unwrap_or_default()) } }
                label { "Visibility"
                    select name="visibility" {
                        option value="private" { "Private: you and the contributors you invite" }
                        option value="team" selected[form.visibility.as_deref() == Some("team")] { "Team: every user of this server may read it" }
                    }
                }
                button type="submit" { "Create the project" }
            }
        }
        @if !deleted.is_empty() {
            section aria-labelledby="bin" {
                h2 #bin { "Deleted projects" }
                p.meta { "You can restore these for 30 days after deletion." }
                ul.results {
                    @for p in &deleted {
                        li {
                            strong { (p.name) }
                            @if let Some(at) = p.deleted_at { span.meta { " deleted " (when(at)) } }
                            form.inline method="post" action={"/projects/" (p.id) "/restore"} {
                                (csrf_field(web)) " " button.secondary type="submit" { "Restore" }
                            }
                        }
                    }
                }
            }
        }
    };
    let status = error.map_or(StatusCode::OK, status_of);
    page_with_status(status, Chrome::signed_in(web, Nav::Projects), "Projects", body)
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

fn role_label(p: &ProjectView) -> &'static str {
    match p.role {
        Some(Role::Owner) => "owner",
        Some(Role::Contributor) => "contributor",
        None => "reader",
    }
}

fn visibility_label(v: Visibility) -> &'static str {
    match v {
        Visibility::Private => "private",
        Visibility::Team => "team",
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct CreateForm {
    name: Option<String>,
    description: Option<String>,
    visibility: Option<String>,
}

/// `POST /projects`
pub async fn create(
    State(state): State<AppState>,
    Web(web): Web,
    Form(form): Form<CreateForm>,
) -> Response {
    let req = CreateProjectRequest {
        name: form.name.clone(),
        description: form.description.clone(),
        visibility: form.visibility.clone(),
        settings: None,
    };
    match state.services.create_project(&web.caller, req).await {
        Ok(p) => Redirect::to(&format!("/projects/{}?done=project-created", p.id)).into_response(),
        Err(e) => list_page(&state, &web, None, Some(&e), &form).await,
    }
}

/// `GET /projects/{id}/settings`
pub async fn settings(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Response {
    settings_page(&state, &web, &raw, q.done.as_deref(), None).await
}

async fn settings_page(
    state: &AppState,
    web: &WebCaller,
    raw: &str,
    done: Option<&str>,
    error: Option<&DomainError>,
) -> Response {
    let Some(id) = path_id(raw) else {
        return error_page(Some(web), DomainError::project_not_found());
    };
    let s = &state.services;
    let project = match s.get_project(&web.caller, id).await {
        Ok(p) => p,
        Err(e) => return error_page(Some(web), e),
    };
    let members = s.list_contributors(&web.caller, id).await.unwrap_or_default();
    let owner = project.role == Some(Role::Owner);
    let invitations = if owner {
        s.list_project_invitations(&web.caller, id).await.unwrap_or_default()
    } else {
        Vec::new()
    };
    let base = format!("/projects/{id}");
    let body = html! {
        p.crumbs { a href="/projects" { "Projects" } " / " a href=(base) { (project.name) } }
        h1 { "Settings of " (project.name) }
        (notice(done))
        @if let Some(e) = error { (form_error(e)) }
        @if owner {
            section.panel aria-labelledby="about" {
                h2 #about { "About" }
                form.stack method="post" action={(base) "/settings"} {
                    (csrf_field(web))
                    label { "Name" input type="text" name="name" maxlength="200" value=(project.name) required; }
                    label { "Description" textarea name="description" maxlength="10000" { (project.description) } }
                    label { "Visibility"
                        select name="visibility" {
                            option value="private" selected[project.visibility == Visibility::Private] { "Private: you and the contributors you invite" }
                            option value="team" selected[project.visibility == Visibility::Team] { "Team: every user of this server may read it" }
                        }
                    }
                    button type="submit" { "Save" }
                }
            }
        }
        section.panel aria-labelledby="people" {
            h2 #people { "People" }
            div.table-wrap { table.stack-narrow {
                thead { tr { th { "Name" } th { "Email" } th { "Role" } th { span.visually-hidden { "Actions" } } } }
                tbody {
                    @for m in &members {
                        tr {
                            td { (m.name) }
                            td data-label="Email" { (m.email) }
                            td data-label="Role" { (if m.role == Role::Owner { "owner" } else { "contributor" }) }
                            td {
                                @if m.role != Role::Owner && (owner || m.user_id == web.caller.user_id) {
                                    form.inline method="post" action={(base) "/contributors/" (m.user_id) "/remove"}
                                        data-confirm=(if m.user_id == web.caller.user_id { "Leave this project?".to_string() } else { format!("Remove {} from this project?", m.name) }) {
                                        (csrf_field(web))
                                        button.danger type="submit" aria-label={"Remove " (m.name)} {
                                            (if m.user_id == web.caller.user_id { "Leave" } else { "Remove" })
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            } }
            @if owner {
                h2 { "Invite a contributor" }
                p.hint { "They see the invitation on their Projects page once they sign in with this address, and become a contributor when they accept." }
                form.row method="post" action={(base) "/contributors"} {
                    (csrf_field(web))
                    label { "Email" input type="email" name="email" required; }
                    div.shrink { button type="submit" { "Invite" } }
                }
                @if !invitations.is_empty() {
                    h2 { "Pending invitations" }
                    ul.results {
                        @for inv in &invitations {
                            li { (inv.email) span.meta { " invited " (when(inv.created_at)) }
                                form.inline method="post" action={(base) "/invitations/" (inv.id) "/revoke"} {
                                    (csrf_field(web)) " " button.link type="submit" { "Withdraw" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if owner {
            section.panel aria-labelledby="danger" {
                h2 #danger { "Delete this project" }
                p { "The project disappears for everyone at once. You can restore it from your Projects page for 30 days; after that it is gone for good." }
                form method="post" action={(base) "/delete"} data-confirm={"Delete " (project.name) "?"} {
                    (csrf_field(web))
                    button.danger type="submit" { "Delete the project" }
                }
            }
        }
    };
    let status = error.map_or(StatusCode::OK, status_of);
    page_with_status(
        status,
        Chrome::signed_in(web, Nav::Projects),
        &format!("Settings of {}", project.name),
        body,
    )
}

#[derive(Debug, Deserialize)]
pub struct UpdateForm {
    name: Option<String>,
    description: Option<String>,
    visibility: Option<String>,
}

/// `POST /projects/{id}/settings`
pub async fn update(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
    Form(form): Form<UpdateForm>,
) -> Response {
    let Some(id) = path_id(&raw) else {
        return error_page(Some(&web), DomainError::project_not_found());
    };
    let req = UpdateProjectRequest {
        name: form.name,
        description: form.description,
        visibility: form.visibility,
        settings: None,
    };
    match state.services.update_project(&web.caller, id, req).await {
        Ok(_) => {
            Redirect::to(&format!("/projects/{id}/settings?done=project-saved")).into_response()
        }
        Err(e) => settings_page(&state, &web, &raw, None, Some(&e)).await,
    }
}

/// `POST /projects/{id}/delete`
pub async fn delete(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
) -> Response {
    let Some(id) = path_id(&raw) else {
        return error_page(Some(&web), DomainError::project_not_found());
    };
    match state.services.delete_project(&web.caller, id).await {
        Ok(()) => Redirect::to("/projects?done=project-deleted").into_response(),
        Err(e) => error_page(Some(&web), e),
    }
}

/// `POST /projects/{id}/restore`
pub async fn restore(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
) -> Response {
    let Some(id) = path_id(&raw) else {
        return error_page(Some(&web), DomainError::project_not_found());
    };
    match state.services.restore_project(&web.caller, id).await {
        Ok(p) => Redirect::to(&format!("/projects/{}?done=project-restored", p.id)).into_response(),
        Err(e) => error_page(Some(&web), e),
    }
}

#[derive(Debug, Deserialize)]
pub struct InviteForm {
    email: Option<String>,
}

/// `POST /projects/{id}/contributors`
pub async fn invite(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
    Form(form): Form<InviteForm>,
) -> Response {
    let Some(id) = path_id(&raw) else {
        return error_page(Some(&web), DomainError::project_not_found());
    };
    let req = AddContributorRequest { email: form.email, user_id: None };
    match state.services.add_contributor(&web.caller, id, req).await {
        Ok(_) => {
            Redirect::to(&format!("/projects/{id}/settings?done=member-invited")).into_response()
        }
        Err(e) => settings_page(&state, &web, &raw, None, Some(&e)).await,
    }
}

/// `POST /projects/{id}/contributors/{user_id}/remove`
pub async fn remove(
    State(state): State<AppState>,
    Web(web): Web,
    Path((raw, raw_user)): Path<(String, String)>,
) -> Response {
    let (Some(id), Some(user_id)) = (path_id(&raw), path_id(&raw_user)) else {
        return error_page(Some(&web), DomainError::not_found("contributor"));
    };
    match state.services.remove_contributor(&web.caller, id, user_id).await {
        Ok(()) if user_id == web.caller.user_id => Redirect::to("/projects").into_response(),
        Ok(()) => {
            Redirect::to(&format!("/projects/{id}/settings?done=member-removed")).into_response()
        }
        Err(e) => error_page(Some(&web), e),
    }
}

/// `POST /projects/{id}/invitations/{invitation_id}/revoke`
pub async fn withdraw(
    State(state): State<AppState>,
    Web(web): Web,
    Path((raw, raw_inv)): Path<(String, String)>,
) -> Response {
    let (Some(id), Some(inv)) = (path_id(&raw), path_id(&raw_inv)) else {
        return error_page(Some(&web), DomainError::not_found("invitation"));
    };
    match state.services.revoke_invitation(&web.caller, id, inv).await {
        Ok(()) => Redirect::to(&format!("/projects/{id}/settings?done=invitation-withdrawn"))
            .into_response(),
        Err(e) => error_page(Some(&web), e),
    }
}

/// `POST /invitations/{id}/accept` and `/decline`
pub async fn answer(
    State(state): State<AppState>,
    Web(web): Web,
    Path((raw, answer)): Path<(String, String)>,
) -> Response {
    let Some(inv) = path_id(&raw) else {
        return error_page(Some(&web), DomainError::not_found("invitation"));
    };
    let s = &state.services;
    let outcome = match answer.as_str() {
        "accept" => s
            .accept_invitation(&web.caller, inv)
            .await
            .map(|p| format!("/projects/{}?done=invitation-accepted", p.id)),
        "decline" => s
            .decline_invitation(&web.caller, inv)
            .await
            .map(|()| "/projects?done=invitation-declined".to_string()),
        _ => Err(DomainError::not_found("invitation")),
    };
    match outcome {
        Ok(to) => Redirect::to(&to).into_response(),
        Err(e) => error_page(Some(&web), e),
    }
}
