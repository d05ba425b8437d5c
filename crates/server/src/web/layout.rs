//! The frame every dashboard page shares: the document head with the hashed assets and htmx's
//! configuration, the navigation, the signed-in user and their sign-out button, notices, and
//! the headers (a Content-Security-Policy allowing no inline script or style, no caching of
//! pages that show a user's data, no framing). Error pages are drawn here too, in the same
//! style, from the domain error that caused them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use tc_domain::{DomainError, WebCaller};

use super::assets::ASSETS;
use super::session::{CSRF_FIELD, CSRF_HEADER};
use crate::error::{ErrorLog, OwnBody};

pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

/// htmx without `eval`, inline styles or script tags in swapped content, and with error
/// responses swapped like any other (they are pages in the product's style).
const HTMX_CONFIG: &str = r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"selfRequestsOnly":true,"responseHandling":[{"code":"204","swap":false},{"code":"...","swap":true}]}"#;

/// The sections of the navigation; the current one is marked for screen readers too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Projects,
    Search,
    Chat,
    Tasks,
    Stories,
    Integrations,
    Keys,
    Analytics,
    Account,
    None,
}

const SECTIONS: &[(Nav, &str, &str)] = &[
    (Nav::Projects, "/projects", "Projects"),
    (Nav::Search, "/search", "Search"),
    (Nav::Chat, "/chat", "Ask"),
    (Nav::Tasks, "/tasks", "Tasks"),
    (Nav::Stories, "/stories", "Stories"),
    (Nav::Integrations, "/integrations", "Jira & Confluence"),
    (Nav::Analytics, "/analytics", "Analytics"),
    (Nav::Keys, "/keys", "API keys"),
    (Nav::Account, "/account", "Account"),
];

/// What the frame needs to know about the visitor.
#[derive(Debug, Clone, Copy)]
pub struct Chrome<'a> {
    pub web: Option<&'a WebCaller>,
    pub nav: Nav,
}

impl<'a> Chrome<'a> {
    pub fn signed_in(web: &'a WebCaller, nav: Nav) -> Self {
        Chrome { web: Some(web), nav }
    }

    pub fn signed_out() -> Self {
        Chrome { web: None, nav: Nav::None }
    }
}

/// The hidden CSRF field every form of a signed-in page carries.
pub fn csrf_field(web: &WebCaller) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(web.csrf); }
}

/// A full page with status 200.
pub fn page(chrome: Chrome<'_>, title: &str, body: Markup) -> Response {
    page_with_status(StatusCode::OK, chrome, title, body)
}

pub fn page_with_status(
    status: StatusCode,
    chrome: Chrome<'_>,
    title: &str,
    body: Markup,
) -> Response {
    let narrow = chrome.web.is_none();
    let hx_headers = chrome.web.map(|w| format!(r#"{{"{CSRF_HEADER}":"{}"}}"#, w.csrf));
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="htmx-config" content=(HTMX_CONFIG);
                title { (title) " · TeamContext" }
                link rel="stylesheet" href=(ASSETS.css.url);
                link rel="icon" type="image/svg+xml" href=(ASSETS.icon.url);
                @if let Some(htmx) = &ASSETS.htmx { script src=(htmx.url) defer {} }
                script src=(ASSETS.js.url) defer {}
            }
            body hx-headers=[hx_headers] {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    div.bar {
                        a.brand href="/" { "TeamContext" }
                        @if let Some(web) = chrome.web {
                            nav aria-label="Main" {
                                ul {
                                    @for (section, href, label) in SECTIONS {
                                        li { a href=(href) aria-current=[(chrome.nav == *section).then_some("page")] { (label) } }
                                    }
                                }
                            }
                            div.who {
                                span.hide-narrow { (web.user.name) }
                                form.inline method="post" action="/logout" {
                                    (csrf_field(web))
                                    button type="submit" { "Sign out" }
                                }
                            }
                        }
                    }
                }
                main #main.narrow[narrow] tabindex="-1" {
                    (body)
                }
            }
        }
    };
    with_headers(status, markup.into_string())
}

