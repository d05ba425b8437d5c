//! Users, API keys and refresh tokens in PostgreSQL.

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool};
use tc_store::{
    ApiKeyRecord, RefreshOutcome, RefreshTokenRecord, StoreError, StoreResult, UserRecord,
};
use uuid::Uuid;

use crate::db::{self, client};
use crate::rows::{self, KEY_COLS, REFRESH_COLS, USER_COLS};
use crate::{db_err, expect_one};

pub(crate) async fn insert_user(pool: &Pool, u: &UserRecord) -> StoreResult<()> {
    db::execute(
        &client(pool).await?,
        "INSERT INTO users (id, email, email_lower, name, password_hash, is_active, \
         email_verified, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &u.id,
            &u.email,
            &u.email.to_lowercase(),
            &u.name,
            &u.password_hash,
            &u.is_active,
            &u.email_verified,
            &u.created_at,
            &u.updated_at,
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn user_by_id(pool: &Pool, id: Uuid) -> StoreResult<Option<UserRecord>> {
    let sql = format!("SELECT {USER_COLS} FROM users u WHERE u.id = $1");
    let row = db::query_opt(&client(pool).await?, &sql, &[&id]).await?;
    row.as_ref().map(rows::user).transpose()
}

pub(crate) async fn user_by_email(pool: &Pool, email: &str) -> StoreResult<Option<UserRecord>> {
    let sql = format!("SELECT {USER_COLS} FROM users u WHERE u.email_lower = $1");
    let row = db::query_opt(&client(pool).await?, &sql, &[&email.to_lowercase()]).await?;
    row.as_ref().map(rows::user).transpose()
}

pub(crate) async fn update_user_password(
    pool: &Pool,
    id: Uuid,
    hash: &str,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let changed = db::execute(
        &client(pool).await?,
        "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3",
        &[&hash, &at, &id],
    )
    .await?;
    expect_one(changed)
}

/// The boolean account flags an operator can set.
#[derive(Debug, Clone, Copy)]
pub(crate) enum UserFlag {
    Active,
    EmailVerified,
}

pub(crate) async fn set_user_flag(
    pool: &Pool,
    id: Uuid,
    flag: UserFlag,
    value: bool,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let sql = match flag {
        UserFlag::Active => "UPDATE users SET is_active = $1, updated_at = $2 WHERE id = $3",
        UserFlag::EmailVerified => {
            "UPDATE users SET email_verified = $1, updated_at = $2 WHERE id = $3"
        }
    };
    expect_one(db::execute(&client(pool).await?, sql, &[&value, &at, &id]).await?)
}

pub(crate) async fn insert_api_key(c: &impl GenericClient, k: &ApiKeyRecord) -> StoreResult<()> {
    db::execute(
        c,
        "INSERT INTO api_keys (id, user_id, name, prefix, hash, scopes, project_id, created_at, \
         last_used_at, expires_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &k.id,
            &k.user_id,
            &k.name,
            &k.prefix,
            &k.hash,
            &rows::scopes(&k.scopes),
            &k.project_id,
            &k.created_at,
            &k.last_used_at,
            &k.expires_at,
            &k.revoked_at,
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn api_key_by_hash(
    pool: &Pool,
    hash: &str,
) -> StoreResult<Option<(ApiKeyRecord, UserRecord)>> {
    let sql = format!(
        "SELECT {KEY_COLS}, {USER_COLS} FROM api_keys k JOIN users u ON u.id = k.user_id \
         WHERE k.hash = $1"
    );
    let row = db::query_opt(&client(pool).await?, &sql, &[&hash]).await?;
    row.map(|r| Ok((rows::api_key(&r)?, rows::user(&r)?))).transpose()
}

pub(crate) async fn api_key_by_id(
    pool: &Pool,
    user_id: Uuid,
    id: Uuid,
) -> StoreResult<Option<ApiKeyRecord>> {
    let sql = format!("SELECT {KEY_COLS} FROM api_keys k WHERE k.id = $1 AND k.user_id = $2");
    let row = db::query_opt(&client(pool).await?, &sql, &[&id, &user_id]).await?;
    row.as_ref().map(rows::api_key).transpose()
}

pub(crate) async fn list_api_keys(pool: &Pool, user_id: Uuid) -> StoreResult<Vec<ApiKeyRecord>> {
    let sql = format!(
        "SELECT {KEY_COLS} FROM api_keys k WHERE k.user_id = $1 AND k.revoked_at IS NULL \
         ORDER BY k.id"
    );
    rows::all(db::query(&client(pool).await?, &sql, &[&user_id]).await?, rows::api_key)
}

pub(crate) async fn revoke_api_key(
    pool: &Pool,
    user_id: Uuid,
    id: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let changed = db::execute(
        &client(pool).await?,
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND user_id = $3",
        &[&at, &id, &user_id],
    )
    .await?;
    expect_one(changed)
}

pub(crate) async fn rotate_api_key(
    pool: &Pool,
    old_id: Uuid,
    old_expires_at: DateTime<Utc>,
    new_key: &ApiKeyRecord,
) -> StoreResult<DateTime<Utc>> {
    let mut c = client(pool).await?;
    let tx = c.transaction().await.map_err(db_err)?;
    let row = db::query_opt(
        &tx,
        "UPDATE api_keys SET expires_at = LEAST(COALESCE(expires_at, $1), $1) WHERE id = $2 \
         RETURNING expires_at",
        &[&old_expires_at, &old_id],
    )
    .await?;
    let expires: DateTime<Utc> = rows::get(&row.ok_or(StoreError::NotFound)?, "expires_at")?;
    insert_api_key(&tx, new_key).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(expires)
}

pub(crate) async fn touch_api_keys(pool: &Pool, uses: &[(Uuid, DateTime<Utc>)]) -> StoreResult<()> {
    if uses.is_empty() {
        return Ok(());
    }
    let (ids, times): (Vec<Uuid>, Vec<DateTime<Utc>>) = uses.iter().copied().unzip();
    // One statement for the batch; the latest use of each key wins, and never goes backwards.
    db::execute(
        &client(pool).await?,
        "UPDATE api_keys k SET last_used_at = GREATEST(k.last_used_at, u.at) \
         FROM (SELECT id, max(at) AS at FROM unnest($1::uuid[], $2::timestamptz[]) AS t (id, at) \
               GROUP BY id) u \
         WHERE k.id = u.id",
        &[&ids, &times],
    )
    .await?;
    Ok(())
}

pub(crate) async fn insert_refresh_token(pool: &Pool, t: &RefreshTokenRecord) -> StoreResult<()> {
    db::execute(
        &client(pool).await?,
        "INSERT INTO refresh_tokens (id, user_id, family_id, hash, created_at, expires_at, \
         used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &t.id,
            &t.user_id,
            &t.family_id,
            &t.hash,
            &t.created_at,
            &t.expires_at,
            &t.used_at,
            &t.revoked_at,
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn consume_refresh_token(
    pool: &Pool,
    hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<RefreshOutcome> {
    let c = client(pool).await?;
    // One conditional UPDATE decides the race: the row lock makes a concurrent caller wait and
    // then re-check `used_at IS NULL`, which it fails.
    let consume = format!(
        "UPDATE refresh_tokens SET used_at = $1 WHERE hash = $2 AND used_at IS NULL \
         AND revoked_at IS NULL AND expires_at > $1 RETURNING {REFRESH_COLS}"
    );
    if let Some(row) = db::query_opt(&c, &consume, &[&now, &hash]).await? {
        return Ok(RefreshOutcome::Consumed(rows::refresh_token(&row)?));
    }
    let existing = format!("SELECT {REFRESH_COLS} FROM refresh_tokens WHERE hash = $1");
    Ok(match db::query_opt(&c, &existing, &[&hash]).await? {
        None => RefreshOutcome::Unknown,
        Some(row) => RefreshOutcome::Rejected(rows::refresh_token(&row)?),
    })
}

/// Which refresh tokens a revocation covers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RefreshScope {
    Family,
    User,
}

pub(crate) async fn revoke_refresh(
    pool: &Pool,
    scope: RefreshScope,
    id: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let sql = match scope {
        RefreshScope::Family => {
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL"
        }
        RefreshScope::User => {
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL"
        }
    };
    // Twice, as two statements: a refresh that spent a token of this family just before the
    // first UPDATE's snapshot may insert its successor while that UPDATE runs, unseen by it;
    // the refresh then re-reads the spent token and still finds it live (the first UPDATE has
    // not committed), so nothing else would revoke the successor. The second UPDATE starts
    // after the first committed and sees it. A successor inserted later finds its spent
    // parent revoked and revokes itself (the domain's refresh).
    let c = client(pool).await?;
    db::execute(&c, sql, &[&at, &id]).await?;
    db::execute(&c, sql, &[&at, &id]).await?;
    Ok(())
}

#[async_trait::async_trait]
impl tc_store::AccountStore for crate::PgStore {
    async fn insert_user(&self, user: &tc_store::UserRecord) -> tc_store::StoreResult<()> {
        insert_user(&self.pool, user).await
    }
    async fn user_by_id(
        &self,
        id: uuid::Uuid,
    ) -> tc_store::StoreResult<Option<tc_store::UserRecord>> {
        user_by_id(&self.pool, id).await
    }
    async fn user_by_email(
        &self,
        email: &str,
    ) -> tc_store::StoreResult<Option<tc_store::UserRecord>> {
        user_by_email(&self.pool, email).await
    }
    async fn update_user_password(
        &self,
        id: uuid::Uuid,
        password_hash: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<()> {
        update_user_password(&self.pool, id, password_hash, at).await
    }
    async fn set_user_active(
        &self,
        id: uuid::Uuid,
        active: bool,
        at: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<()> {
        set_user_flag(&self.pool, id, UserFlag::Active, active, at).await
    }
    async fn set_user_email_verified(
        &self,
        id: uuid::Uuid,
        verified: bool,
        at: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<()> {
        set_user_flag(&self.pool, id, UserFlag::EmailVerified, verified, at).await
    }
    async fn insert_api_key(&self, key: &tc_store::ApiKeyRecord) -> tc_store::StoreResult<()> {
        insert_api_key(&db::client(&self.pool).await?, key).await
    }
    async fn api_key_by_hash(
        &self,
        hash: &str,
    ) -> tc_store::StoreResult<Option<(tc_store::ApiKeyRecord, tc_store::UserRecord)>> {
        api_key_by_hash(&self.pool, hash).await
    }
    async fn api_key_by_id(
        &self,
        user_id: uuid::Uuid,
        id: uuid::Uuid,
    ) -> tc_store::StoreResult<Option<tc_store::ApiKeyRecord>> {
        api_key_by_id(&self.pool, user_id, id).await
    }
    async fn list_api_keys(
        &self,
        user_id: uuid::Uuid,
    ) -> tc_store::StoreResult<Vec<tc_store::ApiKeyRecord>> {
        list_api_keys(&self.pool, user_id).await
    }
    async fn revoke_api_key(
        &self,
        user_id: uuid::Uuid,
        id: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<()> {
        revoke_api_key(&self.pool, user_id, id, at).await
    }
    async fn rotate_api_key(
        &self,
        old_id: uuid::Uuid,
        old_expires_at: chrono::DateTime<chrono::Utc>,
        new_key: &tc_store::ApiKeyRecord,
    ) -> tc_store::StoreResult<chrono::DateTime<chrono::Utc>> {
        rotate_api_key(&self.pool, old_id, old_expires_at, new_key).await
    }
    async fn touch_api_keys(
        &self,
        uses: &[(uuid::Uuid, chrono::DateTime<chrono::Utc>)],
    ) -> tc_store::StoreResult<()> {
        touch_api_keys(&self.pool, uses).await
    }
    async fn insert_refresh_token(
        &self,
        token: &tc_store::RefreshTokenRecord,
    ) -> tc_store::StoreResult<()> {
        insert_refresh_token(&self.pool, token).await
    }
    async fn consume_refresh_token(
        &self,
        hash: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<tc_store::RefreshOutcome> {
        consume_refresh_token(&self.pool, hash, now).await
    }
    async fn revoke_refresh_family(
        &self,
        family_id: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<()> {
        revoke_refresh(&self.pool, RefreshScope::Family, family_id, at).await
    }
    async fn revoke_user_refresh_tokens(
        &self,
        user_id: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<()> {
        revoke_refresh(&self.pool, RefreshScope::User, user_id, at).await
    }
}
