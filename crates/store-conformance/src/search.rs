//! Conformance scenarios: Vector and keyword search: exact within a filter, recall over large sets, wide vectors.

use std::sync::Arc;

use chrono::Duration;
use tc_store::*;
use uuid::Uuid;

use crate::fixtures::*;

/// This area's scenarios, listed beside them; `conformance_suite!` runs every area's list.
#[doc(hidden)]
#[macro_export]
macro_rules! search_scenarios {
    ($make:path) => {
        $crate::conformance_suite!(@tests $make; search;
            vector_search_is_exact_within_the_filter,
            vector_search_over_a_large_set_keeps_recall,
            vectors_of_thousands_of_dimensions_are_searched,
            keyword_search_ranks_within_the_filter,
            purge_removes_contexts_from_search,
        );
    };
}

pub async fn vector_search_is_exact_within_the_filter<S: Store>(s: Arc<S>) {
    let (u, a) = owned_project(&*s, "vec-a@example.com").await;
    let b = project(u.id, "b");
    s.insert_project(&b).await.unwrap();
    // Project B holds the 40 closest contexts; project A 30 farther ones. A search limited to A
    // must still return 10 results from A.
    let mut rows = Vec::new();
    for i in 0..40 {
        let c = context(b.id, u.id, &format!("b{i}"));
        rows.push((c.clone(), vec![passage_for(&c, unit(0, 0.01 * i as f32))]));
    }
    let mut a_contexts = Vec::new();
    for i in 0..30 {
        let c = context(a.id, u.id, &format!("a{i}"));
        let mut far = passage_for(&c, unit(1, 0.02 * i as f32));
        far.start = 0;
        far.end = 1;
        let mut near = passage_for(&c, unit(0, 0.5 + 0.01 * i as f32));
        near.start = 1;
        near.end = 2;
        rows.push((c.clone(), vec![far, near]));
        a_contexts.push(c);
    }
    s.insert_contexts(&rows).await.unwrap();
    let query = unit(0, 0.0);
    let hits = s.vector_search(&query, "test-model", &[a.id], 10).await.unwrap();
    assert_eq!(hits.len(), 10);
    let a_ids: Vec<Uuid> = a_contexts.iter().map(|c| c.id).collect();
    assert!(hits.iter().all(|h| a_ids.contains(&h.context_id)), "never outside the filter");
    assert_eq!(hits[0].context_id, a_contexts[0].id, "closest first");
    assert_eq!((hits[0].start, hits[0].end), (1, 2), "the best passage is reported");
    assert!(hits.windows(2).all(|w| w[0].similarity >= w[1].similarity));
    let expected: f32 = unit(0, 0.5).iter().zip(&query).map(|(x, y)| x * y).sum();
    assert!((hits[0].similarity - expected).abs() < 1e-4);

    let all = s.vector_search(&query, "test-model", &[a.id, b.id], 100).await.unwrap();
    assert_eq!(all.len(), 70, "one hit per context, every context");
    assert!(s.vector_search(&query, "another-model", &[a.id], 10).await.unwrap().is_empty());
    assert!(s.vector_search(&query, "test-model", &[], 10).await.unwrap().is_empty());

    // The similarity of named contexts, whatever their rank: the best passage of each.
    let far_one = &a_contexts[29];
    let named = [far_one.id, a_contexts[0].id, Uuid::now_v7()];
    let mut sims = s.passage_similarities(&query, "test-model", &named).await.unwrap();
    sims.sort_by_key(|h| h.context_id);
    assert_eq!(sims.len(), 2, "an unknown context is left out");
    let far_hit = sims.iter().find(|h| h.context_id == far_one.id).unwrap();
    assert_eq!((far_hit.start, far_hit.end), (1, 2), "its best passage");
    let expected: f32 = unit(0, 0.5 + 0.29).iter().zip(&query).map(|(x, y)| x * y).sum();
    assert!((far_hit.similarity - expected).abs() < 1e-4);
    assert!(s.passage_similarities(&query, "another-model", &named).await.unwrap().is_empty());
    assert!(s.passage_similarities(&query, "test-model", &[]).await.unwrap().is_empty());
}

/// A filter too large to rank exactly (over 20,000 passages, where both backends switch to
/// their graphs): the results stay inside the filter, find the true nearest neighbours, and
/// report each one's similarity to within half-precision rounding (the graphs may hold their
/// vectors as f16).
pub async fn vector_search_over_a_large_set_keeps_recall<S: Store>(s: Arc<S>) {
    const DIM: usize = 32;
    let (u, big) = owned_project(&*s, "large-set@example.com").await;
    let small = project(u.id, "small");
    s.insert_project(&small).await.unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let centres: Vec<Vec<f32>> = (0..64).map(|_| rng.direction(DIM)).collect();
    let mut stored: Vec<(Uuid, Uuid, Vec<f32>)> = Vec::new();
    for batch in 0..24 {
        let mut rows = Vec::new();
        for i in 0..1000 {
            let p = if batch == 0 { &small } else { &big };
            let c = context(p.id, u.id, &format!("passage {batch}-{i}"));
            let v = rng.vector(&centres, 0.5);
            stored.push((c.id, p.id, v.clone()));
            rows.push((c.clone(), vec![passage_for(&c, v)]));
        }
        s.insert_contexts(&rows).await.unwrap();
    }
    let (mut found, mut wanted) = (0, 0);
    for _ in 0..20 {
        let query = rng.vector(&centres, 0.5);
        let hits = s.vector_search(&query, "test-model", &[big.id], 10).await.unwrap();
        assert_eq!(hits.len(), 10);
        let mut truth: Vec<(f32, Uuid)> = stored
            .iter()
            .filter(|(_, p, _)| *p == big.id)
            .map(|(id, _, v)| (dot(v, &query), *id))
            .collect();
        truth.sort_by(|a, b| b.0.total_cmp(&a.0));
        for h in &hits {
            let (_, p, v) = stored.iter().find(|(id, _, _)| *id == h.context_id).unwrap();
            assert_eq!(*p, big.id, "never outside the filter");
            let exact = dot(v, &query);
            assert!((h.similarity - exact).abs() < 2e-3, "{} against {exact}", h.similarity);
        }
        assert!(hits.windows(2).all(|w| w[0].similarity >= w[1].similarity), "best first");
        found += hits.iter().filter(|h| truth[..10].iter().any(|t| t.1 == h.context_id)).count();
        wanted += 10;
    }
    let recall = found as f64 / wanted as f64;
    assert!(recall >= 0.9, "recall@10 {recall} over 23,000 passages");
}

