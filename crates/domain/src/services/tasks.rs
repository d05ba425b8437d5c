//! Team tasks (issue 19, seed 002's `todo_*`): a task belongs to a project — its members read
//! it and, with a key that may write, change it — or, without a project, to its creator alone.
//! A stranger's task, an unknown id and a malformed one are the same 404, and a contributor who
//! is removed loses the project's tasks at once (access is checked on every call). REST and the
//! MCP tools both call these methods.
//!
//! Tasks are context too: a project's task is indexed as a context of source `task` (path
//! `tasks/<id>`, its title, fields and description as Markdown), replaced when the task changes
//! and removed with it, so searches and `get_relevant_context` find it beside decisions and
//! code. A personal task is not indexed (contexts live in projects).

use chrono::NaiveDate;
use serde_json::json;
use tc_store::{ContextRecord, IndexedItem, Role, Scope, TaskFilter, TaskRecord};
use tracing::warn;
use uuid::Uuid;

use super::Services;
use super::access::Access;
use super::context::sha256_hex;
use super::embedding::Purpose;
use super::save::chunks_of;
use super::tokens::count_tokens;
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult};
use crate::pagination::{PageParams, Paged};
use crate::views::{CreateTaskRequest, TaskQuery, TaskView, UpdateTaskRequest};

/// The source of the contexts tasks are indexed as.
pub const TASK_SOURCE: &str = "task";

pub const STATUSES: [&str; 3] = ["todo", "in_progress", "done"];
pub const PRIORITIES: [&str; 3] = ["low", "medium", "high"];
const MAX_TITLE: usize = 200;
const MAX_DESCRIPTION: usize = 20_000;
const MAX_TAGS: usize = 20;
const MAX_TAG: usize = 50;
const MAX_LINKS: usize = 50;
const MAX_JIRA_KEYS: usize = 20;

fn not_found() -> DomainError {
    DomainError::not_found("task")
}

fn view(t: TaskRecord) -> TaskView {
    TaskView {
        id: t.id,
        project_id: t.project_id,
        title: t.title,
        description: t.description,
        status: t.status,
        priority: t.priority,
        assignee_id: t.assignee_id,
        due_date: t.due_date,
        tags: t.tags,
        context_ids: t.context_ids,
        jira_keys: t.jira_keys,
        created_by: t.created_by,
        updated_by: t.updated_by,
        created_at: t.created_at,
        updated_at: t.updated_at,
    }
}

fn title(value: Option<String>) -> DomainResult<String> {
    let value = value.map(|v| v.trim().to_string()).unwrap_or_default();
    if value.is_empty() {
        return Err(DomainError::missing("title"));
    }
    if value.chars().count() > MAX_TITLE {
        return Err(DomainError::validation(
            "title",
            format!("`title` is longer than {MAX_TITLE} characters"),
        ));
    }
    Ok(value)
}

fn description(value: String) -> DomainResult<String> {
    if value.chars().count() > MAX_DESCRIPTION {
        return Err(DomainError::validation(
            "description",
            format!("`description` is longer than {MAX_DESCRIPTION} characters"),
        ));
    }
    Ok(value)
}

fn one_of(field: &str, value: String, allowed: &[&str]) -> DomainResult<String> {
    if allowed.contains(&value.as_str()) {
        Ok(value)
    } else {
        Err(DomainError::validation(
            field,
            format!("`{field}` must be one of {}", allowed.join(", ")),
        ))
    }
}

fn date(field: &str, value: &str) -> DomainResult<NaiveDate> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
        DomainError::validation(field, format!("`{field}` must be a date, YYYY-MM-DD"))
    })
}

fn tags(values: Vec<String>) -> DomainResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for tag in values {
        let tag = tag.trim().to_string();
        if tag.is_empty() || tag.chars().count() > MAX_TAG {
            return Err(DomainError::validation(
                "tags",
                format!("each tag must be 1-{MAX_TAG} characters"),
            ));
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(DomainError::validation("tags", format!("at most {MAX_TAGS} tags")));
    }
    Ok(out)
}

