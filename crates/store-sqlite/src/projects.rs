//! Projects and project membership in SQLite.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use tc_store::{
    MemberRecord, Page, ProjectListFilter, ProjectRecord, Role, StoreError, StoreResult, UserRecord,
};
use uuid::Uuid;

use crate::convert::{self, PROJECT_COLS, USER_COLS_PREFIXED, ms, opt_ms};
use crate::db_err;

fn settings_json(p: &ProjectRecord) -> StoreResult<String> {
    serde_json::to_string(&p.settings).map_err(|e| StoreError::database(e.to_string()))
}

fn expect_one(changed: usize) -> StoreResult<()> {
    if changed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

fn role_of(row: &rusqlite::Row<'_>) -> StoreResult<Role> {
    convert::get_role(row, "role")?.ok_or_else(|| StoreError::database("membership without a role"))
}

pub(crate) fn insert_project(c: &mut Connection, p: &ProjectRecord) -> StoreResult<()> {
    let tx = c.transaction().map_err(db_err)?;
    tx.execute(
        "INSERT INTO projects (id, name, description, owner_id, visibility, settings, \
         deleted_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            p.id.to_string(),
            p.name,
            p.description,
            p.owner_id.to_string(),
            p.visibility.as_str(),
            settings_json(p)?,
            opt_ms(p.deleted_at),
            ms(p.created_at),
            ms(p.updated_at)
        ],
    )
    .map_err(db_err)?;
    tx.execute(
        "INSERT INTO project_members (project_id, user_id, role, added_at) VALUES (?, ?, 'owner', ?)",
        params![p.id.to_string(), p.owner_id.to_string(), ms(p.created_at)],
    )
    .map_err(db_err)?;
    tx.commit().map_err(db_err)
}

pub(crate) fn project_by_id(c: &Connection, id: Uuid) -> StoreResult<Option<ProjectRecord>> {
    let mut stmt = c
        .prepare_cached(&format!("SELECT {PROJECT_COLS} FROM projects p WHERE p.id = ?"))
        .map_err(db_err)?;
    convert::first(stmt.query([id.to_string()]).map_err(db_err)?, convert::project)
}

pub(crate) fn project_with_role(
    c: &Connection,
    id: Uuid,
    user_id: Uuid,
) -> StoreResult<Option<(ProjectRecord, Option<Role>)>> {
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {PROJECT_COLS}, m.role AS role FROM projects p \
             LEFT JOIN project_members m ON m.project_id = p.id AND m.user_id = ? WHERE p.id = ?"
        ))
        .map_err(db_err)?;
    convert::first(stmt.query([user_id.to_string(), id.to_string()]).map_err(db_err)?, |r| {
        Ok((convert::project(r)?, convert::get_role(r, "role")?))
    })
}

pub(crate) fn list_member_projects(
    c: &Connection,
    user_id: Uuid,
    filter: ProjectListFilter,
    page: Page,
) -> StoreResult<Vec<(ProjectRecord, Role)>> {
    let condition = match filter {
        ProjectListFilter::Live => "p.deleted_at IS NULL",
        ProjectListFilter::DeletedOwned => "p.deleted_at IS NOT NULL AND m.role = 'owner'",
    };
    // The limit is part of the SQL text, not a bound parameter: SQLite plans with a bound LIMIT
    // value and so recompiles the statement whenever it is re-bound, which cost more than the
    // query. Limits are validated integers (1–101), so there are few distinct statements.
    let cursor = if page.before.is_some() { "AND p.id < ?2" } else { "" };
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {PROJECT_COLS}, m.role AS role FROM project_members m \
             JOIN projects p ON p.id = m.project_id \
             WHERE m.user_id = ?1 AND {condition} {cursor} ORDER BY p.id DESC LIMIT {}",
            page.limit
        ))
        .map_err(db_err)?;
    let user = user_id.to_string();
    let rows = match page.before {
        Some(before) => stmt.query(params![user, before.to_string()]),
        None => stmt.query(params![user]),
    }
    .map_err(db_err)?;
    convert::collect(rows, |r| Ok((convert::project(r)?, role_of(r)?)))
}

pub(crate) fn update_project(c: &Connection, p: &ProjectRecord) -> StoreResult<()> {
    let changed = c
        .execute(
            "UPDATE projects SET name = ?, description = ?, visibility = ?, settings = ?, \
             updated_at = ? WHERE id = ?",
            params![
                p.name,
                p.description,
                p.visibility.as_str(),
                settings_json(p)?,
                ms(p.updated_at),
                p.id.to_string()
            ],
        )
        .map_err(db_err)?;
    expect_one(changed)
}

