//! Users' own language models with their sealed credentials, in PostgreSQL.

use chrono::{DateTime, Utc};
use tc_store::{SecretRecord, StoreResult, UserLlmRecord};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::db::{self, client};
use crate::rows;

/// The kind of the sealed credentials.
const CREDENTIALS: &str = "llm_credentials";

const COLS: &str = "user_id, base_url, model, credentials_version, credentials, tested_at, \
    test_error, created_at, updated_at";

fn record(r: &Row) -> StoreResult<UserLlmRecord> {
    Ok(UserLlmRecord {
        user_id: rows::get(r, "user_id")?,
        base_url: rows::get(r, "base_url")?,
        model: rows::get(r, "model")?,
        credentials: SecretRecord {
            kind: CREDENTIALS.into(),
            key_version: rows::get(r, "credentials_version")?,
            sealed: rows::get(r, "credentials")?,
        },
        tested_at: rows::get(r, "tested_at")?,
        test_error: rows::get(r, "test_error")?,
        created_at: rows::get(r, "created_at")?,
        updated_at: rows::get(r, "updated_at")?,
    })
}

impl crate::PgStore {
    async fn select_user_llms(
        &self,
        filter: &str,
        args: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> StoreResult<Vec<UserLlmRecord>> {
        let c = client(&self.pool).await?;
        let found = db::query(&c, &format!("SELECT {COLS} FROM user_llms {filter}"), args).await?;
        rows::all(found, record)
    }

    pub(crate) async fn put_user_llm_row(&self, r: &UserLlmRecord) -> StoreResult<()> {
        db::execute(
            &client(&self.pool).await?,
            &format!(
                "INSERT INTO user_llms ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (user_id) DO UPDATE SET base_url = excluded.base_url, \
                 model = excluded.model, credentials_version = excluded.credentials_version, \
                 credentials = excluded.credentials, tested_at = excluded.tested_at, \
                 test_error = excluded.test_error, created_at = excluded.created_at, \
                 updated_at = excluded.updated_at"
            ),
            &[
                &r.user_id,
                &r.base_url,
                &r.model,
                &r.credentials.key_version,
                &r.credentials.sealed,
                &r.tested_at,
                &r.test_error,
                &r.created_at,
                &r.updated_at,
            ],
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn user_llm_row(&self, user_id: Uuid) -> StoreResult<Option<UserLlmRecord>> {
        Ok(self.select_user_llms("WHERE user_id = $1", &[&user_id]).await?.pop())
    }

    pub(crate) async fn delete_user_llm_row(&self, user_id: Uuid) -> StoreResult<bool> {
        let removed = db::execute(
            &client(&self.pool).await?,
            "DELETE FROM user_llms WHERE user_id = $1",
            &[&user_id],
        )
        .await?;
        Ok(removed > 0)
    }

    pub(crate) async fn set_user_llm_tested_row(
        &self,
        user_id: Uuid,
        at: DateTime<Utc>,
        error: Option<&str>,
    ) -> StoreResult<()> {
        db::execute(
            &client(&self.pool).await?,
            "UPDATE user_llms SET tested_at = $2, test_error = $3 WHERE user_id = $1",
            &[&user_id, &at, &error],
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn list_user_llm_rows(&self) -> StoreResult<Vec<UserLlmRecord>> {
        self.select_user_llms("ORDER BY created_at", &[]).await
    }
}
