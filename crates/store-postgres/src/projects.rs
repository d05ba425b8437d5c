//! Projects, membership and project description vectors in PostgreSQL.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tc_store::{
    MemberRecord, Page, ProjectListFilter, ProjectRecord, Role, StoreError, StoreResult, UserRecord,
};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::db::{self, client};
use crate::rows::{self, PROJECT_COLS, USER_COLS};
use crate::{db_err, expect_one};

fn settings(p: &ProjectRecord) -> StoreResult<serde_json::Value> {
    serde_json::to_value(&p.settings).map_err(|e| StoreError::database(e.to_string()))
}

fn role_of(row: &Row) -> StoreResult<Role> {
    rows::role(row, "role")?.ok_or_else(|| StoreError::database("membership without a role"))
}

pub(crate) async fn insert_project(pool: &Pool, p: &ProjectRecord) -> StoreResult<()> {
    let mut c = client(pool).await?;
    let tx = c.transaction().await.map_err(db_err)?;
    db::execute(
        &tx,
        "INSERT INTO projects (id, name, description, owner_id, visibility, settings, \
         deleted_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &p.id,
            &p.name,
            &p.description,
            &p.owner_id,
            &p.visibility.as_str(),
            &settings(p)?,
            &p.deleted_at,
            &p.created_at,
            &p.updated_at,
        ],
    )
    .await?;
    db::execute(
        &tx,
        "INSERT INTO project_members (project_id, user_id, role, added_at) \
         VALUES ($1, $2, 'owner', $3)",
        &[&p.id, &p.owner_id, &p.created_at],
    )
    .await?;
    tx.commit().await.map_err(db_err)
}

pub(crate) async fn project_by_id(pool: &Pool, id: Uuid) -> StoreResult<Option<ProjectRecord>> {
    let sql = format!("SELECT {PROJECT_COLS} FROM projects p WHERE p.id = $1");
    let row = db::query_opt(&client(pool).await?, &sql, &[&id]).await?;
    row.as_ref().map(rows::project).transpose()
}

pub(crate) async fn project_with_role(
    pool: &Pool,
    id: Uuid,
    user_id: Uuid,
) -> StoreResult<Option<(ProjectRecord, Option<Role>)>> {
    let sql = format!(
        "SELECT {PROJECT_COLS}, m.role AS role FROM projects p \
         LEFT JOIN project_members m ON m.project_id = p.id AND m.user_id = $1 WHERE p.id = $2"
    );
    let row = db::query_opt(&client(pool).await?, &sql, &[&user_id, &id]).await?;
    row.map(|r| Ok((rows::project(&r)?, rows::role(&r, "role")?))).transpose()
}

pub(crate) async fn list_member_projects(
    pool: &Pool,
    user_id: Uuid,
    filter: ProjectListFilter,
    page: Page,
) -> StoreResult<Vec<(ProjectRecord, Role)>> {
    let condition = match filter {
        ProjectListFilter::Live => "p.deleted_at IS NULL",
        ProjectListFilter::DeletedOwned => "p.deleted_at IS NOT NULL AND m.role = 'owner'",
    };
    let sql = format!(
        "SELECT {PROJECT_COLS}, m.role AS role FROM project_members m \
         JOIN projects p ON p.id = m.project_id \
         WHERE m.user_id = $1 AND {condition} AND ($2::uuid IS NULL OR p.id < $2) \
         ORDER BY p.id DESC LIMIT $3"
    );
    let found =
        db::query(&client(pool).await?, &sql, &[&user_id, &page.before, &i64::from(page.limit)])
            .await?;
    rows::all(found, |r| Ok((rows::project(r)?, role_of(r)?)))
}

pub(crate) async fn update_project(pool: &Pool, p: &ProjectRecord) -> StoreResult<()> {
    let changed = db::execute(
        &client(pool).await?,
        "UPDATE projects SET name = $1, description = $2, visibility = $3, settings = $4, \
         updated_at = $5 WHERE id = $6",
        &[&p.name, &p.description, &p.visibility.as_str(), &settings(p)?, &p.updated_at, &p.id],
    )
    .await?;
    expect_one(changed)
}

pub(crate) async fn set_project_deleted(
    pool: &Pool,
    id: Uuid,
    deleted_at: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let changed = db::execute(
        &client(pool).await?,
        "UPDATE projects SET deleted_at = $1, updated_at = $2 WHERE id = $3",
        &[&deleted_at, &at, &id],
    )
    .await?;
    expect_one(changed)
}

pub(crate) async fn purge_deleted_projects(pool: &Pool, before: DateTime<Utc>) -> StoreResult<u64> {
    // Contexts, passages, members, jobs and scanned files go by cascade.
    db::execute(
        &client(pool).await?,
        "DELETE FROM projects WHERE deleted_at IS NOT NULL AND deleted_at < $1",
        &[&before],
    )
    .await
}

pub(crate) async fn insert_member(pool: &Pool, m: &MemberRecord) -> StoreResult<()> {
    db::execute(
        &client(pool).await?,
        "INSERT INTO project_members (project_id, user_id, role, added_at) VALUES ($1, $2, $3, $4)",
        &[&m.project_id, &m.user_id, &m.role.as_str(), &m.added_at],
    )
    .await?;
    Ok(())
}