fn jira_keys(values: Vec<String>) -> DomainResult<Vec<String>> {
    if values.len() > MAX_JIRA_KEYS {
        return Err(DomainError::validation(
            "jira_keys",
            format!("at most {MAX_JIRA_KEYS} Jira keys"),
        ));
    }
    values
        .into_iter()
        .map(|k| {
            let k = k.trim().to_ascii_uppercase();
            let shaped = k.split_once('-').is_some_and(|(project, number)| {
                project.starts_with(|c: char| c.is_ascii_uppercase())
                    && project
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                    && !number.is_empty()
                    && number.chars().all(|c| c.is_ascii_digit())
            });
            if shaped {
                Ok(k)
            } else {
                Err(DomainError::validation(
                    "jira_keys",
                    format!("{k:?} is not a Jira issue key like OPS-12"),
                ))
            }
        })
        .collect()
}

/// A task as the Markdown its context holds.
fn markdown(t: &TaskRecord) -> String {
    let mut text =
        format!("# Task: {}\n\nStatus: {} · Priority: {}", t.title, t.status, t.priority);
    if let Some(due) = t.due_date {
        text.push_str(&format!(" · Due: {due}"));
    }
    if !t.tags.is_empty() {
        text.push_str(&format!("\nTags: {}", t.tags.join(", ")));
    }
    if !t.jira_keys.is_empty() {
        text.push_str(&format!("\nJira: {}", t.jira_keys.join(", ")));
    }
    if !t.description.trim().is_empty() {
        text.push_str(&format!("\n\n{}", t.description.trim()));
    }
    text
}

fn path_of(id: Uuid) -> String {
    format!("tasks/{id}")
}

impl Services {
    /// Indexes a project task as a context (replacing what it was), embedded now when the model
    /// answers and later by the backlog when it does not. A failure is logged: the task itself
    /// is stored.
    async fn index_task(&self, t: &TaskRecord) {
        let Some(project_id) = t.project_id else { return };
        let content = markdown(t);
        let now = self.now();
        let parent = ContextRecord {
            id: Uuid::now_v7(),
            project_id,
            content_hash: sha256_hex(&content),
            token_count: count_tokens(&content) as i64,
            source: TASK_SOURCE.into(),
            file_path: Some(path_of(t.id)),
            parent_id: None,
            chunk_index: None,
            metadata: json!({"title": t.title, "tags": t.tags, "task_id": t.id, "status": t.status}),
            content,
            created_by: t.updated_by,
            accessed_count: 0,
            last_accessed: None,
            created_at: now,
            updated_at: now,
        };
        let children = chunks_of(&parent, self.pricing.limits.chunk_above_tokens);
        let embedded: Vec<ContextRecord> =
            if children.is_empty() { vec![parent.clone()] } else { children.clone() };
        let passages = self.passages_for_many(&embedded, Purpose::Request).await.ok();
        let mut passages = passages.unwrap_or_else(|| vec![Vec::new(); embedded.len()]).into_iter();
        // A long task is stored whole and searched by its chunks, as any save.
        let rows: Vec<_> = if children.is_empty() {
            vec![(parent.clone(), passages.next().unwrap_or_default())]
        } else {
            std::iter::once((parent.clone(), Vec::new()))
                .chain(children.into_iter().map(|c| (c, passages.next().unwrap_or_default())))
                .collect()
        };
        let item = IndexedItem { file_path: path_of(t.id), content_hash: parent.content_hash };
        if let Err(e) = self.store.replace_indexed_item(project_id, TASK_SOURCE, &item, &rows).await
        {
            warn!(task_id = %t.id, error = %e, "a task could not be indexed for search");
        }
    }

