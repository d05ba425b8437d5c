//! `POST /ai/stories/{id}/create`: the draft becomes a Jira issue through the caller's own Jira
//! connection. The fields come from the project's create metadata (the issue type the format
//! names, the description as ADF on Cloud and wiki markup on Data Center, labels, the parent,
//! story points where the screen has them, and the caller's values for other required fields);
//! a required field the draft cannot fill is named before anything is sent.
//!
//! A create is never sent twice for one draft. It carries a marker label
//! (`teamcontext-<draft>`); when Jira's answer is lost (a timeout, a dropped connection, a
//! 5xx) the service looks for the marker before anything else, and a later create of the same
//! draft looks first too. Only an issue found, or a create answered, marks the draft created.

use std::time::Duration;

use serde_json::{Map, Value, json};
use tc_atlassian::AtlassianError;
use tc_atlassian::create::{Created, FieldMeta, IssueType};
use tc_atlassian::jira::Jira;
use tracing::{info, instrument, warn};
use uuid::Uuid;

use super::{Draft, changed_meanwhile, project_key};
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::services::Services;
use crate::services::access::Access;
use crate::services::ai::sources::keep_valid_citations;
use crate::services::integrations::{Product, atlassian_error};
use crate::stories::{StoryFormat, StoryParts};
use crate::views::{CreateStoryRequest, SourceView, StoryDraftView, UpdateTaskRequest};

/// Jira Cloud's description limit.
const MAX_DESCRIPTION_CHARS: usize = 32_767;
/// A create that has been under way this long is taken to have died with its server.
const CREATE_STALE_SECS: i64 = 300;
/// Pauses between looks for an issue whose create answer was lost (Jira's search catches up
/// with a write within seconds).
const LOOKS: [Duration; 3] = [Duration::ZERO, Duration::from_secs(1), Duration::from_secs(2)];
/// Fields the service sets itself; `fields` may not change them.
const OWN_FIELDS: [&str; 3] = ["project", "issuetype", "summary"];

/// The label a draft's issue carries.
fn marker_of(draft: Uuid) -> String {
    format!("teamcontext-{}", &draft.simple().to_string()[16..])
}

/// The issue type a format becomes.
fn issue_type(types: &[IssueType], format: StoryFormat) -> Option<&IssueType> {
    match format {
        StoryFormat::Subtask => types.iter().find(|t| t.subtask),
        other => {
            let name = other.as_str();
            types.iter().find(|t| !t.subtask && t.name.eq_ignore_ascii_case(name))
        }
    }
}

/// The description Jira gets: the draft's Markdown, its acceptance criteria, and the sources
/// it cites (`[n]` means nothing to a reader in Jira without them).
fn description_markdown(p: &StoryParts, sources: &[SourceView]) -> String {
    let mut md = p.description.trim().to_string();
    if !p.acceptance_criteria.is_empty() {
        md.push_str("\n\n## Acceptance criteria\n\n");
        for c in &p.acceptance_criteria {
            md.push_str(&format!("- {c}\n"));
        }
    }
    let (_, cited) = keep_valid_citations(&p.description, sources.len());
    if !cited.is_empty() {
        md.push_str("\n\n## Sources\n\nFrom the team's context in TeamContext:\n\n");
        for n in cited {
            let s = &sources[n - 1];
            md.push_str(&format!("{n}. {} ({})\n", s.title, s.source));
        }
    }
    md
}

/// What is sent to Jira, or why it cannot be.
struct Plan {
    fields: Value,
    /// The marker, when the screen takes labels (else the exact summary is looked for).
    marker: Option<String>,
}

