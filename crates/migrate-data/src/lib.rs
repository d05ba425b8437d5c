//! Moving an installation from SQLite to PostgreSQL (`teamcontext migrate-data`). It lives in
//! a crate of its own so that neither backend depends on the other's driver.
//!
//! Both backends keep the same tables with the same columns (their migrations move in step);
//! only the types differ. Every table is read from one read transaction of the SQLite file (a
//! consistent snapshot) and written with binary `COPY` inside one PostgreSQL transaction, so
//! the target ends up with all of it or none of it. Each value is converted by the type of its
//! target column: text ids to `uuid`, Unix milliseconds to `timestamptz`, JSON text to
//! `jsonb`, comma-separated scopes and JSON lists to arrays, `YYYY-MM-DD` to `date`, vector blobs (little-endian f32) to `vector` and `real[]`. Columns PostgreSQL
//! computes (the `tsvector`, identities) are left to it; `passages.dim` is derived from the
//! vector. Passages are written project by project (adjacent pages for a project's filter);
//! the HNSW index of every vector dimension is built once the rows are in.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::types::Value as Cell;
use tc_store::{StoreError, StoreResult};
use tokio::sync::mpsc;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use uuid::Uuid;

use tc_store_postgres::{PgStore, db_err};

/// Tables in an order that satisfies every foreign key.
const TABLES: &[&str] = &[
    "users",
    "projects",
    "project_members",
    "project_invitations",
    "signup_invitations",
    "mcp_sessions",
    "api_keys",
    "refresh_tokens",
    "web_sessions",
    "connections",
    "connection_secrets",
    "mcp_servers",
    "user_llms",
    "chat_sessions",
    "chat_messages",
    "chat_tool_calls",
    "tasks",
    "story_drafts",
    "contexts",
    "passages",
    "analytics_events",
    "analytics_daily",
    "jobs",
    "indexed_items",
    "job_inputs",
];
/// PostgreSQL columns SQLite does not store, and the SQLite expression that gives them.
const DERIVED: &[(&str, &str, &str)] = &[("passages", "dim", "length(vector) / 4")];
/// Rows sent from the SQLite reader to the writer at a time.
const BATCH: usize = 1000;

type Param = Box<dyn ToSql + Sync + Send>;

/// What was copied: rows per table, in copy order.
pub type Copied = Vec<(&'static str, u64)>;

enum Msg {
    Rows(Vec<Vec<Cell>>),
    TableDone,
    Failed(String),
}

/// Copies every row of the SQLite database at `sqlite` into `target`, which must be empty.
pub async fn import_sqlite(target: &PgStore, sqlite: &Path) -> StoreResult<Copied> {
    let mut client = target.client().await?;
    let non_empty = client
        .query_one("SELECT EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM projects)", &[])
        .await
        .map_err(db_err)?;
    if non_empty.get::<_, bool>(0) {
        return Err(StoreError::database(
            "the PostgreSQL database already holds accounts or projects; import into an empty one",
        ));
    }
    let mut plan = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let rows = client
            .query(
                "SELECT column_name FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1 \
                     AND is_generated = 'NEVER' AND is_identity = 'NO' ORDER BY ordinal_position",
                &[table],
            )
            .await
            .map_err(db_err)?;
        let columns: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        plan.push((*table, columns));
    }

    let (sender, mut receiver) = mpsc::channel::<Msg>(4);
    let reader_plan = plan.clone();
    let path = sqlite.to_path_buf();
    let reader = tokio::task::spawn_blocking(move || read_sqlite(&path, &reader_plan, &sender));

    let tx = client.transaction().await.map_err(db_err)?;
    let mut copied = Copied::new();
    for (table, columns) in &plan {
        let list = columns.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
        // The column types, custom ones (`vector`) included, as the server knows them.
        let probe =
            tx.prepare(&format!("SELECT {list} FROM {table} LIMIT 0")).await.map_err(db_err)?;
        let types: Vec<Type> = probe.columns().iter().map(|c| c.type_().clone()).collect();
        let sink = tx
            .copy_in(&format!("COPY {table} ({list}) FROM STDIN BINARY"))
            .await
            .map_err(db_err)?;
        let writer = BinaryCopyInWriter::new(sink, &types);
        let mut writer = std::pin::pin!(writer);
        loop {
            match receiver.recv().await {
                Some(Msg::Rows(rows)) => {
                    for row in rows {
                        let params = convert(table, columns, &types, row)?;
                        let refs: Vec<&(dyn ToSql + Sync)> =
                            params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
                        writer.as_mut().write(&refs).await.map_err(db_err)?;
                    }
                }
                Some(Msg::TableDone) => break,
                Some(Msg::Failed(e)) => return Err(StoreError::database(e)),
                None => return Err(StoreError::database("the SQLite reader stopped")),
            }
        }
        copied.push((table, writer.as_mut().finish().await.map_err(db_err)?));
    }
    reader.await.map_err(|e| StoreError::database(format!("the SQLite reader failed: {e}")))?;

    let dims = tx.query("SELECT DISTINCT dim FROM passages", &[]).await.map_err(db_err)?;
    for row in dims {
        let d: i32 = row.get(0);
        tx.batch_execute(&tc_store_postgres::vector_index_sql(d)).await.map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)?;
    // VACUUM as well as ANALYZE: it marks the copied pages all-visible, so the first hours
    // on PostgreSQL are not spent in an autovacuum of every table competing with searches.
    client.batch_execute("VACUUM (ANALYZE)").await.map_err(db_err)?;
    Ok(copied)
}

