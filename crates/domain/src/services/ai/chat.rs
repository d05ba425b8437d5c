//! A chat turn: the user's message is stored, the session's history is rebuilt from the
//! database (no conversation lives in memory, so any replica serves the next turn), the
//! caller's best contexts are retrieved and numbered, and the answer is produced by a task of
//! its own, a [`Run`](super::runs::Run), as [`ChatEvent`]s: `start`, `sources` before any
//! text, `delta`s, `usage`, the stored message, `done`. Watchers come and go (a client that
//! reconnects resumes where it was); when the run is stopped (explicitly, or nobody watched it
//! for the grace period) the task stops reading the model, which closes the upstream request,
//! and stores what was written as `cancelled`. Without a model, or when it fails before
//! writing anything, the answer is extractive and says why.

use std::sync::Arc;

use futures_util::StreamExt;
use tc_llm::{ChatRequest as LlmRequest, Finish, Message, ModelEvent, ToolCall, ToolSpec};
use tc_store::{ChatMessageRecord, ChatSessionRecord, ChatToolCallRecord, Page};
use tracing::{instrument, warn};
use uuid::Uuid;

use super::agent::{self, AgentTools};
use super::failure_reason;
use super::llm_label;
use super::prompt;
use super::qa::{MAX_QUESTION_CHARS, required_text};
use super::runs::{Run, Watch};
use super::sessions::{message_view, title_from};
use super::sources::{Retrieved, keep_valid_citations};
use super::usage::AiFeature;
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult};
use crate::services::Services;
use crate::views::{AnswerMode, ChatEvent, ChatRequest, ChatResponse, SourceView, UsageView};

/// Sources retrieved for each turn.
const CHAT_SOURCES: u32 = 5;
/// Earlier messages the model is shown.
const HISTORY_MESSAGES: u32 = 20;
/// A turn under way: its session, its run (the id of the answer's message), and a watch of its
/// events from the first.
pub struct ChatRun {
    pub session_id: Uuid,
    pub run_id: Uuid,
    pub events: Watch,
}

/// What the run needs once it has left the request.
struct Turn {
    session: ChatSessionRecord,
    user_message_id: Uuid,
    question: String,
    history: Vec<Message>,
    sources: Vec<Retrieved>,
    /// An agent turn's tools.
    tools: Option<Box<dyn AgentTools>>,
    /// The caller's model, or the server's.
    model: Option<Arc<dyn tc_llm::ChatModel>>,
}

/// How the model's part of a turn (or one step of an agent's) ended.
#[derive(Default)]
pub(super) struct Streamed {
    pub text: String,
    pub usage: Option<UsageView>,
    pub finish: Option<Finish>,
    /// The model failed: why.
    pub failed: Option<String>,
    /// The reader went away.
    pub cancelled: bool,
    /// The calls the model asked for in this step.
    pub asked: Vec<ToolCall>,
    /// The calls the agent made, with their outcomes.
    pub made: Vec<ChatToolCallRecord>,
}