    /// A task as `caller` may see it (`Access::Write` to change it).
    async fn task_for(
        &self,
        caller: &Caller,
        id: Uuid,
        access: Access,
    ) -> DomainResult<TaskRecord> {
        self.require_verified(caller)?;
        caller.require_scope(if access == Access::Write { Scope::Write } else { Scope::Read })?;
        let task = self.store.task(id).await?.ok_or_else(not_found)?;
        match task.project_id {
            Some(project) => {
                self.project_for(caller, project, Access::Read).await.map_err(|_| not_found())?;
                if access == Access::Write {
                    self.project_for(caller, project, Access::Write).await?;
                }
            }
            None if task.created_by == caller.user_id && caller.project_restriction().is_none() => {
            }
            None => return Err(not_found()),
        }
        Ok(task)
    }

    /// An assignee must be a member of the task's project, or the creator of a personal task.
    async fn check_assignee(
        &self,
        caller: &Caller,
        project: Option<Uuid>,
        assignee: Option<Uuid>,
    ) -> DomainResult<()> {
        let Some(assignee) = assignee else { return Ok(()) };
        let member = match project {
            Some(project) => self
                .store
                .project_with_role(project, assignee)
                .await?
                .is_some_and(|(_, role): (_, Option<Role>)| role.is_some()),
            None => assignee == caller.user_id,
        };
        if member {
            Ok(())
        } else {
            Err(DomainError::validation(
                "assignee_id",
                "the assignee must be a member of the task's project",
            ))
        }
    }

    /// Linked contexts must exist and be readable by the caller.
    async fn check_contexts(&self, caller: &Caller, ids: &[Uuid]) -> DomainResult<()> {
        if ids.len() > MAX_LINKS {
            return Err(DomainError::validation(
                "context_ids",
                format!("at most {MAX_LINKS} contexts"),
            ));
        }
        for id in ids {
            let readable = match self.store.context_by_id(*id).await? {
                Some(c) => self.project_for(caller, c.project_id, Access::Read).await.is_ok(),
                None => false,
            };
            if !readable {
                return Err(DomainError::validation(
                    "context_ids",
                    format!("context {id} does not exist or is not yours to read"),
                ));
            }
        }
        Ok(())
    }

    /// `POST /tasks` and `todo_create`.
    pub async fn create_task(
        &self,
        caller: &Caller,
        req: CreateTaskRequest,
    ) -> DomainResult<TaskView> {
        self.require_verified(caller)?;
        caller.require_scope(Scope::Write)?;
        let project_id = req.project_id.or(caller.project_restriction());
        if let Some(project) = project_id {
            self.project_for(caller, project, Access::Write).await?;
        }
        let now = self.now();
        let task = TaskRecord {
            id: Uuid::now_v7(),
            project_id,
            title: title(req.title)?,
            description: description(req.description.unwrap_or_default())?,
            status: one_of("status", req.status.unwrap_or_else(|| "todo".into()), &STATUSES)?,
            priority: one_of(
                "priority",
                req.priority.unwrap_or_else(|| "medium".into()),
                &PRIORITIES,
            )?,
            assignee_id: req.assignee_id,
            due_date: req.due_date.as_deref().map(|d| date("due_date", d)).transpose()?,
            tags: tags(req.tags.unwrap_or_default())?,
            context_ids: req.context_ids.unwrap_or_default(),
            jira_keys: jira_keys(req.jira_keys.unwrap_or_default())?,
            created_by: caller.user_id,
            updated_by: caller.user_id,
            created_at: now,
            updated_at: now,
        };
        self.check_assignee(caller, project_id, task.assignee_id).await?;
        self.check_contexts(caller, &task.context_ids).await?;
        self.store.insert_task(&task).await?;
        self.index_task(&task).await;
        Ok(view(task))
    }

    /// `GET /tasks/{task_id}` and `todo_read`.
    pub async fn get_task(&self, caller: &Caller, id: Uuid) -> DomainResult<TaskView> {
        Ok(view(self.task_for(caller, id, Access::Read).await?))
    }

