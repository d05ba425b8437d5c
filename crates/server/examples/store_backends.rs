//! SQLite and PostgreSQL side by side through the `Store` trait: save throughput (one context
//! with its passage per call, as a save does) and vector search over N synthetic passages of 384
//! dimensions in 100 projects, with a project filter matching 1%, 10% and 100% of them: p50, p99
//! and recall@10 against a brute-force ranking of the same filter. Prints a markdown table.
//!
//! `cargo run --release -p teamcontext --example store_backends -- [N]` (default 100000). The
//! PostgreSQL server is `TEAMCONTEXT_TEST_DATABASE_URL` or the local one
//! `scripts/start-postgres.sh` starts; the example works in a database of its own.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use tc_store::{
    ContextRecord, PassageRecord, ProjectRecord, ProjectSettings, Store, UserRecord, Visibility,
};
use tc_store_postgres::PgStore;
use tc_store_postgres::testing::TestDatabase;
use tc_store_sqlite::SqliteStore;
use uuid::Uuid;

const DIM: usize = 384;
const PROJECTS: usize = 100;
const QUERIES: usize = 100;
const K: usize = 10;
const SAVES: usize = 1000;
const BATCH: usize = 2000;
const MODEL: &str = "all-MiniLM-L6-v2";

/// xorshift64*: reproducible, dependency-free pseudo-random numbers (as the vector_index
/// example, so the two benchmarks see the same distribution).
struct Rng(u64);

impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
        bits as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    /// A unit vector near one of `centres`, so that neighbourhoods exist as in real embeddings.
    fn vector(&mut self, centres: &[Vec<f32>]) -> Vec<f32> {
        let centre =
            &centres[(self.next_f32().abs() * centres.len() as f32) as usize % centres.len()];
        let mut v: Vec<f32> = centre.iter().map(|c| c + 0.6 * self.next_f32()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }
}

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
        (0..size).map(|i| (i % PROJECTS, Uuid::now_v7(), rng.vector(&centres))).collect();
    Data { owner, projects, passages, centres }
}

async fn measure(name: &str, store: Arc<dyn Store>, data: &Data) {
    store.insert_user(&data.owner).await.expect("user");
    for p in &data.projects {
        store.insert_project(p).await.expect("project");
    }
    // Save throughput: one context per call on an empty store, as the save endpoint does.
    // They land in the first project, which every filter below includes, so they are part of
    // the reference ranking too.
    let mut rng = Rng(0xabcdef);
    let saved: Vec<(usize, Uuid, Vec<f32>)> =
        (0..SAVES).map(|_| (0, Uuid::now_v7(), rng.vector(&data.centres))).collect();
    let started = Instant::now();
    for (_, id, vector) in &saved {
        let one = context(*id, data.projects[0].id, data.owner.id, vector.clone());
        store.insert_contexts(&[one]).await.expect("save");
    }
    let saves = SAVES as f64 / started.elapsed().as_secs_f64();
    // Sizes above the saves are loaded in batches (a scan's pace).
    let started = Instant::now();
    for chunk in data.passages.chunks(BATCH) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|(p, id, v)| context(*id, data.projects[*p].id, data.owner.id, v.clone()))
            .collect();
        store.insert_contexts(&batch).await.expect("load");
    }
    let loaded = data.passages.len() as f64 / started.elapsed().as_secs_f64();
    eprintln!(
        "{name}: {saves:.0} single saves/s; loaded {} passages at {loaded:.0}/s",
        data.passages.len()
    );
    println!("| {name} | save, one context per call | {saves:.0} saves/s | | |");
    println!("| {name} | load, {BATCH} contexts per call | {loaded:.0} contexts/s | | |");
    for (label, count) in [("1%", 1), ("10%", 10), ("100%", 100)] {
        let filter: Vec<Uuid> = data.projects[..count].iter().map(|p| p.id).collect();
        let mut latencies = Vec::with_capacity(QUERIES);
        let mut found = 0usize;
        let mut queries = Rng(0x5eed + count as u64);
        for _ in 0..QUERIES {
            let query = queries.vector(&data.centres);
            let started = Instant::now();
            let hits = store.vector_search(&query, MODEL, &filter, K).await.expect("search");
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            let mut reference: Vec<(f32, Uuid)> = data
                .passages
                .iter()
                .chain(&saved)
                .filter(|(p, _, _)| *p < count)
                .map(|(_, id, v)| (v.iter().zip(&query).map(|(a, b)| a * b).sum(), *id))
                .collect();
            reference.sort_by(|a, b| b.0.total_cmp(&a.0));
            let truth: Vec<Uuid> = reference.iter().take(K).map(|r| r.1).collect();
            found += hits.iter().filter(|h| truth.contains(&h.context_id)).count();
        }
        latencies.sort_by(f64::total_cmp);
        println!(
            "| {name} | search, filter {label} of {} | p50 {:.2} ms | p99 {:.2} ms | recall@{K} {:.3} |",
            data.passages.len(),
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
    println!("| backend | measurement | result | | |");
    println!("| --- | --- | --- | --- | --- |");

    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = SqliteStore::open(&dir.path().join("bench.db")).await.expect("sqlite");
    measure("SQLite", Arc::new(sqlite.clone()), &data).await;
    sqlite.close().await;

    let db = TestDatabase::create().await;
    let postgres = PgStore::connect(db.url()).await.expect("postgres");
    measure("PostgreSQL", Arc::new(postgres.clone()), &data).await;
    postgres.close().await;
}
