//! A project's context: browsing it with filters (source, tag, file path) page by page,
//! saving a note, reading one context (Markdown rendered and sanitised, code as code), and
//! deleting one.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use tc_domain::pagination::PageParams;
use tc_domain::views::{ContextMetadataInput, ContextView, ProjectView, SaveContextRequest};
use tc_domain::{DomainError, ErrorCode, WebCaller};
use tc_store::{ContextFilter, Role};

use super::layout::{
    Chrome, Nav, csrf_field, error_page, form_error, notice, page, page_with_status, status_of,
    trusted, when,
};
use super::path_id;
use super::session::Web;
use crate::state::AppState;

/// The source the dashboard's notes are saved with.
const NOTE_SOURCE: &str = "manual";

#[derive(Debug, Default, Deserialize)]
pub struct BrowseQuery {
    source: Option<String>,
    tag: Option<String>,
    file_path: Option<String>,
    cursor: Option<String>,
    done: Option<String>,
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

/// `GET /projects/{id}`: the project's context, newest first, and the note form.
pub async fn project(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
    Query(q): Query<BrowseQuery>,
) -> Response {
    project_page(&state, &web, &raw, &q, None, &NoteForm::default()).await
}

async fn project_page(
    state: &AppState,
    web: &WebCaller,
    raw: &str,
    q: &BrowseQuery,
    error: Option<&DomainError>,
    note: &NoteForm,
) -> Response {
    let Some(id) = path_id(raw) else {
        return error_page(Some(web), DomainError::project_not_found());
    };
    let s = &state.services;
    let project = match s.get_project(&web.caller, id).await {
        Ok(p) => p,
        Err(e) => return error_page(Some(web), e),
    };
    let filter = ContextFilter {
        source: nonempty(&q.source),
        tag: nonempty(&q.tag),
        file_path_prefix: nonempty(&q.file_path),
    };
    let filtered =
        filter.source.is_some() || filter.tag.is_some() || filter.file_path_prefix.is_some();
    let page_params = PageParams { limit: Some(25), cursor: nonempty(&q.cursor) };
    let listed = s.list_contexts(&web.caller, id, filter.clone(), &page_params).await;
    let base = format!("/projects/{id}");
    let may_write = project.role.is_some();
    let body = html! {
        p.crumbs { a href="/projects" { "Projects" } " / " (project.name) }
        h1 { (project.name) }
        @if !project.description.is_empty() { p.lede { (project.description) } }
        (notice(q.done.as_deref()))
        div.actions {
            @if may_write { a.button.secondary href={(base) "/scans"} { "Scan a codebase" } }
            a.button.secondary href={"/search?project=" (id)} { "Search this project" }
            a.button.secondary href={(base) "/settings"} { "Settings and people" }
        }
        @if may_write {
            (note_form(web, &project, error, note))
            (upload_form(web, &project))
        }
        section aria-labelledby="ctx" {
            h2 #ctx { "Context" }
            form.row.panel method="get" action=(base) role="search" aria-label="Filter the context" {
                label { "Source" input type="text" name="source" value=(filter.source.as_deref().unwrap_or_default()) placeholder="manual, claude, codebase_scan…"; }
                label { "Tag" input type="text" name="tag" value=(filter.tag.as_deref().unwrap_or_default()); }
                label { "File path starts with" input type="text" name="file_path" value=(filter.file_path_prefix.as_deref().unwrap_or_default()) placeholder="src/"; }
                div.shrink { button type="submit" { "Filter" } }
                @if filtered { div.shrink { a href=(base) { "Clear" } } }
            }
            @match listed {
                Err(e) => (form_error(&e)),
                Ok(paged) if paged.items.is_empty() => {
                    div.empty.panel {
                        @if filtered { strong { "Nothing matches these filters" } a href=(base) { "Show everything" } }
                        @else {
                            strong { "No context yet" }
                            "Save a note above, "
                            @if may_write { a href={(base) "/scans"} { "scan a codebase" } }
                            @else { "scan a codebase" }
                            ", or let Claude or Cursor save decisions here through MCP."
                        }
                    }
                }
                Ok(paged) => {
                    ul.results {
                        @for c in &paged.items { li { (context_item(c)) } }
                    }
                    @if let Some(next) = &paged.next_cursor {
                        p { a href=(older_link(&base, &filter, next)) { "Older context →" } }
                    }
                }
            }
        }
    };
    let status = error.map_or(StatusCode::OK, status_of);
    page_with_status(status, Chrome::signed_in(web, Nav::Projects), &project.name, body)
}

fn older_link(base: &str, filter: &ContextFilter, cursor: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in
        [("source", &filter.source), ("tag", &filter.tag), ("file_path", &filter.file_path_prefix)]
    {
        if let Some(v) = v {
            query.append_pair(k, v);
        }
    }
    query.append_pair("cursor", cursor);
    format!("{base}?{}", query.finish())
}

fn note_form(
    web: &WebCaller,
    project: &ProjectView,
    error: Option<&DomainError>,
    note: &NoteForm,
) -> Markup {
    html! {
        section.panel aria-labelledby="note" {
            h2 #note { "Save a note" }
            p.hint { "A decision, a convention, how something works: every assistant of the team finds it when it is relevant." }
            @if let Some(e) = error { (form_error(e)) }
            form.stack method="post" action={"/projects/" (project.id) "/notes"} {
                (csrf_field(web))
                label { "Note" span.hint { "Markdown." }
                    textarea name="content" required { (note.content.as_deref().unwrap_or_default()) } }
                label { "Tags" span.hint { "Separated by commas, such as “auth, decision”." }
                    input type="text" name="tags" value=(note.tags.as_deref().unwrap_or_default()); }
                button type="submit" { "Save the note" }
            }
        }
    }
}

fn upload_form(web: &WebCaller, project: &ProjectView) -> Markup {
    html! {
        section.panel aria-labelledby="docs" {
            h2 #docs { "Upload documents" }
            form.stack method="post" action={"/projects/" (project.id) "/documents?csrf=" (web.csrf)} enctype="multipart/form-data" {
                input type="hidden" name="project_id" value=(project.id);
                label { "Documents" span.hint { "PDF, Word (.docx), HTML, Markdown or text, up to 20 at once. Their text is split along headings; uploading a file of the same name again updates it." }
                    input type="file" name="file" multiple required accept=".pdf,.docx,.html,.htm,.md,.markdown,.txt"; }
                button type="submit" { "Upload" }
            }
        }
    }
}

/// `POST /projects/{id}/documents` (multipart; its CSRF token rides in the query): the
/// documents are read at once and indexed by a job whose page follows.
pub async fn upload(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
    req: axum::extract::Request,
) -> Response {
    // The form names its project in a field (checked by the upload path before any file is
    // read); a malformed path names nothing.
    if path_id(&raw).is_none() {
        return error_page(Some(&web), DomainError::project_not_found());
    }
    match crate::http::documents::accept_upload(&state, &web.caller, req).await {
        // Documents are indexed by a scan of their text: its page follows the job.
        Ok(accepted) => {
            Redirect::to(&format!("/projects/{}/scans/{}", accepted.project_id, accepted.task_id))
                .into_response()
        }
        Err(e) if matches!(e.0.code, ErrorCode::ProjectNotFound) => error_page(Some(&web), e.0),
        Err(e) => {
            project_page(
                &state,
                &web,
                &raw,
                &BrowseQuery::default(),
                Some(&e.0),
                &NoteForm::default(),
            )
            .await
        }
    }
}

/// The tags saved with a context.
fn tags_of(metadata: &serde_json::Value) -> Vec<&str> {
    metadata
        .get("tags")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|t| t.as_str()).collect())
        .unwrap_or_default()
}

