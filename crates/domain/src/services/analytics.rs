//! Analytics reports (SPEC §11): cost savings by period, usage, and context insights.
//!
//! A report covers either the caller's own activity (the default, or `user_id` set to the
//! caller) in the projects they can still read, or a whole project's activity (`project_id`,
//! any member or reader of it). Sums come from the store (`Store::event_totals`), which
//! aggregates in the database; this module only validates, scopes, folds days into weeks or
//! months and values tokens at a model's input price.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use tc_store::{EventGroup, EventKey, EventScope, EventTotals, Scope};
use uuid::Uuid;

use super::Services;
use super::access::Access;
use super::ai::AI_EVENT_TYPES;
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::views::{
    AccessedContext, AiUsage, ContextInsightsReport, CostSavingsReport, ProjectUsage, ReportQuery,
    ReportScope, SavingsPeriod, UsageReport,
};

const SAVE: &str = "context_save";
const RETRIEVE: &str = "context_retrieve";
/// The range a report covers when no `start_date` is given.
const DEFAULT_DAYS: i64 = 30;
/// More periods than this in one breakdown is a mistake (ten years by day); ask for a coarser
/// `group_by`.
const MAX_PERIODS: usize = 1_100;
const TOP_PROJECTS: usize = 5;
const TOP_CONTEXTS: usize = 10;
/// How much of a context's text insights show.
const PREVIEW_CHARS: usize = 300;
/// The longest range `get_cost_savings` accepts, in days.
pub const MAX_REPORT_DAYS: u32 = 3_660;

/// How a cost report's breakdown is grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    Month,
}

impl Period {
    fn parse(s: Option<&str>) -> DomainResult<Self> {
        match s.unwrap_or("day") {
            "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            "month" => Ok(Self::Month),
            other => Err(DomainError::validation(
                "group_by",
                format!("`group_by` must be day, week or month, not {other:?}"),
            )),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }

    /// The first day of the period containing `day`.
    fn start(self, day: NaiveDate) -> NaiveDate {
        match self {
            Self::Day => day,
            Self::Week => day - Duration::days(day.weekday().num_days_from_monday().into()),
            Self::Month => day.with_day(1).unwrap_or(day),
        }
    }

    /// The first day of the period after the one starting on `start`.
    fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Self::Day => start + Duration::days(1),
            Self::Week => start + Duration::days(7),
            Self::Month => start.checked_add_months(chrono::Months::new(1)).unwrap_or(start),
        }
    }

    fn label(self, start: NaiveDate) -> String {
        match self {
            Self::Day => start.format("%Y-%m-%d").to_string(),
            Self::Week => {
                let week = start.iso_week();
                format!("{}-W{:02}", week.year(), week.week())
            }
            Self::Month => start.format("%Y-%m").to_string(),
        }
    }
}

/// The time range of a report: `from` inclusive, `until` exclusive, both UTC.
#[derive(Debug, Clone, Copy)]
struct Range {
    from: DateTime<Utc>,
    until: DateTime<Utc>,
}

/// Reads `start_date` / `end_date`: RFC 3339 times (any offset, converted to UTC) or plain
/// dates, a plain end date covering its whole day.
fn parse_range(start: Option<&str>, end: Option<&str>, now: DateTime<Utc>) -> DomainResult<Range> {
    let until = match end {
        None => now,
        Some(text) => parse_instant("end_date", text, true)?,
    };
    let from = match start {
        None => until - Duration::days(DEFAULT_DAYS),
        Some(text) => parse_instant("start_date", text, false)?,
    };
    if from >= until {
        return Err(DomainError::validation(
            "start_date",
            "`start_date` must be before `end_date`",
        ));
    }
    Ok(Range { from, until })
}

fn parse_instant(field: &str, text: &str, end_of_day: bool) -> DomainResult<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let day = if end_of_day { day.succ_opt().unwrap_or(day) } else { day };
        return Ok(Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN)));
    }
    Err(DomainError::validation(
        field,
        format!(
            "`{field}` must be a date (2026-03-01) or an RFC 3339 time (2026-03-01T09:00:00Z), \
             not {text:?}"
        ),
    ))
}

fn parse_uuid(field: &str, text: Option<&str>) -> DomainResult<Option<Uuid>> {
    text.map(|t| {
        Uuid::parse_str(t.trim())
            .map_err(|_| DomainError::validation(field, format!("`{field}` is not a valid id")))
    })
    .transpose()
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN))
}

