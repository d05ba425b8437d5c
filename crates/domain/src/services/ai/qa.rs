//! Questions answered from the caller's context: the best contexts are retrieved and numbered,
//! and the language model answers citing them; without one, the answer is the retrieved
//! sentences that best answer the question (relevant by meaning and by the question's words,
//! and not repeating one another), each cited, highlighted in its source.

use std::collections::HashSet;

use std::sync::Arc;

use tc_llm::{ChatModel, ChatRequest, Finish, Message};
use tracing::{instrument, warn};

use super::extractive;
use super::prompt;
use super::sources::{Retrieved, keep_valid_citations};
use super::usage::AiFeature;
use super::{AnswerOutcome, failure_reason, llm_label};
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult};
use crate::services::Services;
use crate::views::{AnswerMode, QaRequest, QaResponse, Span, UsageView};
use crate::words;

const DEFAULT_TOP_K: u32 = 5;
const MAX_TOP_K: u32 = 20;
pub(crate) const MAX_QUESTION_CHARS: usize = 4_000;
/// Sentences an extractive answer quotes, at most.
const ANSWER_SENTENCES: usize = 3;
/// Sentences of one source considered, and of all of them (each is embedded).
const SENTENCES_PER_SOURCE: usize = 30;
const SENTENCES_IN_ALL: usize = 120;
/// What an extractive answer says when nothing was found.
pub(crate) const NOTHING_FOUND: &str =
    "Nothing in the projects you can read answers this question.";

impl Services {
    /// `POST /ai/qa`: an answer whose claims cite the retrieved contexts.
    #[instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn answer_question(
        &self,
        caller: &Caller,
        req: QaRequest,
    ) -> DomainResult<QaResponse> {
        self.require_may_ask(caller)?;
        let started = std::time::Instant::now();
        let question = required_text(req.question, "question", MAX_QUESTION_CHARS)?;
        let top_k = req.top_k.unwrap_or(DEFAULT_TOP_K);
        if top_k == 0 || top_k > MAX_TOP_K {
            return Err(DomainError::validation(
                "top_k",
                format!("`top_k` must be between 1 and {MAX_TOP_K}"),
            ));
        }
        // A question about one project is that project's in the reports.
        let project = req.project_ids.as_deref().and_then(|ids| match ids {
            [one] => Some(*one),
            _ => None,
        });
        let mut sources = self.retrieve_sources(caller, &question, req.project_ids, top_k).await?;
        let model = self.model_for(caller.user_id).await;
        let outcome = self.answer_from(model.as_ref(), &question, &mut sources).await;
        let used = model.as_ref().filter(|_| outcome.mode == AnswerMode::Llm);
        self.ai_event(caller.user_id, project, AiFeature::Qa, used, outcome.usage, started);
        Ok(QaResponse {
            answer: outcome.text,
            mode: outcome.mode,
            llm: llm_label(model.as_ref()),
            fallback_reason: outcome.fallback_reason,
            sources: sources.into_iter().map(|s| s.view).collect(),
            citations: outcome.citations,
            usage: outcome.usage,
        })
    }

    /// The answer to `question` from `sources`: the model's, or the extractive one when there
    /// is no model or it fails (highlighting the quoted sentences in `sources`).
    pub(crate) async fn answer_from(
        &self,
        model: Option<&Arc<dyn ChatModel>>,
        question: &str,
        sources: &mut [Retrieved],
    ) -> AnswerOutcome {
        let mut fallback_reason = None;
        if let (Some(model), false) = (model, sources.is_empty()) {
            let request = ChatRequest {
                messages: vec![
                    Message::system(prompt::QA_SYSTEM),
                    Message::user(prompt::with_sources(question, sources)),
                ],
                tools: Vec::new(),
                max_tokens: Some(self.ai.max_tokens),
                temperature: Some(self.ai.temperature),
            };
            match self.complete(model.as_ref(), &request).await {
                Ok((text, usage)) => {
                    let (text, citations) = keep_valid_citations(&text, sources.len());
                    return AnswerOutcome {
                        text,
                        mode: AnswerMode::Llm,
                        citations,
                        usage,
                        fallback_reason: None,
                    };
                }
                Err(reason) => {
                    warn!(%reason, "the language model did not answer; answering extractively");
                    fallback_reason = Some(reason);
                }
            }
        }
        let (text, citations) = self.extractive_answer(question, sources).await;
        AnswerOutcome {
            text,
            mode: AnswerMode::Extractive,
            citations,
            usage: None,
            fallback_reason,
        }
    }

    /// Runs `request` to its end within the answer timeout: the text and usage, or why not.
    pub(crate) async fn complete(
        &self,
        model: &dyn tc_llm::ChatModel,
        request: &ChatRequest,
    ) -> Result<(String, Option<UsageView>), String> {
        let done = tokio::time::timeout(self.ai.timeout, tc_llm::complete(model, request)).await;
        let completion = match done {
            Err(_) => {
                return Err(format!(
                    "the language model did not answer within {} s",
                    self.ai.timeout.as_secs()
                ));
            }
            Ok(Err(e)) => return Err(failure_reason(&e)),
            Ok(Ok(c)) => c,
        };
        if completion.finish == Some(Finish::Incomplete) {
            return Err("the language model's answer was cut off".into());
        }
        if completion.text.trim().is_empty() {
            return Err("the language model returned an empty answer".into());
        }
        let usage = completion.usage.map(|u| UsageView {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
        });
        Ok((completion.text.trim().to_string(), usage))
    }

    /// The sentences of `sources` that best answer `question`, best first, each with its
    /// citation, and the sources cited. Scored by meaning (cosine to the question with the
    /// local model), by the question's words they contain, and by their source's rank; picked
    /// by maximal marginal relevance so no two say the same. Without the model (it is down),
    /// the words alone decide.
    pub(crate) async fn extractive_answer(
        &self,
        question: &str,
        sources: &mut [Retrieved],
    ) -> (String, Vec<usize>) {
        if sources.is_empty() {
            return (NOTHING_FOUND.to_string(), Vec::new());
        }
        let candidates = candidate_sentences(sources);
        if candidates.is_empty() {
            // Nothing sentence-shaped (a table, a minified file): the best source's snippet.
            let best = &sources[0].view;
            return (format!("{} [{}]", best.snippet, best.n), vec![best.n]);
        }
        let texts: Vec<String> = std::iter::once(question.to_string())
            .chain(
                candidates.iter().map(|(i, s)| extractive::sentence_text(&sources[*i].content, *s)),
            )
            .collect();
        let vectors = self.embed(texts.clone()).await.ok();
        let q_terms = words::terms(question);
        let terms: Vec<HashSet<String>> = texts[1..].iter().map(|t| words::terms(t)).collect();
        let top_score = sources.iter().map(|s| s.view.score).fold(f32::MIN, f32::max).max(1e-6);
        let relevance: Vec<f32> = candidates
            .iter()
            .enumerate()
            .map(|(k, (i, _))| {
                let words = extractive::coverage(&q_terms, &terms[k]);
                let rank = (sources[*i].view.score / top_score).clamp(0.0, 1.0);
                match &vectors {
                    Some(v) => {
                        0.55 * extractive::cosine(&v[0], &v[k + 1]) + 0.3 * words + 0.15 * rank
                    }
                    None => 0.75 * words + 0.25 * rank,
                }
            })
            .collect();
        let best = relevance.iter().copied().fold(f32::MIN, f32::max);
        let similarity = |a: usize, b: usize| match &vectors {
            Some(v) => extractive::cosine(&v[a + 1], &v[b + 1]),
            None => extractive::jaccard(&terms[a], &terms[b]),
        };
        let picked = extractive::mmr(&relevance, similarity, ANSWER_SENTENCES, 0.7, best * 0.6);

        let mut lines = Vec::new();
        let mut cited = Vec::new();
        for k in picked {
            let (i, span) = candidates[k];
            let source = &mut sources[i];
            let sentence = texts[k + 1].clone();
            if source.view.highlights.is_empty() {
                source.view.snippet = sentence.clone();
            }
            source.view.highlights.push(span);
            if !cited.contains(&source.view.n) {
                cited.push(source.view.n);
            }
            lines.push(format!("- {} [{}]", sentence.trim_start_matches("- "), source.view.n));
        }
        (lines.join("\n"), cited)
    }
}

