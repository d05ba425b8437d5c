//! Team tasks in PostgreSQL (lists as arrays, the due date as a `date`).

use tc_store::{Page, StoreError, StoreResult, TaskFilter, TaskRecord};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::db::{self, client};
use crate::rows;

const COLS: &str = "id, project_id, title, description, status, priority, assignee_id, \
    due_date, tags, context_ids, jira_keys, created_by, updated_by, created_at, updated_at";

fn record(r: &Row) -> StoreResult<TaskRecord> {
    Ok(TaskRecord {
        id: rows::get(r, "id")?,
        project_id: rows::get(r, "project_id")?,
        title: rows::get(r, "title")?,
        description: rows::get(r, "description")?,
        status: rows::get(r, "status")?,
        priority: rows::get(r, "priority")?,
        assignee_id: rows::get(r, "assignee_id")?,
        due_date: rows::get(r, "due_date")?,
        tags: rows::get(r, "tags")?,
        context_ids: rows::get(r, "context_ids")?,
        jira_keys: rows::get(r, "jira_keys")?,
        created_by: rows::get(r, "created_by")?,
        updated_by: rows::get(r, "updated_by")?,
        created_at: rows::get(r, "created_at")?,
        updated_at: rows::get(r, "updated_at")?,
    })
}

#[async_trait::async_trait]
impl tc_store::TaskStore for crate::PgStore {
    async fn insert_task(&self, t: &TaskRecord) -> StoreResult<()> {
        db::execute(
            &client(&self.pool).await?,
            &format!(
                "INSERT INTO tasks ({COLS}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            ),
            &[
                &t.id,
                &t.project_id,
                &t.title,
                &t.description,
                &t.status,
                &t.priority,
                &t.assignee_id,
                &t.due_date,
                &t.tags,
                &t.context_ids,
                &t.jira_keys,
                &t.created_by,
                &t.updated_by,
                &t.created_at,
                &t.updated_at,
            ],
        )
        .await?;
        Ok(())
    }
    async fn task(&self, id: Uuid) -> StoreResult<Option<TaskRecord>> {
        let c = client(&self.pool).await?;
        let found =
            db::query(&c, &format!("SELECT {COLS} FROM tasks WHERE id = $1"), &[&id]).await?;
        Ok(rows::all(found, record)?.pop())
    }
    async fn update_task(&self, t: &TaskRecord) -> StoreResult<()> {
        let changed = db::execute(
            &client(&self.pool).await?,
            "UPDATE tasks SET project_id = $2, title = $3, description = $4, status = $5, \
             priority = $6, assignee_id = $7, due_date = $8, tags = $9, context_ids = $10, \
             jira_keys = $11, updated_by = $12, updated_at = $13 WHERE id = $1",
            &[
                &t.id,
                &t.project_id,
                &t.title,
                &t.description,
                &t.status,
                &t.priority,
                &t.assignee_id,
                &t.due_date,
                &t.tags,
                &t.context_ids,
                &t.jira_keys,
                &t.updated_by,
                &t.updated_at,
            ],
        )
        .await?;
        if changed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }
    async fn delete_task(&self, id: Uuid) -> StoreResult<bool> {
        let removed =
            db::execute(&client(&self.pool).await?, "DELETE FROM tasks WHERE id = $1", &[&id])
                .await?;
        Ok(removed > 0)
    }
    async fn list_tasks(&self, f: &TaskFilter, page: Page) -> StoreResult<Vec<TaskRecord>> {
        if f.project_ids.is_empty() && f.personal_of.is_none() {
            return Ok(Vec::new());
        }
        let limit = i64::from(page.limit);
        // Every condition is always present; a NULL argument switches it off.
        let args: [&(dyn ToSql + Sync); 8] = [
            &f.project_ids,
            &f.personal_of,
            &f.status,
            &f.assignee_id,
            &f.tag,
            &f.due_before,
            &page.before,
            &limit,
        ];
        let c = client(&self.pool).await?;
        let found = db::query(
            &c,
            &format!(
                "SELECT {COLS} FROM tasks \
                 WHERE (project_id = ANY($1) OR (project_id IS NULL AND created_by = $2)) \
                   AND ($3::text IS NULL OR status = $3) \
                   AND ($4::uuid IS NULL OR assignee_id = $4) \
                   AND ($5::text IS NULL OR $5 = ANY(tags)) \
                   AND ($6::date IS NULL OR due_date < $6) \
                   AND ($7::uuid IS NULL OR id < $7) \
                 ORDER BY id DESC LIMIT $8"
            ),
            &args,
        )
        .await?;
        rows::all(found, record)
    }
}