fn sum<'a>(rows: impl IntoIterator<Item = &'a EventTotals>, f: fn(&EventTotals) -> i64) -> i64 {
    rows.into_iter().map(f).sum()
}

impl Services {
    /// Decides whose events a report covers, failing as the rest of the API does: another
    /// user's activity is refused, an unreadable project is not found.
    async fn report_scope(
        &self,
        caller: &Caller,
        query: &ReportQuery,
        range: Range,
    ) -> DomainResult<(EventScope, ReportScope)> {
        self.require_verified(caller)?;
        caller.require_scope(Scope::Read)?;
        let user_id = parse_uuid("user_id", query.user_id.as_deref())?;
        let project_id = parse_uuid("project_id", query.project_id.as_deref())?;
        if project_id.is_none() && user_id.is_some_and(|u| u != caller.user_id) {
            return Err(DomainError::new(
                ErrorCode::InsufficientPermissions,
                "reports cover your own activity or a project's; another user's is theirs",
            ));
        }
        let (project_ids, include_projectless) = match project_id {
            Some(id) => {
                self.project_for(caller, id, Access::Read).await?;
                (vec![id], false)
            }
            None => (self.readable_for(caller).await?, caller.project_restriction().is_none()),
        };
        // Without a project the report is the caller's own activity.
        let user_id = if project_id.is_some() { user_id } else { Some(caller.user_id) };
        let scope = EventScope {
            user_id,
            project_ids,
            include_projectless,
            from: range.from,
            until: range.until,
        };
        Ok((scope, ReportScope { user_id, project_id }))
    }

    /// Tokens retrieved instead of pasted, and what they are worth, per day, week or month.
    pub async fn cost_savings(
        &self,
        caller: &Caller,
        query: &ReportQuery,
    ) -> DomainResult<CostSavingsReport> {
        let range =
            parse_range(query.start_date.as_deref(), query.end_date.as_deref(), self.now())?;
        let period = Period::parse(query.group_by.as_deref())?;
        let model = query.model.clone().unwrap_or_else(|| self.pricing.model.clone());
        let Some(&price) = self.pricing.prices.get(&model) else {
            let known: Vec<&String> = self.pricing.prices.keys().collect();
            return Err(DomainError::validation(
                "model",
                format!("no price is configured for {model:?}; known models: {known:?}"),
            ));
        };
        let periods = periods(period, range)?;
        let (scope, report_scope) = self.report_scope(caller, query, range).await?;
        let rows = self.store.event_totals(&scope, EventGroup::Day).await?;
        let retrievals: Vec<&EventTotals> =
            rows.iter().filter(|t| t.event_type == RETRIEVE).collect();
        let mut llm_cost: BTreeMap<NaiveDate, f64> = BTreeMap::new();
        for t in rows.iter().filter(|t| AI_EVENT_TYPES.contains(&t.event_type.as_str())) {
            let EventKey::Day(day) = t.key else { continue };
            *llm_cost.entry(period.start(day.date_naive())).or_default() += t.llm_cost_usd;
        }

        let mut by_period: BTreeMap<NaiveDate, (i64, i64, i64)> =
            periods.iter().map(|start| (*start, (0, 0, 0))).collect();
        for t in &retrievals {
            let EventKey::Day(day) = t.key else { continue };
            let entry = by_period.entry(period.start(day.date_naive())).or_default();
            entry.0 += t.tokens_saved;
            entry.1 += t.tokens_avoided;
            entry.2 += t.contexts_retrieved;
        }
        let usd = |tokens: i64| tokens as f64 * price / 1_000_000.0;
        let breakdown = by_period
            .into_iter()
            .map(|(start, (saved, avoided, retrieved))| SavingsPeriod {
                period: period.label(start),
                start: midnight(start),
                tokens_saved: saved,
                tokens_avoided: avoided,
                contexts_retrieved: retrieved,
                savings_usd: usd(saved),
                llm_cost_usd: llm_cost.get(&start).copied().unwrap_or_default(),
            })
            .collect();
        let llm_cost_usd: f64 = llm_cost.values().sum();
        let saved = sum(retrievals.iter().copied(), |t| t.tokens_saved);
        let avoided = sum(retrievals.iter().copied(), |t| t.tokens_avoided);
        Ok(CostSavingsReport {
            total_tokens_saved: saved,
            total_tokens_avoided: avoided,
            estimated_cost_usd: usd(avoided),
            estimated_savings_usd: usd(saved),
            llm_cost_usd,
            net_savings_usd: usd(saved) - llm_cost_usd,
            contexts_retrieved: sum(retrievals.iter().copied(), |t| t.contexts_retrieved),
            searches: sum(retrievals.iter().copied(), |t| t.api_calls_made),
            model,
            price_per_mtok: price,
            start_date: range.from,
            end_date: range.until,
            group_by: period.as_str().into(),
            scope: report_scope,
            breakdown,
        })
    }

