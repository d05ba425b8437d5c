//! Users' own language models with their sealed credentials, in SQLite.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use tc_store::{SecretRecord, StoreResult, UserLlmRecord};
use uuid::Uuid;

use crate::convert::{self, get, ms, opt_ms};
use crate::db_err;

/// The kind of the sealed credentials.
const CREDENTIALS: &str = "llm_credentials";

const COLS: &str = "user_id, base_url, model, credentials_version, credentials, tested_at, \
    test_error, created_at, updated_at";

fn record(r: &rusqlite::Row<'_>) -> StoreResult<UserLlmRecord> {
    Ok(UserLlmRecord {
        user_id: convert::get_uuid(r, "user_id")?,
        base_url: get(r, "base_url")?,
        model: get(r, "model")?,
        credentials: SecretRecord {
            kind: CREDENTIALS.into(),
            key_version: get(r, "credentials_version")?,
            sealed: get(r, "credentials")?,
        },
        tested_at: convert::get_opt_time(r, "tested_at")?,
        test_error: get(r, "test_error")?,
        created_at: convert::get_time(r, "created_at")?,
        updated_at: convert::get_time(r, "updated_at")?,
    })
}

fn select(
    c: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> StoreResult<Vec<UserLlmRecord>> {
    let mut stmt =
        c.prepare_cached(&format!("SELECT {COLS} FROM user_llms {filter}")).map_err(db_err)?;
    convert::collect(stmt.query(args).map_err(db_err)?, record)
}

fn put(c: &Connection, r: &UserLlmRecord) -> StoreResult<()> {
    c.execute(
        &format!("INSERT OR REPLACE INTO user_llms ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
        params![
            r.user_id.to_string(),
            r.base_url,
            r.model,
            r.credentials.key_version,
            r.credentials.sealed,
            opt_ms(r.tested_at),
            r.test_error,
            ms(r.created_at),
            ms(r.updated_at),
        ],
    )
    .map_err(db_err)?;
    Ok(())
}

impl crate::SqliteStore {
    pub(crate) async fn put_user_llm_row(&self, llm: &UserLlmRecord) -> StoreResult<()> {
        let llm = llm.clone();
        self.write(move |c| put(c, &llm)).await
    }

    pub(crate) async fn user_llm_row(&self, user_id: Uuid) -> StoreResult<Option<UserLlmRecord>> {
        self.read(|c| Ok(select(c, "WHERE user_id = ?", [user_id.to_string()])?.pop()))
    }

    pub(crate) async fn delete_user_llm_row(&self, user_id: Uuid) -> StoreResult<bool> {
        self.write(move |c| {
            let removed = c
                .execute("DELETE FROM user_llms WHERE user_id = ?", [user_id.to_string()])
                .map_err(db_err)?;
            Ok(removed > 0)
        })
        .await
    }

    pub(crate) async fn set_user_llm_tested_row(
        &self,
        user_id: Uuid,
        at: DateTime<Utc>,
        error: Option<&str>,
    ) -> StoreResult<()> {
        let error = error.map(str::to_string);
        self.write(move |c| {
            c.execute(
                "UPDATE user_llms SET tested_at = ?2, test_error = ?3 WHERE user_id = ?1",
                params![user_id.to_string(), ms(at), error],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn list_user_llm_rows(&self) -> StoreResult<Vec<UserLlmRecord>> {
        self.read_blocking(|c| select(c, "ORDER BY created_at", [])).await
    }
}
