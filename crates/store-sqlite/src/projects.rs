//! Projects and project membership in SQLite.

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use tc_store::{
    MemberRecord, Page, ProjectListFilter, ProjectRecord, Role, StoreError, StoreResult, UserRecord,
};
use uuid::Uuid;

use crate::convert::{self, ms, opt_ms};
use crate::{audited, db_err};

const PROJECT_COLS: &str = "p.id, p.name, p.description, p.owner_id, p.visibility, p.settings, \
     p.deleted_at, p.created_at, p.updated_at";

fn settings_json(p: &ProjectRecord) -> StoreResult<String> {
    serde_json::to_string(&p.settings).map_err(|e| StoreError::Database(e.to_string()))
}

pub(crate) async fn insert_project(pool: &SqlitePool, p: &ProjectRecord) -> StoreResult<()> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    sqlx::query(
        "INSERT INTO projects (id, name, description, owner_id, visibility, settings, \
         deleted_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(p.id.to_string())
    .bind(&p.name)
    .bind(&p.description)
    .bind(p.owner_id.to_string())
    .bind(p.visibility.as_str())
    .bind(settings_json(p)?)
    .bind(opt_ms(p.deleted_at))
    .bind(ms(p.created_at))
    .bind(ms(p.updated_at))
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    sqlx::query("INSERT INTO project_members (project_id, user_id, role, added_at) VALUES (?, ?, 'owner', ?)")
        .bind(p.id.to_string())
        .bind(p.owner_id.to_string())
        .bind(ms(p.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    tx.commit().await.map_err(db_err)
}

pub(crate) async fn project_by_id(
    pool: &SqlitePool,
    id: Uuid,
) -> StoreResult<Option<ProjectRecord>> {
    let row = sqlx::query(audited(format!(
        "SELECT {PROJECT_COLS} FROM projects p WHERE p.id = ?"
    )))
    .bind(id.to_string())
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(|r| convert::project(&r)).transpose()
}

pub(crate) async fn project_with_role(
    pool: &SqlitePool,
    id: Uuid,
    user_id: Uuid,
) -> StoreResult<Option<(ProjectRecord, Option<Role>)>> {
    let row = sqlx::query(audited(format!(
        "SELECT {PROJECT_COLS}, m.role AS role FROM projects p \
         LEFT JOIN project_members m ON m.project_id = p.id AND m.user_id = ? WHERE p.id = ?"
    )))
    .bind(user_id.to_string())
    .bind(id.to_string())
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    match row {
        None => Ok(None),
        Some(r) => Ok(Some((convert::project(&r)?, convert::role(&r, "role")?))),
    }
}

pub(crate) async fn list_member_projects(
    pool: &SqlitePool,
    user_id: Uuid,
    filter: ProjectListFilter,
    page: Page,
) -> StoreResult<Vec<(ProjectRecord, Role)>> {
    let condition = match filter {
        ProjectListFilter::Live => "p.deleted_at IS NULL",
        ProjectListFilter::DeletedOwned => "p.deleted_at IS NOT NULL AND m.role = 'owner'",
    };
    let rows = sqlx::query(audited(format!(
        "SELECT {PROJECT_COLS}, m.role AS role FROM project_members m \
         JOIN projects p ON p.id = m.project_id \
         WHERE m.user_id = ?1 AND {condition} AND (?2 IS NULL OR p.id < ?2) \
         ORDER BY p.id DESC LIMIT ?3"
    )))
    .bind(user_id.to_string())
    .bind(page.before.map(|b| b.to_string()))
    .bind(i64::from(page.limit))
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let role = convert::role(r, "role")?
            .ok_or_else(|| StoreError::Database("membership without role".into()))?;
        out.push((convert::project(r)?, role));
    }
    Ok(out)
}

pub(crate) async fn update_project(pool: &SqlitePool, p: &ProjectRecord) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE projects SET name = ?, description = ?, visibility = ?, settings = ?, \
         updated_at = ? WHERE id = ?",
    )
    .bind(&p.name)
    .bind(&p.description)
    .bind(p.visibility.as_str())
    .bind(settings_json(p)?)
    .bind(ms(p.updated_at))
    .bind(p.id.to_string())
    .execute(pool)
    .await
    .map_err(db_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) async fn set_project_deleted(
    pool: &SqlitePool,
    id: Uuid,
    deleted_at: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let done = sqlx::query("UPDATE projects SET deleted_at = ?, updated_at = ? WHERE id = ?")
        .bind(opt_ms(deleted_at))
        .bind(ms(at))
        .bind(id.to_string())
        .execute(pool)
        .await
        .map_err(db_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) async fn purge_deleted_projects(
    pool: &SqlitePool,
    before: DateTime<Utc>,
) -> StoreResult<u64> {
    // Memberships (and, in later migrations, everything else a project owns) go by cascade.
    let done = sqlx::query("DELETE FROM projects WHERE deleted_at IS NOT NULL AND deleted_at < ?")
        .bind(ms(before))
        .execute(pool)
        .await
        .map_err(db_err)?;
    Ok(done.rows_affected())
}

pub(crate) async fn insert_member(pool: &SqlitePool, m: &MemberRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO project_members (project_id, user_id, role, added_at) VALUES (?, ?, ?, ?)",
    )
    .bind(m.project_id.to_string())
    .bind(m.user_id.to_string())
    .bind(m.role.as_str())
    .bind(ms(m.added_at))
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn list_members(
    pool: &SqlitePool,
    project_id: Uuid,
) -> StoreResult<Vec<(MemberRecord, UserRecord)>> {
    let rows = sqlx::query(
        "SELECT m.project_id, m.role, m.added_at, u.id AS u_id, u.email AS u_email, \
         u.name AS u_name, u.password_hash AS u_password_hash, u.is_active AS u_is_active, \
         u.email_verified AS u_email_verified, u.created_at AS u_created_at, \
         u.updated_at AS u_updated_at \
         FROM project_members m JOIN users u ON u.id = m.user_id WHERE m.project_id = ? \
         ORDER BY m.role = 'owner' DESC, m.added_at, u.id",
    )
    .bind(project_id.to_string())
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let user = convert::user(r, "u_")?;
        let member = MemberRecord {
            project_id: convert::get_uuid(r, "project_id")?,
            user_id: user.id,
            role: convert::role(r, "role")?
                .ok_or_else(|| StoreError::Database("membership without role".into()))?,
            added_at: convert::time_col(r, "added_at")?,
        };
        out.push((member, user));
    }
    Ok(out)
}

pub(crate) async fn delete_member(
    pool: &SqlitePool,
    project_id: Uuid,
    user_id: Uuid,
) -> StoreResult<()> {
    let done = sqlx::query(
        "DELETE FROM project_members WHERE project_id = ? AND user_id = ? AND role = 'contributor'",
    )
    .bind(project_id.to_string())
    .bind(user_id.to_string())
    .execute(pool)
    .await
    .map_err(db_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