    /// Contexts saved and retrieved, the busiest projects and which assistants did it.
    pub async fn usage(&self, caller: &Caller, query: &ReportQuery) -> DomainResult<UsageReport> {
        let range =
            parse_range(query.start_date.as_deref(), query.end_date.as_deref(), self.now())?;
        let (scope, report_scope) = self.report_scope(caller, query, range).await?;
        let (by_project, by_source) = tokio::try_join!(
            self.store.event_totals(&scope, EventGroup::Project),
            self.store.event_totals(&scope, EventGroup::Source),
        )?;
        let of_type = |kind: &'static str| by_project.iter().filter(move |t| t.event_type == kind);

        let mut per_project: HashMap<Uuid, i64> = HashMap::new();
        for t in by_project.iter().filter(|t| t.event_type == SAVE || t.event_type == RETRIEVE) {
            if let EventKey::Project(Some(id)) = t.key {
                *per_project.entry(id).or_default() += t.events;
            }
        }
        let mut ranked: Vec<(Uuid, i64)> = per_project.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut top_projects = Vec::new();
        for (id, usage_count) in ranked.into_iter().take(TOP_PROJECTS) {
            if let Some(p) = self.store.project_by_id(id).await? {
                top_projects.push(ProjectUsage { project_id: id, name: p.name, usage_count });
            }
        }
        // Saves, and searches (a search that found context in several projects is one search).
        let mut sources_breakdown: BTreeMap<String, i64> = BTreeMap::new();
        for t in &by_source {
            let EventKey::Source(source) = &t.key else { continue };
            let count = match t.event_type.as_str() {
                SAVE => t.events,
                RETRIEVE => t.api_calls_made,
                _ => continue,
            };
            let name = source.clone().unwrap_or_else(|| "unknown".into());
            *sources_breakdown.entry(name).or_default() += count;
        }
        let mut ai = AiUsage::default();
        for t in by_project.iter().filter(|t| AI_EVENT_TYPES.contains(&t.event_type.as_str())) {
            let feature = t.event_type.trim_start_matches("ai_").to_string();
            for calls in [&mut ai.total, ai.by_feature.entry(feature).or_default()] {
                calls.calls += t.events;
                calls.prompt_tokens += t.prompt_tokens;
                calls.completion_tokens += t.completion_tokens;
                calls.cost_usd += t.llm_cost_usd;
            }
        }
        Ok(UsageReport {
            ai,
            contexts_created: sum(of_type(SAVE), |t| t.events),
            contexts_retrieved: sum(of_type(RETRIEVE), |t| t.contexts_retrieved),
            searches: sum(of_type(RETRIEVE), |t| t.api_calls_made),
            projects_count: scope.project_ids.len() as i64,
            top_projects,
            sources_breakdown,
            start_date: range.from,
            end_date: range.until,
            scope: report_scope,
        })
    }

    /// The most used contexts, their average size and the storage they take, over one project
    /// (`project_id`) or every project the caller can read.
    pub async fn context_insights(
        &self,
        caller: &Caller,
        query: &ReportQuery,
    ) -> DomainResult<ContextInsightsReport> {
        // The report shows what the most retrieved contexts are, so it is retrieval.
        self.require_verified(caller)?;
        self.require_may_retrieve(caller)?;
        caller.require_scope(Scope::Read)?;
        let project_id = parse_uuid("project_id", query.project_id.as_deref())?;
        let project_ids = match project_id {
            Some(id) => {
                self.project_for(caller, id, Access::Read).await?;
                vec![id]
            }
            None => self.readable_for(caller).await?,
        };
        let insights = self.store.context_insights(&project_ids, TOP_CONTEXTS).await?;
        let mut names: HashMap<Uuid, String> = HashMap::new();
        for c in &insights.most_accessed {
            if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(c.project_id) {
                let project = self.store.project_by_id(c.project_id).await?;
                slot.insert(project.map(|p| p.name).unwrap_or_default());
            }
        }
        let most_accessed = insights
            .most_accessed
            .into_iter()
            .map(|c| AccessedContext {
                id: c.id,
                project_id: c.project_id,
                project_name: names.get(&c.project_id).cloned().unwrap_or_default(),
                truncated: c.content.chars().count() > PREVIEW_CHARS,
                content: c.content.chars().take(PREVIEW_CHARS).collect(),
                access_count: c.accessed_count,
                last_accessed: c.last_accessed,
            })
            .collect();
        let avg = if insights.contexts == 0 {
            0.0
        } else {
            insights.tokens as f64 / insights.contexts as f64
        };
        Ok(ContextInsightsReport {
            most_accessed_contexts: most_accessed,
            contexts_count: insights.contexts,
            avg_tokens_per_context: avg,
            total_storage_bytes: insights.storage_bytes,
            total_storage_mb: insights.storage_bytes as f64 / (1024.0 * 1024.0),
            project_id,
        })
    }
}

