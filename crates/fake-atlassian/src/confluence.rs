//! A fake Confluence: Cloud (under `/wiki`: v2 spaces and pages paged by cursor links in
//! `_links.next` and the `Link` header, bodies as ADF encoded in a JSON string; v1 CQL search)
//! and Data Center (v1 `/rest/api/content` paged by `start` with `_links.next`, bodies as
//! rendered HTML, ancestors). CQL is a subset: `space = KEY`, `type = page`, `AND`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::{Flavour, Logged, authorized, error, parse_query, unauthorized};

/// Most pages one listing page holds, whatever `limit` asks.
pub const CONFLUENCE_PAGE_CAP: usize = 25;

#[derive(Debug, Clone)]
pub struct Page {
    pub id: u64,
    pub space: String,
    pub title: String,
    pub parent: Option<u64>,
    /// Plain paragraphs separated by blank lines.
    pub body: String,
    pub version: u64,
}

struct Wiki {
    flavour: Flavour,
    /// Space keys and their numeric ids.
    spaces: BTreeMap<String, u64>,
    pages: BTreeMap<u64, Page>,
    next_id: u64,
    journal: Vec<Logged>,
}

/// A running fake Confluence; stops when dropped.
pub struct FakeConfluence {
    addr: SocketAddr,
    wiki: Arc<Mutex<Wiki>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeConfluence {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeConfluence {
    pub async fn start(flavour: Flavour) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let wiki = Arc::new(Mutex::new(Wiki {
            flavour,
            spaces: BTreeMap::new(),
            pages: BTreeMap::new(),
            next_id: 65_000,
            journal: Vec::new(),
        }));
        let app = Router::new().fallback(handle).with_state(wiki.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake Confluence serves");
        });
        FakeConfluence { addr, wiki, task }
    }

    /// The site's URL (Cloud users may add `/wiki`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a page (creating its space); returns its id.
    pub fn page(&self, space: &str, title: &str, parent: Option<u64>, body: &str) -> u64 {
        let mut wiki = self.wiki.lock();
        let space_id = 1000 + wiki.spaces.len() as u64;
        wiki.spaces.entry(space.to_string()).or_insert(space_id);
        wiki.next_id += 1;
        let id = wiki.next_id;
        wiki.pages.insert(
            id,
            Page {
                id,
                space: space.into(),
                title: title.into(),
                parent,
                body: body.into(),
                version: 1,
            },
        );
        id
    }

    /// Edits a page (its version goes up).
    pub fn edit(&self, id: u64, body: &str) {
        let mut wiki = self.wiki.lock();
        let page = wiki.pages.get_mut(&id).expect("page to edit");
        page.body = body.into();
        page.version += 1;
    }

    pub fn delete(&self, id: u64) {
        self.wiki.lock().pages.remove(&id);
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.wiki.lock().journal.clone()
    }
}

fn cursor(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

fn uncursor(token: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix("offset:")?.parse().ok()
}

/// Pages matching a CQL subset (`space = KEY`, `type = page`, joined by AND).
fn run_cql<'a>(wiki: &'a Wiki, cql: &str) -> Result<Vec<&'a Page>, String> {
    let mut space = None;
    let lower = cql.to_ascii_lowercase();
    let clause = lower.split(" order by ").next().unwrap_or("");
    for term in clause.split(" and ") {
        let (field, value) = term.split_once('=').ok_or("Could not parse cql")?;
        let value = value.trim().trim_matches('"').to_string();
        match field.trim() {
            "space" => space = Some(value),
            "type" if value == "page" => {}
            _ => return Err(format!("Could not parse cql : {cql}")),
        }
    }
    Ok(wiki
        .pages
        .values()
        .filter(|p| space.as_ref().is_none_or(|s| p.space.eq_ignore_ascii_case(s)))
        .collect())
}

fn adf(body: &str) -> String {
    let content: Vec<Value> = body
        .split("\n\n")
        .map(|p| json!({"type": "paragraph", "content": [{"type": "text", "text": p}]}))
        .collect();
    json!({"type": "doc", "version": 1, "content": content}).to_string()
}