    /// `PUT /tasks/{task_id}` and `todo_update`: the fields given replace the task's.
    pub async fn update_task(
        &self,
        caller: &Caller,
        id: Uuid,
        req: UpdateTaskRequest,
    ) -> DomainResult<TaskView> {
        let mut task = self.task_for(caller, id, Access::Write).await?;
        if req.title.is_some() {
            task.title = title(req.title)?;
        }
        if let Some(d) = req.description {
            task.description = description(d)?;
        }
        if let Some(s) = req.status {
            task.status = one_of("status", s, &STATUSES)?;
        }
        if let Some(p) = req.priority {
            task.priority = one_of("priority", p, &PRIORITIES)?;
        }
        if let Some(assignee) = req.assignee_id {
            self.check_assignee(caller, task.project_id, assignee).await?;
            task.assignee_id = assignee;
        }
        if let Some(due) = req.due_date {
            task.due_date = due.as_deref().map(|d| date("due_date", d)).transpose()?;
        }
        if let Some(t) = req.tags {
            task.tags = tags(t)?;
        }
        if let Some(ids) = req.context_ids {
            self.check_contexts(caller, &ids).await?;
            task.context_ids = ids;
        }
        if let Some(keys) = req.jira_keys {
            task.jira_keys = jira_keys(keys)?;
        }
        task.updated_by = caller.user_id;
        task.updated_at = self.now();
        self.store.update_task(&task).await.map_err(|e| match e {
            tc_store::StoreError::NotFound => not_found(),
            e => e.into(),
        })?;
        self.index_task(&task).await;
        Ok(view(task))
    }

    /// `DELETE /tasks/{task_id}` and `todo_delete`.
    pub async fn delete_task(&self, caller: &Caller, id: Uuid) -> DomainResult<()> {
        let task = self.task_for(caller, id, Access::Write).await?;
        self.store.delete_task(id).await?;
        if let Some(project) = task.project_id
            && let Err(e) =
                self.store.remove_indexed_items(project, TASK_SOURCE, &[path_of(id)]).await
        {
            warn!(task_id = %id, error = %e, "a deleted task's context could not be removed");
        }
        Ok(())
    }

    /// `GET /tasks` and `todo_list`: the tasks of the projects the caller can read (or of the
    /// one asked for) and their own personal tasks, newest first.
    pub async fn list_tasks(
        &self,
        caller: &Caller,
        query: &TaskQuery,
        page: &PageParams,
    ) -> DomainResult<Paged<TaskView>> {
        self.require_verified(caller)?;
        caller.require_scope(Scope::Read)?;
        let page = page.to_page()?;
        let mut filter = TaskFilter::default();
        match query.project_id.as_deref().filter(|p| !p.is_empty()) {
            Some(raw) => {
                let project = Uuid::parse_str(raw).map_err(|_| DomainError::project_not_found())?;
                self.project_for(caller, project, Access::Read).await?;
                filter.project_ids = vec![project];
            }
            None => {
                filter.project_ids = self.readable_for(caller).await?;
                if caller.project_restriction().is_none() {
                    filter.personal_of = Some(caller.user_id);
                }
            }
        }
        if let Some(s) = query.status.clone().filter(|s| !s.is_empty()) {
            filter.status = Some(one_of("status", s, &STATUSES)?);
        }
        if let Some(a) = query.assignee_id.as_deref().filter(|a| !a.is_empty()) {
            let id = Uuid::parse_str(a).map_err(|_| {
                DomainError::validation("assignee_id", "`assignee_id` must be a user id")
            })?;
            filter.assignee_id = Some(id);
        }
        filter.tag = query.tag.clone().filter(|t| !t.is_empty());
        if let Some(d) = query.due_before.as_deref().filter(|d| !d.is_empty()) {
            filter.due_before = Some(date("due_before", d)?);
        }
        let rows = self.store.list_tasks(&filter, page).await?;
        Ok(Paged::from_rows(rows, page, |t| t.id, view))
    }
}
