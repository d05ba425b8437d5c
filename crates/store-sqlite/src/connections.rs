//! Jira and Confluence connections and their sealed secrets in SQLite.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use tc_store::{ConnectionRecord, SecretRecord, StoreResult};
use uuid::Uuid;

use crate::convert::{self, get, ms, opt_ms};
use crate::db_err;

const COLS: &str = "id, user_id, product, kind, base_url, site_url, cloud_id, email, account_name, \
    account_display_name, token_expires_at, token_version, status, error, last_sync_at, \
    created_at, updated_at";

fn record(r: &rusqlite::Row<'_>) -> StoreResult<ConnectionRecord> {
    Ok(ConnectionRecord {
        id: convert::get_uuid(r, "id")?,
        user_id: convert::get_uuid(r, "user_id")?,
        product: get(r, "product")?,
        kind: get(r, "kind")?,
        base_url: get(r, "base_url")?,
        site_url: get(r, "site_url")?,
        cloud_id: get(r, "cloud_id")?,
        email: get(r, "email")?,
        account_name: get(r, "account_name")?,
        account_display_name: get(r, "account_display_name")?,
        secrets: Vec::new(),
        token_expires_at: convert::get_opt_time(r, "token_expires_at")?,
        token_version: get(r, "token_version")?,
        status: get(r, "status")?,
        error: get(r, "error")?,
        last_sync_at: convert::get_opt_time(r, "last_sync_at")?,
        created_at: convert::get_time(r, "created_at")?,
        updated_at: convert::get_time(r, "updated_at")?,
    })
}

/// The connections `sql` selects (with `args`), each with its secrets.
fn select(
    c: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> StoreResult<Vec<ConnectionRecord>> {
    let mut stmt = c.prepare_cached(sql).map_err(db_err)?;
    let mut connections = convert::collect(stmt.query(args).map_err(db_err)?, record)?;
    let mut secrets = c
        .prepare_cached(
            "SELECT kind, key_version, sealed FROM connection_secrets WHERE connection_id = ? \
             ORDER BY kind",
        )
        .map_err(db_err)?;
    for conn in &mut connections {
        conn.secrets =
            convert::collect(secrets.query([conn.id.to_string()]).map_err(db_err)?, |r| {
                Ok(SecretRecord {
                    kind: get(r, "kind")?,
                    key_version: get(r, "key_version")?,
                    sealed: get(r, "sealed")?,
                })
            })?;
    }
    Ok(connections)
}

fn insert_secrets(
    tx: &rusqlite::Transaction<'_>,
    id: Uuid,
    secrets: &[SecretRecord],
) -> StoreResult<()> {
    for s in secrets {
        tx.execute(
            "INSERT INTO connection_secrets (connection_id, kind, key_version, sealed) \
             VALUES (?, ?, ?, ?)",
            params![id.to_string(), s.kind, s.key_version, s.sealed],
        )
        .map_err(db_err)?;
    }
    Ok(())
}

fn put(c: &mut Connection, r: &ConnectionRecord) -> StoreResult<()> {
    let tx = c.transaction().map_err(db_err)?;
    tx.execute(
        "DELETE FROM connections WHERE user_id = ? AND product = ?",
        params![r.user_id.to_string(), r.product],
    )
    .map_err(db_err)?;
    tx.execute(
        &format!(
            "INSERT INTO connections ({COLS}) VALUES \
             (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        params![
            r.id.to_string(),
            r.user_id.to_string(),
            r.product,
            r.kind,
            r.base_url,
            r.site_url,
            r.cloud_id,
            r.email,
            r.account_name,
            r.account_display_name,
            opt_ms(r.token_expires_at),
            r.token_version,
            r.status,
            r.error,
            opt_ms(r.last_sync_at),
            ms(r.created_at),
            ms(r.updated_at),
        ],
    )
    .map_err(db_err)?;
    insert_secrets(&tx, r.id, &r.secrets)?;
    tx.commit().map_err(db_err)
}

fn replace_secrets(
    c: &mut Connection,
    id: Uuid,
    expected: i64,
    secrets: &[SecretRecord],
    expires: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let tx = c.transaction().map_err(db_err)?;
    // The version check and bump in one statement: of two racing writers, one wins.
    let won = tx
        .execute(
            "UPDATE connections SET token_version = token_version + 1, token_expires_at = ?3, \
             updated_at = ?4 WHERE id = ?1 AND token_version = ?2",
            params![id.to_string(), expected, opt_ms(expires), ms(now)],
        )
        .map_err(db_err)?;
    if won == 0 {
        return Ok(false);
    }
    tx.execute("DELETE FROM connection_secrets WHERE connection_id = ?", [id.to_string()])
        .map_err(db_err)?;
    insert_secrets(&tx, id, secrets)?;
    tx.commit().map_err(db_err)?;
    Ok(true)
}

#[async_trait::async_trait]
impl tc_store::ConnectionStore for crate::SqliteStore {
    async fn put_connection(&self, connection: &ConnectionRecord) -> StoreResult<()> {
        let connection = connection.clone();
        self.write(move |c| put(c, &connection)).await
    }
    async fn connection(
        &self,
        user_id: Uuid,
        product: &str,
    ) -> StoreResult<Option<ConnectionRecord>> {
        self.read(|c| {
            let sql = format!("SELECT {COLS} FROM connections WHERE user_id = ? AND product = ?");
            Ok(select(c, &sql, params![user_id.to_string(), product])?.pop())
        })
    }
    async fn connection_by_id(&self, id: Uuid) -> StoreResult<Option<ConnectionRecord>> {
        self.read(|c| {
            let sql = format!("SELECT {COLS} FROM connections WHERE id = ?");
            Ok(select(c, &sql, [id.to_string()])?.pop())
        })
    }
    async fn delete_connection(&self, user_id: Uuid, product: &str) -> StoreResult<bool> {
        let product = product.to_string();
        self.write(move |c| {
            let removed = c
                .execute(
                    "DELETE FROM connections WHERE user_id = ? AND product = ?",
                    params![user_id.to_string(), product],
                )
                .map_err(db_err)?;
            Ok(removed > 0)
        })
        .await
    }
    async fn set_connection_state(
        &self,
        id: Uuid,
        status: &str,
        error: Option<&str>,
        last_sync_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (status, error) = (status.to_string(), error.map(str::to_string));
        self.write(move |c| {
            c.execute(
                "UPDATE connections SET status = ?2, error = ?3, \
                 last_sync_at = COALESCE(?4, last_sync_at), updated_at = ?5 WHERE id = ?1",
                params![id.to_string(), status, error, opt_ms(last_sync_at), ms(now)],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }
    async fn replace_connection_secrets(
        &self,
        id: Uuid,
        expected_token_version: i64,
        secrets: &[SecretRecord],
        token_expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let secrets = secrets.to_vec();
        self.write(move |c| {
            replace_secrets(c, id, expected_token_version, &secrets, token_expires_at, now)
        })
        .await
    }
    async fn list_connections(&self) -> StoreResult<Vec<ConnectionRecord>> {
        self.read_blocking(|c| {
            select(c, &format!("SELECT {COLS} FROM connections ORDER BY created_at"), [])
        })
        .await
    }
}
