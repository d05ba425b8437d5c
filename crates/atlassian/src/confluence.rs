//! Confluence's REST API as TeamContext uses it, on Cloud (under `/wiki`: v2 for spaces and
//! pages, paged by cursor links, bodies in Atlassian Document Format; v1 only for CQL search,
//! which v2 lacks) and on Data Center (v1 at the site root or its context path, paged by
//! `_links.next`, bodies as rendered HTML): who the token belongs to, the pages of spaces, of a
//! CQL query or of given ids with their versions, and one page as Markdown.

use std::collections::HashMap;

use parking_lot::Mutex;
use serde_json::Value;

use crate::client::{AtlassianError, Endpoint};
use crate::jira::Account;
use crate::{adf, html};

/// Pages asked for per listing call (servers may send fewer; the next link says where to go on).
const PAGE_LIMIT: u64 = 100;

/// One page as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageHit {
    pub id: String,
    pub title: String,
    /// The version number, as text.
    pub version: String,
}

/// A page rendered as a context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageDoc {
    pub id: String,
    pub title: String,
    pub space_key: String,
    /// Ancestors' titles then the page's, as the space's tree shows it.
    pub title_path: Vec<String>,
    pub url: String,
    pub version: String,
    pub markdown: String,
    pub unknown_nodes: Vec<String>,
}

/// A Confluence site through one connection; `cloud` selects the `/wiki` APIs.
#[derive(Debug)]
pub struct Confluence {
    endpoint: Endpoint,
    cloud: bool,
    /// The site people browse (page links), which differs from the API base under OAuth.
    site_url: String,
    /// Cloud space ids to keys, learnt on the way.
    space_keys: Mutex<HashMap<String, String>>,
    /// Cloud page ids to (title, parent id), learnt from listings, for title paths.
    tree: Mutex<HashMap<String, (String, Option<String>)>>,
}

impl Confluence {
    pub fn new(endpoint: Endpoint, cloud: bool, site_url: &str) -> Self {
        Confluence {
            endpoint,
            cloud,
            site_url: site_url.trim_end_matches('/').to_string(),
            space_keys: Mutex::new(HashMap::new()),
            tree: Mutex::new(HashMap::new()),
        }
    }

