//! Summaries of a text or of contexts, in three styles: `concise` (two or three sentences),
//! `detailed` (about a fifth of the text, in paragraphs) and `bullet` (five to eight points).
//! With a language model it writes them; without one, the summary is the text's most central
//! sentences (cosine to the centroid of all its sentence vectors, with a small bonus for
//! leading a document), picked by maximal marginal relevance and put back in their order.

use std::collections::HashMap;

use tc_llm::{ChatRequest, Message};
use tracing::{instrument, warn};
use uuid::Uuid;

use super::extractive;
use super::llm_label;
use super::prompt;
use super::qa::required_text;
use super::sources::title_of;
use super::usage::AiFeature;
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult};
use crate::services::Services;
use crate::views::{AnswerMode, SourceView, Span, SummarizeRequest, SummaryResponse};
use crate::words;

/// The longest text summarized at once (about 50 pages).
pub(crate) const MAX_TEXT_CHARS: usize = 200_000;
pub(crate) const MAX_CONTEXTS: usize = 50;
/// Sentences scored, at most (each is embedded).
const MAX_SENTENCES: usize = 400;
/// Characters of the text a model is shown, at most.
const PROMPT_CHARS: usize = 24_000;
const STYLES: [&str; 3] = ["concise", "detailed", "bullet"];

/// One text to summarize, and the context it came from.
struct Document {
    source: Option<SourceView>,
    text: String,
}

