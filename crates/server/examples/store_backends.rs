//! SQLite and PostgreSQL side by side through the `Store` trait: save throughput (one context
//! with its passage per call, as a save does) and vector search over N synthetic passages of 384
//! dimensions in 100 projects, with a project filter matching 1%, 10% and 100% of them: p50, p99
//! and recall@10 against a brute-force ranking of the same filter. PostgreSQL receives the
//! passages by `migrate-data` from the SQLite store the example built (the path a team takes
//! when it outgrows one machine). Prints a markdown table.
//!
//! `cargo run --release -p teamcontext --example store_backends -- [N]` (default 100000). The
//! PostgreSQL server is `TEAMCONTEXT_TEST_DATABASE_URL` or the local one
//! `scripts/start-postgres.sh` starts; the example works in a database of its own, dropped at
//! the end unless `STORE_BACKENDS_KEEP_DB` is set (to study its plans afterwards).

use std::time::Instant;

use chrono::Utc;
use tc_store::{
    ContextRecord, PassageRecord, ProjectRecord, ProjectSettings, Store, UserRecord, Visibility,
};
use tc_store_conformance::Rng;
use tc_store_postgres::PgStore;
use tc_store_postgres::testing::TestDatabase;
use tc_store_sqlite::SqliteStore;
use uuid::Uuid;

const DIM: usize = 384;
const PROJECTS: usize = 100;
const QUERIES: usize = 100;
const WARM_UP: usize = 200;
const K: usize = 10;
const SAVES: usize = 1000;
const BATCH: usize = 2000;
const MODEL: &str = "all-MiniLM-L6-v2";
/// How far a passage lies from its centre: each coordinate moves by up to this.
const SPREAD: f32 = 0.6;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn context(
    id: Uuid,
    project: Uuid,
    owner: Uuid,
    vector: Vec<f32>,
) -> (ContextRecord, Vec<PassageRecord>) {
    let now = Utc::now();
    let record = ContextRecord {
        id,
        project_id: project,
        content: format!("synthetic passage {id}"),
        content_hash: id.simple().to_string(),
        token_count: 8,
        source: "bench".into(),
        file_path: None,
        parent_id: None,
        chunk_index: None,
        metadata: serde_json::json!({}),
        created_by: owner,
        accessed_count: 0,
        last_accessed: None,
        created_at: now,
        updated_at: now,
    };
    let passage = PassageRecord {
        context_id: id,
        project_id: project,
        start: 0,
        end: 1,
        model: MODEL.into(),
        vector,
    };
    (record, vec![passage])
}

struct Data {
    owner: UserRecord,
    projects: Vec<ProjectRecord>,
    /// (project index, context id, vector)
    passages: Vec<(usize, Uuid, Vec<f32>)>,
    centres: Vec<Vec<f32>>,
}

fn data(size: usize) -> Data {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let centres: Vec<Vec<f32>> =
        (0..256).map(|_| (0..DIM).map(|_| rng.next_f32()).collect()).collect();
    let now = Utc::now();
    let owner = UserRecord {
        id: Uuid::now_v7(),
        email: "bench@example.com".into(),
        name: "Bench".into(),
        password_hash: "x".into(),
        is_active: true,
        email_verified: true,
        created_at: now,
        updated_at: now,
    };
    let projects = (0..PROJECTS)
        .map(|i| ProjectRecord {
            id: Uuid::now_v7(),
            name: format!("p{i}"),
            description: String::new(),
            owner_id: owner.id,
            visibility: Visibility::Private,
            settings: ProjectSettings { auto_scan: false, embedding_model: MODEL.into() },
            deleted_at: None,
            created_at: now,
            updated_at: now,
        })
        .collect();
    let passages =
        (0..size).map(|i| (i % PROJECTS, Uuid::now_v7(), rng.vector(&centres, SPREAD))).collect();
    Data { owner, projects, passages, centres }
}

/// The bench's owner and projects, then `SAVES` single saves (one context per call, as the
/// save endpoint does) on the otherwise empty store; returns saves per second.
async fn saves(store: &dyn Store, data: &Data, saved: &[(usize, Uuid, Vec<f32>)]) -> f64 {
    store.insert_user(&data.owner).await.expect("user");
    for p in &data.projects {
        store.insert_project(p).await.expect("project");
    }
    let started = Instant::now();
    for (_, id, vector) in saved {
        let one = context(*id, data.projects[0].id, data.owner.id, vector.clone());
        store.insert_contexts(&[one]).await.expect("save");
    }
    saved.len() as f64 / started.elapsed().as_secs_f64()
}