/// One context in a list: its title line, where it came from, and its start.
pub fn context_item(c: &ContextView) -> Markup {
    let meta = &c.metadata;
    let source = meta.get("source").and_then(|v| v.as_str()).unwrap_or("unknown");
    let tags = tags_of(meta);
    html! {
        h3 { a href={"/contexts/" (c.id)} { (title_of(c)) } }
        p.meta { (source) " · " (super::count(c.token_count, "token")) " · " (when(c.created_at))
            @if c.accessed_count > 0 { " · retrieved " (c.accessed_count) "×" } }
        @if !tags.is_empty() { p { @for t in &tags { span.tag { (t) } } } }
    }
}

/// A context's name for people: its title (synced issues and pages), its file path, else its
/// first non-empty line, shortened.
pub fn title_of(c: &ContextView) -> String {
    title_from(&c.metadata, &c.content)
}

pub fn title_from(metadata: &serde_json::Value, content: &str) -> String {
    // Synced issues and pages carry their own title ("PAY-1: Refunds fail", a page's title).
    if let Some(title) =
        metadata.get("title").and_then(|v| v.as_str()).filter(|t| !t.trim().is_empty())
    {
        return title.to_string();
    }
    // A task's path is only its id: its first line names it better.
    let is_task = metadata.get("source").and_then(|v| v.as_str()) == Some("task");
    if let Some(path) = metadata.get("file_path").and_then(|v| v.as_str())
        && !is_task
    {
        return path.to_string();
    }
    let line = content.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("(empty)");
    let line = line.trim_start_matches('#').trim();
    match line.char_indices().nth(90) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct NoteForm {
    content: Option<String>,
    tags: Option<String>,
}

/// `POST /projects/{id}/notes`
pub async fn save_note(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
    Form(form): Form<NoteForm>,
) -> Response {
    let Some(id) = path_id(&raw) else {
        return error_page(Some(&web), DomainError::project_not_found());
    };
    let tags: Vec<String> = form
        .tags
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect();
    let req = SaveContextRequest {
        content: form.content.clone(),
        project_id: Some(id),
        metadata: Some(ContextMetadataInput {
            source: Some(NOTE_SOURCE.into()),
            tags: (!tags.is_empty()).then_some(tags),
            file_path: None,
            language: None,
            extra: Default::default(),
        }),
    };
    match state.services.save_context(&web.caller, req, None).await {
        Ok(_) => Redirect::to(&format!("/projects/{id}?done=note-saved")).into_response(),
        Err(e) if e.code == ErrorCode::ProjectNotFound => error_page(Some(&web), e),
        Err(e) => project_page(&state, &web, &raw, &BrowseQuery::default(), Some(&e), &form).await,
    }
}

/// `GET /contexts/{id}`
pub async fn read(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
) -> Response {
    let not_found = || DomainError::new(ErrorCode::ContextNotFound, "context not found");
    let Some(id) = path_id(&raw) else { return error_page(Some(&web), not_found()) };
    let s = &state.services;
    let c = match s.get_context(&web.caller, id).await {
        Ok(c) => c,
        Err(e) => return error_page(Some(&web), e),
    };
    let project = s.get_project(&web.caller, c.project_id).await.ok();
    let meta = &c.metadata;
    let text = |k: &str| meta.get(k).and_then(|v| v.as_str()).map(String::from);
    let is_code = text("language").is_some() || text("source").as_deref() == Some("codebase_scan");
    let tags = tags_of(meta);
    let may_delete =
        project.as_ref().is_some_and(|p| matches!(p.role, Some(Role::Owner | Role::Contributor)));
    let title = title_of(&c);
    let body = html! {
        p.crumbs {
            a href="/projects" { "Projects" } " / "
            @if let Some(p) = &project { a href={"/projects/" (p.id)} { (p.name) } " / " }
            (title)
        }
        h1 { (title) }
        dl.facts.panel {
            dt { "Source" } dd { (text("source").unwrap_or_else(|| "unknown".into())) }
            @if let Some(path) = text("file_path") { dt { "File" } dd { code { (path) } } }
            @if let Some(url) = text("url") { dt { "Link" } dd { (url) } }
            @if !tags.is_empty() { dt { "Tags" } dd { @for t in &tags { span.tag { (t) } } } }
            dt { "Saved" } dd { (when(c.created_at)) }
            dt { "Size" } dd { (super::count(c.token_count, "token")) }
            dt { "Retrieved" } dd { @if c.accessed_count == 0 { "never" } @else { (super::count(c.accessed_count, "time")) } @if let Some(t) = c.last_accessed { ", last " (when(t)) } }
        }
        @if is_code {
            pre.prose { code { (c.content) } }
        } @else {
            div.prose { (trusted(render_markdown(&c.content))) }
        }
        @if may_delete {
            form.actions method="post" action={"/contexts/" (c.id) "/delete"} data-confirm="Delete this context for everyone?" {
                (csrf_field(&web))
                button.danger type="submit" { "Delete" }
            }
        }
    };
    page(Chrome::signed_in(&web, Nav::Projects), &title, body)
}

/// Markdown to HTML with anything executable removed (scripts, event handlers, `javascript:`
/// links, inline styles), so a saved context can never run in a teammate's browser.
pub fn render_markdown(markdown: &str) -> String {
    render_answer(markdown, &|_| None)
}

/// An answer's Markdown as [`render_markdown`] does, with each citation (`[2]`, `[1, 3]`)
/// outside code a link to what `cite` gives for its number: a URL and a title.
pub fn render_answer(markdown: &str, cite: &dyn Fn(usize) -> Option<(String, String)>) -> String {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd, TextMergeStream, html};
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    // Merged, so that "[", "1" and "]" (brackets that made no link) come as one text.
    let parser = TextMergeStream::new(Parser::new_ext(markdown, options));
    let mut events = Vec::new();
    let mut in_code_block = false;
    for event in parser {
        match event {
            Event::Start(Tag::CodeBlock(_)) => {
                in_code_block = true;
                events.push(event);
            }
            Event::End(TagEnd::CodeBlock) => {
                in_code_block = false;
                events.push(event);
            }
            Event::Text(text) if !in_code_block => cited(&text, cite, &mut events),
            other => events.push(other),
        }
    }
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, events.into_iter());
    ammonia::clean(&out)
}

