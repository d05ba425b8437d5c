//! `passage_counts` (migration V6), which vector search plans with, stays equal to the passages
//! it counts through the shared scenarios that add passages and remove them (directly, by a
//! context's cascade, and by purging deleted projects).

use std::future::Future;
use std::sync::Arc;

use tc_store_postgres::PgStore;
use tc_store_postgres::testing::TestDatabase;
use tokio_postgres::NoTls;

/// (groups whose count is wrong, passages counted)
async fn audit(url: &str) -> (i64, i64) {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE a.n IS DISTINCT FROM c.n), coalesce(sum(c.n), 0)::bigint \
             FROM (SELECT project_id, model, dim, count(*) AS n FROM passages GROUP BY 1, 2, 3) a \
             FULL JOIN (SELECT * FROM passage_counts WHERE n <> 0) c USING (project_id, model, dim)",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

async fn after<F, Fut>(scenario: F) -> (i64, i64)
where
    F: FnOnce(Arc<PgStore>) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = TestDatabase::create().await;
    let store = Arc::new(PgStore::connect(db.url()).await.expect("connect"));
    scenario(store.clone()).await;
    store.close().await;
    audit(db.url()).await
}

#[tokio::test]
async fn passage_counts_follow_every_insert_and_delete() {
    let mut counted = 0;
    for (name, (wrong, n)) in [
        (
            "round trip and cascade",
            after(tc_store_conformance::contexts::contexts_round_trip_filter_and_cascade).await,
        ),
        ("purge", after(tc_store_conformance::search::purge_removes_contexts_from_search).await),
        (
            "soft delete and purge",
            after(tc_store_conformance::projects::soft_delete_restore_and_purge).await,
        ),
        (
            "filtered search",
            after(tc_store_conformance::search::vector_search_is_exact_within_the_filter).await,
        ),
    ] {
        assert_eq!(wrong, 0, "{name}: counts differ from the passages");
        counted += n;
    }
    assert!(counted > 0, "the scenarios left passages to count");
}
