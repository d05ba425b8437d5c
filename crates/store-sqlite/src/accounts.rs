//! Users, API keys and refresh tokens in SQLite.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use tc_store::{
    ApiKeyRecord, RefreshOutcome, RefreshTokenRecord, StoreError, StoreResult, UserRecord,
};
use uuid::Uuid;

use crate::convert::{self, KEY_COLS, REFRESH_COLS, USER_COLS_PREFIXED, ms, opt_ms, scopes_text};
use crate::db_err;

fn expect_one(changed: usize) -> StoreResult<()> {
    if changed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

pub(crate) fn insert_user(c: &Connection, u: &UserRecord) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO users (id, email, email_lower, name, password_hash, is_active, \
         email_verified, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .and_then(|mut s| {
        s.execute(params![
            u.id.to_string(),
            u.email,
            u.email.to_lowercase(),
            u.name,
            u.password_hash,
            u.is_active,
            u.email_verified,
            ms(u.created_at),
            ms(u.updated_at)
        ])
    })
    .map_err(db_err)?;
    Ok(())
}

fn user_where(c: &Connection, condition: &str, value: String) -> StoreResult<Option<UserRecord>> {
    let mut stmt = c
        .prepare_cached(&format!("SELECT {USER_COLS_PREFIXED} FROM users u WHERE {condition}"))
        .map_err(db_err)?;
    convert::first(stmt.query([value]).map_err(db_err)?, |r| convert::user(r, "u_"))
}

pub(crate) fn user_by_id(c: &Connection, id: Uuid) -> StoreResult<Option<UserRecord>> {
    user_where(c, "u.id = ?", id.to_string())
}

pub(crate) fn user_by_email(c: &Connection, email: &str) -> StoreResult<Option<UserRecord>> {
    user_where(c, "u.email_lower = ?", email.to_lowercase())
}

pub(crate) fn update_user_password(
    c: &Connection,
    id: Uuid,
    hash: &str,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let changed = c
        .execute(
            "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?",
            params![hash, ms(at), id.to_string()],
        )
        .map_err(db_err)?;
    expect_one(changed)
}

/// The boolean account flags an operator can set.
#[derive(Debug, Clone, Copy)]
pub(crate) enum UserFlag {
    Active,
    EmailVerified,
}

pub(crate) fn set_user_flag(
    c: &Connection,
    id: Uuid,
    flag: UserFlag,
    value: bool,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let sql = match flag {
        UserFlag::Active => "UPDATE users SET is_active = ?, updated_at = ? WHERE id = ?",
        UserFlag::EmailVerified => {
            "UPDATE users SET email_verified = ?, updated_at = ? WHERE id = ?"
        }
    };
    let changed = c.execute(sql, params![value, ms(at), id.to_string()]).map_err(db_err)?;
    expect_one(changed)
}

pub(crate) fn insert_api_key(c: &Connection, k: &ApiKeyRecord) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO api_keys (id, user_id, name, prefix, hash, scopes, project_id, created_at, \
         last_used_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .and_then(|mut s| {
        s.execute(params![
            k.id.to_string(),
            k.user_id.to_string(),
            k.name,
            k.prefix,
            k.hash,
            scopes_text(&k.scopes),
            k.project_id.map(|p| p.to_string()),
            ms(k.created_at),
            opt_ms(k.last_used_at),
            opt_ms(k.expires_at),
            opt_ms(k.revoked_at)
        ])
    })
    .map_err(db_err)?;
    Ok(())
}

pub(crate) fn api_key_by_hash(
    c: &Connection,
    hash: &str,
) -> StoreResult<Option<(ApiKeyRecord, UserRecord)>> {
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {KEY_COLS}, {USER_COLS_PREFIXED} FROM api_keys k \
             JOIN users u ON u.id = k.user_id WHERE k.hash = ?"
        ))
        .map_err(db_err)?;
    convert::first(stmt.query([hash]).map_err(db_err)?, |r| {
        Ok((convert::api_key(r)?, convert::user(r, "u_")?))
    })
}

pub(crate) fn api_key_by_id(
    c: &Connection,
    user_id: Uuid,
    id: Uuid,
) -> StoreResult<Option<ApiKeyRecord>> {
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {KEY_COLS} FROM api_keys k WHERE k.id = ? AND k.user_id = ?"
        ))
        .map_err(db_err)?;
    convert::first(
        stmt.query([id.to_string(), user_id.to_string()]).map_err(db_err)?,
        convert::api_key,
    )
}

