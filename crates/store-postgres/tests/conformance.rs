//! The shared store scenarios, run against PostgreSQL with a database of its own per test (so
//! tests run in parallel). The server is `TEAMCONTEXT_TEST_DATABASE_URL` (an admin URL) or the
//! local one `scripts/start-postgres.sh` starts (PostgreSQL 18 + pgvector from PyPI).

use tc_store_postgres::{PgStore, testing::TestDatabase};

async fn fresh_store() -> (PgStore, TestDatabase) {
    let db = TestDatabase::create().await;
    let store = PgStore::connect(db.url()).await.expect("connect and migrate");
    (store, db)
}

tc_store_conformance::conformance_suite!(fresh_store);
