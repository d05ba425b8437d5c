//! Conformance scenarios: Analytics events and their totals.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use tc_store::*;
use uuid::Uuid;

use crate::fixtures::*;

/// This area's scenarios, listed beside them; `conformance_suite!` runs every area's list.
#[doc(hidden)]
#[macro_export]
macro_rules! analytics_scenarios {
    ($make:path) => {
        $crate::conformance_suite!(@tests $make; analytics;
            event_totals_by_day_project_and_source,
            event_totals_split_partial_days,
        );
    };
}

/// An analytics event of `kind` by `user` in `project` at `at`, worth `tokens`.
fn event(
    user: Uuid,
    project: Option<Uuid>,
    kind: &str,
    at: DateTime<Utc>,
    tokens: i64,
    source: Option<&str>,
) -> AnalyticsEventRecord {
    AnalyticsEventRecord {
        id: Uuid::now_v7(),
        user_id: user,
        project_id: project,
        event_type: kind.into(),
        timestamp: at,
        tokens_saved: tokens,
        tokens_avoided: tokens,
        contexts_retrieved: i64::from(kind == "context_retrieve"),
        api_calls_made: 1,
        processing_time_ms: 1.0,
        model: None,
        price_per_mtok: Some(3.0),
        estimated_savings_usd: tokens as f64 * 3.0 / 1e6,
        source: source.map(str::to_string),
        prompt_tokens: 2 * tokens,
        completion_tokens: tokens,
        llm_cost_usd: tokens as f64 / 1e6,
    }
}

/// Midnight UTC of 2026-03-{day}, plus `ms` milliseconds.
fn march(day: u32, ms: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, 0, 0, 0).single().expect("valid date")
        + Duration::milliseconds(ms)
}

/// (key, event type) → (events, tokens saved), sorted, for comparing totals.
fn totals(rows: Vec<EventTotals>) -> Vec<(EventKey, String, i64, i64)> {
    let mut out: Vec<_> =
        rows.into_iter().map(|t| (t.key, t.event_type, t.events, t.tokens_saved)).collect();
    out.sort();
    out
}

const HOUR: i64 = 3_600_000;

pub async fn event_totals_by_day_project_and_source<S: Store>(s: Arc<S>) {
    let (u1, p1) = owned_project(&*s, "events1@example.com").await;
    let u2 = new_user(&*s, "events2@example.com").await;
    let p2 = project(u1.id, "second");
    s.insert_project(&p2).await.unwrap();
    let retrieve = "context_retrieve";
    s.insert_analytics_events(&[
        event(u1.id, Some(p1.id), retrieve, march(10, 10 * HOUR), 100, Some("claude")),
        event(u1.id, Some(p1.id), "context_save", march(11, -1), 40, Some("cursor")),
        event(u1.id, Some(p2.id), retrieve, march(11, 0), 50, Some("claude")),
        event(u1.id, None, retrieve, march(11, 8 * HOUR), 7, Some("claude")),
        event(u2.id, Some(p1.id), retrieve, march(12, 12 * HOUR), 10, None),
        event(u1.id, Some(p1.id), retrieve, march(15, 0), 1000, Some("claude")),
    ])
    .await
    .unwrap();
    // A second batch adds to the same day's groups.
    s.insert_analytics_events(&[event(
        u1.id,
        Some(p1.id),
        retrieve,
        march(10, 11 * HOUR),
        1,
        Some("claude"),
    )])
    .await
    .unwrap();

    let mine = EventScope {
        user_id: Some(u1.id),
        project_ids: vec![p1.id, p2.id],
        include_projectless: true,
        from: march(10, 0),
        until: march(13, 0),
    };
    let day = |d| EventKey::Day(march(d, 0));
    let r = retrieve.to_string();
    assert_eq!(
        totals(s.event_totals(&mine, EventGroup::Day).await.unwrap()),
        vec![
            (day(10), "context_retrieve".into(), 2, 101),
            (day(10), "context_save".into(), 1, 40),
            (day(11), r.clone(), 2, 57),
        ]
    );
    let all = s.event_totals(&mine, EventGroup::Day).await.unwrap();
    let savings: f64 = all.iter().map(|t| t.estimated_savings_usd).sum();
    assert!((savings - 198.0 * 3.0 / 1e6).abs() < 1e-12, "{savings}");
    assert_eq!(all.iter().map(|t| t.contexts_retrieved).sum::<i64>(), 4);
    assert_eq!(all.iter().map(|t| t.prompt_tokens).sum::<i64>(), 2 * 198);
    assert_eq!(all.iter().map(|t| t.completion_tokens).sum::<i64>(), 198);
    let cost: f64 = all.iter().map(|t| t.llm_cost_usd).sum();
    assert!((cost - 198.0 / 1e6).abs() < 1e-12, "{cost}");

    let project_only = EventScope { include_projectless: false, ..mine.clone() };
    assert_eq!(
        totals(s.event_totals(&project_only, EventGroup::Project).await.unwrap()),
        vec![
            (EventKey::Project(Some(p1.id)), r.clone(), 2, 101),
            (EventKey::Project(Some(p1.id)), "context_save".into(), 1, 40),
            (EventKey::Project(Some(p2.id)), r.clone(), 1, 50),
        ]
    );

    // Everyone's events in p1 (a project report), by source.
    let team = EventScope {
        user_id: None,
        project_ids: vec![p1.id],
        include_projectless: false,
        from: march(1, 0),
        until: march(31, 0),
    };
    assert_eq!(
        totals(s.event_totals(&team, EventGroup::Source).await.unwrap()),
        vec![
            (EventKey::Source(None), r.clone(), 1, 10),
            (EventKey::Source(Some("claude".into())), r.clone(), 3, 1101),
            (EventKey::Source(Some("cursor".into())), "context_save".into(), 1, 40),
        ]
    );
    // A project outside the scope contributes nothing; an empty or reversed range is empty.
    let none = EventScope { project_ids: vec![Uuid::now_v7()], ..team.clone() };
    assert!(s.event_totals(&none, EventGroup::Day).await.unwrap().is_empty());
    let reversed = EventScope { from: team.until, until: team.from, ..team.clone() };
    assert!(s.event_totals(&reversed, EventGroup::Day).await.unwrap().is_empty());
}

