//! The `todo_*` tools (seed 002): team tasks over MCP, thin wrappers over the task service REST
//! uses. Each answers `{success, task_id, message}` (with the task, or the page of tasks), and
//! a failure is a tool error with the REST error envelope and codes.

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tc_domain::DomainError;
use tc_domain::pagination::PageParams;
use tc_domain::views::{CreateTaskRequest, TaskQuery, TaskView, UpdateTaskRequest};
use uuid::Uuid;

use super::tools::{TeamContextMcp, tool_error};

/// What a tool that acts on one task answers.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TodoOutcome {
    pub success: bool,
    pub task_id: Uuid,
    pub message: String,
    /// The task as it is now (absent after a delete).
    pub task: Option<TaskView>,
}

/// `todo_list`'s answer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TodoList {
    pub success: bool,
    pub tasks: Vec<TaskView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TodoIdInput {
    /// The task's id.
    #[schemars(with = "Uuid")]
    pub task_id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TodoUpdateInput {
    /// The task's id.
    #[schemars(with = "Uuid")]
    pub task_id: Option<String>,
    #[serde(flatten)]
    pub change: UpdateTaskRequest,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct TodoListInput {
    /// Only this project's tasks.
    pub project_id: Option<String>,
    /// `todo`, `in_progress` or `done`.
    pub status: Option<String>,
    pub assignee_id: Option<String>,
    pub tag: Option<String>,
    /// Due before this day (`YYYY-MM-DD`).
    pub due_before: Option<String>,
    /// At most 100 (default 20).
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

fn task_id(raw: Option<String>) -> Result<Uuid, CallToolResult> {
    let raw = raw.ok_or_else(|| tool_error(DomainError::missing("task_id")))?;
    Uuid::parse_str(raw.trim()).map_err(|_| tool_error(DomainError::not_found("task")))
}

fn outcome(task: TaskView, message: &str) -> Json<TodoOutcome> {
    Json(TodoOutcome { success: true, task_id: task.id, message: message.into(), task: Some(task) })
}

#[tool_router(router = todo_router, vis = "pub(super)")]
impl TeamContextMcp {
    #[tool(
        name = "todo_create",
        description = "Create a task for the team (or for yourself alone without `project_id`): a title, optionally a Markdown description, status (todo, in_progress, done), priority (low, medium, high), an assignee who is a project member, a due date (YYYY-MM-DD), tags, and links to contexts and Jira issue keys. Use it when the user asks to be reminded of something or to track work.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn todo_create(
        &self,
        Parameters(input): Parameters<CreateTaskRequest>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<TodoOutcome>, CallToolResult> {
        let caller = self.caller(&ctx)?;
        let task = self.state.services.create_task(&caller, input).await.map_err(tool_error)?;
        Ok(outcome(task, "task created"))
    }

    #[tool(
        name = "todo_read",
        description = "Fetch one task in full by its id: title, Markdown description, status, priority, assignee, due date, tags and linked contexts and Jira issues.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn todo_read(
        &self,
        Parameters(input): Parameters<TodoIdInput>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<TodoOutcome>, CallToolResult> {
        let caller = self.caller(&ctx)?;
        let id = task_id(input.task_id)?;
        let task = self.state.services.get_task(&caller, id).await.map_err(tool_error)?;
        Ok(outcome(task, "task found"))
    }

    #[tool(
        name = "todo_update",
        description = "Change a task: the fields given replace its own (for example `status: done` to complete it); `null` clears `assignee_id` or `due_date`.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn todo_update(
        &self,
        Parameters(input): Parameters<TodoUpdateInput>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<TodoOutcome>, CallToolResult> {
        let caller = self.caller(&ctx)?;
        let id = task_id(input.task_id)?;
        let task =
            self.state.services.update_task(&caller, id, input.change).await.map_err(tool_error)?;
        Ok(outcome(task, "task updated"))
    }

    #[tool(
        name = "todo_delete",
        description = "Delete a task for good (to finish one, set its status to `done` with todo_update instead).",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn todo_delete(
        &self,
        Parameters(input): Parameters<TodoIdInput>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<TodoOutcome>, CallToolResult> {
        let caller = self.caller(&ctx)?;
        let id = task_id(input.task_id)?;
        self.state.services.delete_task(&caller, id).await.map_err(tool_error)?;
        Ok(Json(TodoOutcome {
            success: true,
            task_id: id,
            message: "task deleted".into(),
            task: None,
        }))
    }

    #[tool(
        name = "todo_list",
        description = "List the tasks you can see, newest first: those of the projects you can read (or of `project_id`) and your own, filtered by status, assignee, tag and due date.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn todo_list(
        &self,
        Parameters(input): Parameters<TodoListInput>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<TodoList>, CallToolResult> {
        let caller = self.caller(&ctx)?;
        let query = TaskQuery {
            project_id: input.project_id,
            status: input.status,
            assignee_id: input.assignee_id,
            tag: input.tag,
            due_before: input.due_before,
        };
        let page = PageParams { limit: input.limit, cursor: input.cursor };
        let listed =
            self.state.services.list_tasks(&caller, &query, &page).await.map_err(tool_error)?;
        Ok(Json(TodoList { success: true, tasks: listed.items, next_cursor: listed.next_cursor }))
    }
}

/// The todo tools' router, merged into the server's.
pub(super) fn router() -> ToolRouter<TeamContextMcp> {
    TeamContextMcp::todo_router()
}
