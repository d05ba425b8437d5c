//! Browser sessions of the web dashboard, in SQLite.

use chrono::{DateTime, Utc};
use rusqlite::params;
use tc_store::{StoreResult, WebSessionRecord};
use uuid::Uuid;

use crate::convert::{self, get, ms, opt_ms};
use crate::db_err;

const COLS: &str = "id, user_id, hash, created_at, last_seen_at, expires_at, revoked_at";

fn record(r: &rusqlite::Row<'_>) -> StoreResult<WebSessionRecord> {
    Ok(WebSessionRecord {
        id: convert::get_uuid(r, "id")?,
        user_id: convert::get_uuid(r, "user_id")?,
        hash: get(r, "hash")?,
        created_at: convert::get_time(r, "created_at")?,
        last_seen_at: convert::get_time(r, "last_seen_at")?,
        expires_at: convert::get_time(r, "expires_at")?,
        revoked_at: convert::get_opt_time(r, "revoked_at")?,
    })
}

#[async_trait::async_trait]
impl tc_store::WebSessionStore for crate::SqliteStore {
    async fn insert_web_session(&self, s: &WebSessionRecord) -> StoreResult<()> {
        let s = s.clone();
        self.write(move |c| {
            c.execute(
                &format!("INSERT INTO web_sessions ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)"),
                params![
                    s.id.to_string(),
                    s.user_id.to_string(),
                    s.hash,
                    ms(s.created_at),
                    ms(s.last_seen_at),
                    ms(s.expires_at),
                    opt_ms(s.revoked_at),
                ],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn web_session(&self, hash: &str) -> StoreResult<Option<WebSessionRecord>> {
        let hash = hash.to_string();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(&format!("SELECT {COLS} FROM web_sessions WHERE hash = ?"))
                .map_err(db_err)?;
            convert::first(stmt.query([hash]).map_err(db_err)?, record)
        })
    }

    async fn touch_web_session(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "UPDATE web_sessions SET last_seen_at = MAX(last_seen_at, ?) WHERE id = ?",
                params![ms(at), id.to_string()],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn revoke_web_session(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "UPDATE web_sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                params![ms(at), id.to_string()],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn revoke_user_web_sessions(&self, user_id: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "UPDATE web_sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                params![ms(at), user_id.to_string()],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }
}
