//! Jira stories drafted from the team's context (issue 19, seed 003): draft → refine →
//! validate → create. A draft is made from the requirements and the project's contexts that
//! match them (decisions, code, Jira issues): by the language model when there is one, else by
//! the template of [`crate::stories::template`]. Every change is a new revision kept with the
//! draft; the rules of [`crate::stories::rules`] check it (`validate`), and `create` sends it
//! to Jira through the caller's own connection.
//!
//! - `writer`: what the language model is asked, and its answers read back as stories.
//! - `validate`: the rule findings, the duplicate search, the model's review.
//! - `create`: the Jira issue, from the project's create metadata, never sent twice.
//!
//! A draft belongs to a project: its members read it, and those who may write change it. A
//! stranger's draft, an unknown id and a malformed one are the same 404.

mod create;
mod validate;
mod writer;

use serde_json::json;
use tc_store::{Scope, StoryDraftRecord};
use tracing::{instrument, warn};
use uuid::Uuid;

use super::Services;
use super::access::Access;
use super::ai::{AiFeature, llm_label};
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::pagination::{PageParams, Paged};
use crate::stories::template::{self, Related};
use crate::stories::{StoryFormat, StoryParts};
use crate::views::{
    CreatedIssueView, DraftStoryRequest, RefineStoryRequest, SourceView, StoryDraftView,
    StoryEdits, StoryQuery, StoryRevisionView, StoryView,
};

const MAX_REQUIREMENTS: usize = 20_000;
const MAX_INSTRUCTIONS: usize = 4_000;
/// Jira's summary limit.
const MAX_SUMMARY: usize = 255;
/// Jira Cloud's description limit is 32,767 characters; the criteria are added to it.
const MAX_DESCRIPTION: usize = 30_000;
const MAX_CRITERIA: usize = 20;
const MAX_CRITERION: usize = 1_000;
const MAX_LABELS: usize = 20;
const MAX_ESTIMATE: u32 = 100;
/// Revisions one draft may have; past that, a new draft.
const MAX_REVISIONS: usize = 100;
/// Contexts a draft is made from.
const SOURCES: u32 = 8;

fn not_found() -> DomainError {
    DomainError::not_found("story draft")
}

pub(crate) fn story_view(p: &StoryParts) -> StoryView {
    StoryView {
        format: p.format.as_str().to_string(),
        summary: p.summary.clone(),
        description: p.description.clone(),
        acceptance_criteria: p.acceptance_criteria.clone(),
        labels: p.labels.clone(),
        estimate: p.estimate,
    }
}

fn parts_of(v: &StoryView) -> StoryParts {
    StoryParts {
        format: StoryFormat::parse(&v.format).unwrap_or(StoryFormat::Story),
        summary: v.summary.clone(),
        description: v.description.clone(),
        acceptance_criteria: v.acceptance_criteria.clone(),
        labels: v.labels.clone(),
        estimate: v.estimate,
    }
}

/// A draft's stored JSON, read back (a row that does not parse is a store fault).
pub(crate) struct Draft {
    pub record: StoryDraftRecord,
    pub parts: StoryParts,
    pub sources: Vec<SourceView>,
    pub revisions: Vec<StoryRevisionView>,
}

impl Draft {
    fn read(record: StoryDraftRecord) -> DomainResult<Self> {
        let corrupt =
            |what: &str| DomainError::internal(format!("story draft {}: {what}", record.id));
        let story: StoryView =
            serde_json::from_value(record.story.clone()).map_err(|_| corrupt("story"))?;
        let sources: Vec<SourceView> =
            serde_json::from_value(record.sources.clone()).map_err(|_| corrupt("sources"))?;
        let revisions: Vec<StoryRevisionView> =
            serde_json::from_value(record.revisions.clone()).map_err(|_| corrupt("revisions"))?;
        Ok(Draft { parts: parts_of(&story), record, sources, revisions })
    }

