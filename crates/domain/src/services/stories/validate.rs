//! `POST /ai/stories/{id}/validate`: every rule that needs no model ([`rules::check`]), the
//! "unique" criterion (no open Jira issue of the project says the same: the synced issues a
//! search for the summary finds, compared summary to summary by meaning), and, with a language model, its review of the
//! criteria a rule cannot judge. The rules that did not run are listed with the reason.

use tracing::{instrument, warn};
use uuid::Uuid;

use super::writer::MODEL_RULES;
use crate::caller::Caller;
use crate::error::DomainResult;
use crate::services::Services;
use crate::services::access::Access;
use crate::services::ai::extractive::cosine;
use crate::services::ai::{AiFeature, llm_label};
use crate::services::integrations::JIRA_SOURCE;
use crate::stories::StoryParts;
use crate::stories::rules::{self, Severity};
use crate::views::{SearchRequest, SkippedRuleView, StoryFindingView, StoryValidationView};

/// The rules that run without a model, as [`rules::check`] names them, and `unique`.
const RULE_NAMES: [&str; 11] = [
    "well_formed",
    "atomic",
    "minimal",
    "unambiguous",
    "full_sentence",
    "estimable",
    "unique",
    "independent",
    "valuable",
    "small",
    "testable",
];
/// Cosine similarity of two summaries from which they say the same thing. Measured with
/// all-MiniLM-L6-v2 on twelve issue summaries against four story sentences: paraphrases of the
/// same request scored 0.78–0.97, related but different work (an alert for the same job, a PDF
/// instead of a CSV export, retries instead of a list) 0.66–0.69, unrelated work below 0.40.
const DUPLICATE_SIMILARITY: f32 = 0.75;
/// Issues a search offers for the comparison.
const CANDIDATES: u32 = 20;
/// Jira statuses of work that is over: a duplicate of it is not a duplicate.
const CLOSED: [&str; 5] = ["done", "closed", "resolved", "cancelled", "won't do"];

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

fn rank(s: &str) -> u8 {
    match s {
        "error" => 0,
        "warning" => 1,
        _ => 2,
    }
}

