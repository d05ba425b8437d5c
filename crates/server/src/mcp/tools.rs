//! The MCP tools. Each is a thin wrapper over the service function REST uses, so scopes, project
//! restrictions, validation and analytics are the same on both doors. A failure comes back as a
//! tool error whose text is the REST error envelope (`{"error": {"code", "message", …}}`), never
//! a stack trace; only a request rmcp cannot route at all becomes a protocol error.

use std::sync::{Arc, OnceLock};

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tc_domain::pagination::PageParams;
use tc_domain::services::{MAX_REPORT_DAYS, Upload, source_for_mcp_client};
use tc_domain::views::{
    ConfluenceSyncRequest, ContextMetadataInput, ContextView, CostSavingsReport, InvitationView,
    JiraSyncRequest, ProjectView, QaRequest, QaResponse, ReportQuery, SaveContextRequest,
    SaveContextResponse, ScanAccepted, ScanRequest, SearchRequest, SearchResponse,
    SummarizeRequest, SummaryResponse, SyncAccepted,
};
use tc_domain::{Caller, DomainError, ErrorCode};
use tracing::error;
use uuid::Uuid;

use crate::state::AppState;

/// One MCP session's handler; rmcp makes one per session from the shared [`AppState`].
#[derive(Clone)]
pub struct TeamContextMcp {
    pub(super) state: AppState,
    /// The caller of every call, for a session opened in process for the agent (a session
    /// over HTTP takes each request's caller instead).
    bound: Option<Caller>,
}

impl std::fmt::Debug for TeamContextMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TeamContextMcp")
    }
}

