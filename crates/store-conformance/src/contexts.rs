//! Conformance scenarios: Contexts, their passages, access counts, insights, and scanned files.

use std::sync::Arc;

use chrono::Duration;
use tc_store::*;
use uuid::Uuid;

use crate::fixtures::*;

/// This area's scenarios, listed beside them; `conformance_suite!` runs every area's list.
#[doc(hidden)]
#[macro_export]
macro_rules! contexts_scenarios {
    ($make:path) => {
        $crate::conformance_suite!(@tests $make; contexts;
            contexts_round_trip_filter_and_cascade,
            access_counts_and_description_vectors,
            context_insights_sum_and_rank,
            indexed_items_are_replaced_whole,
        );
    };
}

pub async fn contexts_round_trip_filter_and_cascade<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "ctx@example.com").await;
    let mut parent = context(p.id, u.id, "the parent document about billing");
    parent.source = "api".into();
    parent.metadata = serde_json::json!({"tags": ["billing", "decision"], "language": "en"});
    let mut chunks = Vec::new();
    for i in 0..2 {
        let mut chunk = context(p.id, u.id, &format!("chunk {i} of the billing document"));
        chunk.parent_id = Some(parent.id);
        chunk.chunk_index = Some(i);
        chunks.push(chunk);
    }
    let mut code = context(p.id, u.id, "fn charge() {}");
    code.source = "codebase_scan".into();
    code.file_path = Some("src/pay_ments/charge.rs".into());
    let mut other = context(p.id, u.id, "fn other() {}");
    other.source = "codebase_scan".into();
    other.file_path = Some("src/payXments/other.rs".into());
    let mut rows = vec![(parent.clone(), vec![passage_for(&parent, unit(0, 0.1))])];
    rows.extend(chunks.iter().map(|c| (c.clone(), vec![passage_for(c, unit(1, 0.1))])));
    rows.push((code.clone(), vec![passage_for(&code, unit(2, 0.1))]));
    rows.push((other.clone(), vec![passage_for(&other, unit(3, 0.1))]));
    s.insert_contexts(&rows).await.unwrap();

    assert_eq!(s.context_by_id(parent.id).await.unwrap(), Some(parent.clone()));
    let keyword: Vec<Uuid> = s
        .keyword_search("billing", &[p.id], 10)
        .await
        .unwrap()
        .iter()
        .map(|h| h.context_id)
        .collect();
    assert_eq!(keyword.len(), 2, "the chunks match, their parent is not searched: {keyword:?}");
    assert!(!keyword.contains(&parent.id));
    assert!(s.context_by_id(Uuid::now_v7()).await.unwrap().is_none());
    let mut by_ids = s.contexts_by_ids(&[parent.id, code.id, Uuid::now_v7()]).await.unwrap();
    by_ids.sort_by_key(|c| c.id);
    assert_eq!(by_ids.iter().map(|c| c.id).collect::<Vec<_>>(), vec![parent.id, code.id]);

    let list = |filter: ContextFilter, limit| {
        let s = s.clone();
        async move {
            s.list_contexts(p.id, &filter, Page { before: None, limit })
                .await
                .unwrap()
                .iter()
                .map(|c| c.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(ContextFilter::default(), 2).await, vec![other.id, code.id], "newest first");
    assert_eq!(
        list(ContextFilter { source: Some("api".into()), ..Default::default() }, 10).await,
        vec![parent.id]
    );
    assert_eq!(
        list(ContextFilter { tag: Some("decision".into()), ..Default::default() }, 10).await,
        vec![parent.id]
    );
    // `_` and `%` in a prefix are literal characters, not wildcards.
    let prefix =
        ContextFilter { file_path_prefix: Some("src/pay_ments/".into()), ..Default::default() };
    assert_eq!(list(prefix, 10).await, vec![code.id]);

    let page2 = s
        .list_contexts(p.id, &ContextFilter::default(), Page { before: Some(code.id), limit: 10 })
        .await
        .unwrap();
    assert_eq!(page2.len(), 3, "the parent and its two chunks");

    assert_eq!(s.delete_context(parent.id).await.unwrap(), 3, "the parent and its chunks");
    assert!(s.context_by_id(chunks[0].id).await.unwrap().is_none());
    let hits = s.vector_search(&unit(1, 0.1), "test-model", &[p.id], 10).await.unwrap();
    assert!(hits.iter().all(|h| h.context_id != chunks[0].id), "deleted passages leave the index");
    assert_eq!(s.delete_context(parent.id).await.unwrap(), 0);
}

pub async fn access_counts_and_description_vectors<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "acc@example.com").await;
    let c = context(p.id, u.id, "counted");
    s.insert_contexts(&[(c.clone(), Vec::new())]).await.unwrap();
    let later = t0() + Duration::hours(2);
    s.record_context_access(&[(c.id, t0()), (c.id, later), (Uuid::now_v7(), later)]).await.unwrap();
    let got = s.context_by_id(c.id).await.unwrap().unwrap();
    assert_eq!(got.accessed_count, 2);
    assert_eq!(got.last_accessed, Some(later));

    s.set_project_description_vector(p.id, Some(("test-model", &unit(2, 0.0)))).await.unwrap();
    let vectors =
        s.project_description_vectors(&[p.id, Uuid::now_v7()], "test-model").await.unwrap();
    assert_eq!(vectors, vec![(p.id, unit(2, 0.0))]);
    assert!(s.project_description_vectors(&[p.id], "other").await.unwrap().is_empty());
    s.set_project_description_vector(p.id, None).await.unwrap();
    assert!(s.project_description_vectors(&[p.id], "test-model").await.unwrap().is_empty());

    let event = AnalyticsEventRecord {
        id: Uuid::now_v7(),
        user_id: u.id,
        project_id: Some(p.id),
        event_type: "context_retrieve".into(),
        timestamp: later,
        tokens_saved: 120,
        tokens_avoided: 120,
        contexts_retrieved: 1,
        api_calls_made: 1,
        processing_time_ms: 3.5,
        model: Some("claude-3-sonnet".into()),
        price_per_mtok: Some(3.0),
        estimated_savings_usd: 0.00036,
        source: Some("claude".into()),
        prompt_tokens: 0,
        completion_tokens: 0,
        llm_cost_usd: 0.0,
    };
    s.insert_analytics_events(&[event]).await.unwrap();
}

