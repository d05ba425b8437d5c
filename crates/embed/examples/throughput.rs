//! Embedding throughput of the local model, fp32 and int8: short sentences and ~250-token code
//! chunks in tokens per second (WordPiece tokens the model actually processes), the latency of
//! a 16-token query, and how far the int8 vectors are from the fp32 ones.
//! `cargo run --release -p tc-embed --example throughput -- MODEL_DIR`.

use std::time::Instant;

// As in the server binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use tc_embed::{LocalEmbedder, Precision, cosine};

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".model-cache/all-MiniLM-L6-v2".into());
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
    let mut reference: Vec<Vec<Vec<f32>>> = Vec::new();
    for precision in [Precision::Fp32, Precision::Int8] {
        let model = LocalEmbedder::load(std::path::Path::new(&dir), precision).expect("model");
        for (k, (name, texts)) in
            [("short sentences", &sentences), ("code chunks", &code)].into_iter().enumerate()
        {
            let wordpieces: usize = texts.iter().map(|t| model.token_count(t).min(256)).sum();
            model.embed_blocking(&texts[..8]).expect("warm up");
            let started = Instant::now();
            let vectors = model.embed_blocking(texts).expect("embed");
            let secs = started.elapsed().as_secs_f64();
            let quality = match precision {
                Precision::Fp32 => {
                    reference.push(vectors);
                    String::new()
                }
                Precision::Int8 => {
                    let worst = reference[k]
                        .iter()
                        .zip(&vectors)
                        .map(|(a, b)| cosine(a, b))
                        .fold(1.0, f32::min);
                    format!("  lowest cosine to fp32 {worst:.4}")
                }
            };
            println!(
                "{precision:?} {name:16} {:5} texts  {wordpieces:7} tokens  {secs:6.2} s  {:7.0} tokens/s{quality}",
                texts.len(),
                wordpieces as f64 / secs,
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
        println!(
            "{precision:?} 16-token query    p50 {:.2} ms  p99 {:.2} ms",
            samples[25], samples[49]
        );
    }
}