pub(crate) fn list_api_keys(c: &Connection, user_id: Uuid) -> StoreResult<Vec<ApiKeyRecord>> {
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {KEY_COLS} FROM api_keys k WHERE k.user_id = ? AND k.revoked_at IS NULL ORDER BY k.id"
        ))
        .map_err(db_err)?;
    convert::collect(stmt.query([user_id.to_string()]).map_err(db_err)?, convert::api_key)
}

pub(crate) fn revoke_api_key(
    c: &Connection,
    user_id: Uuid,
    id: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let changed = c
        .execute(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND user_id = ?",
            params![ms(at), id.to_string(), user_id.to_string()],
        )
        .map_err(db_err)?;
    expect_one(changed)
}

pub(crate) fn rotate_api_key(
    c: &mut Connection,
    old_id: Uuid,
    old_expires_at: DateTime<Utc>,
    new_key: &ApiKeyRecord,
) -> StoreResult<DateTime<Utc>> {
    let tx = c.transaction().map_err(db_err)?;
    let expires: Option<i64> = tx
        .query_row(
            "UPDATE api_keys SET expires_at = MIN(COALESCE(expires_at, ?1), ?1) WHERE id = ?2 \
             RETURNING expires_at",
            params![ms(old_expires_at), old_id.to_string()],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err)?;
    let expires = expires.ok_or(StoreError::NotFound)?;
    insert_api_key(&tx, new_key)?;
    tx.commit().map_err(db_err)?;
    chrono::TimeZone::timestamp_millis_opt(&Utc, expires)
        .single()
        .ok_or_else(|| StoreError::database(format!("timestamp out of range: {expires}")))
}

pub(crate) fn touch_api_keys(
    c: &mut Connection,
    uses: &[(Uuid, DateTime<Utc>)],
) -> StoreResult<()> {
    if uses.is_empty() {
        return Ok(());
    }
    let tx = c.transaction().map_err(db_err)?;
    {
        let mut stmt = tx
            .prepare_cached(
                "UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?",
            )
            .map_err(db_err)?;
        for (id, at) in uses {
            stmt.execute(params![ms(*at), id.to_string()]).map_err(db_err)?;
        }
    }
    tx.commit().map_err(db_err)
}

pub(crate) fn insert_refresh_token(c: &Connection, t: &RefreshTokenRecord) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO refresh_tokens (id, user_id, family_id, hash, created_at, expires_at, \
         used_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .and_then(|mut s| {
        s.execute(params![
            t.id.to_string(),
            t.user_id.to_string(),
            t.family_id.to_string(),
            t.hash,
            ms(t.created_at),
            ms(t.expires_at),
            opt_ms(t.used_at),
            opt_ms(t.revoked_at)
        ])
    })
    .map_err(db_err)?;
    Ok(())
}

pub(crate) fn consume_refresh_token(
    c: &Connection,
    hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<RefreshOutcome> {
    // One conditional UPDATE decides the race: only the caller whose statement flips used_at
    // from NULL gets the row back.
    let mut consume = c
        .prepare_cached(&format!(
            "UPDATE refresh_tokens SET used_at = ?1 WHERE hash = ?2 AND used_at IS NULL \
             AND revoked_at IS NULL AND expires_at > ?1 RETURNING {REFRESH_COLS}"
        ))
        .map_err(db_err)?;
    if let Some(record) = convert::first(
        consume.query(params![ms(now), hash]).map_err(db_err)?,
        convert::refresh_token,
    )? {
        return Ok(RefreshOutcome::Consumed(record));
    }
    let mut existing = c
        .prepare_cached(&format!("SELECT {REFRESH_COLS} FROM refresh_tokens WHERE hash = ?"))
        .map_err(db_err)?;
    match convert::first(existing.query([hash]).map_err(db_err)?, convert::refresh_token)? {
        None => Ok(RefreshOutcome::Unknown),
        Some(record) => Ok(RefreshOutcome::Rejected(record)),
    }
}

/// Which refresh tokens a revocation covers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RefreshScope {
    Family,
    User,
}