impl Services {
    /// `POST /ai/summarize` and the MCP tool `summarize_context`.
    #[instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn summarize(
        &self,
        caller: &Caller,
        req: SummarizeRequest,
    ) -> DomainResult<SummaryResponse> {
        self.require_may_ask(caller)?;
        let started = std::time::Instant::now();
        let style = req.style.unwrap_or_else(|| "concise".into());
        if !STYLES.contains(&style.as_str()) {
            return Err(DomainError::validation(
                "style",
                "`style` must be `concise`, `detailed` or `bullet`",
            ));
        }
        let mut documents = match (req.text, req.context_ids) {
            (Some(_), Some(_)) => {
                return Err(DomainError::validation(
                    "text",
                    "give either `text` or `context_ids`, not both",
                ));
            }
            (None, None) => return Err(DomainError::missing("text")),
            (Some(text), None) => {
                vec![Document {
                    source: None,
                    text: required_text(Some(text), "text", MAX_TEXT_CHARS)?,
                }]
            }
            (None, Some(ids)) => self.documents(caller, ids).await?,
        };
        let original: String =
            documents.iter().map(|d| d.text.as_str()).collect::<Vec<_>>().join("\n\n");
        if original.chars().count() > MAX_TEXT_CHARS {
            return Err(DomainError::validation(
                "context_ids",
                format!("the contexts hold more than {MAX_TEXT_CHARS} characters; summarize fewer"),
            ));
        }

        let mut fallback_reason = None;
        let mut written = None;
        let model = self.model_for(caller.user_id).await;
        if let Some(model) = &model {
            let request = ChatRequest {
                messages: vec![
                    Message::system(prompt::summary_system(&style)),
                    Message::user(super::sources::clip(&original, PROMPT_CHARS)),
                ],
                tools: Vec::new(),
                max_tokens: Some(self.ai.max_tokens),
                temperature: Some(self.ai.temperature),
            };
            match self.complete(model.as_ref(), &request).await {
                Ok(answer) => written = Some(answer),
                Err(reason) => {
                    warn!(%reason, "the language model did not summarize; summarizing extractively");
                    fallback_reason = Some(reason);
                }
            }
        }
        let (summary, mode, usage) = match written {
            Some((text, usage)) => (text, AnswerMode::Llm, usage),
            None => (
                self.extractive_summary(&mut documents, &style).await,
                AnswerMode::Extractive,
                None,
            ),
        };
        let used = model.as_ref().filter(|_| mode == AnswerMode::Llm);
        self.ai_event(caller.user_id, None, AiFeature::Summarize, used, usage, started);
        let (original_length, summary_length) = (original.chars().count(), summary.chars().count());
        Ok(SummaryResponse {
            style,
            mode,
            llm: llm_label(model.as_ref()),
            fallback_reason,
            original_length,
            summary_length,
            original_words: extractive::word_count(&original),
            summary_words: extractive::word_count(&summary),
            compression_ratio: if original_length == 0 {
                0.0
            } else {
                summary_length as f32 / original_length as f32
            },
            summary,
            sources: documents.into_iter().filter_map(|d| d.source).collect(),
            usage,
        })
    }

    /// The contexts `ids` as documents, each as the caller may read it (404 otherwise).
    async fn documents(&self, caller: &Caller, ids: Vec<Uuid>) -> DomainResult<Vec<Document>> {
        if ids.is_empty() {
            return Err(DomainError::validation("context_ids", "`context_ids` must not be empty"));
        }
        if ids.len() > MAX_CONTEXTS {
            return Err(DomainError::validation(
                "context_ids",
                format!("at most {MAX_CONTEXTS} contexts are summarized at once"),
            ));
        }
        let mut documents: Vec<Document> = Vec::new();
        for id in ids {
            if documents.iter().any(|d| d.source.as_ref().is_some_and(|s| s.context_id == id)) {
                continue;
            }
            let c = self.get_context(caller, id).await?;
            documents.push(Document {
                source: Some(SourceView {
                    n: documents.len() + 1,
                    context_id: c.id,
                    project_id: c.project_id,
                    title: title_of(&c.metadata, &c.content),
                    source: c.metadata.get("source").and_then(|s| s.as_str()).unwrap_or("").into(),
                    score: 1.0,
                    snippet: super::sources::clip(&c.content, 300),
                    highlights: Vec::new(),
                }),
                text: c.content,
            });
        }
        Ok(documents)
    }

    /// The most central sentences of `documents` in `style`, highlighted in their sources.
    async fn extractive_summary(&self, documents: &mut [Document], style: &str) -> String {
        let mut candidates: Vec<(usize, Span)> = Vec::new();
        for (d, doc) in documents.iter().enumerate() {
            candidates.extend(extractive::sentences(&doc.text).into_iter().map(|s| (d, s)));
        }
        candidates.truncate(MAX_SENTENCES);
        if candidates.is_empty() {
            // Nothing sentence-shaped: the text's start is the best there is.
            let all: Vec<&str> = documents.iter().map(|d| d.text.trim()).collect();
            return super::sources::clip(&all.join("\n"), 300);
        }
        let texts: Vec<String> = candidates
            .iter()
            .map(|(d, s)| extractive::sentence_text(&documents[*d].text, *s))
            .collect();
        let terms: Vec<_> = texts.iter().map(|t| words::terms(t)).collect();
        let vectors = self.embed(texts.clone()).await.ok();
        let mut relevance = match &vectors {
            Some(v) => extractive::centroid_scores(v),
            None => frequency_scores(&terms),
        };
        // A document's opening sentence often states its point.
        let mut seen = Vec::new();
        for (k, (d, _)) in candidates.iter().enumerate() {
            if !seen.contains(d) {
                seen.push(*d);
                relevance[k] += 0.05;
            }
        }
        let n = candidates.len();
        let k = match style {
            "detailed" => (n / 5).clamp(4, 12),
            "bullet" => (n / 4).clamp(5, 8),
            _ => 3,
        }
        .min(n);
        let similarity = |a: usize, b: usize| match &vectors {
            Some(v) => extractive::cosine(&v[a], &v[b]),
            None => extractive::jaccard(&terms[a], &terms[b]),
        };
        let mut picked = extractive::mmr(&relevance, similarity, k, 0.7, f32::MIN);
        picked.sort_by_key(|&i| (candidates[i].0, candidates[i].1.start));

        for &i in &picked {
            let (d, span) = candidates[i];
            if let Some(source) = documents[d].source.as_mut() {
                source.highlights.push(span);
            }
        }
        let sentence = |i: usize| texts[i].trim().to_string();
        match style {
            "bullet" => picked
                .iter()
                .map(|&i| format!("- {}", extractive::without_connective(&sentence(i))))
                .collect::<Vec<_>>()
                .join("\n"),
            "detailed" => {
                // A paragraph per document, headed by its title when there are several.
                let several = documents.len() > 1;
                let mut paragraphs: Vec<String> = Vec::new();
                let mut by_doc: Vec<(usize, Vec<String>)> = Vec::new();
                for &i in &picked {
                    let d = candidates[i].0;
                    match by_doc.last_mut() {
                        Some((last, list)) if *last == d => list.push(sentence(i)),
                        _ => by_doc.push((d, vec![sentence(i)])),
                    }
                }
                for (d, list) in by_doc {
                    let title = documents[d].source.as_ref().map(|s| s.title.clone());
                    match (several, title) {
                        (true, Some(t)) => paragraphs.push(format!("**{t}**\n{}", list.join(" "))),
                        _ => paragraphs.push(list.join(" ")),
                    }
                }
                paragraphs.join("\n\n")
            }
            _ => picked.iter().map(|&i| sentence(i)).collect::<Vec<_>>().join(" "),
        }
    }
}

/// Sentence scores by how many of the text's frequent words each holds (the centroid of a
/// bag of words), for when the embedding model is down.
fn frequency_scores(terms: &[std::collections::HashSet<String>]) -> Vec<f32> {
    let mut frequency: HashMap<&str, usize> = HashMap::new();
    for t in terms {
        for w in t {
            *frequency.entry(w.as_str()).or_default() += 1;
        }
    }
    let most = frequency.values().copied().max().unwrap_or(1) as f32;
    terms
        .iter()
        .map(|t| {
            if t.is_empty() {
                return 0.0;
            }
            let sum: f32 = t.iter().map(|w| frequency[w.as_str()] as f32 / most).sum();
            sum / (t.len() as f32).sqrt()
        })
        .collect()
}
