//! MCP servers a user registers so that the agent may call their tools (seed 003's remote tool
//! sources): registered with an optional bearer token (sealed at rest like a Jira token), their
//! tool lists cached in the store for [`TOOL_CACHE_TTL`] and fetched again when older (or on
//! demand), and offered to the agent as `<server>__<tool>`.
//!
//! Managing servers needs an account-level credential, as integrations do. In a turn, a key
//! restricted to one project gets no remote tools (they are the account's), and a key without
//! `write` only the tools their server annotates read-only.

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use tc_store::{McpServerRecord, Scope, SecretRecord, StoreError};
use uuid::Uuid;

use super::agent::AgentTool;
use super::remote_tools::{RemoteServer, RemoteTool, TurnServer, list_tools};
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::sealing::{Sealed, Sealer};
use crate::services::Services;
use crate::views::{McpServerList, McpServerToolView, McpServerView, RegisterMcpServerRequest};
use tc_llm::ToolSpec;

/// How long a fetched tool list is used before it is fetched again (seed 003: six hours).
pub const TOOL_CACHE_TTL: chrono::Duration = chrono::Duration::hours(6);
/// Most servers one user may register.
pub const MAX_SERVERS: usize = 10;
/// The sealed secret's kind (part of its associated data).
const TOKEN: &str = "bearer_token";
const MAX_NAME: usize = 32;
const MAX_URL: usize = 2048;
const MAX_TOKEN: usize = 4096;
/// Longest name a model accepts for a function (OpenAI's limit; others are looser).
const MAX_TOOL_NAME: usize = 64;

/// The remote tools of one caller's turn.
pub struct RemoteToolset {
    pub servers: Vec<TurnServer>,
    /// Each tool as the agent sees it, with the index of its server and its own name there.
    pub tools: Vec<(AgentTool, usize, String)>,
}

/// The name the agent calls a server's tool by: `<server>__<tool>`, with what a model would
/// refuse in a function name replaced, cut to the length models accept.
pub fn agent_tool_name(server: &str, tool: &str) -> String {
    let tool: String = tool
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .collect();
    format!("{server}__{tool}").chars().take(MAX_TOOL_NAME).collect()
}

fn cached_tools(record: &McpServerRecord) -> Vec<RemoteTool> {
    serde_json::from_value(record.tools.clone()).unwrap_or_default()
}

fn view(record: &McpServerRecord) -> McpServerView {
    McpServerView {
        id: record.id,
        name: record.name.clone(),
        url: record.url.clone(),
        has_token: record.token.is_some(),
        tools: cached_tools(record)
            .into_iter()
            .map(|t| McpServerToolView {
                agent_name: agent_tool_name(&record.name, &t.name),
                name: t.name,
                description: t.description,
                writes: !t.read_only,
            })
            .collect(),
        tools_refreshed_at: record.tools_refreshed_at,
        tools_expire_at: record.tools_refreshed_at.map(|at| at + TOOL_CACHE_TTL),
        error: record.error.clone(),
        created_at: record.created_at,
    }
}

fn valid_name(name: Option<String>) -> DomainResult<String> {
    let name = name.map(|n| n.trim().to_string()).unwrap_or_default();
    if name.is_empty() {
        return Err(DomainError::missing("name"));
    }
    let shaped = name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && !name.contains("__");
    if !shaped {
        return Err(DomainError::validation(
            "name",
            format!(
                "`name` must be 1-{MAX_NAME} lowercase letters, digits, `-` or `_` (no `__`), \
                 starting with a letter or digit"
            ),
        ));
    }
    Ok(name)
}

fn valid_url(url: Option<String>) -> DomainResult<String> {
    let url = url.map(|u| u.trim().to_string()).unwrap_or_default();
    if url.is_empty() {
        return Err(DomainError::missing("url"));
    }
    let parsed = url::Url::parse(&url)
        .map_err(|e| DomainError::validation("url", format!("`url` is not a valid URL: {e}")))?;
    if url.len() > MAX_URL
        || !matches!(parsed.scheme(), "http" | "https")
        || parsed.host_str().is_none()
        || !parsed.username().is_empty()
        || parsed.password().is_some()
        || parsed.fragment().is_some()
    {
        return Err(DomainError::validation(
            "url",
            "`url` must be an http:// or https:// URL with a host, no credentials and no fragment",
        ));
    }
    Ok(parsed.to_string())
}

fn valid_token(token: Option<String>) -> DomainResult<Option<String>> {
    let Some(token) = token.map(|t| t.trim().to_string()) else { return Ok(None) };
    if token.is_empty() || token.len() > MAX_TOKEN || token.chars().any(|c| c.is_control()) {
        return Err(DomainError::validation(
            "bearer_token",
            format!("`bearer_token` must be 1-{MAX_TOKEN} printable characters"),
        ));
    }
    Ok(Some(token))
}