pub async fn context_insights_sum_and_rank<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "insights@example.com").await;
    let other = project(u.id, "other");
    s.insert_project(&other).await.unwrap();
    let empty = s.context_insights(&[p.id], 5).await.unwrap();
    assert_eq!((empty.contexts, empty.tokens, empty.storage_bytes), (0, 0, 0));
    assert!(empty.most_accessed.is_empty());

    let a = context(p.id, u.id, "alpha beta gamma");
    let b = context(p.id, u.id, "delta épsilon");
    let mut child = context(p.id, u.id, "delta");
    (child.parent_id, child.chunk_index) = (Some(b.id), Some(0));
    let elsewhere = context(other.id, u.id, "not counted here");
    s.insert_contexts(&[
        (a.clone(), vec![passage_for(&a, unit(0, 0.0))]),
        (b.clone(), Vec::new()),
        (child.clone(), vec![passage_for(&child, unit(1, 0.0))]),
        (elsewhere.clone(), vec![passage_for(&elsewhere, unit(2, 0.0))]),
    ])
    .await
    .unwrap();
    s.record_context_access(&[(a.id, t0()), (child.id, t0()), (child.id, t0())]).await.unwrap();

    let got = s.context_insights(&[p.id], 5).await.unwrap();
    // Chunks count with their parent; storage counts every stored text (UTF-8 bytes) and vector.
    assert_eq!(got.contexts, 2);
    assert_eq!(got.tokens, 3 + 2);
    let text = "alpha beta gamma".len() + "delta épsilon".len() + "delta".len();
    assert_eq!(got.storage_bytes, (text + 2 * 4 * 4) as i64);
    let ranked: Vec<(Uuid, i64)> =
        got.most_accessed.iter().map(|c| (c.id, c.accessed_count)).collect();
    assert_eq!(ranked, vec![(child.id, 2), (a.id, 1)]);
    assert_eq!(s.context_insights(&[p.id], 1).await.unwrap().most_accessed.len(), 1);
    let both = s.context_insights(&[p.id, other.id], 5).await.unwrap();
    assert_eq!(both.contexts, 3);
}

