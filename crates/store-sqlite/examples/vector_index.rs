//! Latency and recall of the SQLite store's in-process vector index on synthetic vectors:
//! 100k and 1M passages of 384 dimensions in 100 projects, searched with a project filter that
//! matches 1%, 10% and 100% of them. Recall@10 is measured against a separate brute-force
//! reference over the same filter. Prints a markdown table.
//!
//! `cargo run --release -p tc-store-sqlite --example vector_index [-- SIZES]`, e.g. `-- 100000`.

use std::time::Instant;

use tc_store::PassageRecord;
use tc_store_conformance::Rng;
use tc_store_sqlite::vectors::{EXACT_MAX, EXPANSION_FILTERED, EXPANSION_WIDE, VectorIndex};
use uuid::Uuid;

const DIM: usize = 384;
const PROJECTS: usize = 100;
const QUERIES: usize = 100;
const K: usize = 10;
const MODEL: &str = "all-MiniLM-L6-v2";
/// How far a passage lies from its centre: each coordinate moves by up to this.
const SPREAD: f32 = 0.6;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let sizes: Vec<usize> = match std::env::args().nth(1) {
        Some(list) => list.split(',').map(|s| s.parse().expect("a size")).collect(),
        None => vec![100_000, 1_000_000],
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let centres: Vec<Vec<f32>> =
        (0..256).map(|_| (0..DIM).map(|_| rng.next_f32()).collect()).collect();
    let projects: Vec<Uuid> = (0..PROJECTS).map(|_| Uuid::now_v7()).collect();
    println!("| passages | filter | path | p50 | p99 | recall@{K} |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for size in sizes {
        let index = VectorIndex::default();
        let mut all: Vec<(usize, Uuid, Vec<f32>)> = Vec::with_capacity(size);
        let started = Instant::now();
        for chunk in (0..size).collect::<Vec<_>>().chunks(10_000) {
            let batch: Vec<PassageRecord> = chunk
                .iter()
                .map(|&i| {
                    let project = i % PROJECTS;
                    let vector = rng.vector(&centres, SPREAD);
                    // One passage per context keeps the reference simple.
                    let context_id = Uuid::from_u128(i as u128 + 1);
                    all.push((project, context_id, vector.clone()));
                    PassageRecord {
                        context_id,
                        project_id: projects[project],
                        start: 0,
                        end: 1,
                        model: MODEL.into(),
                        vector,
                    }
                })
                .collect();
            index.insert(&batch);
        }
        eprintln!(
            "{size} passages indexed (exact groups and graph) in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        for (label, count) in
            [("1% (1 project)", 1), ("10% (10 projects)", 10), ("100% (100 projects)", 100)]
        {
            let filtered = size * count / PROJECTS;
            // The exact path's answers do not depend on the graph's search width. A filter
            // covering most of the graph walks with the wide list; a narrow one with the floor
            // (the wide list scaled down by its share is smaller).
            let wide = filtered * 2 > size;
            let widths: &[usize] = match (filtered <= EXACT_MAX, wide) {
                (true, _) => &[0],
                (false, false) => &[32, EXPANSION_FILTERED, 128],
                (false, true) => &[128, EXPANSION_WIDE, 512],
            };
            for &width in widths {
                match (width, wide) {
                    (0, _) => {}
                    (w, false) => index.set_graph_expansion(w, EXPANSION_WIDE),
                    (w, true) => index.set_graph_expansion(EXPANSION_FILTERED, w),
                }
                let filter: Vec<Uuid> = projects[..count].to_vec();
                let mut latencies = Vec::with_capacity(QUERIES);
                let mut found = 0usize;
                let mut queries = Rng(0x5eed + count as u64);
                for _ in 0..QUERIES {
                    let query = queries.vector(&centres, SPREAD);
                    let started = Instant::now();
                    let hits = index.search(&query, MODEL, &filter, K);
                    latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                    let mut reference: Vec<(f32, Uuid)> = all
                        .iter()
                        .filter(|(p, _, _)| *p < count)
                        .map(|(_, id, v)| (v.iter().zip(&query).map(|(a, b)| a * b).sum(), *id))
                        .collect();
                    reference.sort_by(|a, b| b.0.total_cmp(&a.0));
                    let truth: Vec<Uuid> = reference.iter().take(K).map(|r| r.1).collect();
                    found += hits.iter().filter(|h| truth.contains(&h.context_id)).count();
                }
                latencies.sort_by(f64::total_cmp);
                let path =
                    if width == 0 { "exact".to_string() } else { format!("graph, ef {width}") };
                println!(
                    "| {size} | {label} | {path} | {:.2} ms | {:.2} ms | {:.3} |",
                    percentile(&latencies, 0.5),
                    percentile(&latencies, 0.99),
                    found as f64 / (QUERIES * K) as f64
                );
            }
        }
        index.set_graph_expansion(EXPANSION_FILTERED, EXPANSION_WIDE);
    }
}