impl Services {
    /// `POST /ai/chat/stream` (and `/ai/chat`, which reads the run to its end): checks and
    /// stores the user's message, then answers in a task of its own, as an agent with `tools`
    /// when they are given. Errors before the answer starts (a bad message, someone else's
    /// session) are returned, not streamed.
    #[instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn start_chat(
        self: &Arc<Self>,
        caller: &Caller,
        req: ChatRequest,
        tools: Option<Box<dyn AgentTools>>,
    ) -> DomainResult<ChatRun> {
        self.require_may_ask(caller)?;
        let question = required_text(req.message, "message", MAX_QUESTION_CHARS)?;
        let session = match req.session_id {
            Some(id) => {
                let session = self.own_chat_session(caller, id).await?;
                caller.require_scope(tc_store::Scope::Write)?;
                session
            }
            None => self.new_chat_session(caller, req.project_id, String::new()).await?,
        };
        let sources = self
            .retrieve_sources(caller, &question, session.project_id.map(|p| vec![p]), CHAT_SOURCES)
            .await?;
        let mut earlier = self
            .store
            .chat_messages(session.id, Page { before: None, limit: HISTORY_MESSAGES })
            .await?;
        earlier.reverse();
        let history = earlier
            .into_iter()
            .filter(|m| m.status != "error" && !m.content.trim().is_empty())
            .flat_map(|m| match m.role.as_str() {
                "assistant" => agent::replayed(m.content, &m.tool_calls),
                _ => vec![Message::user(m.content)],
            })
            .collect();
        let user_message = ChatMessageRecord {
            content: question.clone(),
            ..new_message(Uuid::now_v7(), session.id, "user", self.now())
        };
        self.store.append_chat_message(&user_message, Some(&title_from(&question))).await?;

        let model = self.model_for(caller.user_id).await;
        let turn = Turn {
            session,
            user_message_id: user_message.id,
            question,
            history,
            sources,
            tools,
            model,
        };
        let session_id = turn.session.id;
        let run_id = Uuid::now_v7();
        let run = self.runs.start(run_id, session_id, caller.user_id, self.ai.resume_grace);
        // Watched before it starts, so no event goes unseen and no grace period runs yet.
        let events = run.watch(0).expect("a new run has events to come");
        let services = Arc::clone(self);
        tokio::spawn(async move {
            services.run_turn(turn, &run).await;
            services.runs.retire(&run);
        });
        Ok(ChatRun { session_id, run_id, events })
    }

    /// A run of the caller's session `session_id`, to watch or stop (404 otherwise).
    pub fn chat_run(
        &self,
        caller: &Caller,
        session_id: Uuid,
        run_id: Uuid,
    ) -> DomainResult<Arc<Run>> {
        self.runs
            .get(run_id)
            .filter(|r| r.session_id == session_id && r.user_id == caller.user_id)
            .ok_or_else(|| DomainError::not_found("run"))
    }

    /// `GET /ai/sessions/{id}/runs/{run_id}/events`: the run's events after `after`; None
    /// when it is over and everything was sent.
    pub async fn watch_chat_run(
        &self,
        caller: &Caller,
        session_id: Uuid,
        run_id: Uuid,
        after: u64,
    ) -> DomainResult<Option<Watch>> {
        self.own_chat_session(caller, session_id).await?;
        Ok(self.chat_run(caller, session_id, run_id)?.watch(after))
    }

    /// `POST /ai/sessions/{id}/runs/{run_id}/stop`: ends the run now; what was written is
    /// stored as `cancelled`.
    pub async fn stop_chat_run(
        &self,
        caller: &Caller,
        session_id: Uuid,
        run_id: Uuid,
    ) -> DomainResult<()> {
        self.own_chat_session(caller, session_id).await?;
        caller.require_scope(tc_store::Scope::Write)?;
        self.chat_run(caller, session_id, run_id)?.stop();
        Ok(())
    }

    /// `POST /ai/chat` (and the agent's `POST /chat`): a turn read to its end.
    pub async fn chat(
        self: &Arc<Self>,
        caller: &Caller,
        req: ChatRequest,
        tools: Option<Box<dyn AgentTools>>,
    ) -> DomainResult<ChatResponse> {
        let mut run = self.start_chat(caller, req, tools).await?;
        let mut fallback_reason = None;
        let mut message = None;
        while let Some((_, event)) = run.events.next().await {
            match event {
                ChatEvent::Fallback { reason } => fallback_reason = Some(reason),
                ChatEvent::Completed(m) => message = Some(*m),
                _ => {}
            }
        }
        let message =
            message.ok_or_else(|| DomainError::internal("the chat answer could not be stored"))?;
        Ok(ChatResponse { session_id: run.session_id, message, fallback_reason })
    }

    async fn run_turn(&self, mut turn: Turn, run: &Run) {
        let started = std::time::Instant::now();
        let session_id = turn.session.id;
        let mode = if turn.model.is_some() { AnswerMode::Llm } else { AnswerMode::Extractive };
        let views: Vec<SourceView> = turn.sources.iter().map(|s| s.view.clone()).collect();
        run.push(ChatEvent::Start {
            session_id,
            run_id: run.id,
            user_message_id: turn.user_message_id,
            mode,
            llm: llm_label(turn.model.as_ref()),
            agent: turn.tools.is_some() && turn.model.is_some(),
        });
        run.push(ChatEvent::Sources(views));

        let mut record = new_message(run.id, session_id, "assistant", self.now());
        let streamed = match &turn.model {
            Some(model) => Some(self.stream_answer(model.as_ref(), &turn, run).await),
            None => None,
        };
        match streamed {
            // An agent that already called tools keeps its record even if the model then
            // failed: what the calls did is part of the answer.
            Some(s) if s.failed.is_none() || !s.text.trim().is_empty() || !s.made.is_empty() => {
                // An agent's text may end with the paragraph break put after its last calls.
                let text = if turn.tools.is_some() { s.text.trim_end() } else { &s.text };
                let (text, _) = keep_valid_citations(text, turn.sources.len());
                record.content = text;
                record.tool_calls = s.made;
                record.mode = Some("llm".into());
                record.model = turn.model.as_ref().map(|m| m.model().to_string());
                record.prompt_tokens = s.usage.map(|u| u.prompt_tokens as i64);
                record.completion_tokens = s.usage.map(|u| u.completion_tokens as i64);
                record.finish_reason = Some(finish_name(s.finish.as_ref(), s.cancelled));
                if s.cancelled {
                    record.status = "cancelled".into();
                } else if let Some(reason) = s.failed {
                    record.status = "error".into();
                    run.push(ChatEvent::Error {
                        code: "LLM_ERROR".into(),
                        message: reason.clone(),
                    });
                    record.error = Some(reason);
                }
            }
            other => {
                // No model, or it failed before writing a word or calling a tool: the
                // extractive answer.
                let reason = other.and_then(|s| s.failed);
                if let Some(reason) = &reason {
                    run.push(ChatEvent::Fallback { reason: reason.clone() });
                }
                let (text, _) = self.extractive_answer(&turn.question, &mut turn.sources).await;
                run.push(ChatEvent::Delta(text.clone()));
                record.content = text;
                record.mode = Some("extractive".into());
                record.finish_reason = Some("stop".into());
                record.error = reason;
            }
        }
        record.sources = serde_json::to_value(
            turn.sources.iter().map(|s| &s.view).collect::<Vec<&SourceView>>(),
        )
        .unwrap_or_default();
        record.created_at = self.now();
        match self.store.append_chat_message(&record, None).await {
            Ok(seq) => {
                let usage = record.prompt_tokens.zip(record.completion_tokens).map(|(p, c)| {
                    UsageView { prompt_tokens: p as u64, completion_tokens: c as u64 }
                });
                let used = turn.model.as_ref().filter(|_| record.mode.as_deref() == Some("llm"));
                let (user, project) = (turn.session.user_id, turn.session.project_id);
                self.ai_event(user, project, AiFeature::Chat, used, usage, started);
                record.seq = seq;
                let message_id = record.id;
                let finish_reason = record.finish_reason.clone().unwrap_or_default();
                run.push(ChatEvent::Completed(Box::new(message_view(record))));
                run.push(ChatEvent::Done { session_id, message_id, finish_reason });
            }
            Err(e) => {
                // The session was deleted during the turn, or the database failed.
                warn!(error = %e, %session_id, "the chat answer could not be stored");
                run.push(ChatEvent::Error {
                    code: "DATABASE_ERROR".into(),
                    message: "the answer could not be stored".into(),
                });
                run.push(ChatEvent::Done {
                    session_id,
                    message_id: run.id,
                    finish_reason: "error".into(),
                });
            }
        }
    }

    /// The model's answer to the turn, streamed into `run`: one step, or an agent's loop.
    async fn stream_answer(
        &self,
        model: &dyn tc_llm::ChatModel,
        turn: &Turn,
        run: &Run,
    ) -> Streamed {
        let system = if turn.tools.is_some() { prompt::AGENT_SYSTEM } else { prompt::CHAT_SYSTEM };
        let mut messages = vec![Message::system(system)];
        messages.extend(turn.history.iter().cloned());
        messages.push(Message::user(prompt::with_sources(&turn.question, &turn.sources)));
        match &turn.tools {
            Some(tools) => self.agent_answer(model, tools.as_ref(), messages, run).await,
            None => self.stream_step(model, &messages, Vec::new(), run).await,
        }
    }

    /// Streams one answer of the model into `run` as deltas until it ends, fails, times out,
    /// or the run is stopped (then the model's stream is dropped, closing the upstream
    /// request). The tool calls it asks for are collected, not run.
    pub(super) async fn stream_step(
        &self,
        model: &dyn tc_llm::ChatModel,
        messages: &[Message],
        tools: Vec<ToolSpec>,
        run: &Run,
    ) -> Streamed {
        let request = LlmRequest {
            messages: messages.to_vec(),
            tools,
            max_tokens: Some(self.ai.max_tokens),
            temperature: Some(self.ai.temperature),
        };
        let mut out = Streamed::default();
        let deadline = tokio::time::Instant::now() + self.ai.timeout;
        let mut stream = tokio::select! {
            started = tokio::time::timeout_at(deadline, model.stream(&request)) => match started {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => { out.failed = Some(failure_reason(&e)); return out; }
                Err(_) => { out.failed = Some(timeout_reason(self)); return out; }
            },
            _ = run.stopped() => { out.cancelled = true; return out; }
        };
        loop {
            let next = tokio::select! {
                next = tokio::time::timeout_at(deadline, stream.next()) => next,
                _ = run.stopped() => { out.cancelled = true; break; }
            };
            match next {
                Err(_) => {
                    out.failed = Some(timeout_reason(self));
                    break;
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    out.failed = Some(failure_reason(&e));
                    break;
                }
                Ok(Some(Ok(event))) => match event {
                    ModelEvent::Text(t) => {
                        out.text.push_str(&t);
                        run.push(ChatEvent::Delta(t));
                    }
                    ModelEvent::Usage(u) => {
                        let usage = UsageView {
                            prompt_tokens: u.prompt_tokens,
                            completion_tokens: u.completion_tokens,
                        };
                        out.usage = Some(usage);
                        run.push(ChatEvent::Usage(usage));
                    }
                    ModelEvent::Finished(f) => out.finish = Some(f),
                    ModelEvent::ToolCall(call) => out.asked.push(call),
                    // Reasoning is not shown.
                    ModelEvent::Reasoning(_) => {}
                },
            }
        }
        if out.failed.is_none() && !out.cancelled && out.finish == Some(Finish::Incomplete) {
            out.failed = Some("the language model's answer was cut off".into());
        }
        out
    }
}

/// An empty, complete message of `role` (its position is the store's to give).
fn new_message(
    id: Uuid,
    session_id: Uuid,
    role: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> ChatMessageRecord {
    ChatMessageRecord {
        id,
        session_id,
        seq: 0,
        role: role.into(),
        content: String::new(),
        mode: None,
        status: "complete".into(),
        finish_reason: None,
        model: None,
        prompt_tokens: None,
        completion_tokens: None,
        sources: serde_json::json!([]),
        error: None,
        created_at: at,
        tool_calls: Vec::new(),
    }
}

fn timeout_reason(services: &Services) -> String {
    format!("the language model did not answer within {} s", services.ai.timeout.as_secs())
}

/// The stored finish reason.
fn finish_name(finish: Option<&Finish>, cancelled: bool) -> String {
    if cancelled {
        return "cancelled".into();
    }
    match finish {
        Some(Finish::Stop) | None => "stop".into(),
        Some(Finish::Length) => "length".into(),
        Some(Finish::ToolCalls) => "tool_calls".into(),
        Some(Finish::ContentFilter) => "content_filter".into(),
        Some(Finish::Other(s)) => s.clone(),
        Some(Finish::Incomplete) => "incomplete".into(),
    }
}