pub async fn indexed_items_are_replaced_whole<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "scans@example.com").await;
    let scan_chunk = |text: &str, path: &str, axis: usize| {
        let mut c = context(p.id, u.id, text);
        (c.source, c.file_path) = ("codebase_scan".into(), Some(path.into()));
        let passage = passage_for(&c, unit(axis, 0.0));
        (c, vec![passage])
    };
    let mut manual = context(p.id, u.id, "a note about src/a.py");
    manual.file_path = Some("src/a.py".into());
    s.insert_contexts(&[(manual.clone(), Vec::new())]).await.unwrap();

    let v1 = IndexedItem { file_path: "src/a.py".into(), content_hash: "h1".into() };
    let first = vec![
        scan_chunk("def a(): pass", "src/a.py", 0),
        scan_chunk("def b(): pass", "src/a.py", 1),
    ];
    assert_eq!(s.replace_indexed_item(p.id, SCAN, &v1, &first).await.unwrap(), 0);
    let other = IndexedItem { file_path: "src/b.py".into(), content_hash: "hb".into() };
    s.replace_indexed_item(p.id, SCAN, &other, &[scan_chunk("def c(): pass", "src/b.py", 2)])
        .await
        .unwrap();
    let mut files = s.indexed_items(p.id, SCAN).await.unwrap();
    files.sort_by(|a, b| a.file_path.cmp(&b.file_path));
    assert_eq!(files, vec![v1.clone(), other.clone()]);
    let hits = s.vector_search(&unit(1, 0.0), "test-model", &[p.id], 10).await.unwrap();
    assert_eq!(hits[0].context_id, first[1].0.id);

    // A new version replaces every chunk of the file, in search too; other files stay.
    let v2 = IndexedItem { file_path: "src/a.py".into(), content_hash: "h2".into() };
    let second = vec![scan_chunk("def a2(): pass", "src/a.py", 3)];
    assert_eq!(s.replace_indexed_item(p.id, SCAN, &v2, &second).await.unwrap(), 2);
    assert!(s.context_by_id(first[0].0.id).await.unwrap().is_none());
    let hits = s.vector_search(&unit(1, 0.0), "test-model", &[p.id], 10).await.unwrap();
    assert!(hits.iter().all(|h| h.context_id != first[1].0.id), "gone from the index");
    assert!(s.indexed_items(p.id, SCAN).await.unwrap().contains(&v2));

    assert_eq!(
        s.remove_indexed_items(p.id, SCAN, &["src/a.py".into(), "nope".into()]).await.unwrap(),
        1
    );
    assert_eq!(s.indexed_items(p.id, SCAN).await.unwrap(), vec![other]);
    let hits = s.vector_search(&unit(3, 0.0), "test-model", &[p.id], 10).await.unwrap();
    assert!(hits.iter().all(|h| h.context_id != second[0].0.id));
    assert!(s.context_by_id(manual.id).await.unwrap().is_some(), "saved notes are not scans");

    // Items of another source live beside the scan's, even under the same path.
    let mut issue = context(p.id, u.id, "OPS-1: checkout fails");
    (issue.source, issue.file_path) = ("jira".into(), Some("src/b.py".into()));
    let jira_item = IndexedItem { file_path: "src/b.py".into(), content_hash: "u1".into() };
    s.replace_indexed_item(p.id, "jira", &jira_item, &[(issue.clone(), Vec::new())]).await.unwrap();
    assert_eq!(s.indexed_items(p.id, "jira").await.unwrap(), vec![jira_item]);
    assert_eq!(s.indexed_items(p.id, SCAN).await.unwrap().len(), 1);
    assert_eq!(s.remove_indexed_items(p.id, "jira", &["src/b.py".into()]).await.unwrap(), 1);
    assert!(s.context_by_id(issue.id).await.unwrap().is_none());
    assert_eq!(s.indexed_items(p.id, SCAN).await.unwrap().len(), 1, "the scan's file stays");
}

const SCAN: &str = "codebase_scan";
