//! Analytics events and the sums reports are made of, in PostgreSQL.
//!
//! As in SQLite, every insert also adds its events to `analytics_daily`, a rollup per UTC day,
//! user, project, source and event type, in the same statement; a report reads the rollup for
//! the whole days of its range and the raw events only for the partial days at its ends.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tc_store::{AnalyticsEventRecord, EventGroup, EventKey, EventScope, EventTotals, StoreResult};
use uuid::Uuid;

use crate::db::{self, client};
use crate::rows;

/// Midnight UTC of a timestamp, whatever the session's time zone.
const DAY_OF: &str = "date_bin('1 day', timestamp, timestamptz '1970-01-01 00:00:00+00')";

pub(crate) async fn insert_events(pool: &Pool, events: &[AnalyticsEventRecord]) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let e = events;
    // One statement: the events, and their sums folded into the rollup. A data-modifying WITH
    // runs to completion whether or not the main statement reads it.
    let sql = format!(
        "WITH batch AS (
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[],
                 $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::float8[], $11::text[],
                 $12::float8[], $13::float8[], $14::text[], $15::bigint[], $16::bigint[],
                 $17::float8[])
             AS t (id, user_id, project_id, event_type, timestamp, tokens_saved, tokens_avoided,
                   contexts_retrieved, api_calls_made, processing_time_ms, model, price_per_mtok,
                   estimated_savings_usd, source, prompt_tokens, completion_tokens, llm_cost_usd)
         ), stored AS (
             INSERT INTO analytics_events (id, user_id, project_id, event_type, timestamp,
                 tokens_saved, tokens_avoided, contexts_retrieved, api_calls_made,
                 processing_time_ms, model, price_per_mtok, estimated_savings_usd, source,
                 prompt_tokens, completion_tokens, llm_cost_usd)
             SELECT * FROM batch
         )
         INSERT INTO analytics_daily (day, user_id, project_id, source, event_type, events,
             tokens_saved, tokens_avoided, contexts_retrieved, api_calls_made,
             estimated_savings_usd, prompt_tokens, completion_tokens, llm_cost_usd)
         SELECT {DAY_OF}, user_id, COALESCE(project_id, '00000000-0000-0000-0000-000000000000'),
                COALESCE(source, ''), event_type, count(*), sum(tokens_saved), sum(tokens_avoided),
                sum(contexts_retrieved), sum(api_calls_made), sum(estimated_savings_usd),
                sum(prompt_tokens), sum(completion_tokens), sum(llm_cost_usd)
         FROM batch GROUP BY 1, 2, 3, 4, 5
         ON CONFLICT (project_id, day, user_id, source, event_type) DO UPDATE SET
             events = analytics_daily.events + excluded.events,
             tokens_saved = analytics_daily.tokens_saved + excluded.tokens_saved,
             tokens_avoided = analytics_daily.tokens_avoided + excluded.tokens_avoided,
             contexts_retrieved = analytics_daily.contexts_retrieved + excluded.contexts_retrieved,
             api_calls_made = analytics_daily.api_calls_made + excluded.api_calls_made,
             estimated_savings_usd = analytics_daily.estimated_savings_usd
                 + excluded.estimated_savings_usd,
             prompt_tokens = analytics_daily.prompt_tokens + excluded.prompt_tokens,
             completion_tokens = analytics_daily.completion_tokens + excluded.completion_tokens,
             llm_cost_usd = analytics_daily.llm_cost_usd + excluded.llm_cost_usd"
    );
    db::execute(
        &client(pool).await?,
        &sql,
        &[
            &e.iter().map(|e| e.id).collect::<Vec<_>>(),
            &e.iter().map(|e| e.user_id).collect::<Vec<_>>(),
            &e.iter().map(|e| e.project_id).collect::<Vec<_>>(),
            &e.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>(),
            &e.iter().map(|e| e.timestamp).collect::<Vec<_>>(),
            &e.iter().map(|e| e.tokens_saved).collect::<Vec<_>>(),
            &e.iter().map(|e| e.tokens_avoided).collect::<Vec<_>>(),
            &e.iter().map(|e| e.contexts_retrieved).collect::<Vec<_>>(),
            &e.iter().map(|e| e.api_calls_made).collect::<Vec<_>>(),
            &e.iter().map(|e| e.processing_time_ms).collect::<Vec<_>>(),
            &e.iter().map(|e| e.model.as_deref()).collect::<Vec<_>>(),
            &e.iter().map(|e| e.price_per_mtok).collect::<Vec<_>>(),
            &e.iter().map(|e| e.estimated_savings_usd).collect::<Vec<_>>(),
            &e.iter().map(|e| e.source.as_deref()).collect::<Vec<_>>(),
            &e.iter().map(|e| e.prompt_tokens).collect::<Vec<_>>(),
            &e.iter().map(|e| e.completion_tokens).collect::<Vec<_>>(),
            &e.iter().map(|e| e.llm_cost_usd).collect::<Vec<_>>(),
        ],
    )
    .await?;
    Ok(())
}

