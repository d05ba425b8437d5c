//! Jira story drafts in SQLite: the story, its sources and its revisions as JSON text; every
//! change is conditional on the version read.

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter};
use tc_store::{Page, StoreResult, StoryDraftRecord};
use uuid::Uuid;

use crate::convert::{self, get, ms};
use crate::db_err;

const COLS: &str = "id, project_id, created_by, task_id, jira_project_key, parent_key, \
    requirements, story, sources, revisions, status, create_marker, jira_key, jira_url, \
    last_error, version, created_at, updated_at";

fn json(r: &rusqlite::Row<'_>, column: &str) -> StoreResult<serde_json::Value> {
    let text: String = get(r, column)?;
    serde_json::from_str(&text)
        .map_err(|_| convert::corrupt(format!("story_drafts.{column} {text:?}")))
}

fn record(r: &rusqlite::Row<'_>) -> StoreResult<StoryDraftRecord> {
    Ok(StoryDraftRecord {
        id: convert::get_uuid(r, "id")?,
        project_id: convert::get_uuid(r, "project_id")?,
        created_by: convert::get_uuid(r, "created_by")?,
        task_id: convert::get_opt_uuid(r, "task_id")?,
        jira_project_key: get(r, "jira_project_key")?,
        parent_key: get(r, "parent_key")?,
        requirements: get(r, "requirements")?,
        story: json(r, "story")?,
        sources: json(r, "sources")?,
        revisions: json(r, "revisions")?,
        status: get(r, "status")?,
        create_marker: get(r, "create_marker")?,
        jira_key: get(r, "jira_key")?,
        jira_url: get(r, "jira_url")?,
        last_error: get(r, "last_error")?,
        version: get(r, "version")?,
        created_at: convert::get_time(r, "created_at")?,
        updated_at: convert::get_time(r, "updated_at")?,
    })
}

#[async_trait::async_trait]
impl tc_store::StoryStore for crate::SqliteStore {
    async fn insert_story_draft(&self, d: &StoryDraftRecord) -> StoreResult<()> {
        let d = d.clone();
        self.write(move |c| {
            c.execute(
                &format!(
                    "INSERT INTO story_drafts ({COLS}) VALUES \
                     (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                params![
                    d.id.to_string(),
                    d.project_id.to_string(),
                    d.created_by.to_string(),
                    d.task_id.map(|t| t.to_string()),
                    d.jira_project_key,
                    d.parent_key,
                    d.requirements,
                    d.story.to_string(),
                    d.sources.to_string(),
                    d.revisions.to_string(),
                    d.status,
                    d.create_marker,
                    d.jira_key,
                    d.jira_url,
                    d.last_error,
                    d.version,
                    ms(d.created_at),
                    ms(d.updated_at),
                ],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn story_draft(&self, id: Uuid) -> StoreResult<Option<StoryDraftRecord>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!("SELECT {COLS} FROM story_drafts WHERE id = ?"))
                .map_err(db_err)?;
            convert::first(stmt.query([id.to_string()]).map_err(db_err)?, record)
        })
    }

    async fn update_story_draft(
        &self,
        d: &StoryDraftRecord,
        expected_version: i64,
    ) -> StoreResult<bool> {
        let d = d.clone();
        self.write(move |c| {
            let changed = c
                .execute(
                    "UPDATE story_drafts SET task_id = ?2, jira_project_key = ?3, \
                     parent_key = ?4, requirements = ?5, story = ?6, sources = ?7, \
                     revisions = ?8, status = ?9, create_marker = ?10, jira_key = ?11, \
                     jira_url = ?12, last_error = ?13, version = ?14, updated_at = ?15 \
                     WHERE id = ?1 AND version = ?16",
                    params![
                        d.id.to_string(),
                        d.task_id.map(|t| t.to_string()),
                        d.jira_project_key,
                        d.parent_key,
                        d.requirements,
                        d.story.to_string(),
                        d.sources.to_string(),
                        d.revisions.to_string(),
                        d.status,
                        d.create_marker,
                        d.jira_key,
                        d.jira_url,
                        d.last_error,
                        d.version,
                        ms(d.updated_at),
                        expected_version,
                    ],
                )
                .map_err(db_err)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn delete_story_draft(&self, id: Uuid) -> StoreResult<bool> {
        self.write(move |c| {
            let removed = c
                .execute("DELETE FROM story_drafts WHERE id = ?", [id.to_string()])
                .map_err(db_err)?;
            Ok(removed > 0)
        })
        .await
    }

    async fn list_story_drafts(
        &self,
        project_ids: &[Uuid],
        page: Page,
    ) -> StoreResult<Vec<StoryDraftRecord>> {
        if project_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|c| {
            let marks = vec!["?"; project_ids.len()].join(", ");
            let mut args: Vec<Value> =
                project_ids.iter().map(|p| Value::Text(p.to_string())).collect();
            let mut sql = format!("SELECT {COLS} FROM story_drafts WHERE project_id IN ({marks})");
            if let Some(before) = page.before {
                sql.push_str(" AND id < ?");
                args.push(Value::Text(before.to_string()));
            }
            sql.push_str(" ORDER BY id DESC LIMIT ?");
            args.push(Value::Integer(i64::from(page.limit)));
            let mut stmt = c.prepare(&sql).map_err(db_err)?;
            convert::collect(stmt.query(params_from_iter(args)).map_err(db_err)?, record)
        })
    }
}