/// Pushes `text` as events, each citation whose numbers all name a source a list of links.
fn cited<'a>(
    text: &str,
    cite: &dyn Fn(usize) -> Option<(String, String)>,
    out: &mut Vec<pulldown_cmark::Event<'a>>,
) {
    use pulldown_cmark::{Event, LinkType, Tag, TagEnd};
    let mut plain = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        plain.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let Some(close) = rest.find(']') else { continue };
        let numbers: Option<Vec<(usize, (String, String))>> = rest[..close]
            .split(',')
            .map(|n| {
                let n = n.trim();
                let ok = !n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit());
                let n: usize = if ok { n.parse().ok()? } else { return None };
                cite(n).map(|target| (n, target))
            })
            .collect();
        let Some(numbers) = numbers else { continue };
        out.push(Event::Text(std::mem::take(&mut plain).into()));
        for (k, (n, (url, title))) in numbers.into_iter().enumerate() {
            if k > 0 {
                out.push(Event::Text(", ".into()));
            }
            out.push(Event::Start(Tag::Link {
                link_type: LinkType::Inline,
                dest_url: url.into(),
                title: title.into(),
                id: "".into(),
            }));
            out.push(Event::Text(n.to_string().into()));
            out.push(Event::End(TagEnd::Link));
        }
        plain.push(']');
        rest = &rest[close + 1..];
    }
    plain.push_str(rest);
    if !plain.is_empty() {
        out.push(Event::Text(plain.into()));
    }
}