    fn view(&self) -> StoryDraftView {
        let r = &self.record;
        let last = self.revisions.last();
        StoryDraftView {
            id: r.id,
            project_id: r.project_id,
            status: r.status.clone(),
            jira_project_key: r.jira_project_key.clone(),
            parent_key: r.parent_key.clone(),
            task_id: r.task_id,
            requirements: r.requirements.clone(),
            story: story_view(&self.parts),
            sources: self.sources.clone(),
            mode: last.map_or_else(|| "template".into(), |l| l.mode.clone()),
            llm: last.map_or_else(|| llm_label(None), |l| l.llm.clone()),
            fallback_reason: last.and_then(|l| l.fallback_reason.clone()),
            note: last.and_then(|l| l.note.clone()),
            revision: self.revisions.len() as u32,
            revisions: self.revisions.clone(),
            jira: match (&r.jira_key, &r.jira_url) {
                (Some(key), Some(url)) => {
                    Some(CreatedIssueView { key: key.clone(), url: url.clone() })
                }
                _ => None,
            },
            last_error: r.last_error.clone(),
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// How a revision was made.
pub(crate) struct Written {
    pub parts: StoryParts,
    /// `llm`, `template` or `edit`.
    pub mode: &'static str,
    pub llm: String,
    pub fallback_reason: Option<String>,
    pub note: Option<String>,
}

/// The requirements, trimmed and within bounds.
fn requirements(value: Option<String>) -> DomainResult<String> {
    let value = value.map(|v| v.trim().to_string()).unwrap_or_default();
    if value.is_empty() {
        return Err(DomainError::missing("requirements"));
    }
    if value.chars().count() > MAX_REQUIREMENTS {
        return Err(DomainError::validation(
            "requirements",
            format!("`requirements` is longer than {MAX_REQUIREMENTS} characters"),
        ));
    }
    Ok(value)
}

/// A Jira project key (`OPS`, `WEB2`), upper-cased.
pub(crate) fn project_key(value: &str) -> DomainResult<String> {
    let key = value.trim().to_ascii_uppercase();
    let shaped = key.starts_with(|c: char| c.is_ascii_uppercase())
        && key.len() <= 255
        && key.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if shaped {
        Ok(key)
    } else {
        Err(DomainError::validation(
            "jira_project_key",
            format!("{value:?} is not a Jira project key like OPS"),
        ))
    }
}

fn issue_key(field: &str, value: &str) -> DomainResult<String> {
    let key = value.trim().to_ascii_uppercase();
    if tc_atlassian::jira::is_issue_key(&key) {
        Ok(key)
    } else {
        Err(DomainError::validation(
            field,
            format!("{value:?} is not a Jira issue key like OPS-12"),
        ))
    }
}

/// A label as Jira takes it: no spaces (they become `-`), 1–255 characters.
fn label(value: &str) -> Option<String> {
    let joined: String = value.split_whitespace().collect::<Vec<_>>().join("-");
    (!joined.is_empty() && joined.chars().count() <= 255).then_some(joined)
}

/// Parts of a story checked against Jira's limits (a language model's too: it may ramble).
pub(crate) fn bounded(mut p: StoryParts) -> DomainResult<StoryParts> {
    p.summary = p.summary.split_whitespace().collect::<Vec<_>>().join(" ");
    if p.summary.is_empty() {
        return Err(DomainError::validation("summary", "the summary is empty"));
    }
    if p.summary.chars().count() > MAX_SUMMARY {
        return Err(DomainError::validation(
            "summary",
            format!("the summary is longer than Jira's {MAX_SUMMARY} characters"),
        ));
    }
    if p.description.chars().count() > MAX_DESCRIPTION {
        return Err(DomainError::validation(
            "description",
            format!("the description is longer than {MAX_DESCRIPTION} characters"),
        ));
    }
    p.acceptance_criteria = p
        .acceptance_criteria
        .into_iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    if p.acceptance_criteria.len() > MAX_CRITERIA
        || p.acceptance_criteria.iter().any(|c| c.chars().count() > MAX_CRITERION)
    {
        return Err(DomainError::validation(
            "acceptance_criteria",
            format!("at most {MAX_CRITERIA} criteria of at most {MAX_CRITERION} characters"),
        ));
    }
    let mut labels: Vec<String> = Vec::new();
    for l in &p.labels {
        let l = label(l).ok_or_else(|| {
            DomainError::validation("labels", "each label must be 1-255 characters")
        })?;
        if !labels.contains(&l) {
            labels.push(l);
        }
    }
    if labels.len() > MAX_LABELS {
        return Err(DomainError::validation("labels", format!("at most {MAX_LABELS} labels")));
    }
    p.labels = labels;
    if p.estimate.is_some_and(|e| e > MAX_ESTIMATE) {
        return Err(DomainError::validation(
            "estimate",
            format!("the estimate is at most {MAX_ESTIMATE} points"),
        ));
    }
    Ok(p)
}

fn apply_edits(mut p: StoryParts, e: StoryEdits) -> StoryParts {
    if let Some(v) = e.summary {
        p.summary = v;
    }
    if let Some(v) = e.description {
        p.description = v;
    }
    if let Some(v) = e.acceptance_criteria {
        p.acceptance_criteria = v;
    }
    if let Some(v) = e.labels {
        p.labels = v;
    }
    if e.estimate.is_some() {
        p.estimate = e.estimate;
    }
    p
}

/// The contexts a draft lists, for the template: a Jira issue by its key, others by source.
fn related(sources: &[SourceView]) -> Vec<Related> {
    sources
        .iter()
        .map(|s| Related {
            title: s.title.clone(),
            reference: if s.source.is_empty() {
                format!("context {}", s.context_id)
            } else {
                s.source.clone()
            },
        })
        .collect()
}

/// The Jira project most of the retrieved issues belong to (their titles start `OPS-12: `).
fn guessed_project(sources: &[SourceView]) -> Option<String> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for s in sources.iter().filter(|s| s.source == super::integrations::JIRA_SOURCE) {
        let key = s.title.split(':').next().unwrap_or("");
        if let Some((project, _)) = key.split_once('-')
            && tc_atlassian::jira::is_issue_key(key)
        {
            match counts.iter_mut().find(|(p, _)| p == project) {
                Some((_, n)) => *n += 1,
                None => counts.push((project.to_string(), 1)),
            }
        }
    }
    counts.into_iter().max_by_key(|(_, n)| *n).map(|(p, _)| p)
}

impl Services {
    /// A draft as `caller` may see it (`Access::Write` to change it).
    pub(crate) async fn draft_for(
        &self,
        caller: &Caller,
        id: Uuid,
        access: Access,
    ) -> DomainResult<Draft> {
        self.require_verified(caller)?;
        caller.require_scope(if access == Access::Write { Scope::Write } else { Scope::Read })?;
        let record = self.store.story_draft(id).await?.ok_or_else(not_found)?;
        self.project_for(caller, record.project_id, Access::Read).await.map_err(|_| not_found())?;
        if access == Access::Write {
            self.project_for(caller, record.project_id, Access::Write).await?;
        }
        Draft::read(record)
    }

    /// Stores `draft` with a new revision made by `written`, from the version read.
    async fn add_revision(
        &self,
        caller: &Caller,
        mut draft: Draft,
        kind: &str,
        instructions: Option<String>,
        written: Written,
    ) -> DomainResult<StoryDraftView> {
        if draft.revisions.len() >= MAX_REVISIONS {
            return Err(DomainError::new(
                ErrorCode::Conflict,
                format!("this draft has {MAX_REVISIONS} revisions; start a new draft"),
            ));
        }
        let now = self.now();
        draft.revisions.push(StoryRevisionView {
            revision: draft.revisions.len() as u32 + 1,
            kind: kind.into(),
            instructions,
            mode: written.mode.into(),
            llm: written.llm,
            fallback_reason: written.fallback_reason,
            note: written.note,
            story: story_view(&written.parts),
            by: caller.user_id,
            at: now,
        });
        draft.parts = written.parts;
        let read_version = draft.record.version;
        draft.record.story = json!(story_view(&draft.parts));
        draft.record.revisions = json!(draft.revisions);
        draft.record.version += 1;
        draft.record.updated_at = now;
        if !self.store.update_story_draft(&draft.record, read_version).await? {
            return Err(changed_meanwhile());
        }
        Ok(draft.view())
    }

    /// `POST /ai/stories/draft` and the MCP tool `draft_jira_story`.
    #[instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn draft_story(
        &self,
        caller: &Caller,
        req: DraftStoryRequest,
    ) -> DomainResult<StoryDraftView> {
        self.require_may_ask(caller)?;
        caller.require_scope(Scope::Write)?;
        let started = std::time::Instant::now();
        let project_id = req
            .project_id
            .or(caller.project_restriction())
            .ok_or_else(|| DomainError::missing("project_id"))?;
        self.project_for(caller, project_id, Access::Write).await?;
        let requirements = requirements(req.requirements)?;
        let format = match req.format.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
            None => StoryFormat::Story,
            Some(f) => StoryFormat::parse(f).ok_or_else(|| {
                DomainError::validation("format", "`format` must be story, task, bug or subtask")
            })?,
        };
        let mut jira_project_key = req.jira_project_key.as_deref().map(project_key).transpose()?;
        let parent_key =
            req.parent_key.as_deref().map(|k| issue_key("parent_key", k)).transpose()?;
        if let Some(task) = req.task_id {
            self.linkable_task(caller, task, project_id).await?;
        }

        let sources: Vec<SourceView> = self
            .retrieve_sources(caller, &requirements, Some(vec![project_id]), SOURCES)
            .await?
            .into_iter()
            .map(|r| r.view)
            .collect();
        if jira_project_key.is_none() {
            jira_project_key = guessed_project(&sources);
        }
        let model = self.model_for(caller.user_id).await;
        let mut written = None;
        let mut fallback_reason = None;
        let mut usage = None;
        if let Some(model) = &model {
            match self.write_draft(model.as_ref(), &requirements, format, &sources).await {
                Ok((parts, used)) => {
                    usage = used;
                    written = Some(parts);
                }
                Err(reason) => {
                    warn!(%reason, "the language model did not draft the story; using the template");
                    fallback_reason = Some(reason);
                }
            }
        }
        let (parts, mode) = match written {
            Some(parts) => (parts, "llm"),
            None => (template::draft(&requirements, format, &related(&sources)), "template"),
        };
        let parts = bounded(parts)?;
        let used = model.as_ref().filter(|_| mode == "llm");
        self.ai_event(caller.user_id, Some(project_id), AiFeature::Story, used, usage, started);

        let now = self.now();
        let revision = StoryRevisionView {
            revision: 1,
            kind: "draft".into(),
            instructions: None,
            mode: mode.into(),
            llm: llm_label(model.as_ref()),
            fallback_reason,
            note: None,
            story: story_view(&parts),
            by: caller.user_id,
            at: now,
        };
        let record = StoryDraftRecord {
            id: Uuid::now_v7(),
            project_id,
            created_by: caller.user_id,
            task_id: req.task_id,
            jira_project_key,
            parent_key,
            requirements,
            story: json!(story_view(&parts)),
            sources: json!(sources),
            revisions: json!([revision]),
            status: "draft".into(),
            create_marker: None,
            jira_key: None,
            jira_url: None,
            last_error: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_story_draft(&record).await?;
        Ok(Draft::read(record)?.view())
    }

    /// `GET /ai/stories/{id}`.
    pub async fn get_story(&self, caller: &Caller, id: Uuid) -> DomainResult<StoryDraftView> {
        Ok(self.draft_for(caller, id, Access::Read).await?.view())
    }

    /// `GET /ai/stories`: the drafts of the projects the caller can read, newest first.
    pub async fn list_stories(
        &self,
        caller: &Caller,
        query: &StoryQuery,
        page: &PageParams,
    ) -> DomainResult<Paged<StoryDraftView>> {
        self.require_verified(caller)?;
        caller.require_scope(Scope::Read)?;
        let page = page.to_page()?;
        let projects = match query.project_id.as_deref().filter(|p| !p.is_empty()) {
            Some(raw) => {
                let project = Uuid::parse_str(raw).map_err(|_| DomainError::project_not_found())?;
                self.project_for(caller, project, Access::Read).await?;
                vec![project]
            }
            None => self.readable_for(caller).await?,
        };
        let drafts = self
            .store
            .list_story_drafts(&projects, page)
            .await?
            .into_iter()
            .map(Draft::read)
            .collect::<DomainResult<Vec<_>>>()?;
        Ok(Paged::from_rows(drafts, page, |d| d.record.id, |d| d.view()))
    }

    /// `DELETE /ai/stories/{id}`: the draft goes; an issue created from it stays in Jira.
    pub async fn delete_story(&self, caller: &Caller, id: Uuid) -> DomainResult<()> {
        let draft = self.draft_for(caller, id, Access::Write).await?;
        if draft.record.status == "creating" {
            return Err(DomainError::new(
                ErrorCode::Conflict,
                "the draft is being created in Jira; delete it when that is done",
            ));
        }
        if !self.store.delete_story_draft(id).await? {
            return Err(not_found());
        }
        Ok(())
    }

    /// `POST /ai/stories/{id}/refine`: edits first, then the instructions (by the language
    /// model; without one, the fixes the rules can make).
    #[instrument(skip_all, fields(user_id = %caller.user_id, draft_id = %id))]
    pub async fn refine_story(
        &self,
        caller: &Caller,
        id: Uuid,
        req: RefineStoryRequest,
    ) -> DomainResult<StoryDraftView> {
        self.require_may_ask(caller)?;
        let draft = self.draft_for(caller, id, Access::Write).await?;
        require_editable(&draft)?;
        let instructions = req.instructions.map(|i| i.trim().to_string()).filter(|i| !i.is_empty());
        if instructions.as_ref().is_some_and(|i| i.chars().count() > MAX_INSTRUCTIONS) {
            return Err(DomainError::validation(
                "instructions",
                format!("`instructions` is longer than {MAX_INSTRUCTIONS} characters"),
            ));
        }
        if instructions.is_none() && req.story.is_none() {
            return Err(DomainError::missing("instructions"));
        }
        let started = std::time::Instant::now();
        let mut parts = draft.parts.clone();
        if let Some(edits) = req.story {
            parts = bounded(apply_edits(parts, edits))?;
        }
        let model = self.model_for(caller.user_id).await;
        let written = match &instructions {
            None => Written {
                parts,
                mode: "edit",
                llm: llm_label(model.as_ref()),
                fallback_reason: None,
                note: None,
            },
            Some(instructions) => {
                let written = self.follow(model.as_ref(), &draft, parts, instructions).await?;
                let used = model.as_ref().filter(|_| written.0.mode == "llm");
                let project = Some(draft.record.project_id);
                self.ai_event(caller.user_id, project, AiFeature::Story, used, written.1, started);
                written.0
            }
        };
        self.add_revision(caller, draft, "refine", instructions, written).await
    }

    /// `parts` changed as `instructions` ask: by the model, or without one (or when it fails)
    /// by the fixes the rules can make, with a note saying so.
    async fn follow(
        &self,
        model: Option<&std::sync::Arc<dyn tc_llm::ChatModel>>,
        draft: &Draft,
        parts: StoryParts,
        instructions: &str,
    ) -> DomainResult<(Written, Option<crate::views::UsageView>)> {
        let mut fallback_reason = None;
        if let Some(m) = model {
            match self.rewrite(m.as_ref(), draft, &parts, instructions).await {
                Ok((refined, usage)) => {
                    let written = Written {
                        parts: bounded(refined)?,
                        mode: "llm",
                        llm: llm_label(model),
                        fallback_reason: None,
                        note: None,
                    };
                    return Ok((written, usage));
                }
                Err(reason) => {
                    warn!(%reason, "the language model did not refine the story; applying the rule fixes");
                    fallback_reason = Some(reason);
                }
            }
        }
        let (fixed, split_off) = template::refine(&parts);
        let mut note = String::from(
            "No language model wrote this revision: the fixes the rules can make were applied; \
             your instructions are kept in the history.",
        );
        if let Some(rest) = split_off {
            note.push_str(&format!(" Split off as its own story: “{rest}”."));
        }
        let written = Written {
            parts: bounded(fixed)?,
            mode: "template",
            llm: llm_label(model),
            fallback_reason,
            note: Some(note),
        };
        Ok((written, None))
    }

    /// A task the created issue may be linked to: one the caller may change, in the draft's
    /// project (or the caller's own).
    async fn linkable_task(
        &self,
        caller: &Caller,
        task: Uuid,
        project_id: Uuid,
    ) -> DomainResult<()> {
        let view = self.get_task(caller, task).await.map_err(|_| {
            DomainError::validation("task_id", "the task does not exist or is not yours to read")
        })?;
        if view.project_id.is_some_and(|p| p != project_id) {
            return Err(DomainError::validation(
                "task_id",
                "the task belongs to another project than the draft",
            ));
        }
        Ok(())
    }
}

/// A draft that may still change.
fn require_editable(draft: &Draft) -> DomainResult<()> {
    match draft.record.status.as_str() {
        "created" => Err(DomainError::new(
            ErrorCode::Conflict,
            format!(
                "this draft was created in Jira as {}; draft a new story to change it",
                draft.record.jira_key.as_deref().unwrap_or("an issue")
            ),
        )),
        "creating" => Err(DomainError::new(
            ErrorCode::Conflict,
            "this draft is being created in Jira; wait for that to finish",
        )),
        _ => Ok(()),
    }
}

fn changed_meanwhile() -> DomainError {
    DomainError::new(
        ErrorCode::Conflict,
        "the draft changed while this request was made; read it again and retry",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(title: &str, source: &str) -> SourceView {
        SourceView {
            n: 1,
            context_id: Uuid::nil(),
            project_id: Uuid::nil(),
            title: title.into(),
            source: source.into(),
            score: 1.0,
            snippet: String::new(),
            highlights: Vec::new(),
        }
    }

    #[test]
    fn the_jira_project_is_guessed_from_the_issues_found() {
        let found = [
            source("OPS-12: Rotate keys", "jira"),
            source("WEB-3: Login page", "jira"),
            source("OPS-7: Key vault", "jira"),
            source("OPS-9: not jira", "claude_code"),
        ];
        assert_eq!(guessed_project(&found).as_deref(), Some("OPS"));
        assert_eq!(guessed_project(&found[3..]), None);
    }

    #[test]
    fn keys_and_labels_are_shaped_as_jira_takes_them() {
        assert_eq!(project_key(" ops ").unwrap(), "OPS");
        assert!(project_key("OPS-1").is_err());
        assert!(project_key("1OPS").is_err());
        assert_eq!(label("key rotation").as_deref(), Some("key-rotation"));
        assert_eq!(label("   "), None);
    }
}
