//! Jira and Confluence connections and their sealed secrets in PostgreSQL.

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool};
use tc_store::{ConnectionRecord, SecretRecord, StoreResult};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::db::{self, client};
use crate::db_err;
use crate::rows;

const COLS: &str = "id, user_id, product, kind, base_url, site_url, cloud_id, email, account_name, \
    account_display_name, token_expires_at, token_version, status, error, last_sync_at, \
    created_at, updated_at";

fn record(r: &Row) -> StoreResult<ConnectionRecord> {
    Ok(ConnectionRecord {
        id: rows::get(r, "id")?,
        user_id: rows::get(r, "user_id")?,
        product: rows::get(r, "product")?,
        kind: rows::get(r, "kind")?,
        base_url: rows::get(r, "base_url")?,
        site_url: rows::get(r, "site_url")?,
        cloud_id: rows::get(r, "cloud_id")?,
        email: rows::get(r, "email")?,
        account_name: rows::get(r, "account_name")?,
        account_display_name: rows::get(r, "account_display_name")?,
        secrets: Vec::new(),
        token_expires_at: rows::get(r, "token_expires_at")?,
        token_version: rows::get(r, "token_version")?,
        status: rows::get(r, "status")?,
        error: rows::get(r, "error")?,
        last_sync_at: rows::get(r, "last_sync_at")?,
        created_at: rows::get(r, "created_at")?,
        updated_at: rows::get(r, "updated_at")?,
    })
}

/// The connections of `rows` with their secrets.
async fn with_secrets(
    c: &impl GenericClient,
    found: Vec<Row>,
) -> StoreResult<Vec<ConnectionRecord>> {
    let mut connections = rows::all(found, record)?;
    let ids: Vec<Uuid> = connections.iter().map(|c| c.id).collect();
    let secrets = db::query(
        c,
        "SELECT connection_id, kind, key_version, sealed FROM connection_secrets \
         WHERE connection_id = ANY($1) ORDER BY kind",
        &[&ids],
    )
    .await?;
    for row in secrets {
        let owner: Uuid = rows::get(&row, "connection_id")?;
        if let Some(conn) = connections.iter_mut().find(|c| c.id == owner) {
            conn.secrets.push(SecretRecord {
                kind: rows::get(&row, "kind")?,
                key_version: rows::get(&row, "key_version")?,
                sealed: rows::get(&row, "sealed")?,
            });
        }
    }
    Ok(connections)
}

async fn insert_secrets(
    c: &impl GenericClient,
    id: Uuid,
    secrets: &[SecretRecord],
) -> StoreResult<()> {
    for s in secrets {
        db::execute(
            c,
            "INSERT INTO connection_secrets (connection_id, kind, key_version, sealed) \
             VALUES ($1, $2, $3, $4)",
            &[&id, &s.kind, &s.key_version, &s.sealed],
        )
        .await?;
    }
    Ok(())
}

async fn put(pool: &Pool, r: &ConnectionRecord) -> StoreResult<()> {
    let mut c = client(pool).await?;
    let tx = c.transaction().await.map_err(db_err)?;
    db::execute(
        &tx,
        "DELETE FROM connections WHERE user_id = $1 AND product = $2",
        &[&r.user_id, &r.product],
    )
    .await?;
    db::execute(
        &tx,
        &format!(
            "INSERT INTO connections ({COLS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
        ),
        &[
            &r.id,
            &r.user_id,
            &r.product,
            &r.kind,
            &r.base_url,
            &r.site_url,
            &r.cloud_id,
            &r.email,
            &r.account_name,
            &r.account_display_name,
            &r.token_expires_at,
            &r.token_version,
            &r.status,
            &r.error,
            &r.last_sync_at,
            &r.created_at,
            &r.updated_at,
        ],
    )
    .await?;
    insert_secrets(&tx, r.id, &r.secrets).await?;
    tx.commit().await.map_err(db_err)
}

async fn replace_secrets(
    pool: &Pool,
    id: Uuid,
    expected: i64,
    secrets: &[SecretRecord],
    expires: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let mut c = client(pool).await?;
    let tx = c.transaction().await.map_err(db_err)?;
    // The version check and bump in one statement: of two racing writers, one wins.
    let won = db::execute(
        &tx,
        "UPDATE connections SET token_version = token_version + 1, token_expires_at = $3, \
         updated_at = $4 WHERE id = $1 AND token_version = $2",
        &[&id, &expected, &expires, &now],
    )
    .await?;
    if won == 0 {
        return Ok(false);
    }
    db::execute(&tx, "DELETE FROM connection_secrets WHERE connection_id = $1", &[&id]).await?;
    insert_secrets(&tx, id, secrets).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(true)
}

#[async_trait::async_trait]
impl tc_store::ConnectionStore for crate::PgStore {
    async fn put_connection(&self, connection: &ConnectionRecord) -> StoreResult<()> {
        put(&self.pool, connection).await
    }
    async fn connection(
        &self,
        user_id: Uuid,
        product: &str,
    ) -> StoreResult<Option<ConnectionRecord>> {
        let c = client(&self.pool).await?;
        let found = db::query(
            &c,
            &format!("SELECT {COLS} FROM connections WHERE user_id = $1 AND product = $2"),
            &[&user_id, &product],
        )
        .await?;
        Ok(with_secrets(&c, found).await?.pop())
    }
    async fn connection_by_id(&self, id: Uuid) -> StoreResult<Option<ConnectionRecord>> {
        let c = client(&self.pool).await?;
        let found =
            db::query(&c, &format!("SELECT {COLS} FROM connections WHERE id = $1"), &[&id]).await?;
        Ok(with_secrets(&c, found).await?.pop())
    }
    async fn delete_connection(&self, user_id: Uuid, product: &str) -> StoreResult<bool> {
        let removed = db::execute(
            &client(&self.pool).await?,
            "DELETE FROM connections WHERE user_id = $1 AND product = $2",
            &[&user_id, &product],
        )
        .await?;
        Ok(removed > 0)
    }
    async fn set_connection_state(
        &self,
        id: Uuid,
        status: &str,
        error: Option<&str>,
        last_sync_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        db::execute(
            &client(&self.pool).await?,
            "UPDATE connections SET status = $2, error = $3, \
             last_sync_at = COALESCE($4, last_sync_at), updated_at = $5 WHERE id = $1",
            &[&id, &status, &error, &last_sync_at, &now],
        )
        .await?;
        Ok(())
    }
    async fn replace_connection_secrets(
        &self,
        id: Uuid,
        expected_token_version: i64,
        secrets: &[SecretRecord],
        token_expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        replace_secrets(&self.pool, id, expected_token_version, secrets, token_expires_at, now)
            .await
    }
    async fn list_connections(&self) -> StoreResult<Vec<ConnectionRecord>> {
        let c = client(&self.pool).await?;
        let found =
            db::query(&c, &format!("SELECT {COLS} FROM connections ORDER BY created_at"), &[])
                .await?;
        with_secrets(&c, found).await
    }
}
