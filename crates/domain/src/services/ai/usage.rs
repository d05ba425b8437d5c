//! What the AI features cost: one analytics event per question, summary, mind map, chat turn or
//! story draft
//! (`ai_qa`, `ai_summarize`, `ai_mindmap`, `ai_chat`, `ai_story`), carrying the language model's prompt and
//! completion tokens and their price at `LLM_INPUT_PRICE_PER_MTOK` / `LLM_OUTPUT_PRICE_PER_MTOK`.
//! Extractive answers are counted too, with no tokens and no cost, so reports show how much
//! each feature is used whatever answered.

use std::sync::Arc;
use std::time::Instant;

use tc_llm::ChatModel;
use tc_store::AnalyticsEventRecord;
use uuid::Uuid;

use crate::services::Services;
use crate::services::pricing::default_output_prices;
use crate::views::UsageView;

/// The AI features, as their analytics event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AiFeature {
    Qa,
    Summarize,
    Mindmap,
    Chat,
    Story,
}

impl AiFeature {
    pub(crate) fn event_type(self) -> &'static str {
        match self {
            AiFeature::Qa => "ai_qa",
            AiFeature::Summarize => "ai_summarize",
            AiFeature::Mindmap => "ai_mindmap",
            AiFeature::Chat => "ai_chat",
            AiFeature::Story => "ai_story",
        }
    }
}

/// Every AI event type, for reports.
pub(crate) const AI_EVENT_TYPES: [&str; 5] =
    ["ai_qa", "ai_summarize", "ai_mindmap", "ai_chat", "ai_story"];

impl Services {
    /// A model's prices per million prompt and completion tokens: the configured ones for the
    /// server's model, the price table's for a user's own (0 for a model it does not know).
    fn prices_of(&self, model: &str) -> (f64, f64) {
        if self.ai.model.as_ref().is_some_and(|m| m.model() == model) {
            return (self.ai.input_price_per_mtok, self.ai.output_price_per_mtok);
        }
        let input = self.pricing.prices.get(model).copied().unwrap_or_default();
        (input, default_output_prices().get(model).copied().unwrap_or_default())
    }

    /// Records one AI call by `user_id` (about `project_id` when it had one), answered by
    /// `model` or, without one, extractively.
    pub(crate) fn ai_event(
        &self,
        user_id: Uuid,
        project_id: Option<Uuid>,
        feature: AiFeature,
        model: Option<&Arc<dyn ChatModel>>,
        usage: Option<UsageView>,
        started: Instant,
    ) {
        let name = model.map_or_else(|| "extractive".to_string(), |m| m.model().to_string());
        let (input, output) = if model.is_some() { self.prices_of(&name) } else { (0.0, 0.0) };
        let cost = usage.map_or(0.0, |u| {
            (u.prompt_tokens as f64 * input + u.completion_tokens as f64 * output) / 1_000_000.0
        });
        self.pending.event(AnalyticsEventRecord {
            id: Uuid::now_v7(),
            user_id,
            project_id,
            event_type: feature.event_type().into(),
            timestamp: self.now(),
            tokens_saved: 0,
            tokens_avoided: 0,
            contexts_retrieved: 0,
            api_calls_made: 1,
            processing_time_ms: started.elapsed().as_secs_f64() * 1000.0,
            model: Some(name),
            price_per_mtok: Some(input),
            estimated_savings_usd: 0.0,
            source: None,
            prompt_tokens: usage.map_or(0, |u| u.prompt_tokens as i64),
            completion_tokens: usage.map_or(0, |u| u.completion_tokens as i64),
            llm_cost_usd: cost,
        });
    }
}