/// The starts of every period overlapping `range`.
fn periods(period: Period, range: Range) -> DomainResult<Vec<NaiveDate>> {
    let last = (range.until - Duration::milliseconds(1)).date_naive();
    let mut start = period.start(range.from.date_naive());
    let mut out = Vec::new();
    while start <= last {
        if out.len() == MAX_PERIODS {
            return Err(DomainError::validation(
                "group_by",
                format!(
                    "the range spans more than {MAX_PERIODS} {}s; group by a longer period",
                    period.as_str()
                ),
            ));
        }
        out.push(start);
        start = period.next(start);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn periods_start_on_mondays_and_firsts() {
        // 2026-01-01 is a Thursday; its ISO week is 2026-W01 and began on Monday 2025-12-29.
        assert_eq!(Period::Week.start(day(2026, 1, 1)), day(2025, 12, 29));
        assert_eq!(Period::Week.label(day(2025, 12, 29)), "2026-W01");
        assert_eq!(Period::Week.start(day(2026, 1, 4)), day(2025, 12, 29));
        assert_eq!(Period::Week.start(day(2026, 1, 5)), day(2026, 1, 5));
        assert_eq!(Period::Month.start(day(2024, 2, 29)), day(2024, 2, 1));
        assert_eq!(Period::Month.next(day(2024, 12, 1)), day(2025, 1, 1));
        assert_eq!(Period::Month.label(day(2024, 2, 1)), "2024-02");
        assert_eq!(Period::Day.label(day(2024, 2, 29)), "2024-02-29");
    }

    #[test]
    fn ranges_read_dates_and_offsets_as_utc() {
        let now = Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap();
        let r = parse_range(Some("2026-03-01"), Some("2026-03-02"), now).unwrap();
        assert_eq!(r.from, Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap());
        // A plain end date includes that whole day.
        assert_eq!(r.until, Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap());
        let r = parse_range(Some("2026-03-01T01:00:00+02:00"), None, now).unwrap();
        assert_eq!(r.from, Utc.with_ymd_and_hms(2026, 2, 28, 23, 0, 0).unwrap());
        assert_eq!(r.until, now);
        let r = parse_range(None, None, now).unwrap();
        assert_eq!(r.until - r.from, Duration::days(30));
        for (start, end, field) in [
            (Some("yesterday"), None, "start_date"),
            (None, Some("2026-13-01"), "end_date"),
            (Some("2026-03-05"), Some("2026-03-04"), "start_date"),
        ] {
            let err = parse_range(start, end, now).unwrap_err();
            assert_eq!(err.code, ErrorCode::ValidationFailed);
            assert_eq!(err.details.unwrap()["field"], field);
        }
    }

    #[test]
    fn periods_cover_the_range_and_are_bounded() {
        let range = |a: &str, b: &str| parse_range(Some(a), Some(b), Utc::now()).unwrap();
        let p = periods(Period::Week, range("2026-03-04", "2026-03-16")).unwrap();
        assert_eq!(p, vec![day(2026, 3, 2), day(2026, 3, 9), day(2026, 3, 16)]);
        // An end at midnight does not open a period of its own.
        let p = periods(Period::Day, range("2026-03-04", "2026-03-05T00:00:00Z")).unwrap();
        assert_eq!(p, vec![day(2026, 3, 4)]);
        let p = periods(Period::Month, range("2025-12-31T23:00:00Z", "2026-01-01T01:00:00Z"));
        assert_eq!(p.unwrap(), vec![day(2025, 12, 1), day(2026, 1, 1)]);
        assert!(periods(Period::Day, range("2020-01-01", "2026-01-01")).is_err());
        assert_eq!(periods(Period::Month, range("2020-01-01", "2026-01-01")).unwrap().len(), 73);
    }
}
