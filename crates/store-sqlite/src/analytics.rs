//! Analytics events and the sums reports are made of.
//!
//! Every insert also adds the event to `analytics_daily`, a rollup per UTC day, user, project,
//! source and event type, in the same transaction. A report over a range reads the rollup for the
//! whole days inside it and the raw events only for the partial days at its ends, so its cost
//! grows with the number of days and groups, not with the number of events.

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, params, params_from_iter};
use tc_store::{
    AnalyticsEventRecord, EventGroup, EventKey, EventScope, EventTotals, StoreError, StoreResult,
};
use uuid::Uuid;

use crate::convert::ms;
use crate::db_err;

const DAY_MS: i64 = 86_400_000;

/// An event as a rollup row (one event, its day, `''` for none).
const RAW_COLUMNS: &str = "(timestamp / 86400000) * 86400000, COALESCE(project_id, ''), \
     COALESCE(source, ''), event_type, 1, tokens_saved, tokens_avoided, contexts_retrieved, \
     api_calls_made, estimated_savings_usd, prompt_tokens, completion_tokens, llm_cost_usd";

pub(crate) fn insert_events(
    c: &mut Connection,
    events: &[AnalyticsEventRecord],
) -> StoreResult<()> {
    let tx = c.transaction().map_err(db_err)?;
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO analytics_events (id, user_id, project_id, event_type, timestamp, \
                 tokens_saved, tokens_avoided, contexts_retrieved, api_calls_made, \
                 processing_time_ms, model, price_per_mtok, estimated_savings_usd, source, \
                 prompt_tokens, completion_tokens, llm_cost_usd) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .map_err(db_err)?;
        let mut roll_up = tx
            .prepare_cached(
                "INSERT INTO analytics_daily (day, user_id, project_id, source, event_type, \
                 events, tokens_saved, tokens_avoided, contexts_retrieved, api_calls_made, \
                 estimated_savings_usd, prompt_tokens, completion_tokens, llm_cost_usd) \
                 VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT DO UPDATE SET events = events + 1, \
                 tokens_saved = tokens_saved + excluded.tokens_saved, \
                 tokens_avoided = tokens_avoided + excluded.tokens_avoided, \
                 contexts_retrieved = contexts_retrieved + excluded.contexts_retrieved, \
                 api_calls_made = api_calls_made + excluded.api_calls_made, \
                 estimated_savings_usd = estimated_savings_usd + excluded.estimated_savings_usd, \
                 prompt_tokens = prompt_tokens + excluded.prompt_tokens, \
                 completion_tokens = completion_tokens + excluded.completion_tokens, \
                 llm_cost_usd = llm_cost_usd + excluded.llm_cost_usd",
            )
            .map_err(db_err)?;
        for e in events {
            let at = ms(e.timestamp);
            insert
                .execute(params![
                    e.id.to_string(),
                    e.user_id.to_string(),
                    e.project_id.map(|p| p.to_string()),
                    e.event_type,
                    at,
                    e.tokens_saved,
                    e.tokens_avoided,
                    e.contexts_retrieved,
                    e.api_calls_made,
                    e.processing_time_ms,
                    e.model,
                    e.price_per_mtok,
                    e.estimated_savings_usd,
                    e.source,
                    e.prompt_tokens,
                    e.completion_tokens,
                    e.llm_cost_usd,
                ])
                .map_err(db_err)?;
            roll_up
                .execute(params![
                    at.div_euclid(DAY_MS) * DAY_MS,
                    e.user_id.to_string(),
                    e.project_id.map(|p| p.to_string()).unwrap_or_default(),
                    e.source.clone().unwrap_or_default(),
                    e.event_type,
                    e.tokens_saved,
                    e.tokens_avoided,
                    e.contexts_retrieved,
                    e.api_calls_made,
                    e.estimated_savings_usd,
                    e.prompt_tokens,
                    e.completion_tokens,
                    e.llm_cost_usd,
                ])
                .map_err(db_err)?;
        }
    }
    tx.commit().map_err(db_err)
}

