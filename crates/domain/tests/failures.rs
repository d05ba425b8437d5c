//! The failure codes of SPEC §4 that need a broken part: `EMBEDDING_GENERATION_FAILED` when the
//! model fails, `DATABASE_ERROR` when the database does; in both cases the client's message
//! says nothing of the cause, the cause is kept for the log, and nothing is half-written.

mod support;

use std::ops::Range;
use std::sync::Arc;

use support::{fails_with, session, world, world_with};
use tc_domain::pagination::PageParams;
use tc_domain::views::SaveContextRequest;
use tc_domain::{EmailVerification, ErrorCode};
use tc_embed::{EmbedError, Embedder, HashingEmbedder};
use tc_store::ContextFilter;

/// An embedder whose model fails on every input (an ONNX Runtime error, an endpoint down).
#[derive(Debug)]
struct Failing;

#[async_trait::async_trait]
impl Embedder for Failing {
    fn model_id(&self) -> &str {
        "failing"
    }

    fn dimension(&self) -> usize {
        HashingEmbedder.dimension()
    }

    fn passages(&self, text: &str) -> Vec<Range<usize>> {
        HashingEmbedder.passages(text)
    }

    async fn embed(&self, _texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        Err(EmbedError::Failed("the runtime ran out of memory".into()))
    }
}

#[tokio::test]
async fn a_failing_model_answers_embedding_generation_failed_and_saves_nothing() {
    let w = world_with(EmailVerification::Off, Arc::new(Failing), |s| s).await;
    let owner = session(&w.user("owner@example.com", true).await);
    let project = w.project(&owner, "notes", "private").await;

    let req = SaveContextRequest {
        content: Some("We chose PostgreSQL for the billing service.".into()),
        project_id: Some(project),
        metadata: None,
    };
    let err = w.services.save_context(&owner, req, None).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::EmbeddingGenerationFailed);
    assert!(!err.message.contains("memory"), "the cause stays out of the answer: {}", err.message);
    assert!(err.cause_chain().unwrap().contains("ran out of memory"), "and goes to the log");

    let page = PageParams::default();
    let listed =
        w.services.list_contexts(&owner, project, ContextFilter::default(), &page).await.unwrap();
    assert!(listed.items.is_empty(), "a save whose embedding failed leaves no context behind");
}

#[tokio::test]
async fn a_broken_database_answers_database_error_with_the_cause_kept_for_the_log() {
    let w = world(EmailVerification::Off).await;
    let owner = session(&w.user("owner@example.com", true).await);
    let project = w.project(&owner, "notes", "private").await;
    w.save(&owner, Some(project), "The deploy runs on Fridays.").await.unwrap();

    // Someone (a bad restore, a hand-run migration) takes the contexts table away.
    let conn = rusqlite::Connection::open(w.dir().join("tc.db")).unwrap();
    conn.execute_batch("ALTER TABLE contexts RENAME TO contexts_moved").unwrap();
    drop(conn);

    let page = PageParams::default();
    let result = w.services.list_contexts(&owner, project, ContextFilter::default(), &page).await;
    fails_with(result, ErrorCode::DatabaseError);
    let err = w.save(&owner, Some(project), "Another note.").await.unwrap_err();
    assert_eq!(err.code, ErrorCode::DatabaseError);
    assert_eq!(err.message, "a database error occurred");
    let cause = err.cause_chain().unwrap();
    assert!(cause.contains("contexts"), "the log names what failed: {cause}");
}
