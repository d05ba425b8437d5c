//! Text embedding for TeamContext. [`Embedder`] is the one interface the rest of the server
//! uses; [`LocalEmbedder`] runs all-MiniLM-L6-v2 in process (ONNX Runtime, exactly the
//! sentence-transformers recipe: 256-token window, mean pooling over the attention mask, L2
//! normalisation; optionally int8) and [`OpenAiEmbedder`] calls any OpenAI-compatible `/embeddings` endpoint
//! (OpenAI, Ollama, vLLM, llama.cpp, LM Studio).
//!
//! [`HashingEmbedder`] is a deterministic stand-in for tests that need vectors but not meaning.
//!
//! Every vector a provider returns is unit length, so cosine similarity is a dot product.

mod hashing;
mod local;
mod openai;
mod unloaded;

use std::ops::Range;

pub use hashing::HashingEmbedder;
pub use local::{LocalEmbedder, Precision, RUNTIME_LIBRARY};
pub use openai::{OpenAiConfig, OpenAiEmbedder};
pub use unloaded::Unloaded;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The model files are missing or unreadable (a configuration problem).
    #[error("cannot load the embedding model from {path}: {reason}")]
    Load { path: String, reason: String },
    /// The model or the remote service failed on this input.
    #[error("embedding failed: {0}")]
    Failed(String),
    /// The remote service could not be reached or answered with an error.
    #[error("embedding service error: {0}")]
    Remote(String),
}

/// A text embedding model.
#[async_trait::async_trait]
pub trait Embedder: Send + Sync + std::fmt::Debug {
    /// Names the model; stored beside every vector it makes.
    fn model_id(&self) -> &str;

    /// Length of every vector.
    fn dimension(&self) -> usize;

    /// Cuts `text` into byte ranges the model sees whole (its window), each overlapping the
    /// previous one a little so that a sentence on a boundary is seen entire at least once.
    /// Returns one range covering everything for a short text, and none for an empty one.
    fn passages(&self, text: &str) -> Vec<Range<usize>>;

    /// Embeds each text; the result has one unit-length vector per input, in order.
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError>;

    /// As [`embed`](Self::embed), for background work (a codebase scan): a provider that keeps
    /// capacity for people waiting on an answer (the local model's interactive session) keeps
    /// it from these calls.
    async fn embed_bulk(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed(texts).await
    }
}

/// Scales `v` to unit length (leaves an all-zero vector alone).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x /= norm;
        }
    }
}

/// Cosine similarity of two vectors (their dot product when both are unit length).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na * nb) }
}

/// Splits `text` into windows of at most `window` characters overlapping by `overlap`, cut at
/// whitespace where one is near, for providers whose tokenizer we do not have.
pub fn char_windows(text: &str, window: usize, overlap: usize) -> Vec<Range<usize>> {
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
    let chars = bounds.len() - 1;
    if chars == 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let mut end = (start + window).min(chars);
        if end < chars {
            // Prefer to end on whitespace in the last fifth of the window.
            let floor = start + window * 4 / 5;
            if let Some(ws) =
                (floor..end).rev().find(|&i| text[bounds[i]..].starts_with(char::is_whitespace))
            {
                end = ws;
            }
        }
        out.push(bounds[start]..bounds[end]);
        if end >= chars {
            return out;
        }
        start = end.saturating_sub(overlap).max(start + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_everything_and_overlap() {
        assert!(char_windows("", 10, 2).is_empty());
        let whole = 0..5;
        assert_eq!(char_windows("short", 10, 2), vec![whole]);
        let text = "alpha beta gamma delta epsilon zeta eta theta iota kappa";
        let ws = char_windows(text, 20, 5);
        assert_eq!(ws.first().unwrap().start, 0);
        assert_eq!(ws.last().unwrap().end, text.len());
        for pair in ws.windows(2) {
            assert!(pair[1].start < pair[0].end, "consecutive windows overlap: {ws:?}");
            assert!(pair[1].start > pair[0].start);
        }
        assert!(ws.iter().all(|r| text[r.clone()].chars().count() <= 20));
        // Multi-byte characters are never split.
        let ws = char_windows("ééééééééé", 4, 1);
        assert!(ws.iter().all(|r| "ééééééééé".is_char_boundary(r.start)));
    }

    #[test]
    fn normalize_and_cosine() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        assert!((cosine(&v, &[6.0, 8.0]) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }
}