fn plan(
    jira: &Jira,
    screen: &[FieldMeta],
    project: &str,
    itype: &IssueType,
    draft: &Draft,
    marker: &str,
    extra: Map<String, Value>,
) -> DomainResult<Plan> {
    let (parts, parent) = (&draft.parts, draft.record.parent_key.as_deref());
    let on_screen = |key: &str| screen.iter().any(|f| f.key == key);
    let mut fields = Map::new();
    fields.insert("project".into(), json!({ "key": project }));
    fields.insert("issuetype".into(), json!({ "id": itype.id }));
    fields.insert("summary".into(), json!(parts.summary));
    let markdown = description_markdown(parts, &draft.sources);
    if markdown.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(DomainError::validation(
            "description",
            format!(
                "the description and criteria exceed Jira's {MAX_DESCRIPTION_CHARS} characters"
            ),
        ));
    }
    if !markdown.is_empty() && on_screen("description") {
        fields.insert("description".into(), jira.description_from_markdown(&markdown));
    }
    let marker = on_screen("labels").then(|| marker.to_string());
    if let Some(marker) = &marker {
        let mut labels = parts.labels.clone();
        labels.push(marker.clone());
        fields.insert("labels".into(), json!(labels));
    }
    if let Some(parent) = parent {
        if !on_screen("parent") {
            return Err(DomainError::validation(
                "parent_key",
                format!("a {} in {project} cannot have a parent", itype.name),
            ));
        }
        fields.insert("parent".into(), json!({ "key": parent }));
    }
    if let (Some(points), Some(field)) =
        (parts.estimate, screen.iter().find(|f| f.is_story_points()))
    {
        fields.insert(field.key.clone(), json!(points));
    }
    for (key, value) in extra {
        if OWN_FIELDS.contains(&key.as_str()) || !on_screen(&key) {
            return Err(DomainError::validation(
                "fields",
                format!(
                    "{key:?} is not a field you can set on the {} screen of {project}",
                    itype.name
                ),
            ));
        }
        fields.insert(key, value);
    }
    let missing: Vec<&FieldMeta> =
        screen.iter().filter(|f| f.must_set() && !fields.contains_key(&f.key)).collect();
    if !missing.is_empty() {
        let names: Vec<String> =
            missing.iter().map(|f| format!("{} ({})", f.name, f.key)).collect();
        let details: Vec<Value> = missing
            .iter()
            .map(|f| json!({"key": f.key, "name": f.name, "type": f.kind, "allowed_values": f.allowed_values}))
            .collect();
        return Err(DomainError::validation(
            "fields",
            format!(
                "Jira requires fields a draft cannot fill: {}; give their values in `fields`",
                names.join(", ")
            ),
        )
        .with_details(json!({ "missing_fields": details })));
    }
    Ok(Plan { fields: Value::Object(fields), marker })
}

/// Whether Jira may have acted on a create whose answer is this error.
fn outcome_unknown(e: &AtlassianError) -> bool {
    matches!(e, AtlassianError::Unavailable(_) | AtlassianError::Protocol(_))
}

impl Services {
    /// The draft's issue in Jira, if an earlier try made it: by its marker label, else by its
    /// exact summary.
    async fn find_created(
        &self,
        jira: &Jira,
        project: &str,
        plan: &Plan,
        summary: &str,
    ) -> Result<Option<Created>, AtlassianError> {
        match &plan.marker {
            Some(marker) => jira.find_by_label(project, marker).await,
            None => jira.find_by_summary(project, summary).await,
        }
    }

    /// `POST /ai/stories/{id}/create` and the MCP tool `create_jira_story`.
    #[instrument(skip_all, fields(user_id = %caller.user_id, draft_id = %id))]
    pub async fn create_story(
        &self,
        caller: &Caller,
        id: Uuid,
        req: CreateStoryRequest,
    ) -> DomainResult<StoryDraftView> {
        let mut draft = self.draft_for(caller, id, Access::Write).await?;
        let now = self.now();
        match draft.record.status.as_str() {
            "created" => {
                return Err(DomainError::new(
                    ErrorCode::Conflict,
                    format!(
                        "this draft was already created in Jira as {}",
                        draft.record.jira_key.as_deref().unwrap_or("an issue")
                    ),
                ));
            }
            "creating" if (now - draft.record.updated_at).num_seconds() < CREATE_STALE_SECS => {
                return Err(DomainError::new(
                    ErrorCode::Conflict,
                    "this draft is being created in Jira right now",
                ));
            }
            _ => {}
        }
        if let Some(key) = &req.jira_project_key {
            draft.record.jira_project_key = Some(project_key(key)?);
        }
        if let Some(task) = req.task_id {
            self.linkable_task(caller, task, draft.record.project_id).await?;
            draft.record.task_id = Some(task);
        }
        let project = draft
            .record
            .jira_project_key
            .clone()
            .ok_or_else(|| DomainError::missing("jira_project_key"))?;
        if draft.parts.format == StoryFormat::Subtask && draft.record.parent_key.is_none() {
            return Err(DomainError::validation("parent_key", "a sub-task needs `parent_key`"));
        }
        // A template slot left in the summary or a criterion would reach Jira as "⟨the benefit⟩".
        let unfilled = std::iter::once(("summary".to_string(), &draft.parts.summary))
            .chain(
                draft
                    .parts
                    .acceptance_criteria
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (format!("acceptance_criteria[{i}]"), c)),
            )
            .find(|(_, text)| text.contains('⟨'));
        if let Some((field, _)) = unfilled {
            return Err(DomainError::validation(
                &field,
                format!(
                    "`{field}` still holds a template slot in ⟨ ⟩: fill it in (refine) before creating"
                ),
            ));
        }
        let conn = self.active_connection(caller.user_id, Product::Jira).await?;
        let jira = self.jira_client(&conn).await?;
        let jira_err = |e: AtlassianError| match e {
            AtlassianError::NotFound(_) => DomainError::validation(
                "jira_project_key",
                format!("Jira has no project {project} that your account can create issues in"),
            ),
            e => atlassian_error(Product::Jira, e),
        };
        let types = jira.issue_types(&project).await.map_err(jira_err)?;
        let itype = issue_type(&types, draft.parts.format).ok_or_else(|| {
            let offered: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
            DomainError::validation(
                "format",
                format!(
                    "{project} has no issue type for a {}; it offers {}",
                    draft.parts.format.as_str(),
                    offered.join(", ")
                ),
            )
        })?;
        let screen = jira.create_fields(&project, &itype.id).await.map_err(jira_err)?;
        let first_try = draft.record.create_marker.is_none();
        let marker = draft.record.create_marker.clone().unwrap_or_else(|| marker_of(id));
        let plan =
            plan(&jira, &screen, &project, itype, &draft, &marker, req.fields.unwrap_or_default())?;

