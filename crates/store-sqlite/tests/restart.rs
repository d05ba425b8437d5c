//! The in-process vector index is rebuilt from the database when the store is opened again.

use chrono::Utc;
use tc_store::prelude::*;
use tc_store::{
    ContextRecord, PassageRecord, ProjectRecord, ProjectSettings, UserRecord, Visibility,
};
use tc_store_sqlite::SqliteStore;
use uuid::Uuid;

#[tokio::test]
async fn vectors_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("restart.db");
    let now = Utc::now();
    let user = UserRecord {
        id: Uuid::now_v7(),
        email: "restart@example.com".into(),
        name: "R".into(),
        password_hash: "x".into(),
        is_active: true,
        email_verified: true,
        created_at: now,
        updated_at: now,
    };
    let project = ProjectRecord {
        id: Uuid::now_v7(),
        name: "p".into(),
        description: String::new(),
        owner_id: user.id,
        visibility: Visibility::Private,
        settings: ProjectSettings { auto_scan: false, embedding_model: "m".into() },
        deleted_at: None,
        created_at: now,
        updated_at: now,
    };
    let context = ContextRecord {
        id: Uuid::now_v7(),
        project_id: project.id,
        content: "persisted".into(),
        content_hash: "h".into(),
        token_count: 1,
        source: "manual".into(),
        file_path: None,
        parent_id: None,
        chunk_index: None,
        metadata: serde_json::json!({}),
        created_by: user.id,
        accessed_count: 0,
        last_accessed: None,
        created_at: now,
        updated_at: now,
    };
    let passage = PassageRecord {
        context_id: context.id,
        project_id: project.id,
        start: 0,
        end: 9,
        model: "m".into(),
        vector: vec![0.6, 0.8],
    };
    {
        let store = SqliteStore::open(&path).await.unwrap();
        store.insert_user(&user).await.unwrap();
        store.insert_project(&project).await.unwrap();
        store.insert_contexts(&[(context.clone(), vec![passage])]).await.unwrap();
        store.close().await;
    }
    let reopened = SqliteStore::open(&path).await.unwrap();
    let hits = reopened.vector_search(&[0.6, 0.8], "m", &[project.id], 5).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].context_id, context.id);
    assert!((hits[0].similarity - 1.0).abs() < 1e-6);
}