    fn prefix(&self) -> &'static str {
        if self.cloud { "/wiki" } else { "" }
    }

    /// The absolute URL of a `_links.next` (relative to the site, or to the `/wiki` context).
    fn next_url(&self, next: &str) -> String {
        if next.starts_with("http://") || next.starts_with("https://") {
            return next.to_string();
        }
        let prefix = self.prefix();
        if prefix.is_empty() || next.starts_with(prefix) {
            format!("{}{next}", self.endpoint.base())
        } else {
            format!("{}{prefix}{next}", self.endpoint.base())
        }
    }

    /// `GET /rest/api/user/current`: verifies the credentials and names the account.
    pub async fn current_user(&self) -> Result<Account, AtlassianError> {
        let path = format!("{}/rest/api/user/current", self.prefix());
        let me = self.endpoint.get(&path, &[]).await?.body;
        // An unauthenticated call may be answered as the anonymous user instead of 401.
        if me.get("type").and_then(Value::as_str) == Some("anonymous") {
            return Err(AtlassianError::Unauthorized(
                "Confluence treated the token as anonymous: it is wrong or revoked".into(),
            ));
        }
        let name = me
            .get("accountId")
            .or(me.get("username"))
            .or(me.get("userKey"))
            .and_then(Value::as_str)
            .ok_or_else(|| AtlassianError::Protocol("Confluence named no current user".into()))?;
        let display_name = me.get("displayName").and_then(Value::as_str).unwrap_or(name);
        Ok(Account { name: name.to_string(), display_name: display_name.to_string() })
    }

    /// Every result of a listing, following `_links.next` (or the `Link` header).
    async fn all(
        &self,
        first: &str,
        query: &[(&str, String)],
        on_page: &mut (dyn FnMut(usize) + Send),
    ) -> Result<Vec<Value>, AtlassianError> {
        let mut results = Vec::new();
        let mut answer = self.endpoint.get(first, query).await?;
        loop {
            let batch = answer.body.get("results").and_then(Value::as_array).ok_or_else(|| {
                AtlassianError::Protocol("a Confluence listing without `results`".into())
            })?;
            results.extend(batch.iter().cloned());
            on_page(results.len());
            let next = answer
                .body
                .pointer("/_links/next")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or(answer.link_next.clone());
            match next {
                Some(next) if !batch.is_empty() => {
                    answer = self.endpoint.get(&self.next_url(&next), &[]).await?;
                }
                _ => return Ok(results),
            }
        }
    }

    /// The pages of the spaces with these keys.
    pub async fn space_pages(
        &self,
        keys: &[String],
        on_page: &mut (dyn FnMut(usize) + Send),
    ) -> Result<Vec<PageHit>, AtlassianError> {
        let mut hits = Vec::new();
        for key in keys {
            let pages = if self.cloud {
                let id = self.space_id(key).await?;
                let path = format!("/wiki/api/v2/spaces/{id}/pages");
                let query = [("limit", PAGE_LIMIT.to_string()), ("status", "current".to_string())];
                self.all(&path, &query, on_page).await?
            } else {
                let query = [
                    ("spaceKey", key.clone()),
                    ("type", "page".to_string()),
                    ("expand", "version".to_string()),
                    ("limit", PAGE_LIMIT.to_string()),
                ];
                self.all("/rest/api/content", &query, on_page).await?
            };
            hits.extend(pages.iter().filter_map(|p| self.hit(p)));
        }
        Ok(hits)
    }

    /// The pages a CQL query matches (other content types are left out).
    pub async fn cql_pages(
        &self,
        cql: &str,
        on_page: &mut (dyn FnMut(usize) + Send),
    ) -> Result<Vec<PageHit>, AtlassianError> {
        let (path, expand) = if self.cloud {
            ("/wiki/rest/api/search", "content.version")
        } else {
            ("/rest/api/content/search", "version")
        };
        let query = [
            ("cql", cql.to_string()),
            ("limit", PAGE_LIMIT.to_string()),
            ("expand", expand.to_string()),
        ];
        let results = self.all(path, &query, on_page).await?;
        Ok(results
            .iter()
            .map(|r| r.get("content").unwrap_or(r))
            .filter(|c| c.get("type").and_then(Value::as_str).is_none_or(|t| t == "page"))
            .filter_map(|c| self.hit(c))
            .collect())
    }

    /// Pages by id, as a listing would show them (ids that do not exist are left out).
    pub async fn pages_by_id(&self, ids: &[String]) -> Result<Vec<PageHit>, AtlassianError> {
        let mut hits = Vec::new();
        for id in ids {
            let path = if self.cloud {
                format!("/wiki/api/v2/pages/{id}")
            } else {
                format!("/rest/api/content/{id}")
            };
            let query = if self.cloud { vec![] } else { vec![("expand", "version".to_string())] };
            match self.endpoint.get(&path, &query).await {
                Ok(answer) => hits.extend(self.hit(&answer.body)),
                Err(AtlassianError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(hits)
    }

    fn hit(&self, page: &Value) -> Option<PageHit> {
        let id = id_text(page.get("id"))?;
        let title = page.get("title").and_then(Value::as_str).unwrap_or_default().to_string();
        let version = page.pointer("/version/number").map(Value::to_string).unwrap_or_default();
        if self.cloud {
            let parent = id_text(page.get("parentId"));
            self.tree.lock().insert(id.clone(), (title.clone(), parent));
        }
        Some(PageHit { id, title, version })
    }

    async fn space_id(&self, key: &str) -> Result<String, AtlassianError> {
        let answer = self
            .endpoint
            .get("/wiki/api/v2/spaces", &[("keys", key.to_string()), ("limit", "1".to_string())])
            .await?;
        let space = answer
            .body
            .pointer("/results/0")
            .ok_or_else(|| AtlassianError::NotFound(format!("Confluence has no space {key}")))?;
        let id = id_text(space.get("id"))
            .ok_or_else(|| AtlassianError::Protocol("a space without an id".into()))?;
        self.space_keys.lock().insert(id.clone(), key.to_string());
        Ok(id)
    }

    async fn space_key(&self, space_id: &str) -> Result<String, AtlassianError> {
        if let Some(key) = self.space_keys.lock().get(space_id) {
            return Ok(key.clone());
        }
        let space = self.endpoint.get(&format!("/wiki/api/v2/spaces/{space_id}"), &[]).await?;
        let key = space.body.get("key").and_then(Value::as_str).unwrap_or(space_id).to_string();
        self.space_keys.lock().insert(space_id.to_string(), key.clone());
        Ok(key)
    }

    /// Whether a page still exists (and the account can see it).
    pub async fn exists(&self, id: &str) -> Result<bool, AtlassianError> {
        let path = if self.cloud {
            format!("/wiki/api/v2/pages/{id}")
        } else {
            format!("/rest/api/content/{id}")
        };
        match self.endpoint.get(&path, &[]).await {
            Ok(_) => Ok(true),
            Err(AtlassianError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// One page as Markdown, with its place in the space.
    pub async fn page(&self, id: &str) -> Result<PageDoc, AtlassianError> {
        if self.cloud { self.cloud_page(id).await } else { self.dc_page(id).await }
    }

    async fn cloud_page(&self, id: &str) -> Result<PageDoc, AtlassianError> {
        let path = format!("/wiki/api/v2/pages/{id}");
        let page = self
            .endpoint
            .get(&path, &[("body-format", "atlas_doc_format".to_string())])
            .await?
            .body;
        let title = page.get("title").and_then(Value::as_str).unwrap_or_default().to_string();
        // The body's value is ADF encoded as a JSON string.
        let raw =
            page.pointer("/body/atlas_doc_format/value").and_then(Value::as_str).unwrap_or("");
        let doc: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
        let converted = adf::to_markdown(&doc);
        let space_id = id_text(page.get("spaceId")).unwrap_or_default();
        let space_key = self.space_key(&space_id).await?;
        let mut title_path = Vec::new();
        {
            let tree = self.tree.lock();
            let mut parent = id_text(page.get("parentId"));
            while let Some(p) = parent.take() {
                if title_path.len() > 50 {
                    break;
                }
                if let Some((t, up)) = tree.get(&p) {
                    title_path.insert(0, t.clone());
                    parent = up.clone();
                }
            }
        }
        title_path.push(title.clone());
        let webui = page.pointer("/_links/webui").and_then(Value::as_str).unwrap_or("");
        let url = format!("{}/wiki{webui}", self.site_url);
        Ok(PageDoc {
            id: id.to_string(),
            version: page.pointer("/version/number").map(Value::to_string).unwrap_or_default(),
            markdown: page_markdown(&space_key, &title_path, &url, &converted.markdown),
            title,
            space_key,
            title_path,
            url,
            unknown_nodes: converted.unknown.into_iter().collect(),
        })
    }

    async fn dc_page(&self, id: &str) -> Result<PageDoc, AtlassianError> {
        let path = format!("/rest/api/content/{id}");
        let expand = "body.view,version,space,ancestors".to_string();
        let page = self.endpoint.get(&path, &[("expand", expand)]).await?.body;
        let title = page.get("title").and_then(Value::as_str).unwrap_or_default().to_string();
        let body = page.pointer("/body/view/value").and_then(Value::as_str).unwrap_or("");
        let space_key =
            page.pointer("/space/key").and_then(Value::as_str).unwrap_or("").to_string();
        let mut title_path: Vec<String> = page
            .get("ancestors")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.get("title").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        title_path.push(title.clone());
        let webui = page.pointer("/_links/webui").and_then(Value::as_str).unwrap_or("");
        let url = format!("{}{webui}", self.site_url);
        Ok(PageDoc {
            id: id.to_string(),
            version: page.pointer("/version/number").map(Value::to_string).unwrap_or_default(),
            markdown: page_markdown(&space_key, &title_path, &url, &html::to_markdown(body)),
            title,
            space_key,
            title_path,
            url,
            unknown_nodes: Vec::new(),
        })
    }
}

/// A page as a context: its title, where it sits, its body, its link.
fn page_markdown(space: &str, title_path: &[String], url: &str, body: &str) -> String {
    let title = title_path.last().map(String::as_str).unwrap_or("");
    let mut out = format!("# {title}\n\n**Space**: {space}\n");
    if title_path.len() > 1 {
        out.push_str(&format!("**Path**: {}\n", title_path.join(" / ")));
    }
    out.push('\n');
    out.push_str(if body.trim().is_empty() { "(empty page)" } else { body.trim() });
    out.push_str(&format!("\n\n**Link**: {url}"));
    out
}

/// Confluence sends ids as strings (v2) or numbers.
fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
