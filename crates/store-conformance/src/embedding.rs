//! Conformance scenarios: the embedding backlog (contexts and descriptions without vectors from
//! the current model), adding passages once, and dropping other models' passages.

use std::sync::Arc;

use chrono::Duration;
use tc_store::*;
use uuid::Uuid;

use crate::fixtures::*;

/// This area's scenarios, listed beside them; `conformance_suite!` runs every area's list.
#[doc(hidden)]
#[macro_export]
macro_rules! embedding_scenarios {
    ($make:path) => {
        $crate::conformance_suite!(@tests $make; embedding;
            the_backlog_is_what_lacks_the_models_passages,
            passages_are_added_once_and_old_models_dropped,
            descriptions_to_embed_are_those_of_another_model,
        );
    };
}

fn with_model(mut p: PassageRecord, model: &str) -> PassageRecord {
    p.model = model.into();
    p
}

pub async fn the_backlog_is_what_lacks_the_models_passages<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "backlog@example.com").await;
    let plain = context(p.id, u.id, "saved while the model was down");
    let embedded = context(p.id, u.id, "embedded at once");
    let parent = context(p.id, u.id, "a long document, split");
    let mut chunk = context(p.id, u.id, "its one chunk, not embedded yet");
    chunk.parent_id = Some(parent.id);
    chunk.chunk_index = Some(0);
    s.insert_contexts(&[
        (plain.clone(), Vec::new()),
        (embedded.clone(), vec![passage_for(&embedded, unit(0, 0.0))]),
        (parent.clone(), Vec::new()),
        (chunk.clone(), Vec::new()),
    ])
    .await
    .unwrap();

    // The parent of chunks never has passages of its own, so it is never in the backlog.
    assert_eq!(s.embedding_backlog("test-model").await.unwrap(), 2);
    assert_eq!(s.embedding_backlog("new-model").await.unwrap(), 3);
    let mut expected = vec![plain.id, chunk.id];
    expected.sort();
    let all = s.contexts_to_embed("test-model", None, 10).await.unwrap();
    assert_eq!(all.iter().map(|c| c.id).collect::<Vec<_>>(), expected, "by id ascending");
    assert_eq!(all[0], if all[0].id == plain.id { plain.clone() } else { chunk.clone() });
    let first = s.contexts_to_embed("test-model", None, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    let rest = s.contexts_to_embed("test-model", Some(first[0].id), 10).await.unwrap();
    assert_eq!(rest.iter().map(|c| c.id).collect::<Vec<_>>(), vec![expected[1]]);
    assert!(s.contexts_to_embed("test-model", Some(expected[1]), 10).await.unwrap().is_empty());
}

pub async fn passages_are_added_once_and_old_models_dropped<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "add-passages@example.com").await;
    let late = context(p.id, u.id, "embedded late");
    let old = context(p.id, u.id, "embedded by the old model");
    s.insert_contexts(&[
        (late.clone(), Vec::new()),
        (old.clone(), vec![with_model(passage_for(&old, unit(1, 0.0)), "old-model")]),
    ])
    .await
    .unwrap();
    assert!(s.vector_search(&unit(0, 0.0), "test-model", &[p.id], 5).await.unwrap().is_empty());

    // A passage of a context that is gone is skipped, not an error; the rest are stored.
    let gone = context(p.id, u.id, "deleted meanwhile");
    let mut second = passage_for(&late, unit(0, 0.2));
    second.start = 1;
    let added = s
        .add_passages(&[passage_for(&late, unit(0, 0.0)), second, passage_for(&gone, unit(0, 0.0))])
        .await
        .unwrap();
    assert_eq!(added, 1);
    // A second worker embedding the same context adds nothing.
    assert_eq!(s.add_passages(&[passage_for(&late, unit(0, 0.1))]).await.unwrap(), 0);
    let hits = s.vector_search(&unit(0, 0.0), "test-model", &[p.id], 5).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!((hits[0].context_id, hits[0].start), (late.id, 0));
    assert!((hits[0].similarity - 1.0).abs() < 1e-4, "the first worker's vectors are kept");
    assert_eq!(s.embedding_backlog("test-model").await.unwrap(), 1, "the old model's context");

    assert_eq!(s.add_passages(&[passage_for(&old, unit(1, 0.0))]).await.unwrap(), 1);
    assert_eq!(s.embedding_backlog("test-model").await.unwrap(), 0);
    assert_eq!(s.delete_passages_of_other_models("test-model").await.unwrap(), 1);
    assert!(s.vector_search(&unit(1, 0.0), "old-model", &[p.id], 5).await.unwrap().is_empty());
    assert_eq!(s.vector_search(&unit(1, 0.0), "test-model", &[p.id], 5).await.unwrap().len(), 2);
    assert_eq!(s.embedding_backlog("old-model").await.unwrap(), 2);
    assert_eq!(s.delete_passages_of_other_models("test-model").await.unwrap(), 0);
    // Deleting a context still takes its late passages with it.
    s.delete_context(late.id).await.unwrap();
    let hits = s.vector_search(&unit(0, 0.0), "test-model", &[p.id], 5).await.unwrap();
    assert_eq!(hits.iter().map(|h| h.context_id).collect::<Vec<_>>(), vec![old.id]);
}

pub async fn descriptions_to_embed_are_those_of_another_model<S: Store>(s: Arc<S>) {
    let (u, described) = owned_project(&*s, "descriptions@example.com").await;
    let mut blank = project(u.id, "blank");
    blank.description = String::new();
    s.insert_project(&blank).await.unwrap();
    let deleted = project(u.id, "deleted");
    s.insert_project(&deleted).await.unwrap();
    s.set_project_deleted(deleted.id, Some(t0()), t0() + Duration::seconds(1)).await.unwrap();

    let pending = s.descriptions_to_embed("test-model").await.unwrap();
    assert_eq!(pending, vec![(described.id, described.description.clone())]);
    s.set_project_description_vector(described.id, Some(("test-model", &unit(2, 0.0))))
        .await
        .unwrap();
    assert!(s.descriptions_to_embed("test-model").await.unwrap().is_empty());
    let other = s.descriptions_to_embed("new-model").await.unwrap();
    assert_eq!(other.iter().map(|(id, _)| *id).collect::<Vec<Uuid>>(), vec![described.id]);
}