fn unreachable(e: String) -> DomainError {
    DomainError::new(ErrorCode::McpServerFailed, e)
}

fn open_token(sealer: &Sealer, record: &McpServerRecord) -> Result<Option<String>, String> {
    let Some(token) = &record.token else { return Ok(None) };
    let sealed = Sealed { key_version: token.key_version, bytes: token.sealed.clone() };
    sealer.open(record.id, TOKEN, &sealed).map(Some).map_err(|_| {
        "its token was sealed with a key this server no longer holds: register it again".into()
    })
}

impl Services {
    /// Registers an MCP server for the caller's agent, once it answered the MCP handshake and
    /// listed its tools.
    pub async fn register_mcp_server(
        &self,
        caller: &Caller,
        req: RegisterMcpServerRequest,
    ) -> DomainResult<McpServerView> {
        self.require_account_credential(caller, Scope::Write)?;
        let name = valid_name(req.name)?;
        let url = valid_url(req.url)?;
        let token = valid_token(req.bearer_token)?;
        let existing = self.store.mcp_servers(caller.user_id).await?;
        if existing.iter().any(|s| s.name == name) {
            return Err(taken(&name));
        }
        if existing.len() >= MAX_SERVERS {
            return Err(DomainError::validation(
                "name",
                format!("at most {MAX_SERVERS} MCP servers may be registered: delete one first"),
            ));
        }
        tc_outbound::check_http_url("`url`", &url, self.outbound()?)
            .map_err(|e| DomainError::validation("url", e.0))?;
        let remote = RemoteServer { url: url.clone(), token: token.clone() };
        let tools = list_tools(&remote, self.outbound()?).await.map_err(unreachable)?;
        let now = self.now();
        let id = Uuid::now_v7();
        let sealer = self.sealer()?;
        let record = McpServerRecord {
            id,
            user_id: caller.user_id,
            name,
            url,
            token: token.map(|t| {
                let sealed = sealer.seal(id, TOKEN, &t);
                SecretRecord {
                    kind: TOKEN.into(),
                    key_version: sealed.key_version,
                    sealed: sealed.bytes,
                }
            }),
            tools: serde_json::to_value(&tools).map_err(DomainError::internal)?,
            tools_refreshed_at: Some(now),
            error: None,
            created_at: now,
            updated_at: now,
        };
        match self.store.insert_mcp_server(&record).await {
            Err(StoreError::Conflict { .. }) => return Err(taken(&record.name)),
            other => other?,
        }
        tracing::info!(user_id = %caller.user_id, server = %record.name, tools = tools.len(), "MCP server registered");
        Ok(view(&record))
    }

    /// The caller's registered servers, by name.
    pub async fn mcp_servers(&self, caller: &Caller) -> DomainResult<McpServerList> {
        self.require_account_credential(caller, Scope::Read)?;
        let servers = self.store.mcp_servers(caller.user_id).await?;
        Ok(McpServerList { servers: servers.iter().map(view).collect() })
    }

    /// One of the caller's servers.
    pub async fn mcp_server(&self, caller: &Caller, id: Uuid) -> DomainResult<McpServerView> {
        self.require_account_credential(caller, Scope::Read)?;
        Ok(view(&self.own_mcp_server(caller, id).await?))
    }

    pub async fn delete_mcp_server(&self, caller: &Caller, id: Uuid) -> DomainResult<()> {
        self.require_account_credential(caller, Scope::Write)?;
        if !self.store.delete_mcp_server(caller.user_id, id).await? {
            return Err(DomainError::not_found("MCP server"));
        }
        Ok(())
    }

