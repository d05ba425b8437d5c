//! Jira story drafts (issue 19, seed 003): the bodies of `POST /ai/stories/draft`, `…/refine`
//! and `…/create`, a draft with its history as answered, and the findings of `…/validate`. The
//! MCP tools `draft_jira_story` and `create_jira_story` take and return the same shapes.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::SourceView;

/// What to draft a story from.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, JsonSchema)]
pub struct DraftStoryRequest {
    /// The project whose context the draft is made from (and where it is kept).
    pub project_id: Option<Uuid>,
    /// What is wanted, in your words: at most 20,000 characters.
    pub requirements: Option<String>,
    /// `story` (default), `task`, `bug` or `subtask`.
    pub format: Option<String>,
    /// The Jira project the issue will be created in (`OPS`). When absent it is guessed from
    /// the Jira issues the retrieval found, and can be given at create time.
    pub jira_project_key: Option<String>,
    /// The parent issue (`OPS-12`): required to create a sub-task.
    pub parent_key: Option<String>,
    /// A task whose Jira keys get the created issue's key.
    pub task_id: Option<Uuid>,
}

/// Parts of the story to replace, as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct StoryEdits {
    pub summary: Option<String>,
    pub description: Option<String>,
    pub acceptance_criteria: Option<Vec<String>>,
    pub labels: Option<Vec<String>>,
    pub estimate: Option<u32>,
}

/// A refinement: instructions for the language model (without one, the fixes the rules can
/// make are applied), edits of your own, or both (edits first).
#[derive(Debug, Clone, Default, Deserialize, ToSchema, JsonSchema)]
pub struct RefineStoryRequest {
    /// What to change, in your words: at most 4,000 characters.
    pub instructions: Option<String>,
    pub story: Option<StoryEdits>,
}

/// Creating the draft's issue in Jira through your Jira connection.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, JsonSchema)]
pub struct CreateStoryRequest {
    /// The Jira project, when the draft has none (or to change it).
    pub jira_project_key: Option<String>,
    /// A task to link the created key to, when the draft has none.
    pub task_id: Option<Uuid>,
    /// Values for other fields of the create screen (`customfield_10200`), as Jira takes them:
    /// the required fields the draft cannot fill are named when they are missing.
    #[schema(value_type = Option<Object>)]
    pub fields: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A story: what becomes the Jira issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct StoryView {
    /// `story`, `task`, `bug` or `subtask`.
    pub format: String,
    /// The issue's summary; for a story, "As a …, I want …, so that …".
    pub summary: String,
    /// Markdown (sent as ADF to Jira Cloud, as wiki markup to Data Center).
    pub description: String,
    /// Each "Given …, when …, then …".
    pub acceptance_criteria: Vec<String>,
    pub labels: Vec<String>,
    /// Story points.
    pub estimate: Option<u32>,
}

/// One version of a draft and what made it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct StoryRevisionView {
    /// From 1.
    pub revision: u32,
    /// `draft` or `refine`.
    pub kind: String,
    /// The refinement's instructions.
    pub instructions: Option<String>,
    /// `llm` (the language model wrote it), `template` (no model, or it failed: the template
    /// and the rule fixes) or `edit` (your edits alone).
    pub mode: String,
    /// The model that wrote it, or `not configured`.
    pub llm: String,
    /// Why the configured model did not write it.
    pub fallback_reason: Option<String>,
    /// What was done that you may want to know (a story split off, instructions a template
    /// cannot follow).
    pub note: Option<String>,
    pub story: StoryView,
    pub by: Uuid,
    pub at: DateTime<Utc>,
}

/// The Jira issue a draft became.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct CreatedIssueView {
    pub key: String,
    pub url: String,
}

/// A story draft.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct StoryDraftView {
    pub id: Uuid,
    pub project_id: Uuid,
    /// `draft`, `creating` (a create is under way) or `created`.
    pub status: String,
    pub jira_project_key: Option<String>,
    pub parent_key: Option<String>,
    pub task_id: Option<Uuid>,
    pub requirements: String,
    /// The story now (the last revision's).
    pub story: StoryView,
    /// The contexts it was drafted from, numbered as the description cites them.
    pub sources: Vec<SourceView>,
    /// How the current revision was made: `llm`, `template` or `edit`.
    pub mode: String,
    pub llm: String,
    pub fallback_reason: Option<String>,
    pub note: Option<String>,
    /// The current revision's number.
    pub revision: u32,
    /// Every revision, oldest first.
    pub revisions: Vec<StoryRevisionView>,
    /// The issue it became, once created.
    pub jira: Option<CreatedIssueView>,
    /// Why the last create failed.
    pub last_error: Option<String>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A rule a story breaks, and how to fix it.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct StoryFindingView {
    /// `well_formed`, `atomic`, `minimal`, `unambiguous`, `full_sentence`, `estimable`,
    /// `unique`, `independent`, `valuable`, `small`, `testable`, and with a language model
    /// `conceptually_sound`, `problem_oriented`, `conflict_free`, `negotiable`.
    pub rule: String,
    /// `error` (fix before creating), `warning` or `info`.
    pub severity: String,
    /// `summary`, `description`, `acceptance_criteria[i]`, `estimate`.
    pub field: String,
    /// The words it is about.
    pub excerpt: Option<String>,
    pub message: String,
    pub suggestion: String,
}

/// A rule that was not checked, and why.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct SkippedRuleView {
    pub rule: String,
    pub reason: String,
}

/// What `POST /ai/stories/{id}/validate` found.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct StoryValidationView {
    pub draft_id: Uuid,
    /// The revision checked.
    pub revision: u32,
    /// No finding of severity `error`.
    pub passed: bool,
    pub errors: usize,
    pub warnings: usize,
    /// Most severe first.
    pub findings: Vec<StoryFindingView>,
    /// The rules that ran.
    pub checked: Vec<String>,
    /// The rules that did not (those that need a language model, without one).
    pub skipped: Vec<SkippedRuleView>,
    pub llm: String,
}

/// `GET /ai/stories` filters (with `limit` and `cursor`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StoryQuery {
    /// Only this project's drafts (default: every project you can read).
    pub project_id: Option<String>,
}
