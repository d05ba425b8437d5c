//! Analytics report latency over many events, through the real server (`make bench`).
//!
//! Writes `EVENTS` analytics events (default 1,000,000) spread over the last 365 days, ten
//! users and one busy project (plus two quiet ones), through `Store::insert_analytics_events`
//! (so the daily rollup is maintained as in production), then starts the server on that data
//! directory and times each report over HTTP on one connection. Prints a markdown table.
//!
//! `cargo run --release -p teamcontext --example analytics_reports -- [EVENTS] [MODEL_DIR]`

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, Utc};
use tc_domain::SystemClock;
use tc_domain::views::RegisterRequest;
use tc_store::{
    AnalyticsEventRecord, MemberRecord, ProjectRecord, ProjectSettings, Role, UserRecord,
    Visibility,
};
use teamcontext::config::Config;
use uuid::Uuid;

const RUNS: usize = 30;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let events: usize = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(1_000_000);
    let model_dir = args.get(2).cloned().unwrap_or(".model-cache/all-MiniLM-L6-v2".into());
    let dir = tempfile::tempdir()?;
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("TEAMCONTEXT_DATA_DIR".into(), dir.path().display().to_string());
    env.insert("BIND_ADDR".into(), "127.0.0.1:0".into());
    env.insert("EMBEDDING_MODEL_DIR".into(), model_dir);
    env.insert("LOG_LEVEL".into(), "warn".into());
    for limit in ["RATE_LIMIT_PER_KEY_PER_MIN", "RATE_LIMIT_PER_IP_PER_MIN"] {
        env.insert(limit.into(), "0".into());
    }
    let config = Config::from_sources(None, &env)?;
    let embedder = teamcontext::load_embedder(&config)?;

    // Seed: one registered user (for the API key), nine more, three projects.
    let (services, backend, _redis) =
        teamcontext::open_services(&config, Arc::new(SystemClock), embedder.clone()).await?;
    let store = backend.shared();
    let me = services
        .register(RegisterRequest {
            email: Some("reports@example.com".into()),
            password: Some("report bench password".into()),
            name: Some("Reports".into()),
            invitation_token: None,
        })
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let key = me.api_key.key.clone();
    let now = Utc::now();
    let mut users = vec![me.user.id];
    for i in 1..10 {
        let user = UserRecord {
            id: Uuid::now_v7(),
            email: format!("member{i}@example.com"),
            name: format!("Member {i}"),
            password_hash: "unused".into(),
            is_active: true,
            email_verified: true,
            created_at: now,
            updated_at: now,
        };
        store.insert_user(&user).await?;
        users.push(user.id);
    }
    let mut projects = Vec::new();
    for name in ["platform", "billing", "mobile"] {
        let project = ProjectRecord {
            id: Uuid::now_v7(),
            name: name.into(),
            description: String::new(),
            owner_id: me.user.id,
            visibility: Visibility::Private,
            settings: ProjectSettings { auto_scan: false, embedding_model: "m".into() },
            deleted_at: None,
            created_at: now,
            updated_at: now,
        };
        store.insert_project(&project).await?;
        for user in &users[1..] {
            let member = MemberRecord {
                project_id: project.id,
                user_id: *user,
                role: Role::Contributor,
                added_at: now,
            };
            store.insert_member(&member).await?;
        }
        projects.push(project.id);
    }
    let busy = projects[0];
    let sources = ["claude", "cursor", "api", "chatgpt"];
    let started = Instant::now();
    let mut batch = Vec::with_capacity(10_000);
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        // xorshift: reproducible and fast enough for a million events.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for i in 0..events {
        let r = next();
        // 90% of the events are in the busy project.
        let project = if r % 10 < 9 { busy } else { projects[1 + (r as usize / 10) % 2] };
        let retrieve = (r >> 8) % 10 < 7;
        let tokens = 50 + ((r >> 16) % 2_000) as i64;
        let at = now - Duration::milliseconds(((r >> 24) % (365 * 86_400_000)) as i64);
        batch.push(AnalyticsEventRecord {
            id: Uuid::now_v7(),
            user_id: users[i % users.len()],
            project_id: Some(project),
            event_type: if retrieve { "context_retrieve" } else { "context_save" }.into(),
            timestamp: at,
            tokens_saved: tokens,
            tokens_avoided: if retrieve { tokens } else { 0 },
            contexts_retrieved: if retrieve { 1 + (r >> 40) as i64 % 5 } else { 0 },
            api_calls_made: 1,
            processing_time_ms: 12.0,
            model: Some("claude-3-sonnet".into()),
            price_per_mtok: Some(3.0),
            estimated_savings_usd: if retrieve { tokens as f64 * 3.0 / 1e6 } else { 0.0 },
            source: Some(sources[(r >> 48) as usize % sources.len()].into()),
            prompt_tokens: 0,
            completion_tokens: 0,
            llm_cost_usd: 0.0,
        });
        if batch.len() == batch.capacity() {
            store.insert_analytics_events(&batch).await?;
            batch.clear();
        }
    }
    store.insert_analytics_events(&batch).await?;
    let seeded = started.elapsed();
    backend.close().await;
    drop(services);

    let server = teamcontext::start(config, Arc::new(SystemClock), embedder).await?;
    let base = format!("http://{}/api/v1", server.addr);
    let client = reqwest::Client::new();
    let year_ago = (now - Duration::days(365)).to_rfc3339().replace('+', "%2B");
    let reports = [
        (
            "cost-savings, the busy project (all its events), by day over a year",
            format!("/analytics/cost-savings?project_id={busy}&start_date={year_ago}&group_by=day"),
        ),
        (
            "cost-savings, the busy project, by month over a year",
            format!(
                "/analytics/cost-savings?project_id={busy}&start_date={year_ago}&group_by=month"
            ),
        ),
        (
            "cost-savings, your own activity (a tenth of the events), last 30 days",
            "/analytics/cost-savings".to_string(),
        ),
        (
            "usage, the busy project, over a year",
            format!("/analytics/usage?project_id={busy}&start_date={year_ago}"),
        ),
        (
            "usage, your own activity, over a year",
            format!("/analytics/usage?start_date={year_ago}"),
        ),
        ("context-insights, all your projects", "/analytics/context-insights".to_string()),
    ];
    println!("{events} analytics events seeded in {:.1} s\n", seeded.as_secs_f64());
    println!("| report | p50 | p99 |\n| --- | --- | --- |");
    for (name, path) in reports {
        let mut times = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let t = Instant::now();
            let resp = client.get(format!("{base}{path}")).bearer_auth(&key).send().await?;
            anyhow::ensure!(resp.status().is_success(), "{path}: {}", resp.text().await?);
            resp.bytes().await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
        println!("| {name} | {:.2} ms | {:.2} ms |", pct(0.5), pct(0.99));
    }
    server.shutdown().await;
    Ok(())
}
