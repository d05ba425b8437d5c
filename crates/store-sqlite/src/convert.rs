//! Conversions between SQLite values and store records: millisecond timestamps, UUID text, and
//! the row-to-record mappings shared by the query modules. Column lists live next to the
//! mappings that read them so the two cannot drift apart.

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Row;
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

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::database(format!("unexpected stored value: {what}"))
}

fn time(v: i64) -> StoreResult<DateTime<Utc>> {
    Utc.timestamp_millis_opt(v).single().ok_or_else(|| corrupt(format!("timestamp {v}")))
}

pub(crate) fn get<T: rusqlite::types::FromSql>(row: &Row<'_>, col: &str) -> StoreResult<T> {
    row.get(col).map_err(db_err)
}

pub(crate) fn get_uuid(row: &Row<'_>, col: &str) -> StoreResult<Uuid> {
    let text: String = get(row, col)?;
    Uuid::parse_str(&text).map_err(|_| corrupt(format!("uuid {text:?}")))
}

pub(crate) fn get_opt_uuid(row: &Row<'_>, col: &str) -> StoreResult<Option<Uuid>> {
    let text: Option<String> = get(row, col)?;
    text.map(|t| Uuid::parse_str(&t).map_err(|_| corrupt(format!("uuid {t:?}")))).transpose()
}

pub(crate) fn get_time(row: &Row<'_>, col: &str) -> StoreResult<DateTime<Utc>> {
    time(get(row, col)?)
}

pub(crate) fn get_opt_time(row: &Row<'_>, col: &str) -> StoreResult<Option<DateTime<Utc>>> {
    get::<Option<i64>>(row, col)?.map(time).transpose()
}

pub(crate) fn get_role(row: &Row<'_>, col: &str) -> StoreResult<Option<Role>> {
    let text: Option<String> = get(row, col)?;
    text.map(|t| Role::parse(&t).ok_or_else(|| corrupt(format!("role {t:?}")))).transpose()
}

pub(crate) fn scopes_text(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
}

/// Columns of `users` aliased with a `u_` prefix, for joins.
pub(crate) const USER_COLS_PREFIXED: &str = "u.id AS u_id, u.email AS u_email, u.name AS u_name, \
     u.password_hash AS u_password_hash, u.is_active AS u_is_active, \
     u.email_verified AS u_email_verified, u.created_at AS u_created_at, \
     u.updated_at AS u_updated_at";

/// A user from columns named `{prefix}id`, `{prefix}email`, ….
pub(crate) fn user(row: &Row<'_>, prefix: &str) -> StoreResult<UserRecord> {
    let c = |name: &str| format!("{prefix}{name}");
    Ok(UserRecord {
        id: get_uuid(row, &c("id"))?,
        email: get(row, &c("email"))?,
        name: get(row, &c("name"))?,
        password_hash: get(row, &c("password_hash"))?,
        is_active: get(row, &c("is_active"))?,
        email_verified: get(row, &c("email_verified"))?,
        created_at: get_time(row, &c("created_at"))?,
        updated_at: get_time(row, &c("updated_at"))?,
    })
}

pub(crate) const KEY_COLS: &str = "k.id, k.user_id, k.name, k.prefix, k.hash, k.scopes, \
     k.project_id, k.created_at, k.last_used_at, k.expires_at, k.revoked_at";

pub(crate) fn api_key(row: &Row<'_>) -> StoreResult<ApiKeyRecord> {
    let scopes_text: String = get(row, "scopes")?;
    let mut scopes = Vec::new();
    for s in scopes_text.split(',').filter(|s| !s.is_empty()) {
        scopes.push(Scope::parse(s).ok_or_else(|| corrupt(format!("scope {s:?}")))?);
    }
    Ok(ApiKeyRecord {
        id: get_uuid(row, "id")?,
        user_id: get_uuid(row, "user_id")?,
        name: get(row, "name")?,
        prefix: get(row, "prefix")?,
        hash: get(row, "hash")?,
        scopes,
        project_id: get_opt_uuid(row, "project_id")?,
        created_at: get_time(row, "created_at")?,
        last_used_at: get_opt_time(row, "last_used_at")?,
        expires_at: get_opt_time(row, "expires_at")?,
        revoked_at: get_opt_time(row, "revoked_at")?,
    })
}

pub(crate) const REFRESH_COLS: &str =
    "id, user_id, family_id, hash, created_at, expires_at, used_at, revoked_at";

pub(crate) fn refresh_token(row: &Row<'_>) -> StoreResult<RefreshTokenRecord> {
    Ok(RefreshTokenRecord {
        id: get_uuid(row, "id")?,
        user_id: get_uuid(row, "user_id")?,
        family_id: get_uuid(row, "family_id")?,
        hash: get(row, "hash")?,
        created_at: get_time(row, "created_at")?,
        expires_at: get_time(row, "expires_at")?,
        used_at: get_opt_time(row, "used_at")?,
        revoked_at: get_opt_time(row, "revoked_at")?,
    })
}

pub(crate) const PROJECT_COLS: &str = "p.id, p.name, p.description, p.owner_id, p.visibility, \
     p.settings, p.deleted_at, p.created_at, p.updated_at";

pub(crate) fn project(row: &Row<'_>) -> StoreResult<ProjectRecord> {
    let visibility: String = get(row, "visibility")?;
    let settings: String = get(row, "settings")?;
    Ok(ProjectRecord {
        id: get_uuid(row, "id")?,
        name: get(row, "name")?,
        description: get(row, "description")?,
        owner_id: get_uuid(row, "owner_id")?,
        visibility: Visibility::parse(&visibility)
            .ok_or_else(|| corrupt(format!("visibility {visibility:?}")))?,
        settings: serde_json::from_str(&settings).map_err(|e| corrupt(format!("settings: {e}")))?,
        deleted_at: get_opt_time(row, "deleted_at")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

/// Collects mapped rows, turning the first mapping failure into the result.
pub(crate) fn collect<T>(
    mut rows: rusqlite::Rows<'_>,
    map: impl Fn(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db_err)? {
        out.push(map(row)?);
    }
    Ok(out)
}

/// The first mapped row, if any.
pub(crate) fn first<T>(
    mut rows: rusqlite::Rows<'_>,
    map: impl Fn(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    match rows.next().map_err(db_err)? {
        Some(row) => Ok(Some(map(row)?)),
        None => Ok(None),
    }
}
