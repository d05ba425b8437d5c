//! Jira story drafts in PostgreSQL: the story, its sources and its revisions as `jsonb`; every
//! change is conditional on the version read.

use tc_store::{Page, StoreResult, StoryDraftRecord};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::db::{self, client};
use crate::rows;

const COLS: &str = "id, project_id, created_by, task_id, jira_project_key, parent_key, \
    requirements, story, sources, revisions, status, create_marker, jira_key, jira_url, \
    last_error, version, created_at, updated_at";

fn record(r: &Row) -> StoreResult<StoryDraftRecord> {
    Ok(StoryDraftRecord {
        id: rows::get(r, "id")?,
        project_id: rows::get(r, "project_id")?,
        created_by: rows::get(r, "created_by")?,
        task_id: rows::get(r, "task_id")?,
        jira_project_key: rows::get(r, "jira_project_key")?,
        parent_key: rows::get(r, "parent_key")?,
        requirements: rows::get(r, "requirements")?,
        story: rows::get(r, "story")?,
        sources: rows::get(r, "sources")?,
        revisions: rows::get(r, "revisions")?,
        status: rows::get(r, "status")?,
        create_marker: rows::get(r, "create_marker")?,
        jira_key: rows::get(r, "jira_key")?,
        jira_url: rows::get(r, "jira_url")?,
        last_error: rows::get(r, "last_error")?,
        version: rows::get(r, "version")?,
        created_at: rows::get(r, "created_at")?,
        updated_at: rows::get(r, "updated_at")?,
    })
}

#[async_trait::async_trait]
impl tc_store::StoryStore for crate::PgStore {
    async fn insert_story_draft(&self, d: &StoryDraftRecord) -> StoreResult<()> {
        db::execute(
            &client(&self.pool).await?,
            &format!(
                "INSERT INTO story_drafts ({COLS}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
            ),
            &[
                &d.id,
                &d.project_id,
                &d.created_by,
                &d.task_id,
                &d.jira_project_key,
                &d.parent_key,
                &d.requirements,
                &d.story,
                &d.sources,
                &d.revisions,
                &d.status,
                &d.create_marker,
                &d.jira_key,
                &d.jira_url,
                &d.last_error,
                &d.version,
                &d.created_at,
                &d.updated_at,
            ],
        )
        .await?;
        Ok(())
    }

    async fn story_draft(&self, id: Uuid) -> StoreResult<Option<StoryDraftRecord>> {
        let c = client(&self.pool).await?;
        let found =
            db::query(&c, &format!("SELECT {COLS} FROM story_drafts WHERE id = $1"), &[&id])
                .await?;
        Ok(rows::all(found, record)?.pop())
    }

    async fn update_story_draft(
        &self,
        d: &StoryDraftRecord,
        expected_version: i64,
    ) -> StoreResult<bool> {
        let changed = db::execute(
            &client(&self.pool).await?,
            "UPDATE story_drafts SET task_id = $2, jira_project_key = $3, parent_key = $4, \
             requirements = $5, story = $6, sources = $7, revisions = $8, status = $9, \
             create_marker = $10, jira_key = $11, jira_url = $12, last_error = $13, \
             version = $14, updated_at = $15 WHERE id = $1 AND version = $16",
            &[
                &d.id,
                &d.task_id,
                &d.jira_project_key,
                &d.parent_key,
                &d.requirements,
                &d.story,
                &d.sources,
                &d.revisions,
                &d.status,
                &d.create_marker,
                &d.jira_key,
                &d.jira_url,
                &d.last_error,
                &d.version,
                &d.updated_at,
                &expected_version,
            ],
        )
        .await?;
        Ok(changed == 1)
    }

    async fn delete_story_draft(&self, id: Uuid) -> StoreResult<bool> {
        let removed = db::execute(
            &client(&self.pool).await?,
            "DELETE FROM story_drafts WHERE id = $1",
            &[&id],
        )
        .await?;
        Ok(removed > 0)
    }

    async fn list_story_drafts(
        &self,
        project_ids: &[Uuid],
        page: Page,
    ) -> StoreResult<Vec<StoryDraftRecord>> {
        if project_ids.is_empty() {
            return Ok(Vec::new());
        }
        let limit = i64::from(page.limit);
        let found = db::query(
            &client(&self.pool).await?,
            &format!(
                "SELECT {COLS} FROM story_drafts WHERE project_id = ANY($1) \
                 AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
            ),
            &[&project_ids, &page.before, &limit],
        )
        .await?;
        rows::all(found, record)
    }
}
