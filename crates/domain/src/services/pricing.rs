//! What retrieved context is worth: the price table (SPEC §11) and the `context_retrieve`
//! analytics events a search records, valued at the configured model's price.

use std::collections::BTreeMap;

use tc_store::AnalyticsEventRecord;
use uuid::Uuid;

use super::Services;
use super::context::ContextLimits;
use crate::caller::Caller;
use crate::views::SearchResult;

/// Input prices per million tokens, used to value retrieved context (SPEC §11), and the size
/// rules for saves.
#[derive(Debug, Clone)]
pub struct Pricing {
    /// The model whose price values savings (`DEFAULT_LLM_MODEL`).
    pub model: String,
    pub price_per_mtok: f64,
    /// Every known model's input price per million tokens (the seed's table plus
    /// `LLM_PRICES`), for reports that value savings at another model's price.
    pub prices: BTreeMap<String, f64>,
    pub limits: ContextLimits,
}

impl Pricing {
    /// What `tokens` input tokens cost at the default model's price, in USD.
    pub fn value_of(&self, tokens: i64) -> f64 {
        tokens as f64 * self.price_per_mtok / 1_000_000.0
    }
}

/// The seed's default price table (USD per million input tokens).
pub fn default_prices() -> BTreeMap<String, f64> {
    [("claude-3-opus", 15.0), ("claude-3-sonnet", 3.0), ("gpt-4-turbo", 10.0), ("gpt-4o", 5.0)]
        .into_iter()
        .map(|(m, p)| (m.to_string(), p))
        .collect()
}

/// The same models' prices per million output (completion) tokens, for what the AI features'
/// answers cost.
pub fn default_output_prices() -> BTreeMap<String, f64> {
    [("claude-3-opus", 75.0), ("claude-3-sonnet", 15.0), ("gpt-4-turbo", 30.0), ("gpt-4o", 15.0)]
        .into_iter()
        .map(|(m, p)| (m.to_string(), p))
        .collect()
}

impl Services {
    /// Records a search's analytics: one `context_retrieve` event per project that supplied
    /// results (so project reports see retrievals that spanned several projects), or one event
    /// for an empty search. The call itself is counted once, on the first event.
    pub(crate) fn retrieval_events(
        &self,
        caller: &Caller,
        results: &[SearchResult],
        searched_one: Option<Uuid>,
        source: &str,
        elapsed_ms: f64,
    ) {
        let mut per_project: Vec<(Option<Uuid>, i64, i64)> = Vec::new();
        for r in results {
            match per_project.iter_mut().find(|(p, _, _)| *p == Some(r.project_id)) {
                Some((_, tokens, count)) => {
                    (*tokens, *count) = (*tokens + r.token_count, *count + 1)
                }
                None => per_project.push((Some(r.project_id), r.token_count, 1)),
            }
        }
        if per_project.is_empty() {
            per_project.push((searched_one, 0, 0));
        }
        let now = self.now();
        for (i, (project_id, tokens, retrieved)) in per_project.into_iter().enumerate() {
            let first = i == 0;
            self.pending.event(AnalyticsEventRecord {
                id: Uuid::now_v7(),
                user_id: caller.user_id,
                project_id,
                event_type: "context_retrieve".into(),
                timestamp: now,
                tokens_saved: tokens,
                tokens_avoided: tokens,
                contexts_retrieved: retrieved,
                api_calls_made: i64::from(first),
                processing_time_ms: if first { elapsed_ms } else { 0.0 },
                model: Some(self.pricing.model.clone()),
                price_per_mtok: Some(self.pricing.price_per_mtok),
                estimated_savings_usd: self.pricing.value_of(tokens),
                source: Some(source.to_string()),
                prompt_tokens: 0,
                completion_tokens: 0,
                llm_cost_usd: 0.0,
            });
        }
    }
}
