//! Analytics in the browser: the tokens and money TeamContext saved over time (a bar chart
//! drawn here as SVG, with the same numbers in a table beneath it, so it reads without colour
//! or sight), usage by source and by project, and the most retrieved contexts. The same reports
//! as `/api/v1/analytics/*`.

use axum::extract::{Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use tc_domain::views::{ReportQuery, SavingsPeriod};

use super::layout::{Chrome, Nav, error_page, page};
use super::session::Web;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct AnalyticsQuery {
    group_by: Option<String>,
    project: Option<String>,
}

const GROUPS: &[(&str, &str, i64)] =
    &[("day", "Day", 30), ("week", "Week", 7 * 12), ("month", "Month", 365)];

/// `GET /analytics`
pub async fn analytics(
    State(state): State<AppState>,
    Web(web): Web,
    Query(q): Query<AnalyticsQuery>,
) -> Response {
    let group =
        GROUPS.iter().find(|(k, ..)| Some(*k) == q.group_by.as_deref()).unwrap_or(&GROUPS[0]);
    let project = q.project.clone().filter(|p| uuid::Uuid::parse_str(p).is_ok());
    let start = (chrono::Utc::now() - chrono::Duration::days(group.2)).date_naive().to_string();
    let query = ReportQuery {
        project_id: project.clone(),
        start_date: Some(start),
        group_by: Some(group.0.to_string()),
        ..ReportQuery::default()
    };
    let s = &state.services;
    let savings = match s.cost_savings(&web.caller, &query).await {
        Ok(r) => r,
        Err(e) => return error_page(Some(&web), e),
    };
    let usage = match s.usage(&web.caller, &query).await {
        Ok(r) => r,
        Err(e) => return error_page(Some(&web), e),
    };
    let insights = s.context_insights(&web.caller, &query).await.ok();
    let projects = super::my_projects(&state, &web).await;
    let source_max = usage.sources_breakdown.values().copied().max().unwrap_or(0);
    let body = html! {
        h1 { "Analytics" }
        form.row.panel method="get" action="/analytics" aria-label="Report options" {
            label { "Group by" select name="group_by" {
                @for (key, label, _) in GROUPS { option value=(key) selected[*key == group.0] { (label) } }
            } }
            label { "Project" select name="project" {
                option value="" { "My activity, all projects" }
                @for p in &projects { option value=(p.id) selected[Some(p.id.to_string()) == project] { (p.name) } }
            } }
            div.shrink { button type="submit" { "Show" } }
        }
        div.stats {
            div.stat { b #tokens-saved { (thousands(savings.total_tokens_saved)) } span { "tokens served instead of pasted" } }
            div.stat { b { (usd(savings.estimated_savings_usd)) } span { "saved at " (savings.model) " prices" } }
            div.stat { b { (thousands(savings.searches)) } span { "searches" } }
            div.stat { b { (thousands(savings.contexts_retrieved)) } span { "contexts retrieved" } }
            div.stat { b { (thousands(usage.contexts_created)) } span { "contexts saved" } }
            @if usage.ai.total.calls > 0 {
                div.stat { b { (usd(savings.net_savings_usd)) } span { "net of " (usd(savings.llm_cost_usd)) " AI cost" } }
            }
        }
        section.panel aria-labelledby="over-time" {
            h2 #over-time { "Tokens saved per " (group.1.to_lowercase()) }
            (chart(&savings.breakdown))
            details {
                summary { "The numbers" }
                div.table-wrap { table {
                    thead { tr { th { "Period" } th.num { "Tokens saved" } th.num { "Contexts retrieved" } th.num { "Saved (USD)" } } }
                    tbody { @for p in &savings.breakdown {
                        tr { td { (p.period) } td.num { (thousands(p.tokens_saved)) } td.num { (p.contexts_retrieved) } td.num { (format!("{:.4}", p.savings_usd)) } }
                    } }
                } }
            }
        }
        div.grid {
            section.panel aria-labelledby="by-source" {
                h2 #by-source { "By source" }
                @if usage.sources_breakdown.is_empty() { p.meta { "No saves or searches in this range yet." } }
                @else {
                    table { tbody {
                        @for (source, count) in &usage.sources_breakdown {
                            tr { th scope="row" { (source) } td.num { (count) }
                                td { meter min="0" max=(source_max.max(1)) value=(count) aria-label={(source) ": " (count)} {} } }
                        }
                    } }
                }
            }
            section.panel aria-labelledby="by-project" {
                h2 #by-project { "By project" }
                @if usage.top_projects.is_empty() { p.meta { "No activity in this range yet." } }
                @else {
                    table { tbody {
                        @for p in &usage.top_projects {
                            tr { th scope="row" { a href={"/projects/" (p.project_id)} { (p.name) } } td.num { (super::count(p.usage_count, "use")) } }
                        }
                    } }
                }
            }
        }
        section.panel aria-labelledby="most" {
            h2 #most { "Most retrieved context" }
            @match &insights {
                Some(i) if !i.most_accessed_contexts.is_empty() => {
                    ol.results { @for c in &i.most_accessed_contexts {
                        li { a href={"/contexts/" (c.id)} { (super::contexts::title_from(&serde_json::Value::Null, &c.content)) }
                            p.meta { (c.project_name) " · retrieved " (c.access_count) "×" } }
                    } }
                    p.meta { (super::count(i.contexts_count, "context")) " · " (format!("{:.0}", i.avg_tokens_per_context)) " tokens on average · " (format!("{:.1}", i.total_storage_mb)) " MiB stored" }
                }
                _ => { p.meta { "Nothing retrieved yet. Search, or connect an assistant on the " a href="/keys" { "API keys" } " page." } }
            }
        }
    };
    page(Chrome::signed_in(&web, Nav::Analytics), "Analytics", body)
}

/// Dollars, with cents or, below one dollar, enough places to show a small saving.
fn usd(v: f64) -> String {
    if v.abs() >= 1.0 || v == 0.0 { format!("${v:.2}") } else { format!("${v:.4}") }
}

/// 1234567 → "1,234,567".
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A bar per period, the tallest at full height, with the first, middle and last periods
/// labelled and each bar's value in its tooltip.
fn chart(periods: &[SavingsPeriod]) -> Markup {
    const W: f64 = 720.0;
    const H: f64 = 200.0;
    const BOTTOM: f64 = 24.0;
    let max = periods.iter().map(|p| p.tokens_saved).max().unwrap_or(0);
    let n = periods.len().max(1) as f64;
    let slot = W / n;
    let bar = (slot * 0.7).max(1.0);
    let total: i64 = periods.iter().map(|p| p.tokens_saved).sum();
    let label_at = |i: usize| i == 0 || i + 1 == periods.len() || i == periods.len() / 2;
    let summary = format!(
        "Bar chart of tokens saved over {} periods: {} in all, at most {} in one period.",
        periods.len(),
        thousands(total),
        thousands(max)
    );
    html! {
        svg.chart #savings-chart viewBox={"0 0 " (W) " " (H + BOTTOM)} role="img" aria-label=(summary) data-total=(total) {
            line.axis x1="0" y1=(H) x2=(W) y2=(H) {}
            @for (i, p) in periods.iter().enumerate() {
                @let h = if max > 0 { (p.tokens_saved as f64 / max as f64) * (H - 16.0) } else { 0.0 };
                @let x = i as f64 * slot + (slot - bar) / 2.0;
                rect.bar x=(format!("{x:.1}")) y=(format!("{:.1}", H - h)) width=(format!("{bar:.1}")) height=(format!("{h:.1}")) {
                    title { (p.period) ": " (thousands(p.tokens_saved)) " tokens" }
                }
                @if label_at(i) {
                    text x=(format!("{:.1}", i as f64 * slot + slot / 2.0)) y=(H + 16.0) text-anchor="middle" { (p.period) }
                }
            }
            @if max > 0 { text x="2" y="12" { (thousands(max)) } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(-12345), "-12,345");
        assert_eq!(usd(0.0), "$0.00");
        assert_eq!(usd(0.000051), "$0.0001");
        assert_eq!(usd(12.345), "$12.35");
    }
}