/// `POST /contexts/{id}/delete`
pub async fn delete(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
) -> Response {
    let not_found = || DomainError::new(ErrorCode::ContextNotFound, "context not found");
    let Some(id) = path_id(&raw) else { return error_page(Some(&web), not_found()) };
    let s = &state.services;
    let project_id = match s.get_context(&web.caller, id).await {
        Ok(c) => c.project_id,
        Err(e) => return error_page(Some(&web), e),
    };
    match s.delete_context(&web.caller, id).await {
        Ok(()) => {
            Redirect::to(&format!("/projects/{project_id}?done=context-deleted")).into_response()
        }
        Err(e) => error_page(Some(&web), e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_rendered_without_anything_executable() {
        let html = render_markdown(
            "# Title\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x onerror=alert(1)> <b style=\"color:red\">b</b>\n\n| a |\n|---|\n| 1 |",
        );
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(html.contains("<table>"), "{html}");
        for bad in ["<script", "javascript:", "onerror", "style="] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
    }

    #[test]
    fn citations_link_to_their_sources_outside_code() {
        let cite = |n: usize| (n <= 2).then(|| (format!("/contexts/{n}"), format!("source {n}")));
        let html = render_answer(
            "- Keys are sealed [1].\n- Both say so [1, 2]; not [3] nor [x] nor `v[1]`\n\n```\na[2]\n```",
            &cite,
        );
        assert!(html.contains(r#"sealed [<a href="/contexts/1" title="source 1" rel="noopener noreferrer">1</a>]."#), "{html}");
        assert!(html.contains(r#"[<a href="/contexts/1" title="source 1" rel="noopener noreferrer">1</a>, <a href="/contexts/2" title="source 2" rel="noopener noreferrer">2</a>]"#), "{html}");
        assert!(html.contains("not [3] nor [x] nor <code>v[1]</code>"), "{html}");
        assert!(html.contains("a[2]\n</code>"), "{html}");
    }

    #[test]
    fn titles_prefer_the_file_path_then_the_first_line() {
        let meta = serde_json::json!({ "file_path": "src/lib.rs" });
        assert_eq!(title_from(&meta, "fn main() {}"), "src/lib.rs");
        assert_eq!(title_from(&serde_json::json!({}), "\n\n## Use JWT\nbody"), "Use JWT");
        assert_eq!(title_from(&serde_json::json!({}), ""), "(empty)");
        let issue = serde_json::json!({ "title": "PAY-1: Refunds fail", "file_path": "jira/x/1" });
        assert_eq!(title_from(&issue, "body"), "PAY-1: Refunds fail");
        let task = serde_json::json!({ "source": "task", "file_path": "tasks/1" });
        assert_eq!(title_from(&task, "# Task: Rotate keys\n\nStatus: todo"), "Task: Rotate keys");
        assert!(title_from(&serde_json::json!({}), &"x".repeat(200)).ends_with('…'));
    }
}
