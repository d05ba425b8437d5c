//! Team tasks in SQLite. Lists (tags, linked contexts, Jira keys) are JSON arrays; a tag filter
//! looks inside them with `json_each`.

use chrono::NaiveDate;
use rusqlite::types::Value;
use rusqlite::{Connection, params, params_from_iter};
use tc_store::{Page, StoreError, StoreResult, TaskFilter, TaskRecord};
use uuid::Uuid;

use crate::convert::{self, get, ms};
use crate::db_err;

const COLS: &str = "id, project_id, title, description, status, priority, assignee_id, \
    due_date, tags, context_ids, jira_keys, created_by, updated_by, created_at, updated_at";

fn list<T: serde::de::DeserializeOwned>(r: &rusqlite::Row<'_>, column: &str) -> StoreResult<T> {
    let text: String = get(r, column)?;
    serde_json::from_str(&text).map_err(|_| convert::corrupt(format!("tasks.{column} {text:?}")))
}

fn record(r: &rusqlite::Row<'_>) -> StoreResult<TaskRecord> {
    let due: Option<String> = get(r, "due_date")?;
    Ok(TaskRecord {
        id: convert::get_uuid(r, "id")?,
        project_id: convert::get_opt_uuid(r, "project_id")?,
        title: get(r, "title")?,
        description: get(r, "description")?,
        status: get(r, "status")?,
        priority: get(r, "priority")?,
        assignee_id: convert::get_opt_uuid(r, "assignee_id")?,
        due_date: due
            .map(|d| {
                NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                    .map_err(|_| convert::corrupt(format!("tasks.due_date {d:?}")))
            })
            .transpose()?,
        tags: list(r, "tags")?,
        context_ids: list(r, "context_ids")?,
        jira_keys: list(r, "jira_keys")?,
        created_by: convert::get_uuid(r, "created_by")?,
        updated_by: convert::get_uuid(r, "updated_by")?,
        created_at: convert::get_time(r, "created_at")?,
        updated_at: convert::get_time(r, "updated_at")?,
    })
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn day(d: Option<NaiveDate>) -> Option<String> {
    d.map(|d| d.format("%Y-%m-%d").to_string())
}

fn list_tasks(c: &Connection, f: &TaskFilter, page: Page) -> StoreResult<Vec<TaskRecord>> {
    let mut args: Vec<Value> = Vec::new();
    let mut scope = Vec::new();
    if !f.project_ids.is_empty() {
        let marks = vec!["?"; f.project_ids.len()].join(", ");
        scope.push(format!("project_id IN ({marks})"));
        args.extend(f.project_ids.iter().map(|p| Value::Text(p.to_string())));
    }
    if let Some(user) = f.personal_of {
        scope.push("(project_id IS NULL AND created_by = ?)".into());
        args.push(Value::Text(user.to_string()));
    }
    if scope.is_empty() {
        return Ok(Vec::new());
    }
    let mut conditions = vec![format!("({})", scope.join(" OR "))];
    if let Some(status) = &f.status {
        conditions.push("status = ?".into());
        args.push(Value::Text(status.clone()));
    }
    if let Some(assignee) = f.assignee_id {
        conditions.push("assignee_id = ?".into());
        args.push(Value::Text(assignee.to_string()));
    }
    if let Some(tag) = &f.tag {
        conditions.push("EXISTS (SELECT 1 FROM json_each(tasks.tags) t WHERE t.value = ?)".into());
        args.push(Value::Text(tag.clone()));
    }
    if let Some(due) = f.due_before {
        conditions.push("due_date < ?".into());
        args.push(Value::Text(due.format("%Y-%m-%d").to_string()));
    }
    if let Some(before) = page.before {
        conditions.push("id < ?".into());
        args.push(Value::Text(before.to_string()));
    }
    args.push(Value::Integer(i64::from(page.limit)));
    let sql = format!(
        "SELECT {COLS} FROM tasks WHERE {} ORDER BY id DESC LIMIT ?",
        conditions.join(" AND ")
    );
    let mut stmt = c.prepare(&sql).map_err(db_err)?;
    convert::collect(stmt.query(params_from_iter(args)).map_err(db_err)?, record)
}

#[async_trait::async_trait]
impl tc_store::TaskStore for crate::SqliteStore {
    async fn insert_task(&self, t: &TaskRecord) -> StoreResult<()> {
        let t = t.clone();
        self.write(move |c| {
            c.execute(
                &format!(
                    "INSERT INTO tasks ({COLS}) VALUES \
                     (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                params![
                    t.id.to_string(),
                    t.project_id.map(|p| p.to_string()),
                    t.title,
                    t.description,
                    t.status,
                    t.priority,
                    t.assignee_id.map(|a| a.to_string()),
                    day(t.due_date),
                    json(&t.tags),
                    json(&t.context_ids),
                    json(&t.jira_keys),
                    t.created_by.to_string(),
                    t.updated_by.to_string(),
                    ms(t.created_at),
                    ms(t.updated_at),
                ],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }
    async fn task(&self, id: Uuid) -> StoreResult<Option<TaskRecord>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!("SELECT {COLS} FROM tasks WHERE id = ?"))
                .map_err(db_err)?;
            convert::first(stmt.query([id.to_string()]).map_err(db_err)?, record)
        })
    }
    async fn update_task(&self, t: &TaskRecord) -> StoreResult<()> {
        let t = t.clone();
        self.write(move |c| {
            let changed = c
                .execute(
                    "UPDATE tasks SET project_id = ?2, title = ?3, description = ?4, status = ?5, \
                     priority = ?6, assignee_id = ?7, due_date = ?8, tags = ?9, \
                     context_ids = ?10, jira_keys = ?11, updated_by = ?12, updated_at = ?13 \
                     WHERE id = ?1",
                    params![
                        t.id.to_string(),
                        t.project_id.map(|p| p.to_string()),
                        t.title,
                        t.description,
                        t.status,
                        t.priority,
                        t.assignee_id.map(|a| a.to_string()),
                        day(t.due_date),
                        json(&t.tags),
                        json(&t.context_ids),
                        json(&t.jira_keys),
                        t.updated_by.to_string(),
                        ms(t.updated_at),
                    ],
                )
                .map_err(db_err)?;
            if changed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }
    async fn delete_task(&self, id: Uuid) -> StoreResult<bool> {
        self.write(move |c| {
            let removed =
                c.execute("DELETE FROM tasks WHERE id = ?", [id.to_string()]).map_err(db_err)?;
            Ok(removed > 0)
        })
        .await
    }
    async fn list_tasks(&self, filter: &TaskFilter, page: Page) -> StoreResult<Vec<TaskRecord>> {
        self.read(|c| list_tasks(c, filter, page))
    }
}
