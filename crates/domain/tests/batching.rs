//! What the services write later, in batches, so that reads stay reads: an API key's last use
//! and a context's access count appear only when the batch is flushed (the server flushes every
//! few seconds; here nothing runs unless the test flushes).

mod support;

use support::{session, world};
use tc_domain::EmailVerification;

#[tokio::test]
async fn key_use_is_written_at_the_flush_not_at_authentication() {
    let w = world(EmailVerification::Off).await;
    let ann = session(&w.user("ann@example.com", true).await);
    let req = tc_domain::views::CreateApiKeyRequest {
        name: Some("laptop".into()),
        scopes: None,
        project_id: None,
    };
    let key = w.services.create_api_key(&ann, req).await.unwrap();
    let last_used = |keys: Vec<tc_domain::views::ApiKeyView>| {
        keys.into_iter().find(|k| k.id == key.api_key.id).expect("the key is listed").last_used_at
    };

    w.services.authenticate(&key.key).await.unwrap();
    assert_eq!(last_used(w.services.list_api_keys(&ann).await.unwrap()), None);
    w.services.flush_key_usage().await;
    assert!(last_used(w.services.list_api_keys(&ann).await.unwrap()).is_some());
}

#[tokio::test]
async fn context_reads_are_counted_at_the_flush() {
    let w = world(EmailVerification::Off).await;
    let ann = session(&w.user("ann@example.com", true).await);
    let project = w.project(&ann, "alpha", "private").await;
    let req = tc_domain::views::SaveContextRequest {
        content: Some("webhook retries back off exponentially".into()),
        project_id: Some(project),
        metadata: None,
    };
    let id = w.services.save_context(&ann, req, None).await.unwrap().id;

    w.services.get_context(&ann, id).await.unwrap();
    w.services.get_context(&ann, id).await.unwrap();
    assert_eq!(w.services.get_context(&ann, id).await.unwrap().accessed_count, 0);
    w.services.flush_pending().await;
    let read = w.services.get_context(&ann, id).await.unwrap();
    assert_eq!(read.accessed_count, 3);
    assert!(read.last_accessed.is_some());
}
