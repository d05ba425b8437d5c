//! Saved context: the rules of its metadata and source, its size limits, and get / delete /
//! list. Saving itself (one or a batch) is in `save`.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tc_store::{ContextFilter, ContextRecord, Role, Scope};
use tracing::instrument;
use uuid::Uuid;

use super::access::Access;
use super::{Services, validate};
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::pagination::{PageParams, Paged};
use crate::views::{ContextMetadataInput, ContextView};

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

pub(crate) fn valid_source(source: &str) -> bool {
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
pub(crate) fn metadata_object(
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
