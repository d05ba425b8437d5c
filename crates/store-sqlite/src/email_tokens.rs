//! Single-use email tokens (password reset, email verification) in SQLite.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use tc_store::{EmailTokenPurpose, EmailTokenRecord, StoreResult};
use uuid::Uuid;

use crate::convert::{self, ms, opt_ms};
use crate::db_err;

const COLS: &str = "id, user_id, purpose, email, token_hash, created_at, expires_at, used_at";

fn record(r: &rusqlite::Row<'_>, purpose: EmailTokenPurpose) -> StoreResult<EmailTokenRecord> {
    Ok(EmailTokenRecord {
        id: convert::get_uuid(r, "id")?,
        user_id: convert::get_uuid(r, "user_id")?,
        purpose,
        email: convert::get(r, "email")?,
        token_hash: convert::get(r, "token_hash")?,
        created_at: convert::get_time(r, "created_at")?,
        expires_at: convert::get_time(r, "expires_at")?,
        used_at: convert::get_opt_time(r, "used_at")?,
    })
}

fn insert(c: &Connection, t: &EmailTokenRecord) -> StoreResult<()> {
    c.execute(
        &format!("INSERT INTO email_tokens ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
        params![
            t.id.to_string(),
            t.user_id.to_string(),
            t.purpose.as_str(),
            t.email.to_lowercase(),
            t.token_hash,
            ms(t.created_at),
            ms(t.expires_at),
            opt_ms(t.used_at)
        ],
    )
    .map_err(db_err)?;
    Ok(())
}

fn consume(
    c: &mut Connection,
    purpose: EmailTokenPurpose,
    hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<EmailTokenRecord>> {
    let tx = c.transaction().map_err(db_err)?;
    // The conditional UPDATE decides a race: only the statement that flips used_at from NULL
    // gets the row back.
    let spent = {
        let mut stmt = tx
            .prepare_cached(&format!(
                "UPDATE email_tokens SET used_at = ?1 WHERE token_hash = ?2 AND purpose = ?3 \
                 AND used_at IS NULL AND expires_at > ?1 RETURNING {COLS}"
            ))
            .map_err(db_err)?;
        convert::first(
            stmt.query(params![ms(now), hash, purpose.as_str()]).map_err(db_err)?,
            |r| record(r, purpose),
        )?
    };
    if let Some(token) = &spent {
        tx.execute(
            "UPDATE email_tokens SET used_at = ? WHERE user_id = ? AND purpose = ? \
             AND used_at IS NULL",
            params![ms(now), token.user_id.to_string(), purpose.as_str()],
        )
        .map_err(db_err)?;
    }
    tx.commit().map_err(db_err)?;
    Ok(spent)
}

fn latest(
    c: &Connection,
    user_id: Uuid,
    purpose: EmailTokenPurpose,
) -> StoreResult<Option<DateTime<Utc>>> {
    // An aggregate always answers one row: NULL when the user has no such token.
    let at: Option<i64> = c
        .query_row(
            "SELECT max(created_at) FROM email_tokens WHERE user_id = ? AND purpose = ?",
            params![user_id.to_string(), purpose.as_str()],
            |r| r.get(0),
        )
        .map_err(db_err)?;
    Ok(at.and_then(|at| chrono::TimeZone::timestamp_millis_opt(&Utc, at).single()))
}

#[async_trait::async_trait]
impl tc_store::EmailTokenStore for crate::SqliteStore {
    async fn insert_email_token(&self, token: &EmailTokenRecord) -> StoreResult<()> {
        let token = token.clone();
        self.write(move |c| insert(c, &token)).await
    }
    async fn consume_email_token(
        &self,
        purpose: EmailTokenPurpose,
        hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<EmailTokenRecord>> {
        let hash = hash.to_string();
        self.write(move |c| consume(c, purpose, &hash, now)).await
    }
    async fn latest_email_token_at(
        &self,
        user_id: Uuid,
        purpose: EmailTokenPurpose,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        self.read(|c| latest(c, user_id, purpose))
    }
}