/// Embedding models with thousands of dimensions (3,072 for a large hosted model) are stored
/// and searched like small ones.
pub async fn vectors_of_thousands_of_dimensions_are_searched<S: Store>(s: Arc<S>) {
    const DIM: usize = 3072;
    let (u, p) = owned_project(&*s, "wide@example.com").await;
    let mut rng = Rng(7);
    let rows: Vec<_> = (0..20)
        .map(|i| {
            let c = context(p.id, u.id, &format!("wide {i}"));
            let v = rng.direction(DIM);
            (c.clone(), vec![passage_for(&c, v)])
        })
        .collect();
    s.insert_contexts(&rows).await.unwrap();
    let target = &rows[7];
    let hits = s.vector_search(&target.1[0].vector, "test-model", &[p.id], 3).await.unwrap();
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0].context_id, target.0.id);
    assert!((hits[0].similarity - 1.0).abs() < 1e-5);
}

pub async fn keyword_search_ranks_within_the_filter<S: Store>(s: Arc<S>) {
    let (u, a) = owned_project(&*s, "kw@example.com").await;
    let b = project(u.id, "b");
    s.insert_project(&b).await.unwrap();
    let strong =
        context(a.id, u.id, "Stripe webhook retries: webhook signatures and webhook replay");
    let weak = context(
        a.id,
        u.id,
        "a note that mentions a webhook once among many other words about lunch",
    );
    let unrelated = context(a.id, u.id, "the office coffee machine schedule");
    let elsewhere = context(b.id, u.id, "Stripe webhook retries webhook webhook");
    let rows: Vec<_> = [&strong, &weak, &unrelated, &elsewhere]
        .iter()
        .map(|c| ((*c).clone(), Vec::new()))
        .collect();
    s.insert_contexts(&rows).await.unwrap();

    let hits = s.keyword_search("stripe WEBHOOK", &[a.id], 10).await.unwrap();
    let ids: Vec<Uuid> = hits.iter().map(|h| h.context_id).collect();
    assert_eq!(ids, vec![strong.id, weak.id]);
    assert!(hits[0].score > hits[1].score && hits[1].score > 0.0);
    assert!(s.keyword_search("\" OR NEAR( *", &[a.id], 10).await.is_ok(), "operators are words");
    assert!(s.keyword_search("   ", &[a.id], 10).await.unwrap().is_empty());
    let stemmed: Vec<Uuid> = s
        .keyword_search("retry", &[a.id], 10)
        .await
        .unwrap()
        .iter()
        .map(|h| h.context_id)
        .collect();
    assert_eq!(stemmed, vec![strong.id], "English stemming: retry finds retries");
    let stop: Vec<Uuid> = s
        .keyword_search("the webhook", &[a.id], 10)
        .await
        .unwrap()
        .iter()
        .map(|h| h.context_id)
        .collect();
    assert_eq!(stop.len(), 2, "a stopword alone matches nothing extra");
    assert_eq!(s.keyword_search("webhook", &[a.id, b.id], 1).await.unwrap().len(), 1);
    assert_eq!(s.delete_context(strong.id).await.unwrap(), 1);
    let after: Vec<Uuid> = s
        .keyword_search("stripe webhook", &[a.id], 10)
        .await
        .unwrap()
        .iter()
        .map(|h| h.context_id)
        .collect();
    assert_eq!(after, vec![weak.id], "deleted contexts leave the keyword index");
}

pub async fn purge_removes_contexts_from_search<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "purge-ctx@example.com").await;
    let c = context(p.id, u.id, "purged webhook note");
    s.insert_contexts(&[(c.clone(), vec![passage_for(&c, unit(0, 0.0))])]).await.unwrap();
    s.set_project_deleted(p.id, Some(t0()), t0()).await.unwrap();
    assert_eq!(s.purge_deleted_projects(t0() + Duration::days(31)).await.unwrap(), 1);
    assert!(s.context_by_id(c.id).await.unwrap().is_none());
    assert!(s.vector_search(&unit(0, 0.0), "test-model", &[p.id], 10).await.unwrap().is_empty());
    assert!(s.keyword_search("webhook", &[p.id], 10).await.unwrap().is_empty());
}