pub(crate) fn set_project_deleted(
    c: &Connection,
    id: Uuid,
    deleted_at: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let changed = c
        .execute(
            "UPDATE projects SET deleted_at = ?, updated_at = ? WHERE id = ?",
            params![opt_ms(deleted_at), ms(at), id.to_string()],
        )
        .map_err(db_err)?;
    expect_one(changed)
}

pub(crate) fn purge_deleted_projects(c: &Connection, before: DateTime<Utc>) -> StoreResult<u64> {
    // Memberships (and, in later migrations, everything else a project owns) go by cascade.
    let purged = c
        .execute(
            "DELETE FROM projects WHERE deleted_at IS NOT NULL AND deleted_at < ?",
            [ms(before)],
        )
        .map_err(db_err)?;
    Ok(purged as u64)
}

pub(crate) fn insert_member(c: &Connection, m: &MemberRecord) -> StoreResult<()> {
    c.execute(
        "INSERT INTO project_members (project_id, user_id, role, added_at) VALUES (?, ?, ?, ?)",
        params![m.project_id.to_string(), m.user_id.to_string(), m.role.as_str(), ms(m.added_at)],
    )
    .map_err(db_err)?;
    Ok(())
}

pub(crate) fn list_members(
    c: &Connection,
    project_id: Uuid,
) -> StoreResult<Vec<(MemberRecord, UserRecord)>> {
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT m.role AS role, m.added_at AS added_at, {USER_COLS_PREFIXED} \
             FROM project_members m JOIN users u ON u.id = m.user_id WHERE m.project_id = ? \
             ORDER BY m.role = 'owner' DESC, m.added_at, u.id"
        ))
        .map_err(db_err)?;
    convert::collect(stmt.query([project_id.to_string()]).map_err(db_err)?, |r| {
        let user = convert::user(r, "u_")?;
        let member = MemberRecord {
            project_id,
            user_id: user.id,
            role: role_of(r)?,
            added_at: convert::get_time(r, "added_at")?,
        };
        Ok((member, user))
    })
}

pub(crate) fn delete_member(c: &Connection, project_id: Uuid, user_id: Uuid) -> StoreResult<()> {
    let changed = c
        .execute(
            "DELETE FROM project_members WHERE project_id = ? AND user_id = ? AND role = 'contributor'",
            [project_id.to_string(), user_id.to_string()],
        )
        .map_err(db_err)?;
    expect_one(changed)
}

pub(crate) fn readable_project_ids(c: &Connection, user_id: Uuid) -> StoreResult<Vec<Uuid>> {
    let mut stmt = c
        .prepare_cached(
            "SELECT p.id FROM projects p WHERE p.deleted_at IS NULL AND (p.visibility = 'team' \
             OR EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = p.id AND m.user_id = ?))",
        )
        .map_err(db_err)?;
    convert::collect(stmt.query([user_id.to_string()]).map_err(db_err)?, |r| {
        let id: String = r.get(0).map_err(db_err)?;
        Uuid::parse_str(&id).map_err(|_| StoreError::database("bad project id"))
    })
}

pub(crate) fn set_description_vector(
    c: &Connection,
    id: Uuid,
    vector: Option<(String, Vec<f32>)>,
) -> StoreResult<()> {
    let (model, blob) = match vector {
        Some((model, v)) => (Some(model), Some(crate::vectors::to_blob(&v))),
        None => (None, None),
    };
    let changed = c
        .execute(
            "UPDATE projects SET description_model = ?, description_vector = ? WHERE id = ?",
            params![model, blob, id.to_string()],
        )
        .map_err(db_err)?;
    expect_one(changed)
}

pub(crate) fn description_vectors(
    c: &Connection,
    ids: &[Uuid],
    model: &str,
) -> StoreResult<Vec<(Uuid, Vec<f32>)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let json = serde_json::to_string(&ids.iter().map(Uuid::to_string).collect::<Vec<_>>())
        .map_err(|e| StoreError::database(e.to_string()))?;
    let mut stmt = c
        .prepare_cached(
            "SELECT id, description_vector FROM projects WHERE description_model = ?1 \
             AND description_vector IS NOT NULL AND id IN (SELECT value FROM json_each(?2))",
        )
        .map_err(db_err)?;
    convert::collect(stmt.query(params![model, json]).map_err(db_err)?, |r| {
        let id: String = r.get(0).map_err(db_err)?;
        let blob: Vec<u8> = r.get(1).map_err(db_err)?;
        let id = Uuid::parse_str(&id).map_err(|_| StoreError::database("bad project id"))?;
        Ok((id, crate::vectors::from_blob(&blob)))
    })
}

