//! The default chunking rule (SPEC: saves above 100,000 tokens are split into searchable
//! chunks; above 10,000 they are kept whole with a warning), on the services' defaults rather
//! than a lowered test setting.

mod support;

use support::{session, world};
use tc_domain::EmailVerification;
use tc_domain::views::SaveContextRequest;

/// `n` short words on one line: no newline to cut at, as in minified JSON or a long log line.
fn words(n: usize) -> String {
    (0..n).map(|i| format!("note{} ", i % 997)).collect()
}

#[tokio::test]
async fn saves_are_split_above_100k_tokens_by_default_and_warned_above_10k() {
    let w = world(EmailVerification::Off).await;
    let owner = session(&w.user("owner@example.com", true).await);
    let project = w.project(&owner, "big", "private").await;
    let save = |content: String| SaveContextRequest {
        content: Some(content),
        project_id: Some(project),
        metadata: None,
    };

    let medium = w.services.save_context(&owner, save(words(8_000)), None).await.unwrap();
    assert!((10_001..=100_000).contains(&medium.token_count), "{}", medium.token_count);
    assert!(medium.chunk_ids.is_empty(), "kept whole below 100,000 tokens");
    assert_eq!(medium.warnings.len(), 1, "{:?}", medium.warnings);

    let large = w.services.save_context(&owner, save(words(60_000)), None).await.unwrap();
    assert!(large.token_count > 100_000, "{}", large.token_count);
    assert!(large.chunk_ids.len() >= 12, "split into chunks of 1/12 of the limit, on one line");
    assert!(large.warnings.iter().any(|m| m.contains("chunks")), "{:?}", large.warnings);
    let chunk = w.services.get_context(&owner, large.chunk_ids[0]).await.unwrap();
    assert!(chunk.token_count <= 100_000 / 12 * 11 / 10, "{}", chunk.token_count);
}