pub async fn event_totals_split_partial_days<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "partial@example.com").await;
    let at = |d, h: i64| march(d, h * HOUR);
    let mut events = Vec::new();
    for d in 3..=6 {
        for h in [0, 6, 12, 18] {
            events.push(event(u.id, Some(p.id), "context_retrieve", at(d, h), d as i64, None));
        }
    }
    s.insert_analytics_events(&events).await.unwrap();
    let count = |from, until| {
        let s = s.clone();
        let scope = EventScope {
            user_id: Some(u.id),
            project_ids: vec![p.id],
            include_projectless: false,
            from,
            until,
        };
        async move {
            let rows = s.event_totals(&scope, EventGroup::Day).await.unwrap();
            let mut days: Vec<(EventKey, i64)> =
                rows.into_iter().map(|t| (t.key, t.events)).collect();
            days.sort();
            days
        }
    };
    let day = |d| EventKey::Day(march(d, 0));
    // Whole days only.
    assert_eq!(count(at(4, 0), at(6, 0)).await, vec![(day(4), 4), (day(5), 4)]);
    // Partial first and last days: from 06:00 on the 3rd (inclusive) to 12:00 on the 6th
    // (exclusive).
    assert_eq!(
        count(at(3, 6), at(6, 12)).await,
        vec![(day(3), 3), (day(4), 4), (day(5), 4), (day(6), 2)]
    );
    // The model's tokens add up the same way over the rollup and the raw partial days.
    let scope = EventScope {
        user_id: Some(u.id),
        project_ids: vec![p.id],
        include_projectless: false,
        from: at(3, 6),
        until: at(6, 12),
    };
    let rows = s.event_totals(&scope, EventGroup::Day).await.unwrap();
    let prompt: i64 = rows.iter().map(|t| t.prompt_tokens).sum();
    assert_eq!(prompt, 2 * (3 * 3 + 4 * 4 + 4 * 5 + 2 * 6));
    // Within one day, and one millisecond either side of an event.
    assert_eq!(count(at(4, 6), at(4, 18)).await, vec![(day(4), 2)]);
    assert_eq!(count(at(4, 6) + Duration::milliseconds(1), at(4, 12)).await, vec![]);
    assert_eq!(count(at(4, 5), at(4, 6) + Duration::milliseconds(1)).await, vec![(day(4), 1)]);
    // Starting just before midnight, ending just after the next one.
    assert_eq!(
        count(at(3, 18), at(5, 0) + Duration::milliseconds(1)).await,
        vec![(day(3), 1), (day(4), 4), (day(5), 1)]
    );
}