/// Ids of the projects a purge at `before` would remove.
pub(crate) fn purgeable_projects(c: &Connection, before: DateTime<Utc>) -> StoreResult<Vec<Uuid>> {
    let mut stmt = c
        .prepare_cached("SELECT id FROM projects WHERE deleted_at IS NOT NULL AND deleted_at < ?")
        .map_err(db_err)?;
    convert::collect(stmt.query([ms(before)]).map_err(db_err)?, |r| {
        let id: String = r.get(0).map_err(db_err)?;
        Uuid::parse_str(&id).map_err(|_| StoreError::database("bad project id"))
    })
}

#[async_trait::async_trait]
impl tc_store::ProjectStore for crate::SqliteStore {
    async fn insert_project(&self, project: &tc_store::ProjectRecord) -> tc_store::StoreResult<()> {
        let project = project.clone();
        self.write(move |c| insert_project(c, &project)).await
    }
    async fn project_by_id(
        &self,
        id: uuid::Uuid,
    ) -> tc_store::StoreResult<Option<tc_store::ProjectRecord>> {
        self.read(|c| project_by_id(c, id))
    }
    async fn project_with_role(
        &self,
        id: uuid::Uuid,
        user_id: uuid::Uuid,
    ) -> tc_store::StoreResult<Option<(tc_store::ProjectRecord, Option<tc_store::Role>)>> {
        self.read(|c| project_with_role(c, id, user_id))
    }
    async fn list_member_projects(
        &self,
        user_id: uuid::Uuid,
        filter: tc_store::ProjectListFilter,
        page: tc_store::Page,
    ) -> tc_store::StoreResult<Vec<(tc_store::ProjectRecord, tc_store::Role)>> {
        self.read(|c| list_member_projects(c, user_id, filter, page))
    }
    async fn update_project(&self, project: &tc_store::ProjectRecord) -> tc_store::StoreResult<()> {
        let project = project.clone();
        self.write(move |c| update_project(c, &project)).await
    }
    async fn set_project_deleted(
        &self,
        id: uuid::Uuid,
        deleted_at: Option<chrono::DateTime<chrono::Utc>>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<()> {
        self.write(move |c| set_project_deleted(c, id, deleted_at, at)).await
    }
    async fn purge_deleted_projects(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<u64> {
        let store = self.clone();
        self.write(move |c| {
            let ids = purgeable_projects(c, before)?;
            let purged = purge_deleted_projects(c, before)?;
            store.inner.vectors.remove_projects(&ids);
            Ok(purged)
        })
        .await
    }
    async fn insert_member(&self, member: &tc_store::MemberRecord) -> tc_store::StoreResult<()> {
        let member = member.clone();
        self.write(move |c| insert_member(c, &member)).await
    }
    async fn list_members(
        &self,
        project_id: uuid::Uuid,
    ) -> tc_store::StoreResult<Vec<(tc_store::MemberRecord, tc_store::UserRecord)>> {
        self.read(|c| list_members(c, project_id))
    }
    async fn delete_member(
        &self,
        project_id: uuid::Uuid,
        user_id: uuid::Uuid,
    ) -> tc_store::StoreResult<()> {
        self.write(move |c| delete_member(c, project_id, user_id)).await
    }
    async fn readable_project_ids(
        &self,
        user_id: uuid::Uuid,
    ) -> tc_store::StoreResult<Vec<uuid::Uuid>> {
        self.read(|c| readable_project_ids(c, user_id))
    }
    async fn set_project_description_vector(
        &self,
        project_id: uuid::Uuid,
        vector: Option<(&str, &[f32])>,
    ) -> tc_store::StoreResult<()> {
        let vector = vector.map(|(model, v)| (model.to_string(), v.to_vec()));
        self.write(move |c| set_description_vector(c, project_id, vector)).await
    }
    async fn project_description_vectors(
        &self,
        project_ids: &[uuid::Uuid],
        model: &str,
    ) -> tc_store::StoreResult<Vec<(uuid::Uuid, Vec<f32>)>> {
        self.read(|c| description_vectors(c, project_ids, model))
    }
}
