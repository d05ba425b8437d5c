//! The shared store scenarios, run against a fresh SQLite file per test.

use tc_store_sqlite::SqliteStore;

async fn fresh_store() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("test.db")).await.expect("open store");
    (store, dir)
}

tc_store_conformance::conformance_suite!(fresh_store);
