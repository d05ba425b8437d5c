//! Statement helpers over any client or transaction: each prepares its SQL once per connection
//! (the statement cache) and maps driver errors to [`StoreError`](tc_store::StoreError).

use deadpool_postgres::{GenericClient, Object, Pool};
use tc_store::StoreResult;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::{db_err, pool_err};

pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub(crate) async fn client(pool: &Pool) -> StoreResult<Object> {
    pool.get().await.map_err(pool_err)
}

pub(crate) async fn query(
    c: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> StoreResult<Vec<Row>> {
    let stmt = c.prepare_cached(sql).await.map_err(db_err)?;
    c.query(&stmt, params).await.map_err(db_err)
}

pub(crate) async fn query_opt(
    c: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> StoreResult<Option<Row>> {
    let stmt = c.prepare_cached(sql).await.map_err(db_err)?;
    c.query_opt(&stmt, params).await.map_err(db_err)
}

pub(crate) async fn query_one(
    c: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> StoreResult<Row> {
    let stmt = c.prepare_cached(sql).await.map_err(db_err)?;
    c.query_one(&stmt, params).await.map_err(db_err)
}

/// Runs a statement; returns the rows it changed.
pub(crate) async fn execute(
    c: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> StoreResult<u64> {
    let stmt = c.prepare_cached(sql).await.map_err(db_err)?;
    c.execute(&stmt, params).await.map_err(db_err)
}