/// The passages in batches of `BATCH` contexts (a scan's pace); returns contexts per second.
async fn load(store: &dyn Store, data: &Data) -> f64 {
    let started = Instant::now();
    for chunk in data.passages.chunks(BATCH) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|(p, id, v)| context(*id, data.projects[*p].id, data.owner.id, v.clone()))
            .collect();
        store.insert_contexts(&batch).await.expect("load");
    }
    data.passages.len() as f64 / started.elapsed().as_secs_f64()
}

/// p50, p99 and recall@10 of filtered vector search; the saves are in the first project, which
/// every filter includes, so they are part of the reference ranking.
async fn searches(name: &str, store: &dyn Store, data: &Data, saved: &[(usize, Uuid, Vec<f32>)]) {
    let size = data.passages.len() + saved.len();
    for (label, count) in [("1%", 1), ("10%", 10), ("100%", 100)] {
        let filter: Vec<Uuid> = data.projects[..count].iter().map(|p| p.id).collect();
        let mut latencies = Vec::with_capacity(QUERIES);
        let mut found = 0usize;
        // Unmeasured queries first, so that both backends are timed with warm caches.
        let mut warm_up = Rng(0xfeed + count as u64);
        for _ in 0..WARM_UP {
            let query = warm_up.vector(&data.centres, SPREAD);
            store.vector_search(&query, MODEL, &filter, K).await.expect("search");
        }
        let mut queries = Rng(0x5eed + count as u64);
        for _ in 0..QUERIES {
            let query = queries.vector(&data.centres, SPREAD);
            let started = Instant::now();
            let hits = store.vector_search(&query, MODEL, &filter, K).await.expect("search");
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            let mut reference: Vec<(f32, Uuid)> = data
                .passages
                .iter()
                .chain(saved)
                .filter(|(p, _, _)| *p < count)
                .map(|(_, id, v)| (v.iter().zip(&query).map(|(a, b)| a * b).sum(), *id))
                .collect();
            reference.sort_by(|a, b| b.0.total_cmp(&a.0));
            let truth: Vec<Uuid> = reference.iter().take(K).map(|r| r.1).collect();
            found += hits.iter().filter(|h| truth.contains(&h.context_id)).count();
        }
        latencies.sort_by(f64::total_cmp);
        println!(
            "| {name} | search, filter {label} of {size} | p50 {:.2} ms | p99 {:.2} ms | recall@{K} {:.3} |",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            found as f64 / (QUERIES * K) as f64
        );
    }
}

#[tokio::main]
async fn main() {
    let size: usize = std::env::args().nth(1).map_or(100_000, |s| s.parse().expect("a size"));
    let data = data(size);
    let mut rng = Rng(0xabcdef);
    let saved: Vec<(usize, Uuid, Vec<f32>)> =
        (0..SAVES).map(|_| (0, Uuid::now_v7(), rng.vector(&data.centres, SPREAD))).collect();
    println!("| backend | measurement | result | | |");
    println!("| --- | --- | --- | --- | --- |");

    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("bench.db");
    let sqlite = SqliteStore::open(&file).await.expect("sqlite");
    let rate = saves(&sqlite, &data, &saved).await;
    println!("| SQLite | save, one context per call | {rate:.0} saves/s | | |");
    let rate = load(&sqlite, &data).await;
    println!("| SQLite | load, {BATCH} contexts per call | {rate:.0} contexts/s | | |");
    searches("SQLite", &sqlite, &data, &saved).await;
    sqlite.close().await;

    // PostgreSQL: single saves on an empty database of their own; then the SQLite store is
    // copied in as `teamcontext migrate-data` does (the HNSW index is built once, after the
    // rows, instead of growing insert by insert), and searched.
    let empty = TestDatabase::create().await;
    let postgres = PgStore::connect(empty.url()).await.expect("postgres");
    let rate = saves(&postgres, &data, &saved).await;
    println!("| PostgreSQL | save, one context per call | {rate:.0} saves/s | | |");
    postgres.close().await;
    drop(empty);

    let db = TestDatabase::create().await;
    let mut postgres = PgStore::connect(db.url()).await.expect("postgres");
    let started = Instant::now();
    tc_migrate_data::import_sqlite(&postgres, &file).await.expect("migrate-data");
    let took = started.elapsed().as_secs_f64();
    println!(
        "| PostgreSQL | migrate-data of the SQLite store ({} contexts), index built | {took:.0} s | | |",
        size + SAVES
    );
    searches("PostgreSQL", &postgres, &data, &saved).await;
    // Narrower and wider graph searches: what `hnsw.ef_search` trades between recall and time.
    for ef in [100, 400] {
        postgres.set_ef_search(ef);
        searches(&format!("PostgreSQL, ef_search {ef}"), &postgres, &data, &saved).await;
    }
    postgres.close().await;
    if std::env::var_os("STORE_BACKENDS_KEEP_DB").is_some() {
        eprintln!("kept the PostgreSQL database {}", db.url());
        std::mem::forget(db);
    }
}