pub(crate) fn revoke_refresh(
    c: &Connection,
    scope: RefreshScope,
    id: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let sql = match scope {
        RefreshScope::Family => {
            "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL"
        }
        RefreshScope::User => {
            "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL"
        }
    };
    c.execute(sql, params![ms(at), id.to_string()]).map_err(db_err)?;
    Ok(())
}

#[async_trait::async_trait]
impl tc_store::AccountStore for crate::SqliteStore {
    async fn insert_user(&self, user: &tc_store::UserRecord) -> tc_store::StoreResult<()> {
        let user = user.clone();
        self.write(move |c| insert_user(c, &user)).await
    }
    async fn user_by_id(
        &self,
        id: uuid::Uuid,
    ) -> tc_store::StoreResult<Option<tc_store::UserRecord>> {
        self.read(|c| user_by_id(c, id))
    }
    async fn user_by_email(
        &self,
        email: &str,
    ) -> tc_store::StoreResult<Option<tc_store::UserRecord>> {
        self.read(|c| user_by_email(c, email))
    }
    async fn update_user_password(
        &self,
        id: uuid::Uuid,
        password_hash: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<()> {
        let hash = password_hash.to_string();
        self.write(move |c| update_user_password(c, id, &hash, at)).await
    }
    async fn set_user_active(
        &self,
        id: uuid::Uuid,
        active: bool,
        at: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<()> {
        self.write(move |c| set_user_flag(c, id, UserFlag::Active, active, at)).await
    }
    async fn set_user_email_verified(
        &self,
        id: uuid::Uuid,
        verified: bool,
        at: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<()> {
        self.write(move |c| set_user_flag(c, id, UserFlag::EmailVerified, verified, at)).await
    }
    async fn insert_api_key(&self, key: &tc_store::ApiKeyRecord) -> tc_store::StoreResult<()> {
        let key = key.clone();
        self.write(move |c| insert_api_key(c, &key)).await
    }
    async fn api_key_by_hash(
        &self,
        hash: &str,
    ) -> tc_store::StoreResult<Option<(tc_store::ApiKeyRecord, tc_store::UserRecord)>> {
        self.read(|c| api_key_by_hash(c, hash))
    }
    async fn api_key_by_id(
        &self,
        user_id: uuid::Uuid,
        id: uuid::Uuid,
    ) -> tc_store::StoreResult<Option<tc_store::ApiKeyRecord>> {
        self.read(|c| api_key_by_id(c, user_id, id))
    }
    async fn list_api_keys(
        &self,
        user_id: uuid::Uuid,
    ) -> tc_store::StoreResult<Vec<tc_store::ApiKeyRecord>> {
        self.read(|c| list_api_keys(c, user_id))
    }
    async fn revoke_api_key(
        &self,
        user_id: uuid::Uuid,
        id: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<()> {
        self.write(move |c| revoke_api_key(c, user_id, id, at)).await
    }
    async fn rotate_api_key(
        &self,
        old_id: uuid::Uuid,
        old_expires_at: chrono::DateTime<chrono::Utc>,
        new_key: &tc_store::ApiKeyRecord,
    ) -> tc_store::StoreResult<chrono::DateTime<chrono::Utc>> {
        let new_key = new_key.clone();
        self.write(move |c| rotate_api_key(c, old_id, old_expires_at, &new_key)).await
    }
    async fn touch_api_keys(
        &self,
        uses: &[(uuid::Uuid, chrono::DateTime<chrono::Utc>)],
    ) -> tc_store::StoreResult<()> {
        let uses = uses.to_vec();
        self.write(move |c| touch_api_keys(c, &uses)).await
    }
    async fn insert_refresh_token(
        &self,
        token: &tc_store::RefreshTokenRecord,
    ) -> tc_store::StoreResult<()> {
        let token = token.clone();
        self.write(move |c| insert_refresh_token(c, &token)).await
    }
    async fn consume_refresh_token(
        &self,
        hash: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<tc_store::RefreshOutcome> {
        let hash = hash.to_string();
        self.write(move |c| consume_refresh_token(c, &hash, now)).await
    }
    async fn revoke_refresh_family(
        &self,
        family_id: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<()> {
        self.write(move |c| revoke_refresh(c, RefreshScope::Family, family_id, at)).await
    }
    async fn revoke_user_refresh_tokens(
        &self,
        user_id: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<()> {
        self.write(move |c| revoke_refresh(c, RefreshScope::User, user_id, at)).await
    }
}
