//! `teamcontext mcp`: an MCP server on stdin/stdout for assistants that launch a command (Claude
//! Desktop, Claude Code, Cursor), forwarding every tool call to a TeamContext server's `/mcp`
//! over Streamable HTTP with an API key.
//!
//! The upstream session is opened when the assistant initializes, introducing itself upstream
//! with the assistant's own client name, so context saved through the proxy records `claude` or
//! `cursor` as its source exactly as a direct connection would. Tool errors and protocol errors
//! (an unknown tool, invalid arguments) pass through unchanged; an unreachable server becomes a
//! tool error naming the server.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    ContentBlock, Implementation, InitializeRequestParams, InitializeResult, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::{RequestContext, RunningService, ServiceError, ServiceExt};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ErrorData, RoleClient, RoleServer, ServerHandler};
use serde_json::json;
use tokio::sync::OnceCell;

type Upstream = RunningService<RoleClient, ClientConfig>;

/// Where the proxy forwards to.
#[derive(Debug, Clone)]
pub struct ProxyTarget {
    /// The server's base URL, e.g. `http://127.0.0.1:8080` (`/mcp` is appended).
    pub server: String,
    pub api_key: String,
}

impl ProxyTarget {
    fn mcp_url(&self) -> String {
        let base = self.server.trim_end_matches('/');
        if base.ends_with("/mcp") { base.to_string() } else { format!("{base}/mcp") }
    }
}

/// Serves MCP on stdin/stdout until the assistant closes its end.
pub async fn run_stdio(target: ProxyTarget) -> anyhow::Result<()> {
    let proxy = McpProxy { target, upstream: Arc::new(OnceCell::new()) };
    let upstream = proxy.upstream.clone();
    let running = proxy.serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    if let Some(upstream) = Arc::into_inner(upstream).and_then(OnceCell::into_inner) {
        let _ = upstream.cancel().await;
    }
    Ok(())
}

#[derive(Clone)]
struct McpProxy {
    target: ProxyTarget,
    upstream: Arc<OnceCell<Upstream>>,
}

impl McpProxy {
    /// Opens the upstream session as `client` on first use.
    async fn upstream(&self, client: Option<Implementation>) -> Result<&Upstream, String> {
        self.upstream
            .get_or_try_init(|| async {
                let config = StreamableHttpClientTransportConfig::with_uri(self.target.mcp_url())
                    .auth_header(self.target.api_key.clone());
                let transport = StreamableHttpClientTransport::from_config(config);
                let me = client.unwrap_or_else(|| Implementation::new("teamcontext-mcp", "0"));
                ClientConfig::new(ClientCapabilities::default(), me).serve(transport).await.map_err(
                    |e| format!("cannot reach TeamContext at {}: {e}", self.target.mcp_url()),
                )
            })
            .await
    }
}

impl ServerHandler for McpProxy {
    fn get_info(&self) -> ServerConfig {
        let info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("teamcontext", env!("CARGO_PKG_VERSION")));
        match self.upstream.get().and_then(|u| u.peer_info()).and_then(|p| p.instructions.clone()) {
            Some(instructions) => info.with_instructions(instructions),
            None => info,
        }
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        context.peer.set_peer_info(request.clone());
        // Connecting now reports a wrong URL or key at start-up, where the assistant shows it,
        // rather than at the first tool call.
        if let Err(message) = self.upstream(Some(request.client_info.clone())).await {
            return Err(ErrorData::internal_error(message, None));
        }
        self.negotiate_initialize(&request)
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let client = context.peer.peer_info().map(|p| p.client_info.clone());
        let upstream =
            self.upstream(client).await.map_err(|m| ErrorData::internal_error(m, None))?;
        upstream.list_tools(request).await.map_err(|e| match e {
            ServiceError::McpError(e) => e,
            other => ErrorData::internal_error(other.to_string(), None),
        })
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let client = context.peer.peer_info().map(|p| p.client_info.clone());
        let result = match self.upstream(client).await {
            Ok(upstream) => match upstream.call_tool(request).await {
                Ok(result) => result,
                // The server answered with a protocol error (an unknown tool, bad arguments):
                // the assistant gets it as the server sent it.
                Err(ServiceError::McpError(e)) => return Err(e),
                Err(e) => unavailable(&e.to_string()),
            },
            Err(message) => unavailable(&message),
        };
        Ok(result.into())
    }
}

/// A tool error in the REST envelope for a server the proxy could not get an answer from.
fn unavailable(message: &str) -> CallToolResult {
    let envelope = json!({
        "error": { "code": "INTERNAL_SERVER_ERROR", "message": message, "details": {} }
    });
    CallToolResult::error(vec![ContentBlock::text(envelope.to_string())])
}
