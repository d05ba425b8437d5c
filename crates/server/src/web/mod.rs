//! The web dashboard, served by the same binary at `/`: server-rendered pages (maud) that are
//! thin views over the same services as REST and MCP, with htmx for the parts that update in
//! place. One module per area: `account` (sign-in, registration, password, sign-out), `ai_settings` (the user's model and
//! MCP servers),
//! `projects` (list, settings, people), `contexts` (browse, read, notes), `scans` (upload, live progress), `search`, `chat` (questions
//! answered with sources, streamed), `integrations` (Jira and Confluence, syncs), `analytics`, `tasks` (the board),
//! `stories` (Jira stories: draft, check, refine, create), `keys`;
//! `session` (the cookie and the CSRF guard), `layout` (the frame and error pages) and
//! `assets` (embedded CSS and JS). The cookie authenticates these pages only: `/api/v1` and
//! `/mcp` take bearer credentials alone, so the API has no CSRF surface.

mod account;
mod ai_settings;
mod analytics;
mod assets;
mod chat;
mod contexts;
mod integrations;
mod keys;
mod layout;
mod projects;
mod scans;
mod search;
mod session;
mod stories;
mod tasks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use uuid::Uuid;

pub use layout::{error_page, scriptless_page, sentence};
use session::MaybeWeb;

use crate::state::AppState;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(account::login_form).post(account::login_submit))
        .route("/register", get(account::register_form).post(account::register_submit))
        .route("/forgot-password", get(account::forgot_form).post(account::forgot_submit))
        .route("/logout", post(account::logout))
        .route("/logout-everywhere", post(account::logout_everywhere))
        .route("/account", get(account::account))
        .route("/account/password", post(account::change_password))
        .route("/account/verify", post(account::resend_verification))
        .route("/account/ai", get(ai_settings::settings))
        .route("/account/ai/model", post(ai_settings::set_model))
        .route("/account/ai/model/test", post(ai_settings::test_model))
        .route("/account/ai/model/delete", post(ai_settings::delete_model))
        .route("/account/ai/servers", post(ai_settings::add_server))
        .route("/account/ai/servers/{id}/{action}", post(ai_settings::server_action))
        .route("/projects", get(projects::list).post(projects::create))
        .route("/projects/{id}", get(contexts::project))
        .route("/projects/{id}/notes", post(contexts::save_note))
        // Document uploads have their own limit, applied by the upload path.
        .route(
            "/projects/{id}/documents",
            post(contexts::upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/projects/{id}/settings", get(projects::settings).post(projects::update))
        .route("/projects/{id}/delete", post(projects::delete))
        .route("/projects/{id}/restore", post(projects::restore))
        .route("/projects/{id}/contributors", post(projects::invite))
        .route("/projects/{id}/contributors/{user_id}/remove", post(projects::remove))
        .route("/projects/{id}/invitations/{invitation_id}/revoke", post(projects::withdraw))
        .route("/invitations/{id}/{answer}", post(projects::answer))
        .route("/contexts/{id}", get(contexts::read))
        .route("/contexts/{id}/delete", post(contexts::delete))
        // Uploads have their own limit (SCAN_MAX_UPLOAD_BYTES), applied by the scan service.
        .route(
            "/projects/{id}/scans",
            get(scans::form).post(scans::start).layer(DefaultBodyLimit::disable()),
        )
        .route("/projects/{id}/scans/{job_id}", get(scans::status))
        .route("/projects/{id}/scans/{job_id}/progress", get(scans::fragment))
        .route("/jobs/{id}", get(integrations::job))
        .route("/jobs/{id}/progress", get(integrations::fragment))
        .route("/jobs/{id}/cancel", post(scans::cancel))
        .route("/integrations", get(integrations::integrations))
        .route("/integrations/{product}/connect", post(integrations::connect))
        .route("/integrations/{product}/disconnect", post(integrations::disconnect))
        .route("/integrations/{product}/sync", post(integrations::sync))
        .route("/search", get(search::search))
        .route("/analytics", get(analytics::analytics))
        .route("/chat", get(chat::chat).post(chat::ask))
        .route("/chat/sessions/{id}/runs/{run_id}/events", get(chat::events))
        .route("/chat/sessions/{id}/delete", post(chat::delete))
        .route("/tasks", get(tasks::board).post(tasks::create))
        .route("/tasks/{id}", get(tasks::edit).post(tasks::update))
        .route("/tasks/{id}/move", post(tasks::move_to))
        .route("/tasks/{id}/delete", post(tasks::delete))
        .route("/stories", get(stories::list).post(stories::draft))
        .route("/stories/{id}", get(stories::show))
        .route("/stories/{id}/validate", post(stories::validate))
        .route("/stories/{id}/refine", post(stories::refine))
        .route("/stories/{id}/create", post(stories::create))
        .route("/stories/{id}/delete", post(stories::delete))
        .route("/keys", get(keys::list).post(keys::create))
        .route("/keys/{id}/rotate", post(keys::rotate))
        .route("/keys/{id}/revoke", post(keys::revoke))
        .route("/assets/{name}", get(assets::serve))
        .layer(from_fn_with_state(state, session::csrf_guard))
}

/// `/`: the projects of a signed-in user, the sign-in page for anyone else.
async fn home(MaybeWeb(web): MaybeWeb) -> Response {
    match web {
        Some(_) => Redirect::to("/projects").into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

/// The projects a signed-in user works in (up to 100), for the project selectors of forms; a
/// failure leaves the selector with its "all projects" choice only.
async fn my_projects(
    state: &AppState,
    web: &tc_domain::WebCaller,
) -> Vec<tc_domain::views::ProjectView> {
    let first_page = tc_domain::pagination::PageParams { limit: Some(100), cursor: None };
    state
        .services
        .list_projects(&web.caller, false, &first_page)
        .await
        .map(|p| p.items)
        .unwrap_or_default()
}

/// A form field as an optional value: blank means not given.
fn blank_to_none(v: Option<&str>) -> Option<String> {
    v.map(str::trim).filter(|v| !v.is_empty()).map(String::from)
}

/// "1 result", "2 results": a count with its noun (regular plurals only).
fn count(n: impl TryInto<u64>, noun: &str) -> String {
    match n.try_into().unwrap_or(0) {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// A path segment as an id; a malformed one names nothing (the page answers 404).
fn path_id(raw: &str) -> Option<Uuid> {
    Uuid::parse_str(raw).ok()
}

/// How MCP clients reach this server: `PUBLIC_URL`, else the host this page was asked under.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.public_url {
        return url.to_string();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost:8080");
    format!("http://{host}")
}

/// Whether a request was made by a browser navigating (it asks for HTML), for answering an
/// unknown path with a page instead of the API's JSON envelope.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_count_names_one_thing_in_the_singular() {
        assert_eq!(super::count(1usize, "result"), "1 result");
        assert_eq!(super::count(0usize, "error"), "0 errors");
        assert_eq!(super::count(12i64, "token"), "12 tokens");
    }
}