        // Claim the draft: one create at a time, and the marker kept before anything is sent.
        let read_version = draft.record.version;
        draft.record.status = "creating".into();
        draft.record.create_marker = Some(marker.clone());
        draft.record.version += 1;
        draft.record.updated_at = now;
        if !self.store.update_story_draft(&draft.record, read_version).await? {
            return Err(changed_meanwhile());
        }

        let summary = draft.parts.summary.clone();
        let mut found = None;
        if !first_try {
            // An earlier try may have made it: look before sending again.
            match self.find_created(&jira, &project, &plan, &summary).await {
                Ok(hit) => found = hit,
                Err(e) => return self.create_failed(draft, jira_err(e)).await,
            }
        }
        let created = match found {
            Some(c) => {
                info!(key = %c.key, "the draft's issue was already in Jira");
                c
            }
            None => match jira.create_issue(plan.fields.clone()).await {
                Ok(c) => c,
                Err(e) if outcome_unknown(&e) => {
                    warn!(error = %e, "Jira's answer to a create was lost; looking for the issue");
                    let mut hit = None;
                    for pause in LOOKS {
                        tokio::time::sleep(pause).await;
                        if let Ok(Some(c)) =
                            self.find_created(&jira, &project, &plan, &summary).await
                        {
                            hit = Some(c);
                            break;
                        }
                    }
                    match hit {
                        Some(c) => c,
                        None => {
                            let error = DomainError::new(
                                ErrorCode::JiraConnectionFailed,
                                format!(
                                    "Jira did not confirm the create ({e}) and the issue is not in Jira; \
                                     create again: the draft's issue is looked for before it is sent"
                                ),
                            );
                            return self.create_failed(draft, error).await;
                        }
                    }
                }
                Err(e) => return self.create_failed(draft, jira_err(e)).await,
            },
        };
        self.created(caller, draft, &jira, created).await
    }

    /// Back to `draft` with the reason, and the error returned.
    async fn create_failed(
        &self,
        mut draft: Draft,
        error: DomainError,
    ) -> DomainResult<StoryDraftView> {
        let read_version = draft.record.version;
        draft.record.status = "draft".into();
        draft.record.last_error = Some(error.message.clone());
        draft.record.version += 1;
        draft.record.updated_at = self.now();
        if !self.store.update_story_draft(&draft.record, read_version).await? {
            warn!(draft_id = %draft.record.id, "a failed create's draft changed meanwhile");
        }
        Err(error)
    }

    /// The draft marked created, and the key added to its task.
    async fn created(
        &self,
        caller: &Caller,
        mut draft: Draft,
        jira: &Jira,
        created: Created,
    ) -> DomainResult<StoryDraftView> {
        let read_version = draft.record.version;
        draft.record.status = "created".into();
        draft.record.jira_url = Some(jira.issue_url(&created.key));
        draft.record.jira_key = Some(created.key.clone());
        draft.record.last_error = None;
        draft.record.version += 1;
        draft.record.updated_at = self.now();
        if !self.store.update_story_draft(&draft.record, read_version).await? {
            return Err(changed_meanwhile());
        }
        if let Some(task_id) = draft.record.task_id {
            let linked = async {
                let task = self.get_task(caller, task_id).await?;
                let mut keys = task.jira_keys;
                if !keys.contains(&created.key) {
                    keys.push(created.key.clone());
                    let change = UpdateTaskRequest { jira_keys: Some(keys), ..Default::default() };
                    self.update_task(caller, task_id, change).await?;
                }
                DomainResult::Ok(())
            };
            if let Err(e) = linked.await {
                warn!(%task_id, error = %e.message, "the created issue's key could not be added to the task");
            }
        }
        Ok(draft.view())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_pick_their_issue_type() {
        let t =
            |id: &str, name: &str, subtask| IssueType { id: id.into(), name: name.into(), subtask };
        let types = [t("1", "Story", false), t("2", "Task", false), t("3", "Sub-task", true)];
        assert_eq!(issue_type(&types, StoryFormat::Story).unwrap().id, "1");
        assert_eq!(issue_type(&types, StoryFormat::Subtask).unwrap().id, "3");
        assert!(issue_type(&types, StoryFormat::Bug).is_none());
        let marker = marker_of(Uuid::parse_str("0192f0aa-1111-7222-8333-444455556666").unwrap());
        assert_eq!(marker, "teamcontext-8333444455556666");
    }
}
