//! The agent: a chat turn whose model may call tools. The tools are the ones MCP exposes
//! (called in process, with the caller's own scope and project restriction) and those of the
//! MCP servers the caller registered; the server assembles them per turn as [`AgentTools`],
//! since it owns MCP. The loop asks the model, runs the calls it makes one after another,
//! gives it their answers, and asks again, for at most `AiSettings::agent_max_steps` rounds
//! of calls; the last round offers no tools, so the model has to answer. Every call is
//! streamed when it starts (`tool_call`, marked when it writes) and when it ends
//! (`tool_result`), and stored with the answer: arguments, result or error, duration. A call
//! the model got wrong (an unknown tool, arguments that are not JSON or fail the tool's
//! checks) is answered with the error as the tool's message, never a failed turn.

use std::time::Instant;

use async_trait::async_trait;
use serde_json::Value;
use tc_llm::{ChatModel, Finish, Message, ToolCall, ToolSpec};
use tc_store::ChatToolCallRecord;
use uuid::Uuid;

use super::chat::Streamed;
use super::runs::Run;
use super::sources::clip;
use crate::services::Services;
use crate::views::{ChatEvent, ToolCallView};

/// The most of a tool's answer the model is shown (the whole answer is stored).
const TOOL_RESULT_CHARS: usize = 8_000;

/// A tool the agent may call.
#[derive(Debug, Clone)]
pub struct AgentTool {
    /// The name, description and argument schema the model sees.
    pub spec: ToolSpec,
    /// It writes on the user's behalf: marked in the stream and the record.
    pub writes: bool,
    /// The registered MCP server it comes from; `None` for TeamContext's own tools.
    pub server: Option<String>,
}

/// The tools of one caller for one turn.
#[async_trait]
pub trait AgentTools: Send + Sync {
    fn tools(&self) -> &[AgentTool];
    /// Calls `tool` with `arguments` (a JSON object): its structured answer, or the error text
    /// the model is shown (for TeamContext's tools, the REST error envelope).
    async fn call(&self, tool: &AgentTool, arguments: Value) -> Result<Value, String>;
}

impl Services {
    /// The model's part of an agent turn, streamed into `run`, starting from `messages`.
    pub(super) async fn agent_answer(
        &self,
        model: &dyn ChatModel,
        tools: &dyn AgentTools,
        mut messages: Vec<Message>,
        run: &Run,
    ) -> Streamed {
        let specs: Vec<ToolSpec> = tools.tools().iter().map(|t| t.spec.clone()).collect();
        let mut out = Streamed::default();
        let max_steps = self.ai.agent_max_steps;
        for step in 0..=max_steps {
            let offered = if step < max_steps { specs.clone() } else { Vec::new() };
            let s = self.stream_step(model, &messages, offered, run).await;
            out.text.push_str(&s.text);
            out.usage = match (out.usage, s.usage) {
                (Some(a), Some(b)) => Some(crate::views::UsageView {
                    prompt_tokens: a.prompt_tokens + b.prompt_tokens,
                    completion_tokens: a.completion_tokens + b.completion_tokens,
                }),
                (a, b) => a.or(b),
            };
            out.finish = s.finish;
            if s.failed.is_some() || s.cancelled {
                out.failed = s.failed;
                out.cancelled = s.cancelled;
                return out;
            }
            if s.asked.is_empty() {
                return out;
            }
            if step == max_steps {
                // Offered no tools, it still called some: the answer is what it wrote.
                out.finish = Some(Finish::Other("max_steps".into()));
                return out;
            }
            let said = Some(s.text.clone()).filter(|t| !t.trim().is_empty());
            messages.push(Message::assistant(said, s.asked.clone()));
            for call in &s.asked {
                let record = self.call_tool(tools, call, run).await;
                messages.push(Message::tool(&call.id, tool_message(&record)));
                out.made.push(record);
                if run.is_stopped() {
                    out.cancelled = true;
                    return out;
                }
            }
            if !out.text.trim().is_empty() && !out.text.ends_with("\n\n") {
                // What it says after the calls is a new paragraph.
                out.text.push_str("\n\n");
                run.push(ChatEvent::Delta("\n\n".into()));
            }
        }
        out
    }

    /// Runs one call, streaming its start and its outcome.
    async fn call_tool(
        &self,
        tools: &dyn AgentTools,
        call: &ToolCall,
        run: &Run,
    ) -> ChatToolCallRecord {
        let tool = tools.tools().iter().find(|t| t.spec.name == call.name);
        let mut view = ToolCallView {
            id: call.id.clone(),
            name: call.name.clone(),
            server: tool.and_then(|t| t.server.clone()),
            arguments: call.arguments.clone(),
            writes: tool.is_some_and(|t| t.writes),
            result: None,
            error: None,
            duration_ms: None,
        };
        run.push(ChatEvent::ToolCall(view.clone()));
        let started = Instant::now();
        let outcome = match (tool, &call.arguments) {
            (None, _) => {
                let names: Vec<&str> = tools.tools().iter().map(|t| t.spec.name.as_str()).collect();
                Err(format!(
                    "there is no tool `{}`; the tools are: {}",
                    call.name,
                    names.join(", ")
                ))
            }
            (Some(_), Value::Object(args)) if args.contains_key("_invalid") => Err(format!(
                "the arguments are not valid JSON: {}",
                args["_invalid"].as_str().unwrap_or_default()
            )),
            (Some(_), args) if !args.is_object() => {
                Err("the arguments must be a JSON object".to_string())
            }
            (Some(tool), args) => {
                let timeout = self.ai.timeout;
                tokio::select! {
                    answered = tokio::time::timeout(timeout, tools.call(tool, args.clone())) => {
                        answered.unwrap_or_else(|_| {
                            Err(format!("the tool did not answer within {} s", timeout.as_secs()))
                        })
                    }
                    _ = run.stopped() => Err("the turn was stopped during the call".to_string()),
                }
            }
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        match &outcome {
            Ok(result) => view.result = Some(result.clone()),
            Err(error) => view.error = Some(error.clone()),
        }
        view.duration_ms = Some(duration_ms);
        run.push(ChatEvent::ToolResult(view.clone()));
        ChatToolCallRecord {
            id: Uuid::now_v7(),
            call_id: view.id,
            name: view.name,
            server: view.server,
            arguments: view.arguments,
            result: view.result,
            error: view.error,
            writes: view.writes,
            duration_ms: duration_ms as i64,
            created_at: self.now(),
        }
    }
}

/// What the model is told a call returned.
pub(super) fn tool_message(record: &ChatToolCallRecord) -> String {
    match (&record.result, &record.error) {
        (_, Some(error)) => format!("error: {error}"),
        (Some(Value::String(text)), None) => clip(text, TOOL_RESULT_CHARS),
        (Some(result), None) => clip(&result.to_string(), TOOL_RESULT_CHARS),
        (None, None) => "(no answer)".into(),
    }
}

/// The messages an earlier agent turn stands for in the history: its calls, their answers,
/// then what it said.
pub(super) fn replayed(content: String, calls: &[ChatToolCallRecord]) -> Vec<Message> {
    let mut out = Vec::new();
    if !calls.is_empty() {
        let asked = calls
            .iter()
            .map(|c| ToolCall {
                id: c.call_id.clone(),
                name: c.name.clone(),
                arguments: c.arguments.clone(),
            })
            .collect();
        out.push(Message::assistant(None, asked));
        for c in calls {
            out.push(Message::tool(&c.call_id, tool_message(c)));
        }
    }
    if !content.trim().is_empty() {
        out.push(Message::assistant(Some(content), Vec::new()));
    }
    out
}