// Input fields a tool cannot do without are `Option` in Rust but required in the schema, so a
// call without one reaches the service and fails as a tool error (`MISSING_REQUIRED_FIELD`)
// rather than as a bare protocol error.

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetRelevantContextInput {
    /// What you need to know, in natural language or keywords.
    #[schemars(with = "String")]
    pub query: Option<String>,
    /// Search only this project. Without it the projects whose descriptions best match the
    /// query are searched (and reported in `relevant_projects`).
    #[schemars(with = "Option<Uuid>")]
    pub project_id: Option<String>,
    /// How many results to return, 1–100 (default 5).
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AskQuestionInput {
    /// The question, in natural language.
    #[schemars(with = "String")]
    pub question: Option<String>,
    /// Ask only this project's context (default: every project you can read).
    #[schemars(with = "Option<Uuid>")]
    pub project_id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SummarizeContextInput {
    /// The contexts to summarize together (ids from search results), at most 50.
    #[schemars(with = "Vec<Uuid>")]
    pub context_ids: Option<Vec<String>>,
    /// `concise` (default), `detailed` or `bullet`.
    pub style: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SaveToContextInput {
    /// The text to remember: a decision, an explanation, a snippet, meeting notes, …
    #[schemars(with = "String")]
    pub content: Option<String>,
    /// The project to save into. Without it: the API key's project, your only project, or the
    /// project whose description best matches the content (the answer says which).
    #[schemars(with = "Option<Uuid>")]
    pub project_id: Option<String>,
    /// Short labels to find it by later, such as `decision` or `auth`.
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListProjectsInput {
    /// `next_cursor` from a previous call, for the next page.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetContextInput {
    /// The context id, as returned by `get_relevant_context` or `save_to_context`.
    #[schemars(with = "Uuid")]
    pub id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetCostSavingsInput {
    /// One project's savings, by everyone on it. Without it: your own savings in all your
    /// projects.
    #[schemars(with = "Option<Uuid>")]
    pub project_id: Option<String>,
    /// How many days back from now, 1–3660 (default 30). Up to 92 days are broken down by day,
    /// up to two years by ISO week, longer by month.
    pub days: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ScanFile {
    /// The file's path relative to the project root, e.g. `src/auth/login.py`.
    pub path: String,
    /// The file's text.
    pub content: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ScanCodebaseInput {
    /// The project to index into.
    #[schemars(with = "Uuid")]
    pub project_id: Option<String>,
    /// Files to index (added or updated; other files are left alone). Give these or `git_url`.
    pub files: Option<Vec<ScanFile>>,
    /// A repository to clone and index as a whole (files gone from it are removed).
    pub git_url: Option<String>,
    /// The branch to scan (default: the repository's default branch).
    pub branch: Option<String>,
    /// Globs a path must match, e.g. `["*.py", "src/**/*.ts"]`.
    pub file_patterns: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SyncJiraInput {
    /// The project the issues become context in.
    #[schemars(with = "Uuid")]
    pub project_id: Option<String>,
    /// A JQL query, e.g. `project = OPS AND updated >= -30d`.
    pub jql_query: Option<String>,
    /// Issue keys, e.g. `["OPS-1", "OPS-7"]`. Give these, `jql_query`, or both.
    pub issue_keys: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SyncConfluenceInput {
    /// The project the pages become context in.
    #[schemars(with = "Uuid")]
    pub project_id: Option<String>,
    /// Space keys whose pages to bring in, e.g. `["ENG"]`.
    pub space_keys: Option<Vec<String>>,
    /// A CQL query, e.g. `space = ENG and label = runbook`. Give this, `space_keys`, or both.
    pub cql: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProjectList {
    pub projects: Vec<ProjectView>,
    /// Present when there are more projects: pass it as `cursor`.
    pub next_cursor: Option<String>,
    /// Invitations to other people's projects waiting for the user's answer (through
    /// `/api/v1/users/me/invitations`); nothing is shared until one is accepted.
    pub pending_invitations: Vec<InvitationView>,
}

#[tool_router]
impl TeamContextMcp {
    pub fn new(state: AppState) -> Self {
        TeamContextMcp { state, bound: None }
    }

    /// Tools acting as `caller` (the agent's in-process session).
    pub fn for_caller(state: AppState, caller: Caller) -> Self {
        TeamContextMcp { state, bound: Some(caller) }
    }

    /// The authenticated caller: the bound one, or the one the `/mcp` middleware put into the
    /// HTTP request.
    pub(super) fn caller(
        &self,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Caller, CallToolResult> {
        if let Some(caller) = &self.bound {
            return Ok(caller.clone());
        }
        ctx.extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Caller>())
            .cloned()
            .ok_or_else(|| {
                tool_error(DomainError::new(
                    ErrorCode::InvalidCredentials,
                    "authentication required",
                ))
            })
    }

    /// Searches the team's shared memory.
    #[tool(
        name = "get_relevant_context",
        description = "Search the team's shared memory (decisions, notes, code, tickets and docs saved by anyone on the team, from any assistant) and return the most relevant passages. Call this before answering questions about this team's code, architecture, conventions or past decisions, instead of asking the user to paste context. Give a specific query. Without `project_id` the projects whose descriptions best match the query are searched and listed in `relevant_projects`. Each result carries the saved text, the passage that matched best, a similarity score and its project; fetch a whole item with `get_context`.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_relevant_context(
        &self,
        Parameters(input): Parameters<GetRelevantContextInput>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<SearchResponse>, CallToolResult> {
        let caller = self.caller(&ctx)?;
        self.state.limits.check_search(caller.user_id).await.map_err(|e| tool_error(e.0))?;
        let project_ids = match input.project_id {
            Some(id) => Some(vec![project_id(&id)?]),
            None => None,
        };
        let mode = if project_ids.is_some() { "hybrid" } else { "two_level" };
        let request = SearchRequest {
            query: input.query,
            project_ids,
            limit: Some(input.limit.unwrap_or(tc_domain::services::ASSISTANT_DEFAULT_LIMIT)),
            // The same calibrated default as REST.
            similarity_threshold: None,
            mode: Some(mode.into()),
            retrieved_by: Some(client_source(&ctx)),
        };
        self.state.services.search(&caller, request).await.map(Json).map_err(tool_error)
    }

    /// Saves text to a project.
    #[tool(
        name = "save_to_context",
        description = "Save something worth remembering to the team's shared memory so that every teammate's assistant can find it later: a decision and its reasons, how something works, a fix that took effort, a convention. Save self-contained text (say what it is about; do not rely on this conversation). Without `project_id` the project is chosen for you and named in the answer. Large texts are split into searchable chunks automatically.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn save_to_context(
        &self,
        Parameters(input): Parameters<SaveToContextInput>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<SaveContextResponse>, CallToolResult> {
        let caller = self.caller(&ctx)?;
        let request = SaveContextRequest {
            content: input.content,
            project_id: input.project_id.as_deref().map(project_id).transpose()?,
            metadata: Some(ContextMetadataInput { tags: input.tags, ..Default::default() }),
        };
        let source = client_source(&ctx);
        let saved = self.state.services.save_context(&caller, request, Some(&source)).await;
        saved.map(Json).map_err(tool_error)
    }

    /// Lists the caller's projects.
    #[tool(
        name = "list_projects",
        description = "List the projects you can save to and search: their ids, names, descriptions and your role. Use an id as `project_id` in the other tools.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_projects(
        &self,
        Parameters(input): Parameters<ListProjectsInput>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<ProjectList>, CallToolResult> {
        let caller = self.caller(&ctx)?;
        let page = PageParams { limit: Some(100), cursor: input.cursor };
        let listed = self.state.services.list_projects(&caller, false, &page).await;
        let listed = listed.map_err(tool_error)?;
        // A key restricted to one project may not see the account's invitations: none listed.
        let pending = match caller.project_restriction() {
            Some(_) => Vec::new(),
            None => self.state.services.my_invitations(&caller).await.map_err(tool_error)?,
        };
        Ok(Json(ProjectList {
            projects: listed.items,
            next_cursor: listed.next_cursor,
            pending_invitations: pending,
        }))
    }

    /// Reports the tokens and money the shared memory saved.
    #[tool(
        name = "get_cost_savings",
        description = "Report how many tokens the team's shared memory saved by giving assistants the relevant context instead of having it pasted, and what that is worth at the configured model's input price, over the last `days` days (default 30) with a breakdown by period. Without `project_id` it covers your own activity; with it, everyone's in that project.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_cost_savings(
        &self,
        Parameters(input): Parameters<GetCostSavingsInput>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<CostSavingsReport>, CallToolResult> {
        let caller = self.caller(&ctx)?;
        let days = input.days.unwrap_or(30);
        if !(1..=MAX_REPORT_DAYS).contains(&days) {
            return Err(tool_error(DomainError::validation(
                "days",
                format!("`days` must be between 1 and {MAX_REPORT_DAYS}"),
            )));
        }
        let group_by = match days {
            0..=92 => "day",
            93..=731 => "week",
            _ => "month",
        };
        let start = self.state.services.now() - chrono::Duration::days(days.into());
        let query = ReportQuery {
            project_id: input.project_id,
            start_date: Some(start.to_rfc3339()),
            group_by: Some(group_by.into()),
            ..ReportQuery::default()
        };
        self.state.services.cost_savings(&caller, &query).await.map(Json).map_err(tool_error)
    }

    /// Starts a codebase scan.
    #[tool(
        name = "scan_codebase",
        description = "Index source code into a project's shared memory so that every teammate's assistant can search it: either `files` (path and content of each; added or updated, nothing else changes) or a `git_url` to clone (the repository as a whole; files deleted from it are removed). Code is split along functions and classes, and only files whose content changed since the last scan are re-indexed. Returns a job id at once; the scan runs in the background.",
        annotations(read_only_hint = false, destructive_hint = false, open_world_hint = true)
    )]
    async fn scan_codebase(
        &self,
        Parameters(input): Parameters<ScanCodebaseInput>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<ScanAccepted>, CallToolResult> {
        let caller = self.caller(&ctx)?;
        let raw = input.project_id.ok_or_else(|| tool_error(DomainError::missing("project_id")))?;
        let project = project_id(&raw)?;
        let upload = input.files.map(|files| {
            Upload::Files(files.into_iter().map(|f| (f.path, f.content.into_bytes())).collect())
        });
        let request = ScanRequest {
            git_url: input.git_url,
            branch: input.branch,
            file_patterns: input.file_patterns,
            chunk_size: None,
            chunk_overlap: None,
        };
        let started = self.state.services.start_scan(&caller, project, request, upload).await;
        started.map(Json).map_err(tool_error)
    }

    /// Starts a Jira sync.
    #[tool(
        name = "sync_jira_to_context",
        description = "Bring Jira issues into a project's shared memory through your Jira connection (made once in TeamContext): by JQL, by issue keys, or both. Each issue becomes one searchable context with its description, status, links, subtasks and every comment; running it again updates changed issues in place and removes deleted ones. Returns a job id at once; the sync runs in the background.",
        annotations(read_only_hint = false, destructive_hint = false, open_world_hint = true)
    )]
    async fn sync_jira_to_context(
        &self,
        Parameters(input): Parameters<SyncJiraInput>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<SyncAccepted>, CallToolResult> {
        let caller = self.caller(&ctx)?;
        let raw = input.project_id.ok_or_else(|| tool_error(DomainError::missing("project_id")))?;
        let request = JiraSyncRequest {
            project_id: Some(project_id(&raw)?),
            jql_query: input.jql_query,
            issue_keys: input.issue_keys,
        };
        let started = self.state.services.start_jira_sync(&caller, request).await;
        started.map(Json).map_err(tool_error)
    }

    /// Starts a Confluence sync.
    #[tool(
        name = "sync_confluence_to_context",
        description = "Bring Confluence pages into a project's shared memory through your Confluence connection (made once in TeamContext): the pages of spaces, of a CQL query, or both. Each page becomes searchable context with its place in the space; running it again updates changed pages in place and removes deleted ones. Returns a job id at once; the sync runs in the background.",
        annotations(read_only_hint = false, destructive_hint = false, open_world_hint = true)
    )]
    async fn sync_confluence_to_context(
        &self,
        Parameters(input): Parameters<SyncConfluenceInput>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<SyncAccepted>, CallToolResult> {
        let caller = self.caller(&ctx)?;
        let raw = input.project_id.ok_or_else(|| tool_error(DomainError::missing("project_id")))?;
        let request = ConfluenceSyncRequest {
            project_id: Some(project_id(&raw)?),
            space_keys: input.space_keys,
            cql: input.cql,
            page_ids: None,
        };
        let started = self.state.services.start_confluence_sync(&caller, request).await;
        started.map(Json).map_err(tool_error)
    }

    /// Answers a question with cited sources.
    #[tool(
        name = "ask_question",
        description = "Ask the team's shared memory a question and get an answer that cites its sources as [n], with each source's id, title and best snippet. Answered by the server's language model when one is configured, otherwise by quoting the sentences of the sources that answer best (mode `extractive`). Use get_relevant_context instead when you want the raw context to reason over yourself.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn ask_question(
        &self,
        Parameters(input): Parameters<AskQuestionInput>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<QaResponse>, CallToolResult> {
        let caller = self.caller(&ctx)?;
        self.state.limits.check_search(caller.user_id).await.map_err(|e| tool_error(e.0))?;
        let project_ids = match input.project_id.as_deref() {
            Some(raw) => Some(vec![project_id(raw)?]),
            None => None,
        };
        let request = QaRequest { question: input.question, project_ids, top_k: None };
        let answered = self.state.services.answer_question(&caller, request).await;
        answered.map(Json).map_err(tool_error)
    }

    /// Summarizes contexts.
    #[tool(
        name = "summarize_context",
        description = "Summarize saved contexts (by id, e.g. from search results) together, as `concise` (two or three sentences), `detailed` or `bullet` points, with length statistics. Written by the server's language model when one is configured, otherwise made of the most central sentences (mode `extractive`).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn summarize_context(
        &self,
        Parameters(input): Parameters<SummarizeContextInput>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<SummaryResponse>, CallToolResult> {
        let caller = self.caller(&ctx)?;
        let raw =
            input.context_ids.ok_or_else(|| tool_error(DomainError::missing("context_ids")))?;
        let ids = raw
            .iter()
            .map(|r| {
                Uuid::parse_str(r.trim()).map_err(|_| {
                    tool_error(DomainError::new(ErrorCode::ContextNotFound, "context not found"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let request = SummarizeRequest { text: None, context_ids: Some(ids), style: input.style };
        self.state.services.summarize(&caller, request).await.map(Json).map_err(tool_error)
    }

    /// Fetches one context in full.
    #[tool(
        name = "get_context",
        description = "Fetch one saved context in full by its id (search results show only the best passage of long items).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_context(
        &self,
        Parameters(input): Parameters<GetContextInput>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<ContextView>, CallToolResult> {
        let caller = self.caller(&ctx)?;
        let raw = input.id.ok_or_else(|| tool_error(DomainError::missing("id")))?;
        let id = Uuid::parse_str(raw.trim()).map_err(|_| {
            tool_error(DomainError::new(ErrorCode::ContextNotFound, "context not found"))
        })?;
        self.state.services.get_context(&caller, id).await.map(Json).map_err(tool_error)
    }
}

/// The tool router, built once, with schemas holding only standard JSON Schema formats:
/// schemars marks integers with Rust's widths (`uint32`, `int64`), which validators such as
/// the TypeScript SDK's warn about on every call.
fn tools() -> &'static ToolRouter<TeamContextMcp> {
    static ROUTER: OnceLock<ToolRouter<TeamContextMcp>> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let mut router = TeamContextMcp::tool_router()
            + super::todo_tools::router()
            + super::story_tools::router();
        for route in router.map.values_mut() {
            let mut input = (*route.attr.input_schema).clone();
            standard_formats_only(&mut input);
            route.attr.input_schema = Arc::new(input);
            if let Some(output) = &route.attr.output_schema {
                let mut output = (**output).clone();
                standard_formats_only(&mut output);
                route.attr.output_schema = Some(Arc::new(output));
            }
        }
        router
    })
}

fn standard_formats_only(schema: &mut serde_json::Map<String, Value>) {
    const STANDARD: [&str; 6] = ["date-time", "date", "time", "uuid", "email", "uri"];
    if schema.get("format").and_then(Value::as_str).is_some_and(|f| !STANDARD.contains(&f)) {
        schema.remove("format");
    }
    for value in schema.values_mut() {
        match value {
            Value::Object(inner) => standard_formats_only(inner),
            Value::Array(items) => {
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    standard_formats_only(item);
                }
            }
            _ => {}
        }
    }
}

#[tool_handler(router = tools())]
impl ServerHandler for TeamContextMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("teamcontext", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "TeamContext is this team's shared memory. Before answering questions about the \
                 team's code, systems or past decisions, call get_relevant_context; when the \
                 conversation settles something worth keeping, call save_to_context.",
            )
    }
}

/// The assistant family of the MCP client (`claude`, `cursor`, …), recorded as the source of
/// what it saves and retrieves; `mcp` when it did not introduce itself.
fn client_source(ctx: &RequestContext<RoleServer>) -> String {
    ctx.peer
        .peer_info()
        .map(|info| source_for_mcp_client(&info.client_info.name))
        .unwrap_or_else(|| "mcp".into())
}

/// A malformed project id is a project that does not exist, as in REST paths.
fn project_id(raw: &str) -> Result<Uuid, CallToolResult> {
    Uuid::parse_str(raw.trim()).map_err(|_| tool_error(DomainError::project_not_found()))
}

/// A tool error carrying the REST error envelope as its text.
pub(super) fn tool_error(e: DomainError) -> CallToolResult {
    if let Some(internal) = e.cause_chain() {
        error!(code = e.code.as_str(), cause = %internal, "MCP tool failed");
    }
    let envelope = json!({
        "error": {
            "code": e.code.as_str(),
            "message": e.message,
            "details": e.details.unwrap_or_else(|| json!({})),
        }
    });
    CallToolResult::error(vec![ContentBlock::text(envelope.to_string())])
}
