//! Browser sessions of the web dashboard, in PostgreSQL.

use chrono::{DateTime, Utc};
use tc_store::{StoreResult, WebSessionRecord};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::db::{self, client};
use crate::rows;

const COLS: &str = "id, user_id, hash, created_at, last_seen_at, expires_at, revoked_at";

fn record(r: &Row) -> StoreResult<WebSessionRecord> {
    Ok(WebSessionRecord {
        id: rows::get(r, "id")?,
        user_id: rows::get(r, "user_id")?,
        hash: rows::get(r, "hash")?,
        created_at: rows::get(r, "created_at")?,
        last_seen_at: rows::get(r, "last_seen_at")?,
        expires_at: rows::get(r, "expires_at")?,
        revoked_at: rows::get(r, "revoked_at")?,
    })
}

#[async_trait::async_trait]
impl tc_store::WebSessionStore for crate::PgStore {
    async fn insert_web_session(&self, s: &WebSessionRecord) -> StoreResult<()> {
        db::execute(
            &client(&self.pool).await?,
            &format!("INSERT INTO web_sessions ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
            &[
                &s.id,
                &s.user_id,
                &s.hash,
                &s.created_at,
                &s.last_seen_at,
                &s.expires_at,
                &s.revoked_at,
            ],
        )
        .await?;
        Ok(())
    }

    async fn web_session(&self, hash: &str) -> StoreResult<Option<WebSessionRecord>> {
        let c = client(&self.pool).await?;
        let found =
            db::query(&c, &format!("SELECT {COLS} FROM web_sessions WHERE hash = $1"), &[&hash])
                .await?;
        Ok(rows::all(found, record)?.pop())
    }

    async fn touch_web_session(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
        db::execute(
            &client(&self.pool).await?,
            "UPDATE web_sessions SET last_seen_at = GREATEST(last_seen_at, $1) WHERE id = $2",
            &[&at, &id],
        )
        .await?;
        Ok(())
    }

    async fn revoke_web_session(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
        db::execute(
            &client(&self.pool).await?,
            "UPDATE web_sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            &[&at, &id],
        )
        .await?;
        Ok(())
    }

    async fn revoke_user_web_sessions(&self, user_id: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
        db::execute(
            &client(&self.pool).await?,
            "UPDATE web_sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
            &[&at, &user_id],
        )
        .await?;
        Ok(())
    }
}