/// A page that must run nothing at all (the pages links in mail open, which hold a token): the
/// product's frame and style sheet, no script, no referrer, and a policy that allows only the
/// style sheet and posting back to this site.
pub fn scriptless_page(title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · TeamContext" }
                link rel="stylesheet" href=(ASSETS.css.url);
                link rel="icon" type="image/svg+xml" href=(ASSETS.icon.url);
            }
            body {
                header.top { div.bar { a.brand href="/" { "TeamContext" } } }
                main #main.narrow { h1 { (title) } (body) }
            }
        }
    };
    let mut response = with_headers(StatusCode::OK, markup.into_string());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn with_headers(status: StatusCode, html: String) -> Response {
    let mut response = (status, axum::response::Html(html)).into_response();
    // A form answered with its error is a page, not an API error for the envelope.
    response.extensions_mut().insert(OwnBody);
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// An error as a page in the product's style, with the error's status; logged by the request
/// middleware like an API error.
pub fn error_page(web: Option<&WebCaller>, e: DomainError) -> Response {
    let status =
        StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let internal = e.cause_chain();
    let title = match status.as_u16() {
        401 | 403 => "Not allowed",
        404 => "Not found",
        413 => "Too large",
        429 => "Slow down",
        400..=499 => "That did not work",
        _ => "Something went wrong",
    };
    let message = if status.is_server_error() {
        "The server could not do that. Try again in a moment; if it keeps happening, tell your administrator the request id below.".to_string()
    } else {
        sentence(&e.message)
    };
    let chrome = Chrome { web, nav: Nav::None };
    let body = html! {
        h1 { (title) }
        div.error-box role="alert" { p { (message) } }
        p.meta { "Error " code { (e.code.as_str()) } " · request " code { (crate::request_id::current()) } }
        p { a href="/" { "Back to your projects" } }
    };
    let mut response = page_with_status(status, chrome, title, body);
    response.extensions_mut().insert(ErrorLog { code: e.code.as_str(), internal });
    response
}

/// The status a page answering with `e` on its form carries.
pub fn status_of(e: &DomainError) -> StatusCode {
    StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST)
}

/// A piece of a page that htmx swaps in (progress that updates itself): never cached.
pub fn live_fragment(markup: Markup) -> Response {
    let mut response = axum::response::Html(markup.into_string()).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An error to show above the form that caused it.
pub fn form_error(e: &DomainError) -> Markup {
    html! { div.error-box role="alert" { (sentence(&e.message)) } }
}

/// A confirmation shown after a redirect (`?done=…`): fixed texts, so nothing from the URL
/// reaches the page.
pub fn notice(done: Option<&str>) -> Markup {
    let text = match done.unwrap_or_default() {
        "project-created" => "Project created.",
        "project-saved" => "Project saved.",
        "project-deleted" => "Project deleted. Its owner can restore it for 30 days.",
        "project-restored" => "Project restored.",
        "note-saved" => "Note saved. It is searchable now.",
        "context-deleted" => "Context deleted.",
        "member-added" => "Contributor added.",
        "member-removed" => "Contributor removed.",
        "member-invited" => "Invitation sent. They join when they accept it.",
        "invitation-withdrawn" => "Invitation withdrawn.",
        "invitation-accepted" => "You joined the project.",
        "invitation-declined" => "Invitation declined.",
        "password-changed" => "Password changed. Your other sessions were signed out.",
        "key-revoked" => "API key revoked.",
        "scan-cancelled" => "Scan cancelled.",
        "jira-connected" => "Jira connected.",
        "confluence-connected" => "Confluence connected.",
        "jira-disconnected" => "Jira disconnected. What was synced stays.",
        "confluence-disconnected" => "Confluence disconnected. What was synced stays.",
        "model-saved" => "Your model is saved. Test it to be sure it answers.",
        "model-removed" => "Your own model is removed.",
        "server-added" => "MCP server added: its tools are offered to your agent.",
        "server-refreshed" => "Tool list refreshed.",
        "server-removed" => "MCP server removed.",
        "task-added" => "Task added.",
        "task-saved" => "Task saved.",
        "task-deleted" => "Task deleted.",
        "story-drafted" => "Story drafted. Check it, refine it, then create it in Jira.",
        "story-refined" => "Story refined: a new revision.",
        "story-created" => "Created in Jira.",
        "story-deleted" => "Draft deleted.",
        _ => return html! {},
    };
    html! { div.notice role="status" { (text) } }
}

/// An API message (lower case, no full stop) as a sentence.
pub fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let first = chars.next().map(|c| c.to_uppercase().collect::<String>()).unwrap_or_default();
    let rest = chars.as_str();
    if rest.ends_with('.') || rest.ends_with('?') {
        format!("{first}{rest}")
    } else {
        format!("{first}{rest}.")
    }
}

/// A time for people: `2026-12-03 14:05 UTC`.
pub fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Trusted HTML (already sanitised) into a template.
pub fn trusted(html: String) -> PreEscaped<String> {
    PreEscaped(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_become_sentences() {
        assert_eq!(sentence("project not found"), "Project not found.");
        assert_eq!(sentence("Done."), "Done.");
        assert_eq!(sentence(""), ".");
    }
}
