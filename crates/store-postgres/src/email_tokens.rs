//! Single-use email tokens (password reset, email verification) in PostgreSQL.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tc_store::{EmailTokenPurpose, EmailTokenRecord, StoreResult};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::db::{self, client};
use crate::db_err;
use crate::rows;

const COLS: &str = "id, user_id, purpose, email, token_hash, created_at, expires_at, used_at";

fn record(r: &Row, purpose: EmailTokenPurpose) -> StoreResult<EmailTokenRecord> {
    Ok(EmailTokenRecord {
        id: rows::get(r, "id")?,
        user_id: rows::get(r, "user_id")?,
        purpose,
        email: rows::get(r, "email")?,
        token_hash: rows::get(r, "token_hash")?,
        created_at: rows::get(r, "created_at")?,
        expires_at: rows::get(r, "expires_at")?,
        used_at: rows::get(r, "used_at")?,
    })
}

async fn insert(pool: &Pool, t: &EmailTokenRecord) -> StoreResult<()> {
    db::execute(
        &client(pool).await?,
        &format!("INSERT INTO email_tokens ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
        &[
            &t.id,
            &t.user_id,
            &t.purpose.as_str(),
            &t.email.to_lowercase(),
            &t.token_hash,
            &t.created_at,
            &t.expires_at,
            &t.used_at,
        ],
    )
    .await?;
    Ok(())
}

async fn consume(
    pool: &Pool,
    purpose: EmailTokenPurpose,
    hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<EmailTokenRecord>> {
    let mut c = client(pool).await?;
    let tx = c.transaction().await.map_err(db_err)?;
    // The conditional UPDATE decides a race: the row lock makes a second caller wait, then see
    // used_at set and match nothing.
    let row = db::query_opt(
        &tx,
        &format!(
            "UPDATE email_tokens SET used_at = $1 WHERE token_hash = $2 AND purpose = $3 \
             AND used_at IS NULL AND expires_at > $1 RETURNING {COLS}"
        ),
        &[&now, &hash, &purpose.as_str()],
    )
    .await?;
    let spent = row.as_ref().map(|r| record(r, purpose)).transpose()?;
    if let Some(token) = &spent {
        db::execute(
            &tx,
            "UPDATE email_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 \
             AND used_at IS NULL",
            &[&now, &token.user_id, &purpose.as_str()],
        )
        .await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(spent)
}

async fn latest(
    pool: &Pool,
    user_id: Uuid,
    purpose: EmailTokenPurpose,
) -> StoreResult<Option<DateTime<Utc>>> {
    let row = db::query_one(
        &client(pool).await?,
        "SELECT max(created_at) AS at FROM email_tokens WHERE user_id = $1 AND purpose = $2",
        &[&user_id, &purpose.as_str()],
    )
    .await?;
    rows::get(&row, "at")
}

#[async_trait::async_trait]
impl tc_store::EmailTokenStore for crate::PgStore {
    async fn insert_email_token(&self, token: &EmailTokenRecord) -> StoreResult<()> {
        insert(&self.pool, token).await
    }
    async fn consume_email_token(
        &self,
        purpose: EmailTokenPurpose,
        hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<EmailTokenRecord>> {
        consume(&self.pool, purpose, hash, now).await
    }
    async fn latest_email_token_at(
        &self,
        user_id: Uuid,
        purpose: EmailTokenPurpose,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        latest(&self.pool, user_id, purpose).await
    }
}
