//! Column lists and row-to-record conversions shared by the queries. Columns are read by name;
//! a join that selects two records prefixes one of them (`u_` for the user beside a key or a
//! membership).

use tc_store::{
    ApiKeyRecord, ContextRecord, JobRecord, JobStatus, ProjectRecord, RefreshTokenRecord, Role,
    Scope, StoreError, StoreResult, UserRecord, Visibility,
};
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

pub(crate) const USER_COLS: &str = "u.id AS u_id, u.email AS u_email, u.name AS u_name, \
     u.password_hash AS u_password_hash, u.is_active AS u_is_active, \
     u.email_verified AS u_email_verified, u.created_at AS u_created_at, \
     u.updated_at AS u_updated_at";
pub(crate) const KEY_COLS: &str = "k.id, k.user_id, k.name, k.prefix, k.hash, k.scopes, \
     k.project_id, k.created_at, k.last_used_at, k.expires_at, k.revoked_at";
pub(crate) const REFRESH_COLS: &str =
    "id, user_id, family_id, hash, created_at, expires_at, used_at, revoked_at";
pub(crate) const PROJECT_COLS: &str = "p.id, p.name, p.description, p.owner_id, p.visibility, \
     p.settings, p.deleted_at, p.created_at, p.updated_at";
pub(crate) const CONTEXT_COLS: &str = "c.id, c.project_id, c.content, c.content_hash, \
     c.token_count, c.source, c.file_path, c.parent_id, c.chunk_index, c.metadata, c.created_by, \
     c.accessed_count, c.last_accessed, c.created_at, c.updated_at";
pub(crate) const JOB_COLS: &str = "id, kind, project_id, created_by, payload, status, progress, \
     result, error, attempts, max_attempts, run_after, lease_owner, lease_until, \
     cancel_requested, created_at, started_at, finished_at";

pub(crate) fn get<'r, T: FromSql<'r>>(row: &'r Row, column: &str) -> StoreResult<T> {
    row.try_get(column).map_err(|e| StoreError::database(format!("column {column}: {e}")))
}

fn bad(what: &str, value: &str) -> StoreError {
    StoreError::database(format!("unexpected {what} {value:?} in the database"))
}

pub(crate) fn user(row: &Row) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        id: get(row, "u_id")?,
        email: get(row, "u_email")?,
        name: get(row, "u_name")?,
        password_hash: get(row, "u_password_hash")?,
        is_active: get(row, "u_is_active")?,
        email_verified: get(row, "u_email_verified")?,
        created_at: get(row, "u_created_at")?,
        updated_at: get(row, "u_updated_at")?,
    })
}

pub(crate) fn api_key(row: &Row) -> StoreResult<ApiKeyRecord> {
    let scopes: Vec<String> = get(row, "scopes")?;
    Ok(ApiKeyRecord {
        id: get(row, "id")?,
        user_id: get(row, "user_id")?,
        name: get(row, "name")?,
        prefix: get(row, "prefix")?,
        hash: get(row, "hash")?,
        scopes: scopes
            .iter()
            .map(|s| Scope::parse(s).ok_or_else(|| bad("scope", s)))
            .collect::<StoreResult<_>>()?,
        project_id: get(row, "project_id")?,
        created_at: get(row, "created_at")?,
        last_used_at: get(row, "last_used_at")?,
        expires_at: get(row, "expires_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

pub(crate) fn scopes(scopes: &[Scope]) -> Vec<String> {
    scopes.iter().map(|s| s.as_str().to_string()).collect()
}

pub(crate) fn refresh_token(row: &Row) -> StoreResult<RefreshTokenRecord> {
    Ok(RefreshTokenRecord {
        id: get(row, "id")?,
        user_id: get(row, "user_id")?,
        family_id: get(row, "family_id")?,
        hash: get(row, "hash")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        used_at: get(row, "used_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

pub(crate) fn project(row: &Row) -> StoreResult<ProjectRecord> {
    let visibility: String = get(row, "visibility")?;
    let settings: serde_json::Value = get(row, "settings")?;
    Ok(ProjectRecord {
        id: get(row, "id")?,
        name: get(row, "name")?,
        description: get(row, "description")?,
        owner_id: get(row, "owner_id")?,
        visibility: Visibility::parse(&visibility).ok_or_else(|| bad("visibility", &visibility))?,
        settings: serde_json::from_value(settings)
            .map_err(|e| StoreError::database(format!("project settings: {e}")))?,
        deleted_at: get(row, "deleted_at")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

pub(crate) fn role(row: &Row, column: &str) -> StoreResult<Option<Role>> {
    let role: Option<String> = get(row, column)?;
    role.map(|r| Role::parse(&r).ok_or_else(|| bad("role", &r))).transpose()
}

pub(crate) fn context(row: &Row) -> StoreResult<ContextRecord> {
    Ok(ContextRecord {
        id: get(row, "id")?,
        project_id: get(row, "project_id")?,
        content: get(row, "content")?,
        content_hash: get(row, "content_hash")?,
        token_count: get(row, "token_count")?,
        source: get(row, "source")?,
        file_path: get(row, "file_path")?,
        parent_id: get(row, "parent_id")?,
        chunk_index: get(row, "chunk_index")?,
        metadata: get(row, "metadata")?,
        created_by: get(row, "created_by")?,
        accessed_count: get(row, "accessed_count")?,
        last_accessed: get(row, "last_accessed")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

pub(crate) fn job(row: &Row) -> StoreResult<JobRecord> {
    let status: String = get(row, "status")?;
    Ok(JobRecord {
        id: get(row, "id")?,
        kind: get(row, "kind")?,
        project_id: get(row, "project_id")?,
        created_by: get(row, "created_by")?,
        payload: get(row, "payload")?,
        status: JobStatus::parse(&status).ok_or_else(|| bad("job status", &status))?,
        progress: get(row, "progress")?,
        result: get(row, "result")?,
        error: get(row, "error")?,
        attempts: get(row, "attempts")?,
        max_attempts: get(row, "max_attempts")?,
        run_after: get(row, "run_after")?,
        lease_owner: get(row, "lease_owner")?,
        lease_until: get(row, "lease_until")?,
        cancel_requested: get(row, "cancel_requested")?,
        created_at: get(row, "created_at")?,
        started_at: get(row, "started_at")?,
        finished_at: get(row, "finished_at")?,
    })
}

/// Converts every row with `f`.
pub(crate) fn all<T>(rows: Vec<Row>, f: impl Fn(&Row) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    rows.iter().map(f).collect()
}
