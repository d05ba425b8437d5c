//! all-MiniLM-L6-v2 in process with ONNX Runtime, reproducing sentence-transformers: WordPiece
//! tokenisation truncated at 256 tokens, BERT with all-zero token types, mean pooling over the
//! attention mask, L2 normalisation. The graph (`model.onnx`, built from the model's own weights
//! by `scripts/build-onnx-model.py`) does everything after tokenisation and returns unit
//! vectors; `model-int8.onnx` is the opt-in fast path with int8 linear layers
//! ([`Precision::Int8`]). ONNX Runtime itself is loaded at start from `libonnxruntime.so`, the
//! library of the `onnxruntime` PyPI wheel (`scripts/fetch-model.sh` puts it beside the model).
//!
//! ONNX Runtime beat candle here by 2× at identical vectors (docs/benchmarks.md). A session
//! runs one batch at a time, so there are two: interactive calls (a search query, a save) never
//! queue behind a scan's 32-chunk batch. The bulk session uses every core; the interactive one
//! uses one (a 16-token query is no faster on two, and a scan keeps the other). Idle worker
//! threads sleep instead of spinning: no throughput was lost, and a server's idle cores stay
//! idle.
//!
//! Throughput matters (a codebase scan embeds thousands of chunks), so a batch is sorted by
//! length and cut into groups of similar length: padding costs attention compute quadratic in
//! the longest member of a group.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::{EmbedError, Embedder};

pub const MODEL_ID: &str = "all-MiniLM-L6-v2";
/// The window sentence-transformers uses for this model (`max_seq_length`), special tokens
/// included.
const MAX_TOKENS: usize = 256;
/// Overlap between consecutive passages, in tokens.
const PASSAGE_OVERLAP: usize = 32;
/// Texts per forward pass.
const GROUP: usize = 32;
/// Calls with at most this many texts use the interactive session.
const INTERACTIVE_TEXTS: usize = 4;
/// The ONNX Runtime library looked for in the model directory when `ORT_DYLIB_PATH` is unset.
pub const RUNTIME_LIBRARY: &str = "libonnxruntime.so";

/// Which graph runs: both give vectors in the same space (the int8 one within cosine 0.99 of
/// the fp32 one), so switching keeps stored vectors searchable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// `model.onnx`: identical to sentence-transformers.
    #[default]
    Fp32,
    /// `model-int8.onnx`: linear layers in int8, about twice as fast.
    Int8,
}

impl Precision {
    fn file(self) -> &'static str {
        match self {
            Precision::Fp32 => "model.onnx",
            Precision::Int8 => "model-int8.onnx",
        }
    }
}

#[derive(Clone)]
pub struct LocalEmbedder {
    inner: Arc<Inner>,
}

struct Inner {
    /// For calls of a few texts.
    interactive: Mutex<Session>,
    /// For everything else.
    bulk: Mutex<Session>,
    /// Truncates to the window and pads each batch to its longest member.
    tokenizer: Tokenizer,
    /// Neither truncates nor pads: used to find passage boundaries.
    splitter: Tokenizer,
    dimension: usize,
    precision: Precision,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("model", &MODEL_ID)
            .field("precision", &self.inner.precision)
            .finish_non_exhaustive()
    }
}

/// The process's ONNX Runtime environment. The library can be loaded only once per process, so
/// the first success is kept; a failure is not (a later load may name a good directory).
fn environment(dir: &Path) -> Result<Environment, String> {
    static ENV: Mutex<Option<Environment>> = Mutex::new(None);
    let mut env = ENV.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(env) = env.as_ref() {
        return Ok(env.clone());
    }
    let library = std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join(RUNTIME_LIBRARY));
    let built = ort::init_from(&library)
        .map_err(|e| format!("ONNX Runtime library {}: {e}", library.display()))?
        .with_name("teamcontext")
        .build()
        .map_err(|e| format!("ONNX Runtime: {e}"))?;
    Ok(env.insert(built).clone())
}

impl LocalEmbedder {
    /// Loads the model from a directory holding `config.json`, `tokenizer.json`, the ONNX
    /// graph for `precision` and `libonnxruntime.so` (see `scripts/fetch-model.sh`).
    pub fn load(dir: &Path, precision: Precision) -> Result<Self, EmbedError> {
        let fail = |reason: String| EmbedError::Load { path: dir.display().to_string(), reason };
        let read =
            |name: &str| std::fs::read(dir.join(name)).map_err(|e| fail(format!("{name}: {e}")));
        let config: serde_json::Value = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| fail(format!("config.json: {e}")))?;
        let dimension = config["hidden_size"]
            .as_u64()
            .ok_or_else(|| fail("config.json has no hidden_size".into()))?
            as usize;
        let pooling: serde_json::Value = serde_json::from_slice(&read("1_Pooling/config.json")?)
            .map_err(|e| fail(format!("1_Pooling/config.json: {e}")))?;
        if pooling["pooling_mode_mean_tokens"] != true {
            return Err(fail("the model does not use mean pooling".into()));
        }
        let graph = read(precision.file())?;
        let env = environment(dir).map_err(fail)?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let session = |threads: usize| -> Result<Session, String> {
            let text = |e: ort::Error<_>| e.to_string();
            Session::builder(&env)
                .map_err(|e| e.to_string())?
                .with_optimization_level(GraphOptimizationLevel::All)
                .map_err(text)?
                .with_intra_threads(threads)
                .map_err(text)?
                .with_inter_threads(1)
                .map_err(text)?
                .with_intra_op_spinning(false)
                .map_err(text)?
                .commit_from_memory(&graph)
                .map_err(|e| e.to_string())
        };
        let session =
            |threads| session(threads).map_err(|e| fail(format!("{}: {e}", precision.file())));
        let (interactive, bulk) = (Mutex::new(session(1)?), Mutex::new(session(threads)?));

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
            inner: Arc::new(Inner { interactive, bulk, tokenizer, splitter, dimension, precision }),
        })
    }

    pub fn precision(&self) -> Precision {
        self.inner.precision
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
        let session = if texts.len() <= INTERACTIVE_TEXTS {
            &self.inner.interactive
        } else {
            &self.inner.bulk
        };
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
                ids.extend(encodings[i].get_ids()[..longest].iter().map(|&id| i64::from(id)));
                mask.extend(
                    encodings[i].get_attention_mask()[..longest].iter().map(|&m| i64::from(m)),
                );
            }
            let shape = [group.len(), longest];
            let pooled = self.forward(session, shape, ids, mask).map_err(|e| failed(&e))?;
            for (row, &i) in pooled.into_iter().zip(group) {
                out[i] = row;
            }
        }
        Ok(out)
    }

    /// Runs one group through the graph: unit vectors, one per row.
    fn forward(
        &self,
        session: &Mutex<Session>,
        shape: [usize; 2],
        ids: Vec<i64>,
        mask: Vec<i64>,
    ) -> ort::Result<Vec<Vec<f32>>> {
        let ids = Tensor::from_array((shape, ids))?;
        let mask = Tensor::from_array((shape, mask))?;
        // A panic while holding the lock cannot leave the session half-updated: ONNX Runtime
        // keeps no state between runs.
        let mut session = session.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let outputs = session.run(ort::inputs!["input_ids" => ids, "attention_mask" => mask])?;
        let (_, flat) = outputs["sentence_embedding"].try_extract_tensor::<f32>()?;
        Ok(flat.chunks(self.inner.dimension).map(<[f32]>::to_vec).collect())
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