fn summary(wiki: &Wiki, p: &Page) -> Value {
    match wiki.flavour {
        Flavour::Cloud => json!({
            "id": p.id.to_string(), "status": "current", "title": p.title,
            "spaceId": wiki.spaces[&p.space].to_string(),
            "parentId": p.parent.map(|x| x.to_string()), "parentType": p.parent.map(|_| "page"),
            "authorId": "5b10ac8d82e05b22cc7d4ef5", "createdAt": "2026-11-02T09:00:00.000Z",
            "version": {"number": p.version, "createdAt": "2026-11-02T09:00:00.000Z", "message": "", "authorId": "5b10ac8d82e05b22cc7d4ef5"},
            "_links": {"webui": format!("/spaces/{}/pages/{}/{}", p.space, p.id, p.title.replace(' ', "+"))}
        }),
        Flavour::DataCenter => json!({
            "id": p.id.to_string(), "type": "page", "status": "current", "title": p.title,
            "version": {"number": p.version, "when": "2026-11-02T09:00:00.000Z"},
            "_links": {"webui": format!("/pages/viewpage.action?pageId={}", p.id)}
        }),
    }
}

/// A listing page of `items` from `offset`, with the next link built by `next`.
fn listing(
    items: Vec<Value>,
    offset: usize,
    next: impl Fn(usize) -> String,
    context: &str,
) -> Response {
    let page: Vec<Value> = items.iter().skip(offset).take(CONFLUENCE_PAGE_CAP).cloned().collect();
    let end = offset + page.len();
    let mut links = json!({"base": "", "context": context});
    let more = end < items.len();
    if more {
        links["next"] = json!(next(end));
    }
    let body = json!({"results": page, "start": offset, "limit": CONFLUENCE_PAGE_CAP, "size": page.len(), "_links": links});
    let mut response = axum::Json(body).into_response();
    if more {
        let link = format!("<{}>; rel=\"next\"", next(end));
        response.headers_mut().insert(header::LINK, link.parse().unwrap());
    }
    response
}