pub(crate) async fn list_members(
    pool: &Pool,
    project_id: Uuid,
) -> StoreResult<Vec<(MemberRecord, UserRecord)>> {
    let sql = format!(
        "SELECT m.role AS role, m.added_at AS added_at, {USER_COLS} \
         FROM project_members m JOIN users u ON u.id = m.user_id WHERE m.project_id = $1 \
         ORDER BY m.role = 'owner' DESC, m.added_at, u.id"
    );
    let found = db::query(&client(pool).await?, &sql, &[&project_id]).await?;
    rows::all(found, |r| {
        let user = rows::user(r)?;
        let member = MemberRecord {
            project_id,
            user_id: user.id,
            role: role_of(r)?,
            added_at: rows::get(r, "added_at")?,
        };
        Ok((member, user))
    })
}

pub(crate) async fn delete_member(pool: &Pool, project_id: Uuid, user_id: Uuid) -> StoreResult<()> {
    let changed = db::execute(
        &client(pool).await?,
        "DELETE FROM project_members WHERE project_id = $1 AND user_id = $2 \
         AND role = 'contributor'",
        &[&project_id, &user_id],
    )
    .await?;
    expect_one(changed)
}

pub(crate) async fn readable_project_ids(pool: &Pool, user_id: Uuid) -> StoreResult<Vec<Uuid>> {
    let found = db::query(
        &client(pool).await?,
        "SELECT p.id FROM projects p WHERE p.deleted_at IS NULL AND (p.visibility = 'team' \
         OR EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = p.id AND m.user_id = $1))",
        &[&user_id],
    )
    .await?;
    rows::all(found, |r| rows::get(r, "id"))
}

pub(crate) async fn set_description_vector(
    pool: &Pool,
    project_id: Uuid,
    vector: Option<(&str, &[f32])>,
) -> StoreResult<()> {
    let (model, vector) = match vector {
        Some((model, v)) => (Some(model), Some(v.to_vec())),
        None => (None, None),
    };
    let changed = db::execute(
        &client(pool).await?,
        "UPDATE projects SET description_model = $1, description_vector = $2 WHERE id = $3",
        &[&model, &vector, &project_id],
    )
    .await?;
    expect_one(changed)
}

pub(crate) async fn description_vectors(
    pool: &Pool,
    project_ids: &[Uuid],
    model: &str,
) -> StoreResult<Vec<(Uuid, Vec<f32>)>> {
    let found = db::query(
        &client(pool).await?,
        "SELECT id, description_vector FROM projects WHERE description_model = $1 \
         AND description_vector IS NOT NULL AND id = ANY($2)",
        &[&model, &project_ids],
    )
    .await?;
    rows::all(found, |r| Ok((rows::get(r, "id")?, rows::get(r, "description_vector")?)))
}

#[async_trait::async_trait]
impl tc_store::ProjectStore for crate::PgStore {
    async fn insert_project(&self, project: &tc_store::ProjectRecord) -> tc_store::StoreResult<()> {
        insert_project(&self.pool, project).await
    }
    async fn project_by_id(
        &self,
        id: uuid::Uuid,
    ) -> tc_store::StoreResult<Option<tc_store::ProjectRecord>> {
        project_by_id(&self.pool, id).await
    }
    async fn project_with_role(
        &self,
        id: uuid::Uuid,
        user_id: uuid::Uuid,
    ) -> tc_store::StoreResult<Option<(tc_store::ProjectRecord, Option<tc_store::Role>)>> {
        project_with_role(&self.pool, id, user_id).await
    }
    async fn list_member_projects(
        &self,
        user_id: uuid::Uuid,
        filter: tc_store::ProjectListFilter,
        page: tc_store::Page,
    ) -> tc_store::StoreResult<Vec<(tc_store::ProjectRecord, tc_store::Role)>> {
        list_member_projects(&self.pool, user_id, filter, page).await
    }
    async fn update_project(&self, project: &tc_store::ProjectRecord) -> tc_store::StoreResult<()> {
        update_project(&self.pool, project).await
    }
    async fn set_project_deleted(
        &self,
        id: uuid::Uuid,
        deleted_at: Option<chrono::DateTime<chrono::Utc>>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<()> {
        set_project_deleted(&self.pool, id, deleted_at, at).await
    }
    async fn purge_deleted_projects(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<u64> {
        purge_deleted_projects(&self.pool, before).await
    }
    async fn insert_member(&self, member: &tc_store::MemberRecord) -> tc_store::StoreResult<()> {
        insert_member(&self.pool, member).await
    }
    async fn list_members(
        &self,
        project_id: uuid::Uuid,
    ) -> tc_store::StoreResult<Vec<(tc_store::MemberRecord, tc_store::UserRecord)>> {
        list_members(&self.pool, project_id).await
    }
    async fn delete_member(
        &self,
        project_id: uuid::Uuid,
        user_id: uuid::Uuid,
    ) -> tc_store::StoreResult<()> {
        delete_member(&self.pool, project_id, user_id).await
    }
    async fn readable_project_ids(
        &self,
        user_id: uuid::Uuid,
    ) -> tc_store::StoreResult<Vec<uuid::Uuid>> {
        readable_project_ids(&self.pool, user_id).await
    }
    async fn set_project_description_vector(
        &self,
        project_id: uuid::Uuid,
        vector: Option<(&str, &[f32])>,
    ) -> tc_store::StoreResult<()> {
        set_description_vector(&self.pool, project_id, vector).await
    }
    async fn project_description_vectors(
        &self,
        project_ids: &[uuid::Uuid],
        model: &str,
    ) -> tc_store::StoreResult<Vec<(uuid::Uuid, Vec<f32>)>> {
        description_vectors(&self.pool, project_ids, model).await
    }
}
