//! The HNSW graphs over half-precision vectors: a large filtered search walks them, and a
//! database from before migration V7 has its full-precision graphs replaced when it is migrated.

use std::time::{Duration, Instant};

use tc_store::SearchStore;
use tc_store_postgres::PgStore;
use tc_store_postgres::testing::TestDatabase;
use tokio_postgres::{Client, NoTls};

async fn raw(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// The HNSW indexes on `passages`, by name.
async fn graphs(client: &Client) -> Vec<String> {
    let rows = client
        .query(
            "SELECT indexname FROM pg_indexes \
             WHERE tablename = 'passages' AND indexdef LIKE '%USING hnsw%' ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test]
async fn a_large_filter_is_searched_through_the_half_precision_graph() {
    let db = TestDatabase::create().await;
    let store = std::sync::Arc::new(PgStore::connect(db.url()).await.unwrap());
    // Without statistics the planner estimates a filter on `passages` at a row or two and
    // would rather sort the rows the project index finds: the state of a project just scanned
    // in, before autovacuum analyses it. The search must walk the graph all the same.
    let client = raw(db.url()).await;
    client.batch_execute("ALTER TABLE passages SET (autovacuum_enabled = off)").await.unwrap();
    tc_store_conformance::search::vector_search_over_a_large_set_keeps_recall(store.clone()).await;
    // Closing ends the server sessions, which flushes their statistics.
    store.close().await;
    assert_eq!(graphs(&client).await, ["passages_hnsw_half_32"]);
    // Statistics reach the shared view when the closed sessions' backends exit, which a loaded
    // machine may take a while to get to.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let row = client
            .query_one(
                "SELECT i.idx_scan, t.seq_scan, t.idx_scan AS table_idx_scan \
                 FROM pg_stat_user_indexes i JOIN pg_stat_user_tables t USING (relid) \
                 WHERE i.indexrelname = 'passages_hnsw_half_32'",
                &[],
            )
            .await
            .unwrap();
        let scans: i64 = row.get("idx_scan");
        if scans >= 20 {
            break;
        }
        // Which plans did run tells a planner that chose otherwise from statistics not yet
        // flushed.
        let (seq, any_index): (i64, i64) = (row.get("seq_scan"), row.get("table_idx_scan"));
        assert!(
            Instant::now() < deadline,
            "the graph was walked {scans} times, not 20 (passages: {seq} sequential scans, \
             {any_index} index scans of any index)"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        client.batch_execute("SELECT pg_stat_clear_snapshot()").await.unwrap();
    }
}

#[tokio::test]
async fn migrating_replaces_full_precision_graphs() {
    let db = TestDatabase::create().await;
    let store = std::sync::Arc::new(PgStore::connect(db.url()).await.unwrap());
    tc_store_conformance::search::vector_search_is_exact_within_the_filter(store.clone()).await;
    store.close().await;
    // Put the database back as V6 left it: a full-precision graph of the old name, and none of
    // what the migrations after V7 made (each later migration adds its undo here).
    let client = raw(db.url()).await;
    assert_eq!(graphs(&client).await, ["passages_hnsw_half_4"]);
    client
        .batch_execute(
            "DROP INDEX passages_hnsw_half_4; \
             CREATE INDEX passages_hnsw_4 ON passages \
               USING hnsw ((vector::vector(4)) vector_cosine_ops) WHERE dim = 4; \
             DROP TABLE project_invitations, signup_invitations; \
             DROP TABLE mcp_sessions; \
             DROP INDEX jobs_one_active_embed; \
             DROP TABLE email_tokens; \
             ALTER TABLE analytics_events DROP COLUMN prompt_tokens, DROP COLUMN completion_tokens, DROP COLUMN llm_cost_usd; \
             ALTER TABLE analytics_daily DROP COLUMN prompt_tokens, DROP COLUMN completion_tokens, DROP COLUMN llm_cost_usd; \
             DROP TABLE story_drafts; \
             DROP TABLE mcp_servers, user_llms, tasks, web_sessions; \
             DROP TABLE chat_tool_calls, chat_messages, chat_sessions; \
             DROP TABLE connection_secrets, connections; \
             CREATE TABLE scanned_files (project_id uuid NOT NULL, file_path text NOT NULL, \
               content_hash text NOT NULL, PRIMARY KEY (project_id, file_path)); \
             DROP TABLE indexed_items; \
             DELETE FROM refinery_schema_history WHERE version >= 7",
        )
        .await
        .unwrap();
    assert_eq!(graphs(&client).await, ["passages_hnsw_4"]);

    assert_eq!(PgStore::migrate(db.url()).await.unwrap(), 14, "V7 to V20");
    assert_eq!(graphs(&client).await, ["passages_hnsw_half_4"], "dropped and rebuilt");
    assert_eq!(PgStore::migrate(db.url()).await.unwrap(), 0);
    assert_eq!(graphs(&client).await, ["passages_hnsw_half_4"]);
    let store = PgStore::connect(db.url()).await.unwrap();
    let projects: Vec<uuid::Uuid> = client
        .query("SELECT DISTINCT project_id FROM passages", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let query: Vec<f32> = (0..4).map(|i| if i == 0 { 1.0 } else { 0.0 }).collect();
    let hits = store.vector_search(&query, "test-model", &projects, 5).await.unwrap();
    assert_eq!(hits.len(), 5, "searchable after the upgrade");
}
