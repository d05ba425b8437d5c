//! Embedding throughput of the local model: short sentences and ~250-token code chunks, in
//! tokens per second (WordPiece tokens the model actually processes), and the latency of a
//! 16-token query. `cargo run --release -p tc-embed --example throughput -- MODEL_DIR`.

use std::time::Instant;

// As in the server binary: glibc malloc maps and unmaps every large attention tensor.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use tc_embed::{Embedder, LocalEmbedder};

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".model-cache/all-MiniLM-L6-v2".into());
    let model = LocalEmbedder::load(std::path::Path::new(&dir)).expect("model");
    let sentences: Vec<String> = (0..512)
        .map(|i| format!("Decision {i}: we retry failed webhook deliveries with exponential backoff and alert on-call."))
        .collect();
    let code: Vec<String> = (0..96)
        .map(|i| {
            (0..12)
                .map(|j| format!("    let value_{i}_{j} = compute_total(items[{j}].price, tax_rate) * quantity_{j};\n"))
                .collect::<String>()
        })
        .collect();
    for (name, texts) in [("short sentences", &sentences), ("code chunks", &code)] {
        let tokens: usize = texts.iter().map(|t| model.passages(t).len().max(1)).sum::<usize>();
        let wordpieces: usize = texts.iter().map(|t| count(&model, t)).sum();
        model.embed_blocking(&texts[..8]).expect("warm up");
        let started = Instant::now();
        model.embed_blocking(texts).expect("embed");
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{name:16} {:5} texts  {:7} tokens  {:6.2} s  {:7.0} tokens/s  ({} windows)",
            texts.len(),
            wordpieces,
            secs,
            wordpieces as f64 / secs,
            tokens
        );
    }
    let query = vec!["how do we retry failed stripe webhook deliveries?".to_string()];
    let mut samples = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        model.embed_blocking(&query).expect("query");
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    println!("16-token query    p50 {:.2} ms  p99 {:.2} ms", samples[25], samples[49]);
}

/// WordPiece tokens the model sees for `text` (capped at its 256-token window).
fn count(model: &LocalEmbedder, text: &str) -> usize {
    model.token_count(text).min(256)
}
