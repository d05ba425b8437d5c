//! Conversions between SQLite column values and store records: millisecond timestamps, UUID text,
//! and the row-to-record mappings shared by the query modules.

use chrono::{DateTime, TimeZone, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use tc_store::{
    ApiKeyRecord, ProjectRecord, RefreshTokenRecord, Role, Scope, StoreError, StoreResult,
    UserRecord, Visibility,
};
use uuid::Uuid;

use crate::db_err;

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn opt_ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(ms)
}

fn time(v: i64) -> StoreResult<DateTime<Utc>> {
    Utc.timestamp_millis_opt(v)
        .single()
        .ok_or_else(|| StoreError::Database(format!("timestamp out of range: {v}")))
}

fn opt_time(v: Option<i64>) -> StoreResult<Option<DateTime<Utc>>> {
    v.map(time).transpose()
}

fn uuid(s: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(s).map_err(|e| StoreError::Database(format!("bad uuid {s:?}: {e}")))
}

pub(crate) fn get_uuid(row: &SqliteRow, col: &str) -> StoreResult<Uuid> {
    uuid(&row.try_get::<String, _>(col).map_err(db_err)?)
}

fn get_opt_uuid(row: &SqliteRow, col: &str) -> StoreResult<Option<Uuid>> {
    row.try_get::<Option<String>, _>(col)
        .map_err(db_err)?
        .as_deref()
        .map(uuid)
        .transpose()
}

fn get_time(row: &SqliteRow, col: &str) -> StoreResult<DateTime<Utc>> {
    time(row.try_get(col).map_err(db_err)?)
}

fn get_opt_time(row: &SqliteRow, col: &str) -> StoreResult<Option<DateTime<Utc>>> {
    opt_time(row.try_get(col).map_err(db_err)?)
}

fn get_str(row: &SqliteRow, col: &str) -> StoreResult<String> {
    row.try_get(col).map_err(db_err)
}

pub(crate) fn scopes_text(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn user(row: &SqliteRow, prefix: &str) -> StoreResult<UserRecord> {
    let c = |name: &str| format!("{prefix}{name}");
    Ok(UserRecord {
        id: get_uuid(row, &c("id"))?,
        email: get_str(row, &c("email"))?,
        name: get_str(row, &c("name"))?,
        password_hash: get_str(row, &c("password_hash"))?,
        is_active: row
            .try_get::<bool, _>(c("is_active").as_str())
            .map_err(db_err)?,
        email_verified: row
            .try_get::<bool, _>(c("email_verified").as_str())
            .map_err(db_err)?,
        created_at: get_time(row, &c("created_at"))?,
        updated_at: get_time(row, &c("updated_at"))?,
    })
}

pub(crate) fn api_key(row: &SqliteRow) -> StoreResult<ApiKeyRecord> {
    let scopes_text = get_str(row, "scopes")?;
    let mut scopes = Vec::new();
    for s in scopes_text.split(',').filter(|s| !s.is_empty()) {
        scopes
            .push(Scope::parse(s).ok_or_else(|| StoreError::Database(format!("bad scope {s:?}")))?);
    }
    Ok(ApiKeyRecord {
        id: get_uuid(row, "id")?,
        user_id: get_uuid(row, "user_id")?,
        name: get_str(row, "name")?,
        prefix: get_str(row, "prefix")?,
        hash: get_str(row, "hash")?,
        scopes,
        project_id: get_opt_uuid(row, "project_id")?,
        created_at: get_time(row, "created_at")?,
        last_used_at: get_opt_time(row, "last_used_at")?,
        expires_at: get_opt_time(row, "expires_at")?,
        revoked_at: get_opt_time(row, "revoked_at")?,
    })
}

pub(crate) fn refresh_token(row: &SqliteRow) -> StoreResult<RefreshTokenRecord> {
    Ok(RefreshTokenRecord {
        id: get_uuid(row, "id")?,
        user_id: get_uuid(row, "user_id")?,
        family_id: get_uuid(row, "family_id")?,
        hash: get_str(row, "hash")?,
        created_at: get_time(row, "created_at")?,
        expires_at: get_time(row, "expires_at")?,
        used_at: get_opt_time(row, "used_at")?,
        revoked_at: get_opt_time(row, "revoked_at")?,
    })
}

pub(crate) fn project(row: &SqliteRow) -> StoreResult<ProjectRecord> {
    let visibility = get_str(row, "visibility")?;
    let settings = get_str(row, "settings")?;
    Ok(ProjectRecord {
        id: get_uuid(row, "id")?,
        name: get_str(row, "name")?,
        description: get_str(row, "description")?,
        owner_id: get_uuid(row, "owner_id")?,
        visibility: Visibility::parse(&visibility)
            .ok_or_else(|| StoreError::Database(format!("bad visibility {visibility:?}")))?,
        settings: serde_json::from_str(&settings)
            .map_err(|e| StoreError::Database(format!("bad project settings: {e}")))?,
        deleted_at: get_opt_time(row, "deleted_at")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

pub(crate) fn role(row: &SqliteRow, col: &str) -> StoreResult<Option<Role>> {
    let text: Option<String> = row.try_get(col).map_err(db_err)?;
    match text {
        None => Ok(None),
        Some(t) => Role::parse(&t)
            .map(Some)
            .ok_or_else(|| StoreError::Database(format!("bad role {t:?}"))),
    }
}

pub(crate) fn time_col(row: &SqliteRow, col: &str) -> StoreResult<DateTime<Utc>> {
    get_time(row, col)
}
