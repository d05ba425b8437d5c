//! The failure codes of SPEC §4 that need a broken part: `DATABASE_ERROR` when the database
//! fails; the client's message says nothing of the cause, the cause is kept for the log, and
//! nothing is half-written. (A failing embedding model fails nothing: see `backlog.rs`.)

mod support;

use support::{fails_with, session, world};
use tc_domain::pagination::PageParams;
use tc_domain::{EmailVerification, ErrorCode};
use tc_store::ContextFilter;

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
