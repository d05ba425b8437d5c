//! Team tasks: the bodies of `POST /tasks` and `PUT /tasks/{task_id}`, a task as answered, and
//! the list's filters. The MCP `todo_*` tools take the same fields.

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A field that may be absent (unchanged), `null` (cleared) or a value.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A new task. Without `project_id` it is the creator's alone.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, JsonSchema)]
pub struct CreateTaskRequest {
    /// 1–200 characters.
    pub title: Option<String>,
    /// Markdown, at most 20,000 characters.
    pub description: Option<String>,
    /// The project the task belongs to (its members see it).
    pub project_id: Option<Uuid>,
    /// `todo` (default), `in_progress` or `done`.
    pub status: Option<String>,
    /// `low`, `medium` (default) or `high`.
    pub priority: Option<String>,
    /// A member of the project (or the creator, for a task without one).
    pub assignee_id: Option<Uuid>,
    /// `YYYY-MM-DD`.
    pub due_date: Option<String>,
    /// At most 20, each at most 50 characters.
    pub tags: Option<Vec<String>>,
    /// Contexts the task is about (ones the caller can read), at most 50.
    pub context_ids: Option<Vec<Uuid>>,
    /// Jira issue keys such as `OPS-12`, at most 20.
    pub jira_keys: Option<Vec<String>>,
}

/// A change: the fields given replace the task's; `null` clears `assignee_id` or `due_date`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, JsonSchema)]
pub struct UpdateTaskRequest {
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<String>,
    pub priority: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>)]
    pub assignee_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub due_date: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub context_ids: Option<Vec<Uuid>>,
    pub jira_keys: Option<Vec<String>>,
}

/// A task.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct TaskView {
    pub id: Uuid,
    pub project_id: Option<Uuid>,
    pub title: String,
    pub description: String,
    pub status: String,
    pub priority: String,
    pub assignee_id: Option<Uuid>,
    pub due_date: Option<NaiveDate>,
    pub tags: Vec<String>,
    pub context_ids: Vec<Uuid>,
    pub jira_keys: Vec<String>,
    pub created_by: Uuid,
    pub updated_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `GET /tasks` filters (with `limit` and `cursor`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    /// Only this project's tasks (else every project you can read, and your own tasks).
    pub project_id: Option<String>,
    pub status: Option<String>,
    pub assignee_id: Option<String>,
    pub tag: Option<String>,
    /// Due strictly before this day (`YYYY-MM-DD`).
    pub due_before: Option<String>,
}
