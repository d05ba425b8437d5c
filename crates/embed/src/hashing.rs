//! [`HashingEmbedder`]: a deterministic bag-of-words embedder for tests that need vectors but
//! not meaning. Each lower-cased word is hashed (FNV-1a) into one of a fixed number of
//! dimensions with a sign from another bit of the hash, and the sum is normalised: texts that
//! share words are similar, texts that share none are near orthogonal. It loads nothing and
//! runs in microseconds, so service tests need neither the ONNX model nor a thread pool. It
//! knows no synonyms: a test about *meaning* (a paraphrase found) uses the real model.

use std::ops::Range;

use crate::{EmbedError, Embedder, char_windows, normalize};

/// Vector length: small, yet large enough that a handful of words rarely collide.
const DIMENSION: usize = 256;
/// Characters per passage: long texts are cut as the local model's window would cut them.
const WINDOW_CHARS: usize = 1000;
const OVERLAP_CHARS: usize = 100;

/// The test embedder; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct HashingEmbedder;

impl HashingEmbedder {
    /// The vector of one text (what [`Embedder::embed`] returns for it).
    pub fn vector(text: &str) -> Vec<f32> {
        let mut v = vec![0.0f32; DIMENSION];
        for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            let hash = fnv1a(word.to_lowercase().as_bytes());
            let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
            v[(hash % DIMENSION as u64) as usize] += sign;
        }
        normalize(&mut v);
        v
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

#[async_trait::async_trait]
impl Embedder for HashingEmbedder {
    fn model_id(&self) -> &str {
        "test-hashing-256"
    }

    fn dimension(&self) -> usize {
        DIMENSION
    }

    fn passages(&self, text: &str) -> Vec<Range<usize>> {
        char_windows(text, WINDOW_CHARS, OVERLAP_CHARS)
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|t| Self::vector(t)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::HashingEmbedder;
    use crate::cosine;

    #[test]
    fn shared_words_make_similar_vectors() {
        let a = HashingEmbedder::vector("Stripe webhook retries use exponential backoff");
        let b = HashingEmbedder::vector("how do stripe webhook retries work");
        let c = HashingEmbedder::vector("the login page is blue");
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-5);
        assert!(cosine(&a, &b) > 0.4, "{}", cosine(&a, &b));
        assert!(cosine(&a, &c) < 0.2, "{}", cosine(&a, &c));
        assert_eq!(a, HashingEmbedder::vector("Stripe webhook retries use exponential backoff"));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }
}
