//! The Jira story tools (issue 19, seed 003): `draft_jira_story` drafts a story from
//! requirements and the project's context, `create_jira_story` creates it in Jira through the
//! caller's connection. Thin wrappers over the story service REST's `/ai/stories` uses; a
//! failure is a tool error with the REST error envelope and codes.

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use tc_domain::DomainError;
use tc_domain::views::{CreateStoryRequest, DraftStoryRequest, StoryDraftView};
use uuid::Uuid;

use super::tools::{TeamContextMcp, tool_error};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateJiraStoryInput {
    /// The draft's id, as `draft_jira_story` answered it.
    #[schemars(with = "Uuid")]
    pub draft_id: Option<String>,
    #[serde(flatten)]
    pub options: CreateStoryRequest,
}

#[tool_router(router = story_router, vis = "pub(super)")]
impl TeamContextMcp {
    #[tool(
        name = "draft_jira_story",
        description = "Draft a Jira story (or `format`: task, bug, subtask) from requirements, using the project's own context: related code, decisions and Jira issues are retrieved and cited. Answers the draft: summary (for a story, \"As a …, I want …, so that …\"), Markdown description, Given/When/Then acceptance criteria, labels, estimate, the sources used, and its id for create_jira_story. Nothing is sent to Jira.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn draft_jira_story(
        &self,
        Parameters(input): Parameters<DraftStoryRequest>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<StoryDraftView>, CallToolResult> {
        let caller = self.caller(&ctx)?;
        self.state.limits.check_search(caller.user_id).await.map_err(|e| tool_error(e.0))?;
        let draft = self.state.services.draft_story(&caller, input).await.map_err(tool_error)?;
        Ok(Json(draft))
    }

    #[tool(
        name = "create_jira_story",
        description = "Create a drafted story in Jira through your Jira connection, and answer the draft with the new issue's key and URL. Give `jira_project_key` if the draft has none, and `fields` for other fields the project requires (the error names them). Safe to call again after a failure: the issue is never created twice.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn create_jira_story(
        &self,
        Parameters(input): Parameters<CreateJiraStoryInput>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<StoryDraftView>, CallToolResult> {
        let caller = self.caller(&ctx)?;
        let raw = input.draft_id.ok_or_else(|| tool_error(DomainError::missing("draft_id")))?;
        let id = Uuid::parse_str(raw.trim())
            .map_err(|_| tool_error(DomainError::not_found("story draft")))?;
        let draft = self
            .state
            .services
            .create_story(&caller, id, input.options)
            .await
            .map_err(tool_error)?;
        Ok(Json(draft))
    }
}

/// The story tools' router, merged into the server's.
pub(super) fn router() -> ToolRouter<TeamContextMcp> {
    TeamContextMcp::story_router()
}