    /// Fetches a server's tool list now. When the server fails, the error is recorded (the
    /// cached list stays in use) and returned.
    pub async fn refresh_mcp_server(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> DomainResult<McpServerView> {
        self.require_account_credential(caller, Scope::Write)?;
        let record = self.own_mcp_server(caller, id).await?;
        let record = self.refresh_tools(record).await.map_err(unreachable)?;
        Ok(view(&record))
    }

    async fn own_mcp_server(&self, caller: &Caller, id: Uuid) -> DomainResult<McpServerRecord> {
        match self.store.mcp_server(id).await? {
            Some(record) if record.user_id == caller.user_id => Ok(record),
            _ => Err(DomainError::not_found("MCP server")),
        }
    }

    /// Lists `record`'s tools again and stores them; on failure records why.
    async fn refresh_tools(&self, mut record: McpServerRecord) -> Result<McpServerRecord, String> {
        let now = self.now();
        let listed = match (self.sealer(), self.outbound()) {
            (Ok(sealer), Ok(allow)) => match open_token(sealer, &record) {
                Ok(token) => {
                    list_tools(&RemoteServer { url: record.url.clone(), token }, allow).await
                }
                Err(e) => Err(e),
            },
            _ => Err("integrations are not configured".into()),
        };
        let stored = match &listed {
            Ok(tools) => {
                record.tools = serde_json::to_value(tools).unwrap_or_default();
                record.tools_refreshed_at = Some(now);
                record.error = None;
                self.store.set_mcp_server_tools(record.id, &record.tools, now).await
            }
            Err(e) => {
                record.error = Some(e.clone());
                self.store.set_mcp_server_error(record.id, e, now).await
            }
        };
        if let Err(e) = stored {
            tracing::warn!(server = %record.id, error = %e, "cannot store an MCP server's tools");
        }
        listed.map(|_| record)
    }

    /// The remote tools of the caller's agent turn. Lists older than [`TOOL_CACHE_TTL`] are
    /// fetched again first (together); a server that fails keeps its cached tools.
    pub async fn agent_remote_tools(&self, caller: &Caller) -> DomainResult<RemoteToolset> {
        let mut set = RemoteToolset { servers: Vec::new(), tools: Vec::new() };
        if caller.project_restriction().is_some() || self.integrations.is_none() {
            return Ok(set);
        }
        let may_write = caller.has_scope(Scope::Write);
        let now = self.now();
        let records = self.store.mcp_servers(caller.user_id).await?;
        let records = join_all(records.into_iter().map(|r| async move {
            if is_fresh(&r, now) {
                return r;
            }
            let fallback = r.clone();
            match self.refresh_tools(r).await {
                Ok(fresh) => fresh,
                Err(e) => {
                    tracing::warn!(server = %fallback.name, error = %e, "an MCP server's tools could not be refreshed; using the cached list");
                    fallback
                }
            }
        }))
        .await;
        let (sealer, allow) = (self.sealer()?, self.outbound()?);
        for record in records {
            let Ok(token) = open_token(sealer, &record) else { continue };
            let index = set.servers.len();
            for tool in cached_tools(&record) {
                if !may_write && !tool.read_only {
                    continue;
                }
                let spec = ToolSpec {
                    name: agent_tool_name(&record.name, &tool.name),
                    description: tool.description.clone(),
                    parameters: tool.input_schema.clone(),
                };
                if set.tools.iter().any(|(t, ..)| t.spec.name == spec.name) {
                    continue;
                }
                let agent_tool =
                    AgentTool { spec, writes: !tool.read_only, server: Some(record.name.clone()) };
                set.tools.push((agent_tool, index, tool.name));
            }
            let remote = RemoteServer { url: record.url.clone(), token };
            set.servers.push(TurnServer::new(record.name.clone(), remote, allow.clone()));
        }
        Ok(set)
    }
}

fn is_fresh(record: &McpServerRecord, now: DateTime<Utc>) -> bool {
    record.tools_refreshed_at.is_some_and(|at| now - at < TOOL_CACHE_TTL)
}

fn taken(name: &str) -> DomainError {
    DomainError::new(ErrorCode::Conflict, format!("you already have an MCP server named `{name}`"))
}

/// What resealing MCP servers' tokens did (`teamcontext rotate-encryption-key`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct McpResealReport {
    pub resealed: usize,
    pub current: usize,
    /// Servers whose token no key opened: the error says to register them again.
    pub unreadable: Vec<Uuid>,
}

/// Reseals every MCP server's token with `sealer`'s current key.
pub async fn reseal_mcp_servers(
    store: &dyn tc_store::Store,
    sealer: &Sealer,
    now: DateTime<Utc>,
) -> DomainResult<McpResealReport> {
    let mut report = McpResealReport::default();
    for record in store.list_all_mcp_servers().await? {
        let Some(token) = &record.token else { continue };
        if token.key_version == sealer.key_version() {
            report.current += 1;
            continue;
        }
        match open_token(sealer, &record) {
            Ok(Some(plain)) => {
                let sealed = sealer.seal(record.id, TOKEN, &plain);
                let token = SecretRecord {
                    kind: TOKEN.into(),
                    key_version: sealed.key_version,
                    sealed: sealed.bytes,
                };
                store.replace_mcp_server_token(record.id, &token, now).await?;
                report.resealed += 1;
            }
            Ok(None) => {}
            Err(why) => {
                store.set_mcp_server_error(record.id, &why, now).await?;
                report.unreadable.push(record.id);
            }
        }
    }
    Ok(report)
}