/// Sums per group and event type over the scope: whole days from the rollup, the partial days
/// at either end from the events themselves.
pub(crate) async fn event_totals(
    pool: &Pool,
    scope: &EventScope,
    group: EventGroup,
) -> StoreResult<Vec<EventTotals>> {
    if scope.from >= scope.until {
        return Ok(Vec::new());
    }
    let key = match group {
        EventGroup::Day => "day",
        EventGroup::Project => "project_id",
        EventGroup::Source => "source",
    };
    // $1 user (or NULL for everyone), $2 projects, $3 include events tied to no project,
    // $4 from, $5 until. Whole days are [first midnight, last midnight).
    let raw = format!(
        "SELECT {DAY_OF} AS day, COALESCE(project_id, '00000000-0000-0000-0000-000000000000') \
         AS project_id, COALESCE(source, '') AS source, event_type, 1 AS events, tokens_saved, \
         tokens_avoided, contexts_retrieved, api_calls_made, estimated_savings_usd, \
         prompt_tokens, completion_tokens, llm_cost_usd \
         FROM analytics_events \
         WHERE ($1::uuid IS NULL OR user_id = $1) \
           AND (project_id = ANY($2) OR ($3 AND project_id IS NULL))"
    );
    let sql = format!(
        "WITH bounds AS (
             SELECT date_bin('1 day', $4::timestamptz, timestamptz '1970-01-01 00:00:00+00')
                        + CASE WHEN date_bin('1 day', $4::timestamptz,
                                   timestamptz '1970-01-01 00:00:00+00') = $4::timestamptz
                               THEN interval '0' ELSE interval '1 day' END AS first_midnight,
                    date_bin('1 day', $5::timestamptz, timestamptz '1970-01-01 00:00:00+00')
                        AS last_midnight
         ), scoped AS (
             SELECT day, project_id, source, event_type, events, tokens_saved, tokens_avoided,
                    contexts_retrieved, api_calls_made, estimated_savings_usd, prompt_tokens,
                    completion_tokens, llm_cost_usd
             FROM analytics_daily, bounds
             WHERE ($1::uuid IS NULL OR user_id = $1)
               AND (project_id = ANY($2)
                    OR ($3 AND project_id = '00000000-0000-0000-0000-000000000000'))
               AND day >= first_midnight AND day < last_midnight
           UNION ALL
             SELECT r.* FROM ({raw} AND timestamp >= $4
                 AND timestamp < (SELECT LEAST(first_midnight, $5::timestamptz) FROM bounds)) r
           UNION ALL
             SELECT r.* FROM ({raw}
                 AND timestamp >= (SELECT GREATEST(last_midnight, first_midnight) FROM bounds)
                 AND timestamp < $5) r
         )
         SELECT {key} AS key, event_type, sum(events)::bigint AS events,
                sum(tokens_saved)::bigint AS tokens_saved,
                sum(tokens_avoided)::bigint AS tokens_avoided,
                sum(contexts_retrieved)::bigint AS contexts_retrieved,
                sum(api_calls_made)::bigint AS api_calls_made,
                sum(estimated_savings_usd)::float8 AS estimated_savings_usd,
                sum(prompt_tokens)::bigint AS prompt_tokens,
                sum(completion_tokens)::bigint AS completion_tokens,
                sum(llm_cost_usd)::float8 AS llm_cost_usd
         FROM scoped GROUP BY 1, 2"
    );
    let found = db::query(
        &client(pool).await?,
        &sql,
        &[
            &scope.user_id,
            &scope.project_ids,
            &scope.include_projectless,
            &scope.from,
            &scope.until,
        ],
    )
    .await?;
    rows::all(found, |r| {
        let key = match group {
            EventGroup::Day => EventKey::Day(rows::get::<DateTime<Utc>>(r, "key")?),
            EventGroup::Project => {
                let id: Uuid = rows::get(r, "key")?;
                EventKey::Project((!id.is_nil()).then_some(id))
            }
            EventGroup::Source => {
                let source: String = rows::get(r, "key")?;
                EventKey::Source((!source.is_empty()).then_some(source))
            }
        };
        Ok(EventTotals {
            key,
            event_type: rows::get(r, "event_type")?,
            events: rows::get(r, "events")?,
            tokens_saved: rows::get(r, "tokens_saved")?,
            tokens_avoided: rows::get(r, "tokens_avoided")?,
            contexts_retrieved: rows::get(r, "contexts_retrieved")?,
            api_calls_made: rows::get(r, "api_calls_made")?,
            estimated_savings_usd: rows::get(r, "estimated_savings_usd")?,
            prompt_tokens: rows::get(r, "prompt_tokens")?,
            completion_tokens: rows::get(r, "completion_tokens")?,
            llm_cost_usd: rows::get(r, "llm_cost_usd")?,
        })
    })
}

#[async_trait::async_trait]
impl tc_store::AnalyticsStore for crate::PgStore {
    async fn insert_analytics_events(
        &self,
        events: &[tc_store::AnalyticsEventRecord],
    ) -> tc_store::StoreResult<()> {
        insert_events(&self.pool, events).await
    }
    async fn event_totals(
        &self,
        scope: &tc_store::EventScope,
        group: tc_store::EventGroup,
    ) -> tc_store::StoreResult<Vec<tc_store::EventTotals>> {
        event_totals(&self.pool, scope, group).await
    }
}
