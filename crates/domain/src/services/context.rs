//! Saved context: validation, token counting (cl100k_base), automatic chunking of very large
//! contexts, project inference, get / delete / list, and the analytics event of a save. Vectors
//! come from `embedding`, the prices of retrieval from `pricing`.
//!
//! Size rules (SPEC §6, configurable): above 10,000 tokens a save succeeds with a warning; above
//! 100,000 it is split into child contexts (`parent_id`, `chunk_index`) of about 8,300 tokens, cut
//! at line ends, and only the children are embedded and searchable; the parent keeps the whole text
//! for `GET`. The request body limit answers 413 before any of this.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tc_store::{AnalyticsEventRecord, ContextFilter, ContextRecord, Role, Scope};
use tracing::instrument;
use uuid::Uuid;

use super::access::Access;
use super::tokens::{count_tokens, split_by_tokens};
use super::{Services, validate};
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::pagination::{PageParams, Paged};
use crate::views::{ContextMetadataInput, ContextView, SaveContextRequest, SaveContextResponse};

const MAX_TAGS: usize = 20;

/// Size rules for saved context; the defaults are SPEC §6's.
#[derive(Debug, Clone, Copy)]
pub struct ContextLimits {
    /// Above this many tokens a save succeeds with a warning.
    pub warn_tokens: usize,
    /// Above this many tokens a save is split into chunks of about a twelfth of it.
    pub chunk_above_tokens: usize,
}

impl Default for ContextLimits {
    fn default() -> Self {
        ContextLimits { warn_tokens: 10_000, chunk_above_tokens: 100_000 }
    }
}

pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn valid_source(source: &str) -> bool {
    !source.is_empty()
        && source.len() <= 40
        && source
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The `source` recorded for context saved through an MCP client that did not name one: the
/// assistant's family (`claude`, `cursor`, `chatgpt`, …) when its client name reveals it, else the
/// client name itself reduced to the characters a source may hold, else `mcp`.
pub fn source_for_mcp_client(client_name: &str) -> String {
    let lower = client_name.to_ascii_lowercase();
    const FAMILIES: [(&str, &str); 8] = [
        ("claude", "claude"),
        ("cursor", "cursor"),
        ("chatgpt", "chatgpt"),
        ("openai", "chatgpt"),
        ("copilot", "copilot"),
        ("windsurf", "windsurf"),
        ("codeium", "windsurf"),
        ("gemini", "gemini"),
    ];
    if let Some((_, family)) = FAMILIES.iter().find(|(needle, _)| lower.contains(needle)) {
        return (*family).to_string();
    }
    let mut cleaned = String::with_capacity(lower.len());
    for c in lower.chars() {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' { c } else { '-' };
        if !(c == '-' && (cleaned.is_empty() || cleaned.ends_with('-'))) {
            cleaned.push(c);
        }
    }
    let cleaned = cleaned.trim_end_matches('-');
    let cleaned = &cleaned[..cleaned.len().min(40)];
    if valid_source(cleaned) { cleaned.trim_end_matches('-').to_string() } else { "mcp".into() }
}

/// Validates the client's metadata and builds the stored JSON object (without `created_by`).
fn metadata_object(
    input: ContextMetadataInput,
    source: &str,
) -> DomainResult<serde_json::Map<String, Value>> {
    let mut out = input.extra;
    for reserved in ["created_by", "parent_id", "chunk_index", "project_id"] {
        out.remove(reserved);
    }
    let mut tags = Vec::new();
    for tag in input.tags.unwrap_or_default() {
        let tag = tag.trim().to_string();
        if tag.is_empty() || tag.chars().count() > 50 {
            return Err(DomainError::validation("metadata.tags", "tags must be 1–50 characters"));
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(DomainError::validation("metadata.tags", format!("at most {MAX_TAGS} tags")));
    }
    out.insert("source".into(), json!(source));
    out.insert("tags".into(), json!(tags));
    if let Some(path) = input.file_path {
        out.insert(
            "file_path".into(),
            json!(validate::required_text("metadata.file_path", Some(&path), 1000)?),
        );
    }
    if let Some(language) = input.language {
        out.insert(
            "language".into(),
            json!(validate::required_text("metadata.language", Some(&language), 50)?),
        );
    }
    Ok(out)
}

pub(crate) fn context_view(c: ContextRecord) -> ContextView {
    let mut metadata = match c.metadata {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    metadata.insert("source".into(), json!(c.source));
    metadata.insert("created_by".into(), json!(c.created_by));
    if let Some(path) = &c.file_path {
        metadata.insert("file_path".into(), json!(path));
    }
    if let Some(parent) = c.parent_id {
        metadata.insert("parent_id".into(), json!(parent));
    }
    if let Some(index) = c.chunk_index {
        metadata.insert("chunk_index".into(), json!(index));
    }
    ContextView {
        id: c.id,
        project_id: c.project_id,
        content: c.content,
        token_count: c.token_count,
        metadata: Value::Object(metadata),
        accessed_count: c.accessed_count,
        last_accessed: c.last_accessed,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

fn context_not_found() -> DomainError {
    DomainError::new(ErrorCode::ContextNotFound, "context not found")
}

impl Services {
    /// Picks the project for a save without `project_id` and says how it was chosen.
    async fn infer_project(
        &self,
        caller: &Caller,
        content: &str,
    ) -> DomainResult<(Uuid, &'static str)> {
        let projects = self.save_candidates(caller).await?;
        if caller.project_restriction().is_some() {
            return Ok((projects[0], "api_key"));
        }
        match projects.len() {
            0 => Err(DomainError::new(
                ErrorCode::MissingRequiredField,
                "create a project first: there is no project to save this context in",
            )
            .with_details(json!({ "field": "project_id" }))),
            1 => Ok((projects[0], "only_project")),
            _ => {
                let described = self
                    .store
                    .project_description_vectors(&projects, self.embedder.model_id())
                    .await?;
                if described.is_empty() {
                    return Err(DomainError::missing("project_id").with_details(json!({
                        "field": "project_id",
                        "reason": "you have several projects and none has a description to match against",
                    })));
                }
                let head: String = content.chars().take(2000).collect();
                let query = self.embed(vec![head]).await?.remove(0);
                let best = described
                    .iter()
                    .map(|(id, v)| (*id, tc_embed::cosine(&query, v)))
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(id, _)| id)
                    .ok_or_else(|| DomainError::missing("project_id"))?;
                Ok((best, "best_match"))
            }
        }
    }

    #[instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn save_context(
        &self,
        caller: &Caller,
        req: SaveContextRequest,
        client_source: Option<&str>,
    ) -> DomainResult<SaveContextResponse> {
        self.require_verified(caller)?;
        caller.require_scope(Scope::Write)?;
        let started = std::time::Instant::now();
        let content = req.content.ok_or_else(|| DomainError::missing("content"))?;
        if content.trim().is_empty() {
            return Err(DomainError::validation("content", "`content` must not be empty"));
        }
        let input = req.metadata.unwrap_or_default();
        let source = input
            .source
            .clone()
            .or(client_source.map(str::to_string))
            .unwrap_or_else(|| "api".into());
        if !valid_source(&source) {
            return Err(DomainError::validation(
                "metadata.source",
                "`source` must be 1–40 lower-case letters, digits, `-` or `_` (e.g. claude, cursor, api)",
            ));
        }
        let file_path = input.file_path.clone();
        let metadata = metadata_object(input, &source)?;

        let (project_id, selection) = match req.project_id {
            Some(id) => (id, "explicit"),
            None => self.infer_project(caller, &content).await?,
        };
        let (project, _) = self.project_for(caller, project_id, Access::Write).await?;

        let token_count = count_tokens(&content);
        let limits = self.pricing.limits;
        let mut warnings = Vec::new();
        if token_count > limits.warn_tokens {
            warnings.push(format!(
                "this context is {token_count} tokens; above {} tokens an assistant can rarely use it whole, so consider saving smaller pieces",
                limits.warn_tokens
            ));
        }
        let now = self.now();
        let record = |content: String,
                      tokens: usize,
                      parent_id: Option<Uuid>,
                      chunk_index: Option<i64>| ContextRecord {
            id: Uuid::now_v7(),
            project_id,
            content_hash: sha256_hex(&content),
            content,
            token_count: tokens as i64,
            source: source.clone(),
            file_path: file_path.clone(),
            parent_id,
            chunk_index,
            metadata: Value::Object(metadata.clone()),
            created_by: caller.user_id,
            accessed_count: 0,
            last_accessed: None,
            created_at: now,
            updated_at: now,
        };
        let parent = record(content.clone(), token_count, None, None);
        let mut rows = Vec::new();
        let mut chunk_ids = Vec::new();
        if token_count > limits.chunk_above_tokens {
            let pieces = split_by_tokens(&content, (limits.chunk_above_tokens / 12).max(100));
            warnings.push(format!(
                "above {} tokens: saved as {} chunks that are searched separately",
                limits.chunk_above_tokens,
                pieces.len()
            ));
            let mut children = Vec::new();
            for (i, piece) in pieces.into_iter().enumerate() {
                let tokens = count_tokens(&piece);
                let child = record(piece, tokens, Some(parent.id), Some(i as i64));
                chunk_ids.push(child.id);
                let passages = self.passages_for(&child).await?;
                children.push((child, passages));
            }
            rows.push((parent.clone(), Vec::new()));
            rows.extend(children);
        } else {
            let passages = self.passages_for(&parent).await?;
            rows.push((parent.clone(), passages));
        }
        self.store.insert_contexts(&rows).await?;
        self.pending.event(AnalyticsEventRecord {
            id: Uuid::now_v7(),
            user_id: caller.user_id,
            project_id: Some(project_id),
            event_type: "context_save".into(),
            timestamp: now,
            tokens_saved: token_count as i64,
            tokens_avoided: 0,
            contexts_retrieved: 0,
            api_calls_made: 1,
            processing_time_ms: started.elapsed().as_secs_f64() * 1000.0,
            model: None,
            price_per_mtok: None,
            estimated_savings_usd: 0.0,
            source: Some(source.clone()),
        });
        Ok(SaveContextResponse {
            id: parent.id,
            project_id,
            project_name: project.name,
            project_selection: selection,
            token_count: token_count as i64,
            chunk_ids,
            warnings,
            created_at: now,
        })
    }

    /// The context, if the caller may read its project.
    pub async fn get_context(&self, caller: &Caller, id: Uuid) -> DomainResult<ContextView> {
        caller.require_scope(Scope::Read)?;
        self.require_verified(caller)?;
        self.require_may_retrieve(caller)?;
        let context = self.store.context_by_id(id).await?.ok_or_else(context_not_found)?;
        self.project_for(caller, context.project_id, Access::Read)
            .await
            .map_err(|_| context_not_found())?;
        self.pending.accessed([id], self.now());
        Ok(context_view(context))
    }

    /// Deletes a context (and its chunks). Members of its project may delete.
    #[instrument(skip_all, fields(user_id = %caller.user_id, context_id = %id))]
    pub async fn delete_context(&self, caller: &Caller, id: Uuid) -> DomainResult<()> {
        self.require_verified(caller)?;
        caller.require_scope(Scope::Write)?;
        let context = self.store.context_by_id(id).await?.ok_or_else(context_not_found)?;
        let (_, role) = self
            .project_for(caller, context.project_id, Access::Read)
            .await
            .map_err(|_| context_not_found())?;
        if !matches!(role, Some(Role::Owner | Role::Contributor)) {
            return Err(DomainError::new(
                ErrorCode::ProjectAccessDenied,
                "only members of this project may delete its context",
            ));
        }
        self.store.delete_context(id).await?;
        Ok(())
    }

    pub async fn list_contexts(
        &self,
        caller: &Caller,
        project_id: Uuid,
        filter: ContextFilter,
        params: &PageParams,
    ) -> DomainResult<Paged<ContextView>> {
        caller.require_scope(Scope::Read)?;
        self.require_may_retrieve(caller)?;
        self.project_for(caller, project_id, Access::Read).await?;
        let page = params.to_page()?;
        let rows = self.store.list_contexts(project_id, &filter, page).await?;
        Ok(Paged::from_rows(rows, page, |c| c.id, context_view))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_client_names_become_sources() {
        assert_eq!(source_for_mcp_client("claude-ai"), "claude");
        assert_eq!(source_for_mcp_client("Claude Code"), "claude");
        assert_eq!(source_for_mcp_client("cursor-vscode"), "cursor");
        assert_eq!(source_for_mcp_client("openai-mcp"), "chatgpt");
        assert_eq!(source_for_mcp_client("My Tool 2.0"), "my-tool-2-0");
        assert_eq!(source_for_mcp_client("inspector-client"), "inspector-client");
        assert_eq!(source_for_mcp_client(""), "mcp");
        assert_eq!(source_for_mcp_client("---"), "mcp");
        assert_eq!(source_for_mcp_client("ÄÖÜ"), "mcp");
        let long = source_for_mcp_client(&"x".repeat(100));
        assert_eq!(long.len(), 40);
    }

    #[test]
    fn sources_and_metadata() {
        assert!(
            valid_source("claude") && valid_source("codebase_scan") && valid_source("my-tool2")
        );
        assert!(!valid_source("") && !valid_source("Claude") && !valid_source("a b"));
        let input = ContextMetadataInput {
            tags: Some(vec!["a".into(), " a ".into(), "b".into()]),
            extra: [
                ("created_by".to_string(), json!("spoofed")),
                ("ticket".to_string(), json!("T-1")),
            ]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        let meta = metadata_object(input, "api").unwrap();
        assert_eq!(meta["tags"], json!(["a", "b"]));
        assert_eq!(meta["ticket"], "T-1");
        assert!(!meta.contains_key("created_by"), "reserved keys are the server's");
    }
}
