//! Confluence pages as context: the `confluence_sync` job, the [`Source`] of pages (of spaces,
//! of a CQL query, of given ids) the sync engine runs.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tc_atlassian::AtlassianError;
use tc_atlassian::confluence::Confluence;
use uuid::Uuid;

use super::Product;
use super::sync::{Listed, Rendered, Source, site_key};
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult};
use crate::services::Services;
use crate::services::jobs::{JobContext, JobError, JobHandler};
use crate::views::{ConfluenceSyncRequest, SyncAccepted};

pub const CONFLUENCE_SYNC_KIND: &str = "confluence_sync";
/// The source of synced pages' contexts.
pub const CONFLUENCE_SOURCE: &str = "confluence";
const MAX_SPACES: usize = 100;
const MAX_PAGE_IDS: usize = 1000;
const MAX_CQL_LEN: usize = 10_000;
/// Part of every stored item's version: bumping it re-renders every page on the next sync.
const FORMAT_VERSION: &str = "confluence-md-1";

#[derive(Debug, Serialize, Deserialize)]
struct SyncPayload {
    connection_id: Uuid,
    space_keys: Vec<String>,
    cql: Option<String>,
    page_ids: Vec<String>,
}

/// The Confluence sync job.
#[derive(Debug)]
pub struct ConfluenceSyncJob;

#[async_trait::async_trait]
impl JobHandler for ConfluenceSyncJob {
    fn kind(&self) -> &'static str {
        CONFLUENCE_SYNC_KIND
    }

    async fn run(&self, services: &Services, ctx: &JobContext) -> Result<Value, JobError> {
        services.run_confluence_sync(ctx).await
    }
}

/// The request checked: space keys, a CQL query and page ids, at least one of them.
fn payload(connection_id: Uuid, req: ConfluenceSyncRequest) -> DomainResult<SyncPayload> {
    let space_keys: Vec<String> =
        req.space_keys.unwrap_or_default().into_iter().map(|k| k.trim().to_string()).collect();
    if space_keys.len() > MAX_SPACES {
        return Err(DomainError::validation(
            "space_keys",
            format!("at most {MAX_SPACES} `space_keys`"),
        ));
    }
    if let Some(bad) = space_keys.iter().find(|k| {
        k.is_empty()
            || k.len() > 255
            || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '~' || c == '_')
    }) {
        return Err(DomainError::validation(
            "space_keys",
            format!("{bad:?} is not a space key (like ENG)"),
        ));
    }
    let cql = req.cql.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
    if cql.as_ref().is_some_and(|c| c.len() > MAX_CQL_LEN) {
        return Err(DomainError::validation("cql", "`cql` is too long"));
    }
    let page_ids: Vec<String> =
        req.page_ids.unwrap_or_default().into_iter().map(|p| p.trim().to_string()).collect();
    if page_ids.len() > MAX_PAGE_IDS {
        return Err(DomainError::validation(
            "page_ids",
            format!("at most {MAX_PAGE_IDS} `page_ids`"),
        ));
    }
    if let Some(bad) =
        page_ids.iter().find(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(DomainError::validation(
            "page_ids",
            format!("{bad:?} is not a page id (digits)"),
        ));
    }
    if space_keys.is_empty() && cql.is_none() && page_ids.is_empty() {
        return Err(DomainError::validation(
            "space_keys",
            "give `space_keys`, `cql`, `page_ids`, or several",
        ));
    }
    Ok(SyncPayload { connection_id, space_keys, cql, page_ids })
}

impl Services {
    /// Accepts a sync of Confluence pages into a project as a background job.
    pub async fn start_confluence_sync(
        &self,
        caller: &Caller,
        req: ConfluenceSyncRequest,
    ) -> DomainResult<SyncAccepted> {
        let (project_id, conn) =
            self.authorize_sync(caller, req.project_id, Product::Confluence).await?;
        let payload = payload(conn.id, req)?;
        self.queue_sync(caller, CONFLUENCE_SYNC_KIND, project_id, &payload).await
    }

    async fn run_confluence_sync(&self, ctx: &JobContext) -> Result<Value, JobError> {
        let payload: SyncPayload = serde_json::from_value(ctx.job.payload.clone())
            .map_err(|e| JobError::Fatal(format!("unreadable sync request: {e}")))?;
        let conn = self.sync_connection(ctx, payload.connection_id, Product::Confluence).await?;
        let endpoint = self.endpoint(&conn).await.map_err(|e| self.job_error(e))?;
        let source = PageSource {
            confluence: Confluence::new(endpoint, conn.kind != "datacenter", &conn.site_url),
            site: site_key(&conn.site_url),
            payload,
        };
        self.run_sync(ctx, Product::Confluence, &conn, &source).await
    }
}

/// The pages of the request's spaces, query and ids.
struct PageSource {
    confluence: Confluence,
    site: String,
    payload: SyncPayload,
}

#[async_trait::async_trait]
impl Source for PageSource {
    fn source(&self) -> &'static str {
        CONFLUENCE_SOURCE
    }

    fn format(&self) -> &'static str {
        FORMAT_VERSION
    }

    async fn list(
        &self,
        on_page: &mut (dyn FnMut(usize) + Send),
    ) -> Result<Vec<Listed>, AtlassianError> {
        let p = &self.payload;
        let mut hits = self.confluence.space_pages(&p.space_keys, on_page).await?;
        if let Some(cql) = &p.cql {
            hits.extend(self.confluence.cql_pages(cql, on_page).await?);
        }
        hits.extend(self.confluence.pages_by_id(&p.page_ids).await?);
        let mut seen = HashSet::new();
        Ok(hits
            .into_iter()
            .filter(|h| seen.insert(h.id.clone()))
            .map(|h| Listed { id: h.id, label: h.title, version: h.version })
            .collect())
    }

    async fn fetch(&self, id: &str) -> Result<Rendered, AtlassianError> {
        let page = self.confluence.page(id).await?;
        let metadata = json!({
            "title": page.title,
            "title_path": page.title_path,
            "confluence_page_id": page.id,
            "confluence_space": page.space_key,
            "confluence_site": self.site,
            "url": page.url,
        });
        let mut tags = vec!["confluence".to_string()];
        if !page.space_key.is_empty() {
            tags.push(page.space_key.to_lowercase());
        }
        Ok(Rendered {
            markdown: page.markdown,
            metadata: metadata.as_object().cloned().unwrap_or_default(),
            tags,
            version: page.version,
            unknown_nodes: page.unknown_nodes,
        })
    }

    async fn exists(&self, id: &str) -> Result<bool, AtlassianError> {
        self.confluence.exists(id).await
    }
}
