//! What the language model is asked for a story, and its answers read back: a draft from the
//! requirements and numbered sources, a rewrite that follows instructions, and a review on the
//! quality criteria a rule cannot judge. Each answer is a JSON object; one that does not parse
//! (or lacks a summary) is a failure the caller falls back from, never a half-read story.

use serde::Deserialize;
use serde_json::{Value, json};
use tc_llm::{ChatModel, ChatRequest, Message};

use super::Draft;
use crate::services::Services;
use crate::services::ai::sources::clip;
use crate::stories::rules::Severity;
use crate::stories::{StoryFormat, StoryParts};
use crate::views::{SourceView, UsageView};

/// Characters of a source's snippet the model is shown.
const SNIPPET_CHARS: usize = 600;

const STORY_SHAPE: &str = "Answer with one JSON object and nothing else: {\"summary\": string, \
\"description\": string (Markdown: the context a developer needs, citing sources like [1]), \
\"acceptance_criteria\": [string, each \"Given …, when …, then …\" with an observable outcome], \
\"labels\": [string, lower-case, no spaces], \"estimate\": story points as a number or null}.";

fn draft_system(format: StoryFormat) -> String {
    let kind = match format {
        StoryFormat::Story => {
            "a Jira user story. The summary is one sentence: \"As a <role>, I want <one feature>, \
             so that <benefit>\", at most 200 characters"
        }
        StoryFormat::Task => {
            "a Jira task. The summary names the action and its object, at most 200 characters"
        }
        StoryFormat::Bug => {
            "a Jira bug. The summary says what is broken and where; the description has steps to \
             reproduce, expected and actual behaviour"
        }
        StoryFormat::Subtask => "a Jira sub-task: one small, concrete piece of work",
    };
    format!(
        "You write {kind}, for a software team, from their requirements and numbered sources from \
         their own knowledge (code, decisions, issues). Use the sources for names, constraints and \
         related work, and cite them; never invent a source number. Keep the story small, \
         independent and testable; avoid vague words such as fast, easy, appropriate or etc. \
         {STORY_SHAPE}"
    )
}

const REWRITE_SYSTEM: &str = "You revise a Jira story as the team asks. Keep what they did not \
ask to change, keep citations like [1] that still apply, and keep the story small and testable.";

const REVIEW_SYSTEM: &str = "You review a Jira story against quality criteria a rule cannot \
judge: conceptually_sound (the means is a feature and the end is a reason, not a second feature), \
problem_oriented (it states the problem, not a solution's internals), conflict_free (its parts do \
not contradict each other or its criteria), negotiable (it leaves room for how it is built). \
Answer with one JSON object and nothing else: {\"findings\": [{\"rule\": one of those four \
names, \"severity\": \"error\" | \"warning\" | \"info\", \"field\": \"summary\" | \"description\" | \
\"acceptance_criteria\", \"message\": what is wrong, \"suggestion\": how to fix it}]}; an empty \
list when the story meets them all.";

/// The criteria the model reviews.
pub(super) const MODEL_RULES: [&str; 4] =
    ["conceptually_sound", "problem_oriented", "conflict_free", "negotiable"];

#[derive(Deserialize)]
struct StoryJson {
    summary: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    acceptance_criteria: Vec<String>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    estimate: Option<f64>,
}

/// One finding of the model's review.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Reviewed {
    pub rule: String,
    pub severity: Severity,
    #[serde(default)]
    pub field: String,
    pub message: String,
    #[serde(default)]
    pub suggestion: String,
}

/// The JSON object in a model's answer (inside a ```json fence or bare).
fn json_object(text: &str) -> Option<Value> {
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    serde_json::from_str(text.get(start..=end)?).ok()
}

fn story_from(text: &str, format: StoryFormat) -> Result<StoryParts, String> {
    let value = json_object(text)
        .ok_or_else(|| "the language model's answer was not a story in JSON".to_string())?;
    let s: StoryJson = serde_json::from_value(value)
        .map_err(|e| format!("the language model's story was incomplete: {e}"))?;
    if s.summary.trim().is_empty() {
        return Err("the language model's story had no summary".into());
    }
    Ok(StoryParts {
        format,
        summary: s.summary.trim().to_string(),
        description: s.description.trim().to_string(),
        acceptance_criteria: s.acceptance_criteria,
        labels: s.labels,
        estimate: s.estimate.filter(|e| e.is_finite() && *e >= 0.0).map(|e| e.round() as u32),
    })
}

