//! The agent's tools for one turn: TeamContext's own MCP tools, reached through a real MCP
//! session over an in-memory pipe to a [`TeamContextMcp`] bound to the caller, so the agent
//! sees exactly the names, descriptions and schemas an assistant sees and every call goes
//! through the same checks (scope, project restriction, rate limit, validation) and comes back
//! with the same errors; then the tools of the MCP servers the caller registered, named
//! `<server>__<tool>` (the domain's `RemoteToolset`).

use async_trait::async_trait;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, Tool};
use rmcp::service::{RunningService, ServiceExt};
use rmcp::{RoleClient, ServiceError};
use serde_json::Value;
use tc_domain::services::{AgentTool, AgentTools, RemoteTool, RemoteToolset, outcome};
use tc_domain::{Caller, DomainError};
use tc_llm::ToolSpec;

use super::TeamContextMcp;
use crate::state::AppState;

/// The client name the in-process session introduces itself with: what the agent saves is
/// recorded with this source.
const AGENT_CLIENT: &str = "agent";
/// Bytes the in-memory pipe buffers each way.
const PIPE_BYTES: usize = 256 * 1024;
/// Tools the agent is not offered: answering questions is what it does itself (through this
/// tool it would ask the model again).
const NOT_FOR_THE_AGENT: [&str; 1] = ["ask_question"];

type Session = RunningService<RoleClient, ClientConfig>;

/// The tools of one caller's agent turn.
pub struct CallerTools {
    /// TeamContext's tools, then the remote ones.
    tools: Vec<AgentTool>,
    local: Session,
    remote: RemoteToolset,
}

/// Opens the caller's tools: an MCP session to TeamContext's tools as the caller, and the
/// tools of the servers they registered.
pub async fn open(state: &AppState, caller: &Caller) -> Result<Box<dyn AgentTools>, DomainError> {
    let (client_end, server_end) = tokio::io::duplex(PIPE_BYTES);
    let server = TeamContextMcp::for_caller(state.clone(), caller.clone());
    tokio::spawn(async move {
        // Ends when the client side is dropped with the turn.
        if let Ok(running) = server.serve(server_end).await {
            let _ = running.waiting().await;
        }
    });
    let me = Implementation::new(AGENT_CLIENT, env!("CARGO_PKG_VERSION"));
    let local = ClientConfig::new(ClientCapabilities::default(), me)
        .serve(client_end)
        .await
        .map_err(|e| DomainError::internal(format!("cannot open the agent's tools: {e}")))?;
    let listed = local.list_all_tools().await.map_err(internal)?;
    let mut tools: Vec<AgentTool> = listed
        .into_iter()
        .filter(|t| !NOT_FOR_THE_AGENT.contains(&t.name.as_ref()))
        .map(agent_tool)
        .collect();
    let remote = state.services.agent_remote_tools(caller).await?;
    tools.extend(remote.tools.iter().map(|(tool, ..)| tool.clone()));
    Ok(Box::new(CallerTools { tools, local, remote }))
}

/// One of TeamContext's tools as the agent sees it. A tool writes unless it says it only reads.
fn agent_tool(tool: Tool) -> AgentTool {
    let tool = RemoteTool::from(tool);
    AgentTool {
        spec: ToolSpec {
            name: tool.name,
            description: tool.description,
            parameters: tool.input_schema,
        },
        writes: !tool.read_only,
        server: None,
    }
}

fn internal(e: ServiceError) -> DomainError {
    DomainError::internal(format!("the agent's tools failed: {e}"))
}

#[async_trait]
impl AgentTools for CallerTools {
    fn tools(&self) -> &[AgentTool] {
        &self.tools
    }

    async fn call(&self, tool: &AgentTool, arguments: Value) -> Result<Value, String> {
        if tool.server.is_some() {
            let found = self.remote.tools.iter().find(|(t, ..)| t.spec.name == tool.spec.name);
            let Some((_, server, name)) = found else {
                return Err(format!("there is no tool `{}`", tool.spec.name));
            };
            return self.remote.servers[*server].call(name, arguments).await;
        }
        let Value::Object(arguments) = arguments else {
            return Err("the arguments must be a JSON object".into());
        };
        let params = CallToolRequestParams::new(tool.spec.name.clone()).with_arguments(arguments);
        match self.local.call_tool(params).await {
            Ok(result) => outcome(result),
            // Arguments that fail the tool's schema come back as a protocol error.
            Err(ServiceError::McpError(e)) => Err(e.message.to_string()),
            Err(e) => Err(format!("the tool could not be called: {e}")),
        }
    }
}

/// Tools for a turn, when the turn is an agent's and a model can use them.
pub async fn for_turn(
    state: &AppState,
    caller: &Caller,
    agent: bool,
) -> Result<Option<Box<dyn AgentTools>>, DomainError> {
    if !agent || !state.services.has_language_model_for(caller.user_id).await {
        return Ok(None);
    }
    open(state, caller).await.map(Some)
}