impl Services {
    #[instrument(skip_all, fields(user_id = %caller.user_id, draft_id = %id))]
    pub async fn validate_story(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> DomainResult<StoryValidationView> {
        self.require_may_ask(caller)?;
        let draft = self.draft_for(caller, id, Access::Read).await?;
        let started = std::time::Instant::now();
        let mut findings: Vec<StoryFindingView> = rules::check(&draft.parts)
            .into_iter()
            .map(|f| StoryFindingView {
                rule: f.rule.to_string(),
                severity: severity(f.severity).into(),
                field: f.field,
                excerpt: f.excerpt,
                message: f.message,
                suggestion: f.suggestion,
            })
            .collect();
        findings.extend(
            self.duplicates(
                caller,
                draft.record.project_id,
                &draft.parts,
                draft.record.jira_key.as_deref(),
            )
            .await?,
        );
        let mut checked: Vec<String> = RULE_NAMES.iter().map(|r| r.to_string()).collect();
        let mut skipped = Vec::new();
        let model = self.model_for(caller.user_id).await;
        match &model {
            None => skipped.extend(MODEL_RULES.iter().map(|r| SkippedRuleView {
                rule: r.to_string(),
                reason: "needs a language model, and none is configured".into(),
            })),
            Some(model) => {
                match self.review(model.as_ref(), &draft.parts).await {
                    Ok((reviewed, usage)) => {
                        self.ai_event(
                            caller.user_id,
                            Some(draft.record.project_id),
                            AiFeature::Story,
                            Some(model),
                            usage,
                            started,
                        );
                        checked.extend(MODEL_RULES.iter().map(|r| r.to_string()));
                        findings.extend(reviewed.into_iter().map(|r| StoryFindingView {
                            rule: r.rule,
                            severity: severity(r.severity).into(),
                            field: if r.field.is_empty() { "summary".into() } else { r.field },
                            excerpt: None,
                            message: r.message,
                            suggestion: r.suggestion,
                        }));
                    }
                    Err(reason) => {
                        warn!(%reason, "the language model did not review the story");
                        skipped.extend(MODEL_RULES.iter().map(|r| SkippedRuleView {
                            rule: r.to_string(),
                            reason: reason.clone(),
                        }));
                    }
                }
            }
        }
        findings.sort_by_key(|f| rank(&f.severity));
        let errors = findings.iter().filter(|f| f.severity == "error").count();
        let warnings = findings.iter().filter(|f| f.severity == "warning").count();
        Ok(StoryValidationView {
            draft_id: id,
            revision: draft.revisions.len() as u32,
            passed: errors == 0,
            errors,
            warnings,
            findings,
            checked,
            skipped,
            llm: llm_label(model.as_ref()),
        })
    }

    /// Open Jira issues of the project whose summary means what the story's does (QUS
    /// "unique"): the issues a search for the summary finds, compared summary to summary by
    /// meaning (a whole issue's text, with its fields and comments, dilutes the comparison).
    /// Without the embedding model the check is skipped rather than guessed.
    async fn duplicates(
        &self,
        caller: &Caller,
        project_id: Uuid,
        story: &StoryParts,
        own_key: Option<&str>,
    ) -> DomainResult<Vec<StoryFindingView>> {
        let found = self
            .search(
                caller,
                SearchRequest {
                    query: Some(story.summary.clone()),
                    project_ids: Some(vec![project_id]),
                    limit: Some(CANDIDATES),
                    similarity_threshold: Some(0.0),
                    retrieved_by: Some("teamcontext_ai".into()),
                    ..SearchRequest::default()
                },
            )
            .await?;
        let candidates: Vec<(String, String, String)> = found
            .results
            .iter()
            .filter(|r| r.metadata.get("source").and_then(|s| s.as_str()) == Some(JIRA_SOURCE))
            .filter_map(|r| {
                let meta = &r.metadata;
                let key = meta.get("jira_issue_key").and_then(|k| k.as_str())?.to_string();
                let status = meta.get("jira_status").and_then(|s| s.as_str()).unwrap_or("");
                let closed = CLOSED.contains(&status.to_ascii_lowercase().as_str());
                let title = meta.get("title").and_then(|t| t.as_str()).unwrap_or("");
                let summary = title.strip_prefix(&format!("{key}: ")).unwrap_or(title).to_string();
                (!closed && Some(key.as_str()) != own_key && !summary.is_empty())
                    .then(|| (key, status.to_string(), summary))
            })
            .collect();
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let mut texts = vec![story.summary.clone()];
        texts.extend(candidates.iter().map(|(_, _, s)| s.clone()));
        let Ok(vectors) = self.embed(texts).await else {
            warn!("the embedding model did not answer; the duplicate check is skipped");
            return Ok(Vec::new());
        };
        let mut dupes: Vec<(f32, StoryFindingView)> = candidates
            .into_iter()
            .zip(&vectors[1..])
            .map(|((key, status, summary), v)| (cosine(&vectors[0], v), key, status, summary))
            .filter(|(similarity, ..)| *similarity >= DUPLICATE_SIMILARITY)
            .map(|(similarity, key, status, summary)| {
                let finding = StoryFindingView {
                    rule: "unique".into(),
                    severity: "warning".into(),
                    field: "summary".into(),
                    excerpt: Some(format!("{key}: {summary}")),
                    message: format!(
                        "the open issue {key} ({status}) says much the same (similarity {similarity:.2})"
                    ),
                    suggestion: format!(
                        "Read {key}: extend or link it instead of creating a second issue, or say in the story how it differs."
                    ),
                };
                (similarity, finding)
            })
            .collect();
        dupes.sort_by(|a, b| b.0.total_cmp(&a.0));
        Ok(dupes.into_iter().take(3).map(|(_, f)| f).collect())
    }
}