fn story_json(p: &StoryParts) -> String {
    json!({
        "summary": p.summary, "description": p.description,
        "acceptance_criteria": p.acceptance_criteria, "labels": p.labels, "estimate": p.estimate,
    })
    .to_string()
}

fn numbered(sources: &[SourceView]) -> String {
    if sources.is_empty() {
        return "(No sources matched.)".into();
    }
    sources
        .iter()
        .map(|s| {
            format!("[{}] {} ({})\n{}", s.n, s.title, s.source, clip(&s.snippet, SNIPPET_CHARS))
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

impl Services {
    fn story_request(&self, system: String, user: String) -> ChatRequest {
        ChatRequest {
            messages: vec![Message::system(system), Message::user(user)],
            tools: Vec::new(),
            max_tokens: Some(self.ai.max_tokens.max(1024)),
            temperature: Some(self.ai.temperature),
        }
    }

    /// A draft written by `model`.
    pub(super) async fn write_draft(
        &self,
        model: &dyn ChatModel,
        requirements: &str,
        format: StoryFormat,
        sources: &[SourceView],
    ) -> Result<(StoryParts, Option<UsageView>), String> {
        let user = format!("Sources:\n\n{}\n\nRequirements:\n{requirements}", numbered(sources));
        let request = self.story_request(draft_system(format), user);
        let (text, usage) = self.complete(model, &request).await?;
        Ok((story_from(&text, format)?, usage))
    }

    /// `current` rewritten by `model` as `instructions` ask.
    pub(super) async fn rewrite(
        &self,
        model: &dyn ChatModel,
        draft: &Draft,
        current: &StoryParts,
        instructions: &str,
    ) -> Result<(StoryParts, Option<UsageView>), String> {
        let user = format!(
            "Sources:\n\n{}\n\nRequirements:\n{}\n\nThe story now:\n{}\n\nChange it like this:\n{instructions}",
            numbered(&draft.sources),
            draft.record.requirements,
            story_json(current)
        );
        let request = self.story_request(format!("{REWRITE_SYSTEM} {STORY_SHAPE}"), user);
        let (text, usage) = self.complete(model, &request).await?;
        Ok((story_from(&text, current.format)?, usage))
    }

    /// The model's findings on [`MODEL_RULES`].
    pub(super) async fn review(
        &self,
        model: &dyn ChatModel,
        story: &StoryParts,
    ) -> Result<(Vec<Reviewed>, Option<UsageView>), String> {
        let request = self.story_request(REVIEW_SYSTEM.into(), story_json(story));
        let (text, usage) = self.complete(model, &request).await?;
        let value = json_object(&text)
            .ok_or_else(|| "the language model's review was not JSON".to_string())?;
        let findings: Vec<Reviewed> = serde_json::from_value(
            value.get("findings").cloned().unwrap_or(Value::Array(Vec::new())),
        )
        .map_err(|e| format!("the language model's review could not be read: {e}"))?;
        Ok((
            findings.into_iter().filter(|f| MODEL_RULES.contains(&f.rule.as_str())).collect(),
            usage,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_story_is_read_from_a_fenced_answer() {
        let text = "Here it is:\n```json\n{\"summary\": \"As a dev, I want keys rotated, so that leaks expire\", \
                    \"acceptance_criteria\": [\"Given a key, when 90 days pass, then it is rotated\"], \
                    \"labels\": [\"security\"], \"estimate\": 3}\n```";
        let s = story_from(text, StoryFormat::Story).unwrap();
        assert_eq!(s.estimate, Some(3));
        assert_eq!(s.labels, ["security"]);
        assert!(story_from("no json here", StoryFormat::Story).is_err());
        assert!(story_from("{\"summary\": \"  \"}", StoryFormat::Story).is_err());
        assert!(story_from("{\"description\": \"x\"}", StoryFormat::Story).is_err());
    }
}
