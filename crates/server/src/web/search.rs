//! Search across the user's projects, in any mode, rendered as a page: each result with its
//! project, source and best passage, the query's words marked in it, and a link to the whole
//! context. The same search service as `POST /api/v1/context/search`.

use axum::extract::{Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use tc_domain::views::{SearchRequest, SearchResult};

use super::contexts::title_from;
use super::layout::{Chrome, Nav, form_error, page};
use super::session::Web;
use crate::state::AppState;

/// How dashboard searches are recorded in analytics.
const RETRIEVED_BY: &str = "dashboard";
const MODES: &[(&str, &str)] = &[
    ("hybrid", "Hybrid (meaning and words)"),
    ("vector", "Meaning only"),
    ("keyword", "Words only"),
    ("two_level", "Best projects first"),
];

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    mode: Option<String>,
    project: Option<String>,
}

/// `GET /search`
pub async fn search(
    State(state): State<AppState>,
    Web(web): Web,
    Query(q): Query<SearchQuery>,
) -> Response {
    let text = q.q.as_deref().map(str::trim).unwrap_or_default().to_string();
    let mode = q
        .mode
        .clone()
        .filter(|m| MODES.iter().any(|(k, _)| k == m))
        .unwrap_or_else(|| "hybrid".into());
    let project = q.project.as_deref().and_then(|p| uuid::Uuid::parse_str(p).ok());
    let projects = super::my_projects(&state, &web).await;
    let outcome = if text.is_empty() {
        None
    } else {
        let req = SearchRequest {
            query: Some(text.clone()),
            project_ids: project.map(|p| vec![p]),
            limit: Some(20),
            similarity_threshold: None,
            mode: Some(mode.clone()),
            retrieved_by: Some(RETRIEVED_BY.into()),
        };
        Some(state.services.search(&web.caller, req).await)
    };
    let body = html! {
        h1 { "Search" }
        form.panel.stack method="get" action="/search" role="search" {
            label { "Search for" input type="search" name="q" value=(text) placeholder="How do we rotate the Stripe keys?" autofocus[text.is_empty()] required; }
            div.row {
                label { "Mode" select name="mode" {
                    @for (key, label) in MODES { option value=(key) selected[*key == mode] { (label) } }
                } }
                label { "Project" select name="project" {
                    option value="" { "All my projects" }
                    @for p in &projects { option value=(p.id) selected[Some(p.id) == project] { (p.name) } }
                } }
                div.shrink { button type="submit" { "Search" } }
            }
        }
        @match outcome {
            None => {
                @if projects.is_empty() {
                    div.empty.panel { strong { "Nothing to search yet" } a href="/projects" { "Create a project" } " and save a note or scan a codebase first." }
                } @else {
                    p.meta { "Ask in your own words, or paste an identifier or an error message." }
                }
            }
            Some(Err(e)) => (form_error(&e)),
            Some(Ok(found)) => {
                @if found.degraded.is_some() {
                    div.notice role="status" { "The embedding model is unavailable: these results come from word search alone." }
                }
                @if found.results.is_empty() {
                    div.empty.panel { strong { "No results" } "Try other words, another mode, or all projects." }
                } @else {
                    p.meta role="status" { (super::count(found.results.len(), "result")) }
                    ol.results { @for r in &found.results { li { (result(r, &text)) } } }
                }
            }
        }
    };
    let title = if text.is_empty() { "Search".to_string() } else { format!("{text} – Search") };
    page(Chrome::signed_in(&web, Nav::Search), &title, body)
}

fn result(r: &SearchResult, query: &str) -> Markup {
    let source = r.metadata.get("source").and_then(|v| v.as_str()).unwrap_or("unknown");
    let passage = match &r.passage {
        Some(p) => p.text.clone(),
        None => r.content.chars().take(600).collect(),
    };
    html! {
        h2 { a href={"/contexts/" (r.id)} { (title_from(&r.metadata, &r.content)) } }
        p.meta { (r.project_name) " · " (source)
            @if let Some(lines) = line_range(&r.metadata) { " · " (lines) }
            @if let Some(sim) = r.similarity_score { " · similarity " (format!("{sim:.2}")) } }
        pre.snippet { (highlight(&passage, query)) }
    }
}

/// "lines 45–64" (or "line 7") for a chunk of a scanned file, from its metadata.
fn line_range(metadata: &serde_json::Value) -> Option<String> {
    let start = metadata.get("start_line")?.as_u64()?;
    match metadata.get("end_line").and_then(serde_json::Value::as_u64) {
        Some(end) if end > start => Some(format!("lines {start}–{end}")),
        _ => Some(format!("line {start}")),
    }
}

/// `text` with the query's words in `<mark>` ([`tc_domain::words::occurrences`]: by stem, in
/// identifiers too, never inside another word, stopwords left alone).
pub fn highlight(text: &str, query: &str) -> Markup {
    let mut segments: Vec<(&str, bool)> = Vec::new();
    let mut at = 0;
    for found in tc_domain::words::occurrences(text, query) {
        segments.push((&text[at..found.start], false));
        segments.push((&text[found.clone()], true));
        at = found.end;
    }
    segments.push((&text[at..], false));
    html! {
        @for (segment, marked) in segments {
            @if marked { mark { (segment) } } @else { (segment) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_words_are_marked_and_the_rest_escaped() {
        let html =
            highlight("Rotate the <Stripe> keys; stripe rotation", "stripe rotate").into_string();
        assert_eq!(
            html,
            "<mark>Rotate</mark> the &lt;<mark>Stripe</mark>&gt; keys; <mark>stripe</mark> \
             <mark>rotation</mark>"
        );
        assert_eq!(highlight("nothing here", "x").into_string(), "nothing here");
        assert_eq!(highlight("them", "the").into_string(), "them", "not inside another word");
    }
}