/// The sentences of each source worth scoring: those of the matched passage first, then the
/// rest in order, a bounded number per source and in all.
fn candidate_sentences(sources: &[Retrieved]) -> Vec<(usize, Span)> {
    let mut out = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        let mut spans = extractive::sentences(&s.content);
        if let Some(p) = s.passage {
            spans.sort_by_key(|sp| !(sp.start < p.end && sp.end > p.start));
        }
        out.extend(spans.into_iter().take(SENTENCES_PER_SOURCE).map(|sp| (i, sp)));
    }
    // Keep each source represented: take round-robin when there are too many.
    if out.len() > SENTENCES_IN_ALL {
        let mut by_source: Vec<Vec<(usize, Span)>> = vec![Vec::new(); sources.len()];
        for c in out {
            by_source[c.0].push(c);
        }
        let mut fair = Vec::new();
        let mut round = 0;
        while fair.len() < SENTENCES_IN_ALL {
            let before = fair.len();
            for list in &by_source {
                if let Some(c) = list.get(round) {
                    fair.push(*c);
                }
            }
            if fair.len() == before {
                break;
            }
            round += 1;
        }
        fair.truncate(SENTENCES_IN_ALL);
        return fair;
    }
    out
}

/// `value` trimmed, required, and at most `max` characters.
pub(crate) fn required_text(
    value: Option<String>,
    field: &str,
    max: usize,
) -> DomainResult<String> {
    let text = value.ok_or_else(|| DomainError::missing(field))?;
    let text = text.trim().to_string();
    if text.is_empty() {
        return Err(DomainError::validation(field, format!("`{field}` must not be empty")));
    }
    if text.chars().count() > max {
        return Err(DomainError::validation(
            field,
            format!("`{field}` must be at most {max} characters"),
        ));
    }
    Ok(text)
}