/// Reads every planned table from one read transaction and sends its rows in batches.
fn read_sqlite(path: &PathBuf, plan: &[(&str, Vec<String>)], out: &mpsc::Sender<Msg>) {
    if let Err(e) = read_tables(path, plan, out) {
        let _ = out.blocking_send(Msg::Failed(format!("reading {}: {e}", path.display())));
    }
}

fn read_tables(
    path: &PathBuf,
    plan: &[(&str, Vec<String>)],
    out: &mpsc::Sender<Msg>,
) -> Result<(), String> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| e.to_string())?;
    conn.execute_batch("BEGIN").map_err(|e| e.to_string())?;
    for (table, columns) in plan {
        let select: Vec<String> = columns
            .iter()
            .map(|c| {
                DERIVED
                    .iter()
                    .find(|(t, col, _)| t == table && col == c)
                    .map_or_else(|| format!("\"{c}\""), |(_, _, expr)| expr.to_string())
            })
            .collect();
        let sql = format!("SELECT {} FROM {table}", select.join(", "));
        let mut batch = Vec::with_capacity(BATCH);
        // Adds a row to the batch and sends a full one; false once the writer has given up
        // (it reports why).
        let mut push = |row: &rusqlite::Row<'_>| -> Result<bool, String> {
            let cells = (0..columns.len())
                .map(|i| row.get::<_, Cell>(i))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{table}: {e}"))?;
            batch.push(cells);
            if batch.len() < BATCH {
                return Ok(true);
            }
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            Ok(out.blocking_send(Msg::Rows(full)).is_ok())
        };
        let sent = if *table == "passages" {
            read_passages_by_project(&conn, &sql, &mut push)
        } else {
            read_all(&conn, &sql, &mut push)
        }
        .map_err(|e| format!("{table}: {e}"))?;
        if !sent
            || (!batch.is_empty() && out.blocking_send(Msg::Rows(batch)).is_err())
            || out.blocking_send(Msg::TableDone).is_err()
        {
            return Ok(());
        }
    }
    conn.execute_batch("COMMIT").map_err(|e| e.to_string())
}

type Push<'a> = dyn FnMut(&rusqlite::Row<'_>) -> Result<bool, String> + 'a;

