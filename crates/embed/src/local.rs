//! all-MiniLM-L6-v2 in process with candle, reproducing sentence-transformers: WordPiece
//! tokenisation truncated at 256 tokens, BERT with all-zero token types, mean pooling over the
//! attention mask, L2 normalisation. The weights are read into memory (safetensors) once;
//! `forward` takes `&self`, so one model serves every request.
//!
//! Throughput matters (a codebase scan embeds thousands of chunks), so a batch is sorted by
//! length and cut into groups of similar length: padding costs attention compute quadratic in
//! the longest member of a group.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::{EmbedError, Embedder, normalize};

pub const MODEL_ID: &str = "all-MiniLM-L6-v2";
/// The window sentence-transformers uses for this model (`max_seq_length`), special tokens
/// included.
const MAX_TOKENS: usize = 256;
/// Overlap between consecutive passages, in tokens.
const PASSAGE_OVERLAP: usize = 32;
/// Texts per forward pass.
const GROUP: usize = 32;

#[derive(Clone)]
pub struct LocalEmbedder {
    inner: Arc<Inner>,
}

struct Inner {
    model: BertModel,
    /// Truncates to the window and pads each batch to its longest member.
    tokenizer: Tokenizer,
    /// Neither truncates nor pads: used to find passage boundaries.
    splitter: Tokenizer,
    dimension: usize,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder").field("model", &MODEL_ID).finish_non_exhaustive()
    }
}

impl LocalEmbedder {
    /// Loads the model from a directory holding `config.json`, `tokenizer.json` and
    /// `model.safetensors` (see `scripts/fetch-model.sh`).
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let fail = |reason: String| EmbedError::Load { path: dir.display().to_string(), reason };
        let read =
            |name: &str| std::fs::read(dir.join(name)).map_err(|e| fail(format!("{name}: {e}")));
        let config: Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| fail(format!("config.json: {e}")))?;
        let pooling: serde_json::Value = serde_json::from_slice(&read("1_Pooling/config.json")?)
            .map_err(|e| fail(format!("1_Pooling/config.json: {e}")))?;
        if pooling["pooling_mode_mean_tokens"] != true {
            return Err(fail("the model does not use mean pooling".into()));
        }
        let vb = VarBuilder::from_buffered_safetensors(
            read("model.safetensors")?,
            DType::F32,
            &Device::Cpu,
        )
        .map_err(|e| fail(format!("model.safetensors: {e}")))?;
        let model = BertModel::load(vb, &config).map_err(|e| fail(format!("weights: {e}")))?;

        let mut splitter = Tokenizer::from_bytes(read("tokenizer.json")?)
            .map_err(|e| fail(format!("tokenizer.json: {e}")))?;
        // The shipped tokenizer truncates and pads to 128; sentence-transformers uses 256 and
        // pads per batch.
        splitter.with_truncation(None).map_err(|e| fail(format!("tokenizer: {e}")))?;
        splitter.with_padding(None);
        let mut tokenizer = splitter.clone();
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| fail(format!("tokenizer: {e}")))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        Ok(LocalEmbedder {
            inner: Arc::new(Inner { model, tokenizer, splitter, dimension: config.hidden_size }),
        })
    }

    /// WordPiece tokens in `text` including `[CLS]` and `[SEP]`, before truncation.
    pub fn token_count(&self, text: &str) -> usize {
        self.inner.splitter.encode(text, true).map(|e| e.len()).unwrap_or(0)
    }

    /// Embeds synchronously (the async [`Embedder::embed`] runs this on the blocking pool).
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let failed = |e: &dyn std::fmt::Display| EmbedError::Failed(e.to_string());
        let encodings = self
            .inner
            .tokenizer
            .encode_batch(texts.iter().map(String::as_str).collect::<Vec<_>>(), true)
            .map_err(|e| failed(&e))?;
        // Group texts of similar length (padding is per group), then restore the input order.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| encodings[i].get_ids().iter().filter(|&&id| id != 0).count());
        let mut out = vec![Vec::new(); texts.len()];
        for group in order.chunks(GROUP) {
            let longest = group
                .iter()
                .map(|&i| encodings[i].get_attention_mask().iter().filter(|&&m| m == 1).count())
                .max()
                .unwrap_or(1)
                .max(1);
            let mut ids = Vec::with_capacity(group.len() * longest);
            let mut mask = Vec::with_capacity(group.len() * longest);
            for &i in group {
                ids.extend_from_slice(&encodings[i].get_ids()[..longest]);
                mask.extend_from_slice(&encodings[i].get_attention_mask()[..longest]);
            }
            let shape = (group.len(), longest);
            let ids = Tensor::from_vec(ids, shape, &Device::Cpu).map_err(|e| failed(&e))?;
            let mask = Tensor::from_vec(mask, shape, &Device::Cpu).map_err(|e| failed(&e))?;
            let types = ids.zeros_like().map_err(|e| failed(&e))?;
            let pooled = self.forward_pooled(&ids, &types, &mask).map_err(|e| failed(&e))?;
            for (row, &i) in pooled.into_iter().zip(group) {
                out[i] = row;
            }
        }
        Ok(out)
    }

    fn forward_pooled(
        &self,
        ids: &Tensor,
        types: &Tensor,
        mask: &Tensor,
    ) -> candle_core::Result<Vec<Vec<f32>>> {
        let hidden = self.inner.model.forward(ids, types, Some(mask))?;
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mut rows = summed.broadcast_div(&counts)?.to_vec2::<f32>()?;
        for row in &mut rows {
            normalize(row);
        }
        Ok(rows)
    }
}

#[async_trait::async_trait]
impl Embedder for LocalEmbedder {
    fn model_id(&self) -> &str {
        MODEL_ID
    }

    fn dimension(&self) -> usize {
        self.inner.dimension
    }

    fn passages(&self, text: &str) -> Vec<Range<usize>> {
        if text.trim().is_empty() {
            return Vec::new();
        }
        let Ok(encoding) = self.inner.splitter.encode(text, false) else {
            return crate::char_windows(text, 1000, 100);
        };
        let offsets = encoding.get_offsets();
        // Room for [CLS] and [SEP] inside the window.
        let window = MAX_TOKENS - 2;
        if offsets.len() <= window {
            let whole = 0..text.len();
            return vec![whole];
        }
        let mut out = Vec::new();
        let mut start = 0;
        loop {
            let end = (start + window).min(offsets.len());
            let from = if start == 0 { 0 } else { offsets[start].0 };
            let to = if end == offsets.len() { text.len() } else { offsets[end].0 };
            out.push(from..to);
            if end == offsets.len() {
                return out;
            }
            start = end - PASSAGE_OVERLAP;
        }
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.embed_blocking(&texts))
            .await
            .map_err(|e| EmbedError::Failed(format!("embedding task: {e}")))?
    }
}