/// Sums per group and event type over the scope: whole days from the rollup, the partial days
/// at either end from the events themselves.
pub(crate) fn event_totals(
    c: &Connection,
    scope: &EventScope,
    group: EventGroup,
) -> StoreResult<Vec<EventTotals>> {
    let (from, until) = (ms(scope.from), ms(scope.until));
    if from >= until {
        return Ok(Vec::new());
    }
    // Whole days: [first_midnight, last_midnight). The raw parts cover what lies outside.
    let first_midnight = (from + DAY_MS - 1).div_euclid(DAY_MS) * DAY_MS;
    let last_midnight = until.div_euclid(DAY_MS) * DAY_MS;

    // The partial days at either end are two separate ranges (one query each), so that each
    // is an index range scan rather than a filter over all of a project's events.
    let mut args: Vec<Value> = Vec::new();
    let daily_filter = scope_filter(scope, true, &mut args);
    args.extend([Value::Integer(first_midnight), Value::Integer(last_midnight)]);
    let head_filter = scope_filter(scope, false, &mut args);
    args.extend([Value::Integer(from), Value::Integer(first_midnight.min(until))]);
    let tail_filter = scope_filter(scope, false, &mut args);
    args.extend([Value::Integer(last_midnight.max(first_midnight)), Value::Integer(until)]);
    let key = match group {
        EventGroup::Day => "day",
        EventGroup::Project => "project_id",
        EventGroup::Source => "source",
    };
    let sql = format!(
        "WITH scoped AS (
            SELECT day, project_id, source, event_type, events, tokens_saved, tokens_avoided,
                   contexts_retrieved, api_calls_made, estimated_savings_usd, prompt_tokens,
                   completion_tokens, llm_cost_usd
            FROM analytics_daily WHERE {daily_filter} AND day >= ? AND day < ?
          UNION ALL
            SELECT {RAW_COLUMNS} FROM analytics_events
            WHERE {head_filter} AND timestamp >= ? AND timestamp < ?
          UNION ALL
            SELECT {RAW_COLUMNS} FROM analytics_events
            WHERE {tail_filter} AND timestamp >= ? AND timestamp < ?
        )
        SELECT {key}, event_type, sum(events), sum(tokens_saved), sum(tokens_avoided),
               sum(contexts_retrieved), sum(api_calls_made), sum(estimated_savings_usd),
               sum(prompt_tokens), sum(completion_tokens), sum(llm_cost_usd)
        FROM scoped GROUP BY 1, 2"
    );
    let mut stmt = c.prepare_cached(&sql).map_err(db_err)?;
    let rows = stmt.query(params_from_iter(args)).map_err(db_err)?;
    crate::convert::collect(rows, |r| {
        let key = match group {
            EventGroup::Day => {
                let day: i64 = r.get(0).map_err(db_err)?;
                EventKey::Day(
                    DateTime::<Utc>::from_timestamp_millis(day)
                        .ok_or_else(|| StoreError::database("bad day"))?,
                )
            }
            EventGroup::Project => {
                let id: String = r.get(0).map_err(db_err)?;
                EventKey::Project(if id.is_empty() {
                    None
                } else {
                    Some(Uuid::parse_str(&id).map_err(|_| StoreError::database("bad uuid"))?)
                })
            }
            EventGroup::Source => {
                let source: String = r.get(0).map_err(db_err)?;
                EventKey::Source((!source.is_empty()).then_some(source))
            }
        };
        Ok(EventTotals {
            key,
            event_type: r.get(1).map_err(db_err)?,
            events: r.get(2).map_err(db_err)?,
            tokens_saved: r.get(3).map_err(db_err)?,
            tokens_avoided: r.get(4).map_err(db_err)?,
            contexts_retrieved: r.get(5).map_err(db_err)?,
            api_calls_made: r.get(6).map_err(db_err)?,
            estimated_savings_usd: r.get(7).map_err(db_err)?,
            prompt_tokens: r.get(8).map_err(db_err)?,
            completion_tokens: r.get(9).map_err(db_err)?,
            llm_cost_usd: r.get(10).map_err(db_err)?,
        })
    })
}

/// The `WHERE` condition for the scope's user and projects, over the rollup (where "no project"
/// is `''`) or the events (`NULL`); pushes its arguments.
fn scope_filter(scope: &EventScope, rollup: bool, args: &mut Vec<Value>) -> String {
    let mut parts = Vec::new();
    if let Some(user) = scope.user_id {
        parts.push("user_id = ?".to_string());
        args.push(Value::Text(user.to_string()));
    }
    let ids: Vec<String> = scope.project_ids.iter().map(Uuid::to_string).collect();
    args.push(Value::Text(serde_json::to_string(&ids).unwrap_or_default()));
    let in_projects = "project_id IN (SELECT value FROM json_each(?))";
    parts.push(match (scope.include_projectless, rollup) {
        (false, _) => in_projects.to_string(),
        (true, true) => format!("({in_projects} OR project_id = '')"),
        (true, false) => format!("({in_projects} OR project_id IS NULL)"),
    });
    parts.join(" AND ")
}

#[async_trait::async_trait]
impl tc_store::AnalyticsStore for crate::SqliteStore {
    async fn insert_analytics_events(
        &self,
        events: &[tc_store::AnalyticsEventRecord],
    ) -> tc_store::StoreResult<()> {
        let events = events.to_vec();
        self.write(move |c| insert_events(c, &events)).await
    }
    async fn event_totals(
        &self,
        scope: &tc_store::EventScope,
        group: tc_store::EventGroup,
    ) -> tc_store::StoreResult<Vec<tc_store::EventTotals>> {
        let scope = scope.clone();
        self.read_blocking(move |c| event_totals(c, &scope, group)).await
    }
}

#[cfg(test)]
mod tests {
    use rusqlite_migration::Migrations;

    use super::*;

    /// Events recorded before the rollup existed are rolled up by the migration that adds it.
    #[test]
    fn upgrading_rolls_up_existing_events() {
        let mut c = Connection::open_in_memory().unwrap();
        let migrations = Migrations::from_slice(crate::MIGRATIONS);
        migrations.to_version(&mut c, 2).unwrap();
        let (user, project) = (Uuid::now_v7(), Uuid::now_v7());
        for (id, at, tokens) in [(1, DAY_MS + 5, 10), (2, DAY_MS + 6, 20), (3, 2 * DAY_MS, 5)] {
            c.execute(
                "INSERT INTO analytics_events (id, user_id, project_id, event_type, timestamp, \
                 tokens_saved) VALUES (?, ?, ?, 'context_retrieve', ?, ?)",
                params![id.to_string(), user.to_string(), project.to_string(), at, tokens],
            )
            .unwrap();
        }
        migrations.to_latest(&mut c).unwrap();
        let scope = EventScope {
            user_id: Some(user),
            project_ids: vec![project],
            include_projectless: false,
            from: DateTime::from_timestamp_millis(0).unwrap(),
            until: DateTime::from_timestamp_millis(10 * DAY_MS).unwrap(),
        };
        let mut days: Vec<(EventKey, i64, i64)> = event_totals(&c, &scope, EventGroup::Day)
            .unwrap()
            .into_iter()
            .map(|t| (t.key, t.events, t.tokens_saved))
            .collect();
        days.sort();
        let day = |d| EventKey::Day(DateTime::from_timestamp_millis(d * DAY_MS).unwrap());
        assert_eq!(days, vec![(day(1), 2, 30), (day(2), 1, 5)]);
    }
}
