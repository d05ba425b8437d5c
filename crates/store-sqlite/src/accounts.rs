//! Users, API keys and refresh tokens in SQLite.

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use tc_store::{
    ApiKeyRecord, RefreshOutcome, RefreshTokenRecord, StoreError, StoreResult, UserRecord,
};
use uuid::Uuid;

use crate::convert::{self, ms, opt_ms, scopes_text};
use crate::{audited, db_err};

const USER_COLS: &str =
    "id, email, name, password_hash, is_active, email_verified, created_at, updated_at";

pub(crate) async fn insert_user(pool: &SqlitePool, u: &UserRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO users (id, email, email_lower, name, password_hash, is_active, \
         email_verified, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(u.id.to_string())
    .bind(&u.email)
    .bind(u.email.to_lowercase())
    .bind(&u.name)
    .bind(&u.password_hash)
    .bind(u.is_active)
    .bind(u.email_verified)
    .bind(ms(u.created_at))
    .bind(ms(u.updated_at))
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn user_by_id(pool: &SqlitePool, id: Uuid) -> StoreResult<Option<UserRecord>> {
    let row = sqlx::query(audited(format!(
        "SELECT {USER_COLS} FROM users WHERE id = ?"
    )))
    .bind(id.to_string())
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(|r| convert::user(&r, "")).transpose()
}

pub(crate) async fn user_by_email(
    pool: &SqlitePool,
    email: &str,
) -> StoreResult<Option<UserRecord>> {
    let row = sqlx::query(audited(format!(
        "SELECT {USER_COLS} FROM users WHERE email_lower = ?"
    )))
    .bind(email.to_lowercase())
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(|r| convert::user(&r, "")).transpose()
}

pub(crate) async fn update_user_password(
    pool: &SqlitePool,
    id: Uuid,
    hash: &str,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let done = sqlx::query("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?")
        .bind(hash)
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

/// Sets one of the boolean account flags; `column` is one of a fixed set chosen by the caller in
/// this crate, never user input.
pub(crate) async fn set_user_flag(
    pool: &SqlitePool,
    id: Uuid,
    column: &'static str,
    value: bool,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let done = sqlx::query(audited(format!(
        "UPDATE users SET {column} = ?, updated_at = ? WHERE id = ?"
    )))
    .bind(value)
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

const KEY_COLS: &str = "k.id, k.user_id, k.name, k.prefix, k.hash, k.scopes, k.project_id, \
     k.created_at, k.last_used_at, k.expires_at, k.revoked_at";

async fn insert_api_key_on<'e, E>(exec: E, k: &ApiKeyRecord) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    sqlx::query(
        "INSERT INTO api_keys (id, user_id, name, prefix, hash, scopes, project_id, created_at, \
         last_used_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(k.id.to_string())
    .bind(k.user_id.to_string())
    .bind(&k.name)
    .bind(&k.prefix)
    .bind(&k.hash)
    .bind(scopes_text(&k.scopes))
    .bind(k.project_id.map(|p| p.to_string()))
    .bind(ms(k.created_at))
    .bind(opt_ms(k.last_used_at))
    .bind(opt_ms(k.expires_at))
    .bind(opt_ms(k.revoked_at))
    .execute(exec)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn insert_api_key(pool: &SqlitePool, k: &ApiKeyRecord) -> StoreResult<()> {
    insert_api_key_on(pool, k).await
}

pub(crate) async fn api_key_by_hash(
    pool: &SqlitePool,
    hash: &str,
) -> StoreResult<Option<(ApiKeyRecord, UserRecord)>> {
    let row = sqlx::query(audited(format!(
        "SELECT {KEY_COLS}, u.id AS u_id, u.email AS u_email, u.name AS u_name, \
         u.password_hash AS u_password_hash, u.is_active AS u_is_active, \
         u.email_verified AS u_email_verified, u.created_at AS u_created_at, \
         u.updated_at AS u_updated_at \
         FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.hash = ?"
    )))
    .bind(hash)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    match row {
        None => Ok(None),
        Some(r) => Ok(Some((convert::api_key(&r)?, convert::user(&r, "u_")?))),
    }
}

pub(crate) async fn api_key_by_id(
    pool: &SqlitePool,
    user_id: Uuid,
    id: Uuid,
) -> StoreResult<Option<ApiKeyRecord>> {
    let row = sqlx::query(audited(format!(
        "SELECT {KEY_COLS} FROM api_keys k WHERE k.id = ? AND k.user_id = ?"
    )))
    .bind(id.to_string())
    .bind(user_id.to_string())
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(|r| convert::api_key(&r)).transpose()
}

pub(crate) async fn list_api_keys(
    pool: &SqlitePool,
    user_id: Uuid,
) -> StoreResult<Vec<ApiKeyRecord>> {
    let rows = sqlx::query(audited(format!(
        "SELECT {KEY_COLS} FROM api_keys k WHERE k.user_id = ? AND k.revoked_at IS NULL \
         ORDER BY k.id"
    )))
    .bind(user_id.to_string())
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    rows.iter().map(convert::api_key).collect()
}

pub(crate) async fn revoke_api_key(
    pool: &SqlitePool,
    user_id: Uuid,
    id: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND user_id = ?",
    )
    .bind(ms(at))
    .bind(id.to_string())
    .bind(user_id.to_string())
    .execute(pool)
    .await
    .map_err(db_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) async fn rotate_api_key(
    pool: &SqlitePool,
    old_id: Uuid,
    old_expires_at: DateTime<Utc>,
    new_key: &ApiKeyRecord,
) -> StoreResult<DateTime<Utc>> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let row = sqlx::query(
        "UPDATE api_keys SET expires_at = MIN(COALESCE(expires_at, ?1), ?1) WHERE id = ?2 \
         RETURNING expires_at",
    )
    .bind(ms(old_expires_at))
    .bind(old_id.to_string())
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?
    .ok_or(StoreError::NotFound)?;
    let expires = convert::time_col(&row, "expires_at")?;
    insert_api_key_on(&mut *tx, new_key).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(expires)
}

pub(crate) async fn touch_api_keys(
    pool: &SqlitePool,
    uses: &[(Uuid, DateTime<Utc>)],
) -> StoreResult<()> {
    if uses.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await.map_err(db_err)?;
    for (id, at) in uses {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?",
        )
        .bind(ms(*at))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)
}

const REFRESH_COLS: &str =
    "id, user_id, family_id, hash, created_at, expires_at, used_at, revoked_at";

pub(crate) async fn insert_refresh_token(
    pool: &SqlitePool,
    t: &RefreshTokenRecord,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, user_id, family_id, hash, created_at, expires_at, \
         used_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(t.id.to_string())
    .bind(t.user_id.to_string())
    .bind(t.family_id.to_string())
    .bind(&t.hash)
    .bind(ms(t.created_at))
    .bind(ms(t.expires_at))
    .bind(opt_ms(t.used_at))
    .bind(opt_ms(t.revoked_at))
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn consume_refresh_token(
    pool: &SqlitePool,
    hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<RefreshOutcome> {
    // One conditional UPDATE decides the race: only the caller whose statement flips used_at
    // from NULL sees a row come back.
    let consumed = sqlx::query(audited(format!(
        "UPDATE refresh_tokens SET used_at = ?1 WHERE hash = ?2 AND used_at IS NULL \
         AND revoked_at IS NULL AND expires_at > ?1 RETURNING {REFRESH_COLS}"
    )))
    .bind(ms(now))
    .bind(hash)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    if let Some(row) = consumed {
        return Ok(RefreshOutcome::Consumed(convert::refresh_token(&row)?));
    }
    let existing = sqlx::query(audited(format!(
        "SELECT {REFRESH_COLS} FROM refresh_tokens WHERE hash = ?"
    )))
    .bind(hash)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    match existing {
        None => Ok(RefreshOutcome::Unknown),
        Some(row) => Ok(RefreshOutcome::Rejected(convert::refresh_token(&row)?)),
    }
}

/// Revokes the refresh tokens matching `column = id`; `column` is `family_id` or `user_id`.
pub(crate) async fn revoke_refresh(
    pool: &SqlitePool,
    column: &'static str,
    id: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(audited(format!(
        "UPDATE refresh_tokens SET revoked_at = ? WHERE {column} = ? AND revoked_at IS NULL"
    )))
    .bind(ms(at))
    .bind(id.to_string())
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(())
}