/// Every row of `sql` in storage order; false if the writer gave up.
fn read_all(conn: &rusqlite::Connection, sql: &str, push: &mut Push<'_>) -> Result<bool, String> {
    let mut stmt = conn.prepare(sql).map_err(|e| e.to_string())?;
    let mut rows = stmt.query([]).map_err(|e| e.to_string())?;
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        if !push(row)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The passages project by project, so that PostgreSQL stores each project's passages on
/// adjacent pages: a project filter ranked exactly then reads a few thousand neighbouring pages
/// rather than one page per passage (7.1 ms against 24.6 for 11,000 passages of a million,
/// docs/benchmarks.md). The ids are sorted first and each row fetched by id: sorting the rows
/// themselves would spill every vector through SQLite's temporary files.
fn read_passages_by_project(
    conn: &rusqlite::Connection,
    sql: &str,
    push: &mut Push<'_>,
) -> Result<bool, String> {
    let mut order = conn
        .prepare("SELECT id FROM passages ORDER BY project_id, id")
        .map_err(|e| e.to_string())?;
    let ids = order
        .query_map([], |row| row.get::<_, i64>(0))
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let mut one = conn.prepare(&format!("{sql} WHERE id = ?1")).map_err(|e| e.to_string())?;
    for id in ids {
        let mut rows = one.query([id]).map_err(|e| e.to_string())?;
        if let Some(row) = rows.next().map_err(|e| e.to_string())?
            && !push(row)?
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One SQLite row as parameters of the target columns' types.
fn convert(
    table: &str,
    columns: &[String],
    types: &[Type],
    row: Vec<Cell>,
) -> StoreResult<Vec<Param>> {
    row.into_iter()
        .zip(columns.iter().zip(types))
        .map(|(cell, (column, ty))| {
            cell_to_param(cell, ty)
                .map_err(|why| StoreError::database(format!("{table}.{column}: {why} (for {ty})")))
        })
        .collect()
}

/// SQL NULL for a column of any type.
#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(
        &self,
        _: &Type,
        _: &mut tokio_postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        Ok(IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn cell_to_param(cell: Cell, ty: &Type) -> Result<Param, String> {
    fn some<T: ToSql + Sync + Send + 'static>(v: T) -> Result<Param, String> {
        Ok(Box::new(Some(v)))
    }
    fn floats(bytes: &[u8]) -> Result<Vec<f32>, String> {
        if !bytes.len().is_multiple_of(4) {
            return Err(format!("a vector blob of {} bytes", bytes.len()));
        }
        Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
    match (cell, ty) {
        (Cell::Null, _) => Ok(Box::new(Null)),
        // The rollup keys rows with no project by '' in SQLite and by the nil id here.
        (Cell::Text(t), &Type::UUID) if t.is_empty() => some(Uuid::nil()),
        (Cell::Text(t), &Type::UUID) => some(Uuid::parse_str(&t).map_err(|e| e.to_string())?),
        (Cell::Integer(ms), &Type::TIMESTAMPTZ) => {
            some(DateTime::<Utc>::from_timestamp_millis(ms).ok_or("a time out of range")?)
        }
        (Cell::Text(t), &Type::JSONB) => {
            some(serde_json::from_str::<serde_json::Value>(&t).map_err(|e| e.to_string())?)
        }
        (Cell::Integer(i), &Type::BOOL) => some(i != 0),
        (Cell::Integer(i), &Type::INT8) => some(i),
        (Cell::Integer(i), &Type::INT4) => some(i32::try_from(i).map_err(|e| e.to_string())?),
        (Cell::Integer(i), &Type::FLOAT8) => some(i as f64),
        (Cell::Real(r), &Type::FLOAT8) => some(r),
        (Cell::Text(t), &Type::TEXT) => some(t),
        // Lists kept as JSON arrays in SQLite (a task's tags, contexts and Jira keys).
        (Cell::Text(t), &Type::TEXT_ARRAY) if t.starts_with('[') => {
            some(serde_json::from_str::<Vec<String>>(&t).map_err(|e| e.to_string())?)
        }
        (Cell::Text(t), &Type::UUID_ARRAY) => {
            some(serde_json::from_str::<Vec<Uuid>>(&t).map_err(|e| e.to_string())?)
        }
        // API key scopes: comma-separated in SQLite.
        (Cell::Text(t), &Type::TEXT_ARRAY) => {
            some(t.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect::<Vec<_>>())
        }
        (Cell::Text(t), &Type::DATE) => {
            some(chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d").map_err(|e| e.to_string())?)
        }
        (Cell::Blob(b), &Type::BYTEA) => some(b),
        (Cell::Blob(b), &Type::FLOAT4_ARRAY) => some(floats(&b)?),
        (Cell::Blob(b), ty) if ty.name() == "vector" => some(pgvector::Vector::from(floats(&b)?)),
        (cell, _) => Err(format!("unexpected {:?}", cell.data_type())),
    }
}
