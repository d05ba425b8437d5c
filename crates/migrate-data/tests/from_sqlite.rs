//! `import_sqlite` (`teamcontext migrate-data`) at the store level: every passage arrives, and
//! arrives grouped by project, however the saves interleaved the projects in the SQLite file.

use tc_store::prelude::*;
use tc_store_conformance::{context, passage_for, project, user};
use tc_store_postgres::PgStore;
use tc_store_postgres::testing::TestDatabase;
use tc_store_sqlite::SqliteStore;
use tokio_postgres::NoTls;
use uuid::Uuid;

/// The `i`th unit vector of a circle in 3 dimensions.
fn around(i: usize) -> Vec<f32> {
    let angle = i as f32 / 10.0;
    vec![angle.cos(), angle.sin(), 0.0]
}

#[tokio::test]
async fn passages_arrive_grouped_by_project() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("teamcontext.db");
    let sqlite = SqliteStore::open(&file).await.unwrap();
    let owner = user("mover@example.com");
    sqlite.insert_user(&owner).await.unwrap();
    let projects: Vec<_> = (0..3).map(|i| project(owner.id, &format!("p{i}"))).collect();
    for p in &projects {
        sqlite.insert_project(p).await.unwrap();
    }
    // Saves alternate between the projects, as a team's saves do.
    for i in 0..300 {
        let c = context(projects[i % 3].id, owner.id, &format!("context {i}"));
        let passages = vec![passage_for(&c, around(i))];
        sqlite.insert_contexts(&[(c, passages)]).await.unwrap();
    }
    sqlite.close().await;

    let db = TestDatabase::create().await;
    let postgres = PgStore::connect(db.url()).await.unwrap();
    let copied = tc_migrate_data::import_sqlite(&postgres, &file).await.unwrap();
    assert!(copied.contains(&("passages", 300)), "{copied:?}");

    let (client, connection) = tokio_postgres::connect(db.url(), NoTls).await.unwrap();
    tokio::spawn(connection);
    // Rows in physical order: each project's passages form one run.
    let rows = client.query("SELECT project_id FROM passages ORDER BY ctid", &[]).await.unwrap();
    let order: Vec<Uuid> = rows.iter().map(|r| r.get(0)).collect();
    let runs = 1 + order.windows(2).filter(|w| w[0] != w[1]).count();
    assert_eq!((order.len(), runs), (300, 3));

    for (i, p) in projects.iter().enumerate() {
        let hits = postgres.vector_search(&around(i), "test-model", &[p.id], 200).await.unwrap();
        assert_eq!(hits.len(), 100, "every passage of project {i} is searchable");
        assert!((hits[0].similarity - 1.0).abs() < 1e-5);
    }
}
