//! The agent as a client of the MCP servers users register: a Streamable HTTP session opened
//! through the outbound rule (a user's URL may not reach the server's own network unless the
//! operator allows it), the server's tool list, and calls to its tools.
//!
//! Within a turn each server's session is opened at the first call of one of its tools and kept
//! for the rest of the turn; a server that cannot be reached fails only the calls made to it.

use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation, Tool,
};
use rmcp::service::{RunningService, ServiceExt};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tc_outbound::AllowList;
use tokio::sync::OnceCell;

/// How the agent introduces itself to the servers it calls.
const CLIENT_NAME: &str = "teamcontext-agent";
/// Longest wait for a server to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most tools kept from one server's list (the model is offered all of them every step).
pub(super) const MAX_TOOLS: usize = 64;

type Session = RunningService<RoleClient, ClientConfig>;

/// A tool of a remote server as cached (the JSON of `McpServerRecord::tools`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteTool {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The JSON Schema of its arguments (an object schema).
    pub input_schema: Value,
    /// Annotated read-only by its server; every other tool counts as one that writes.
    #[serde(default)]
    pub read_only: bool,
}

impl From<Tool> for RemoteTool {
    fn from(tool: Tool) -> Self {
        RemoteTool {
            read_only: tool.annotations.as_ref().and_then(|a| a.read_only_hint).unwrap_or(false),
            name: tool.name.to_string(),
            description: tool.description.map(|d| d.to_string()).unwrap_or_default(),
            input_schema: Value::Object((*tool.input_schema).clone()),
        }
    }
}

/// Where a server is and how to authenticate to it.
#[derive(Clone)]
pub struct RemoteServer {
    pub url: String,
    pub token: Option<String>,
}

impl std::fmt::Debug for RemoteServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteServer").field("url", &self.url).finish_non_exhaustive()
    }
}

/// Opens an MCP session to `server`, connecting only where `allow` permits.
async fn open(server: &RemoteServer, allow: &AllowList) -> Result<Session, String> {
    let builder = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT);
    let client = tc_outbound::http_client("the MCP server's `url`", builder, &[&server.url], allow)
        .map_err(|e| e.to_string())?;
    let mut config = StreamableHttpClientTransportConfig::with_uri(server.url.as_str());
    if let Some(token) = &server.token {
        config = config.auth_header(token.clone());
    }
    let transport = StreamableHttpClientTransport::with_client(client, config);
    let me = Implementation::new(CLIENT_NAME, env!("CARGO_PKG_VERSION"));
    let handshake = ClientConfig::new(ClientCapabilities::default(), me).serve(transport);
    match tokio::time::timeout(CONNECT_TIMEOUT * 2, handshake).await {
        Ok(Ok(session)) => Ok(session),
        Ok(Err(e)) => Err(format!("the MCP handshake with {} failed: {e}", server.url)),
        Err(_) => Err(format!("{} did not complete the MCP handshake in time", server.url)),
    }
}

/// The tools `server` offers now (at most [`MAX_TOOLS`]).
pub async fn list_tools(
    server: &RemoteServer,
    allow: &AllowList,
) -> Result<Vec<RemoteTool>, String> {
    let session = open(server, allow).await?;
    let listed = tokio::time::timeout(CONNECT_TIMEOUT * 2, session.list_all_tools()).await;
    let _ = session.cancel().await;
    match listed {
        Ok(Ok(tools)) => Ok(tools.into_iter().take(MAX_TOOLS).map(RemoteTool::from).collect()),
        Ok(Err(e)) => Err(format!("{} did not list its tools: {e}", server.url)),
        Err(_) => Err(format!("{} did not list its tools in time", server.url)),
    }
}

/// A tool's answer: its structured content, else its text (parsed when it is JSON); a tool
/// error's text is the error.
pub fn outcome(result: CallToolResult) -> Result<Value, String> {
    let text = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect::<Vec<_>>()
        .join("\n");
    if result.is_error == Some(true) {
        return Err(if text.is_empty() { "the tool failed".into() } else { text });
    }
    if let Some(structured) = result.structured_content {
        return Ok(structured);
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Calls `tool` on an open session.
pub async fn call(
    session: &RunningService<RoleClient, ClientConfig>,
    tool: &str,
    arguments: serde_json::Map<String, Value>,
) -> Result<Value, String> {
    let params = CallToolRequestParams::new(tool.to_string()).with_arguments(arguments);
    match session.call_tool(params).await {
        Ok(result) => outcome(result),
        // Arguments that fail the tool's schema come back as a protocol error.
        Err(ServiceError::McpError(e)) => Err(e.message.to_string()),
        Err(e) => Err(format!("the tool could not be called: {e}")),
    }
}

/// One server for the length of a turn: its session opened at the first call.
pub struct TurnServer {
    pub name: String,
    server: RemoteServer,
    allow: AllowList,
    session: OnceCell<Result<Session, String>>,
}

impl TurnServer {
    pub fn new(name: String, server: RemoteServer, allow: AllowList) -> Self {
        TurnServer { name, server, allow, session: OnceCell::new() }
    }

    /// Calls the server's `tool`.
    pub async fn call(&self, tool: &str, arguments: Value) -> Result<Value, String> {
        let Value::Object(arguments) = arguments else {
            return Err("the arguments must be a JSON object".into());
        };
        let session =
            self.session.get_or_init(|| async { open(&self.server, &self.allow).await }).await;
        match session {
            Ok(session) => call(session, tool, arguments).await,
            Err(e) => Err(e.clone()),
        }
    }
}