async fn handle(
    State(wiki): State<Arc<Mutex<Wiki>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut wiki = wiki.lock();
    wiki.journal.push(Logged::of(&method, &uri, &headers));
    let flavour = wiki.flavour;
    if !authorized(flavour, &headers) {
        return unauthorized(flavour);
    }
    if method != Method::GET {
        return error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
    }
    let query = parse_query(uri.query().unwrap_or(""));
    let path = uri.path().to_string();
    let not_found = || error(StatusCode::NOT_FOUND, "No content found with id");
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (flavour, segments.as_slice()) {
        (Flavour::Cloud, ["wiki", "rest", "api", "user", "current"]) => axum::Json(json!({
            "type": "known", "accountId": "5b10ac8d82e05b22cc7d4ef5", "accountType": "atlassian",
            "email": crate::CLOUD_EMAIL, "publicName": "Ana Lima", "displayName": "Ana Lima"
        }))
        .into_response(),
        (Flavour::DataCenter, ["rest", "api", "user", "current"]) => axum::Json(json!({
            "type": "known", "username": "ana", "userKey": "8a7f808a7b", "displayName": "Ana Lima"
        }))
        .into_response(),
        (Flavour::Cloud, ["wiki", "api", "v2", "spaces"]) => {
            let keys: Vec<&str> =
                query.get("keys").map(|k| k.split(',').collect()).unwrap_or_default();
            let results: Vec<Value> = wiki
                .spaces
                .iter()
                .filter(|(k, _)| keys.is_empty() || keys.contains(&k.as_str()))
                .map(|(k, id)| json!({"id": id.to_string(), "key": k, "name": k, "type": "global", "status": "current"}))
                .collect();
            axum::Json(json!({"results": results, "_links": {}})).into_response()
        }
        (Flavour::Cloud, ["wiki", "api", "v2", "spaces", id]) => {
            match wiki.spaces.iter().find(|(_, sid)| sid.to_string() == *id) {
                Some((k, sid)) => {
                    axum::Json(json!({"id": sid.to_string(), "key": k, "name": k})).into_response()
                }
                None => not_found(),
            }
        }
        (Flavour::Cloud, ["wiki", "api", "v2", "spaces", id, "pages"]) => {
            let Some(space) =
                wiki.spaces.iter().find(|(_, sid)| sid.to_string() == *id).map(|(k, _)| k.clone())
            else {
                return not_found();
            };
            let offset = match query.get("cursor") {
                Some(c) => match uncursor(c) {
                    Some(o) => o,
                    None => return error(StatusCode::BAD_REQUEST, "Invalid cursor"),
                },
                None => 0,
            };
            let items: Vec<Value> = wiki
                .pages
                .values()
                .filter(|p| p.space == space)
                .map(|p| summary(&wiki, p))
                .collect();
            let id = id.to_string();
            listing(
                items,
                offset,
                |end| {
                    format!(
                        "/wiki/api/v2/spaces/{id}/pages?cursor={}&limit={CONFLUENCE_PAGE_CAP}",
                        cursor(end)
                    )
                },
                "/wiki",
            )
        }
        (Flavour::Cloud, ["wiki", "api", "v2", "pages", id]) => {
            let Some(page) = id.parse::<u64>().ok().and_then(|id| wiki.pages.get(&id)) else {
                return not_found();
            };
            let mut answer = summary(&wiki, page);
            if query.get("body-format").map(String::as_str) == Some("atlas_doc_format") {
                answer["body"] = json!({"atlas_doc_format": {"representation": "atlas_doc_format", "value": adf(&page.body)}});
            }
            axum::Json(answer).into_response()
        }
        (Flavour::Cloud, ["wiki", "rest", "api", "search"])
        | (Flavour::DataCenter, ["rest", "api", "content", "search"]) => {
            let cql = query.get("cql").cloned().unwrap_or_default();
            let matched = match run_cql(&wiki, &cql) {
                Ok(m) => m,
                Err(e) => {
                    return (
                        StatusCode::BAD_REQUEST,
                        axum::Json(json!({"statusCode": 400, "message": e})),
                    )
                        .into_response();
                }
            };
            let start: usize = query.get("start").and_then(|s| s.parse().ok()).unwrap_or(0);
            let items: Vec<Value> = matched
                .iter()
                .map(|p| match flavour {
                    Flavour::Cloud => json!({"content": summary(&wiki, p).as_object().map(|o| {
                        let mut o = o.clone();
                        o.insert("type".into(), json!("page"));
                        Value::Object(o)
                    }), "title": p.title, "excerpt": "", "url": format!("/spaces/{}/pages/{}", p.space, p.id)}),
                    Flavour::DataCenter => summary(&wiki, p),
                })
                .collect();
            let base = if flavour == Flavour::Cloud {
                "/rest/api/search"
            } else {
                "/rest/api/content/search"
            };
            let encoded: String = url::form_urlencoded::byte_serialize(cql.as_bytes()).collect();
            listing(
                items,
                start,
                |end| format!("{base}?cql={encoded}&limit={CONFLUENCE_PAGE_CAP}&start={end}"),
                if flavour == Flavour::Cloud { "/wiki" } else { "" },
            )
        }
        (Flavour::DataCenter, ["rest", "api", "content"]) => {
            let space = query.get("spaceKey").cloned().unwrap_or_default();
            let start: usize = query.get("start").and_then(|s| s.parse().ok()).unwrap_or(0);
            let items: Vec<Value> = wiki
                .pages
                .values()
                .filter(|p| p.space == space)
                .map(|p| summary(&wiki, p))
                .collect();
            listing(
                items,
                start,
                |end| {
                    format!(
                        "/rest/api/content?spaceKey={space}&type=page&limit={CONFLUENCE_PAGE_CAP}&start={end}"
                    )
                },
                "",
            )
        }
        (Flavour::DataCenter, ["rest", "api", "content", id]) => {
            let Some(page) = id.parse::<u64>().ok().and_then(|id| wiki.pages.get(&id)) else {
                return not_found();
            };
            let mut answer = summary(&wiki, page);
            let mut ancestors = Vec::new();
            let mut parent = page.parent;
            while let Some(p) = parent.and_then(|id| wiki.pages.get(&id)) {
                ancestors
                    .insert(0, json!({"id": p.id.to_string(), "type": "page", "title": p.title}));
                parent = p.parent;
            }
            answer["ancestors"] = json!(ancestors);
            answer["space"] = json!({"key": page.space, "name": page.space});
            let html: String = page.body.split("\n\n").map(|p| format!("<p>{p}</p>")).collect();
            answer["body"] = json!({"view": {"value": html, "representation": "view"}});
            axum::Json(answer).into_response()
        }
        _ => not_found(),
    }
}
