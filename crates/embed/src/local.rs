//! all-MiniLM-L6-v2 in process with ONNX Runtime, reproducing sentence-transformers: WordPiece
//! tokenisation truncated at 256 tokens, BERT with all-zero token types, mean pooling over the
//! attention mask, L2 normalisation. The graph (`model.onnx`, built from the model's own weights
//! by `scripts/build-onnx-model.py`) does everything after tokenisation and returns unit
//! vectors; `model-int8.onnx` is the opt-in fast path with int8 linear layers
//! ([`Precision::Int8`]). ONNX Runtime itself is loaded at start from `libonnxruntime.so`, the
//! library of the `onnxruntime` PyPI wheel (`scripts/fetch-model.sh` puts it beside the model).
//!
//! ONNX Runtime beat candle here by 2× at identical vectors (docs/benchmarks.md). A session
//! runs one forward pass at a time, so interactive calls (a search query, a save) have a
//! session of their own, with up to [`INTERACTIVE_THREADS`] threads so that one text's pass
//! uses the cores it can, and background work (a scan, through [`Embedder::embed_bulk`]) never
//! takes it. Idle threads sleep instead of spinning, so a server's idle cores stay idle
//! (spinning measured within noise on saves, at the cost of busy cores after each call).
//!
//! Over our 450-line guide only by its tests (420 lines of code): loading, the two sessions and
//! the tokeniser-to-graph recipe are one unit.
//!
//! Throughput matters (a codebase scan embeds thousands of chunks). Larger calls are sorted by
//! length and cut into passes of about 512 tokens of similar length (padding costs attention
//! compute quadratic in the longest member), and the passes are shared out among bulk sessions,
//! one single-threaded session per core (up to [`MAX_BULK_SESSIONS`]), each driven by its own
//! thread at a lower scheduling priority than requests. On two cores that embeds code 31%
//! faster in fp32 and 53% in int8 than one two-threaded session running 32-text batches: a
//! small pass keeps its activations in the core's cache (most of the gain), and whole passes
//! side by side leave no core waiting at the synchronisation points inside an operator. The
//! sessions share the prepacked weights, but each holds its own copy of the rest (~100 MB in
//! fp32).

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, PrepackedWeights};
use ort::value::Tensor;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::{EmbedError, Embedder};

pub const MODEL_ID: &str = "all-MiniLM-L6-v2";
/// The int8 graph's id: close to the fp32 vectors but not equal, so switching precision
/// re-embeds stored context (in the background; search serves meanwhile).
pub const MODEL_ID_INT8: &str = "all-MiniLM-L6-v2-int8";
/// The window sentence-transformers uses for this model (`max_seq_length`), special tokens
/// included.
const MAX_TOKENS: usize = 256;
/// Overlap between consecutive passages, in tokens.
const PASSAGE_OVERLAP: usize = 32;
/// Tokens in one forward pass of a bulk session (texts × the longest one's length): two
/// 256-token passages or eight 64-token ones. On two cores 256 and 512 were equally fast, 1,024
/// 5–11% slower and 8,192 (the former 32 texts of 256) about 20% slower.
const GROUP_TOKENS: usize = 512;
/// Calls with at most this many texts use the interactive session.
const INTERACTIVE_TEXTS: usize = 4;
/// Threads of the interactive session (fewer on a smaller machine): a single text's pass
/// scales to about this many, and someone is waiting on it. On two cores a 254-token code
/// chunk's pass took 52 ms on one thread and 36 ms on two (sentence-transformers: 34 ms).
const INTERACTIVE_THREADS: usize = 4;
/// Bulk sessions at most, whatever the cores: each holds its own ~100 MB of weights, so a big
/// machine gets a few sessions of several threads each rather than one session per core.
const MAX_BULK_SESSIONS: usize = 4;
/// The ONNX Runtime library looked for in the model directory when `ORT_DYLIB_PATH` is unset.
pub const RUNTIME_LIBRARY: &str = "libonnxruntime.so";

/// Which graph runs: both give vectors in the same space (the int8 one within cosine 0.99 of
/// the fp32 one), but each has its own model id, so that a switch re-embeds what is stored
/// rather than mixing the two.
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
    /// For everything else: one per core (single-threaded) up to [`MAX_BULK_SESSIONS`], run
    /// side by side.
    bulk: Vec<Mutex<Session>>,
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
            .field("model", &self.model_id())
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
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let sessions = cores.min(MAX_BULK_SESSIONS);
        // Prepacking lays the weights out for the matrix kernels; sessions share that copy.
        let weights = PrepackedWeights::new();
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
                .with_prepacked_weights(&weights)
                .map_err(text)?
                .commit_from_memory(&graph)
                .map_err(|e| e.to_string())
        };
        let session = |threads| {
            session(threads).map(Mutex::new).map_err(|e| fail(format!("{}: {e}", precision.file())))
        };
        let interactive = session(cores.min(INTERACTIVE_THREADS))?;
        let bulk =
            (0..sessions).map(|_| session(cores.div_ceil(sessions))).collect::<Result<_, _>>()?;

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

    /// Embeds synchronously (the async [`Embedder::embed`] runs this on the blocking pool): a
    /// call of a few texts on the interactive session, others on the bulk sessions.
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed_on(texts, texts.len() <= INTERACTIVE_TEXTS)
    }

    /// Embeds synchronously on the bulk sessions whatever the number of texts (background work
    /// such as a scan, which must not hold up the interactive session).
    pub fn embed_bulk_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed_on(texts, false)
    }

    fn embed_on(&self, texts: &[String], interactive: bool) -> Result<Vec<Vec<f32>>, EmbedError> {
        let failed = |e: &dyn std::fmt::Display| EmbedError::Failed(e.to_string());
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .inner
            .tokenizer
            .encode_batch(texts.iter().map(String::as_str).collect::<Vec<_>>(), true)
            .map_err(|e| failed(&e))?;
        let lengths: Vec<usize> = encodings
            .iter()
            .map(|e| e.get_attention_mask().iter().filter(|&&m| m == 1).count().max(1))
            .collect();
        // One forward pass over some of the texts, padded to the longest of them.
        let run = |session: &mut Session, group: &[usize]| {
            let longest = group.iter().map(|&i| lengths[i]).max().unwrap_or(1);
            let mut ids = Vec::with_capacity(group.len() * longest);
            let mut mask = Vec::with_capacity(group.len() * longest);
            for &i in group {
                ids.extend(encodings[i].get_ids()[..longest].iter().map(|&id| i64::from(id)));
                mask.extend(
                    encodings[i].get_attention_mask()[..longest].iter().map(|&m| i64::from(m)),
                );
            }
            self.forward(session, [group.len(), longest], ids, mask).map_err(|e| failed(&e))
        };
        if interactive {
            // One pass per text: a long save's short last passage is not padded to the length
            // of its full ones (a 900-character code chunk is often 254 tokens and 70).
            let mut session = lock(&self.inner.interactive);
            let mut out = Vec::with_capacity(texts.len());
            for i in 0..texts.len() {
                out.extend(run(&mut session, &[i])?);
            }
            return Ok(out);
        }

        let groups = groups_by_length(&lengths);
        // Workers (scoped threads, one per session the call can use) take the next group until
        // none is left or one fails, each pass on a free session.
        let next = AtomicUsize::new(0);
        let work = |worker: usize| {
            let mut done = Vec::new();
            loop {
                let g = next.fetch_add(1, Ordering::Relaxed);
                let Some(group) = groups.get(g) else { return Ok(done) };
                match run(&mut self.bulk_session(worker), group) {
                    Ok(vectors) => done.push((g, vectors)),
                    Err(e) => {
                        next.store(groups.len(), Ordering::Relaxed);
                        return Err(e);
                    }
                }
            }
        };
        let workers = self.inner.bulk.len().min(groups.len());
        let results: Vec<Result<Passes, EmbedError>> = std::thread::scope(|scope| {
            let work = &work;
            let threads: Vec<_> = (0..workers)
                .map(|w| {
                    scope.spawn(move || {
                        yield_to_interactive_work();
                        work(w)
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().unwrap_or_else(|_| Err(failed(&"an embedding worker panicked"))))
                .collect()
        });
        let mut out = vec![Vec::new(); texts.len()];
        for result in results {
            for (g, vectors) in result? {
                for (row, &i) in vectors.into_iter().zip(&groups[g]) {
                    out[i] = row;
                }
            }
        }
        Ok(out)
    }

    /// A bulk session nobody is using, trying `preferred` first (so concurrent calls spread
    /// out), or `preferred` once it is free.
    fn bulk_session(&self, preferred: usize) -> MutexGuard<'_, Session> {
        let bulk = &self.inner.bulk;
        for k in 0..bulk.len() {
            match bulk[(preferred + k) % bulk.len()].try_lock() {
                Ok(guard) => return guard,
                Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        lock(&bulk[preferred % bulk.len()])
    }

    /// Runs one group through the graph: unit vectors, one per row.
    fn forward(
        &self,
        session: &mut Session,
        shape: [usize; 2],
        ids: Vec<i64>,
        mask: Vec<i64>,
    ) -> ort::Result<Vec<Vec<f32>>> {
        let ids = Tensor::from_array((shape, ids))?;
        let mask = Tensor::from_array((shape, mask))?;
        let outputs = session.run(ort::inputs!["input_ids" => ids, "attention_mask" => mask])?;
        let (_, flat) = outputs["sentence_embedding"].try_extract_tensor::<f32>()?;
        Ok(flat.chunks(self.inner.dimension).map(<[f32]>::to_vec).collect())
    }
}

/// Lowers the calling thread's scheduling priority (nice 10), so that while a scan keeps every
/// core busy a search's query embedding and the server's requests still get a core when they
/// need one: p99 search latency during a scan fell from 90 to 22 ms with one bulk session per
/// core, and this keeps the median too (docs/benchmarks.md). Linux gives each thread its own
/// nice value; the threads this is called on end with their call. Best effort: where it fails,
/// the work runs at normal priority.
fn yield_to_interactive_work() {
    #[cfg(target_os = "linux")]
    let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 10);
}

/// The vectors of the forward passes one worker ran, by index into the call's groups.
type Passes = Vec<(usize, Vec<Vec<f32>>)>;

/// Locks a session. A panic while holding the lock cannot leave it half-updated: ONNX Runtime
/// keeps no state between runs.
fn lock(session: &Mutex<Session>) -> MutexGuard<'_, Session> {
    session.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Cuts texts (by token count) into forward passes of similar length: sorted by length, each
/// group as many texts as fit [`GROUP_TOKENS`] at its longest member's length (at least one).
fn groups_by_length(lengths: &[usize]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| lengths[i]);
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for i in order {
        // Sorted ascending, so the newest member is the group's longest.
        match groups.last_mut() {
            Some(group) if (group.len() + 1) * lengths[i] <= GROUP_TOKENS => group.push(i),
            _ => groups.push(vec![i]),
        }
    }
    groups
}

/// [`LocalEmbedder::embed_blocking`] or [`LocalEmbedder::embed_bulk_blocking`].
type BlockingEmbed = fn(&LocalEmbedder, &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;

impl LocalEmbedder {
    /// Runs one of the blocking entry points on the blocking pool, off the async runtime.
    async fn off_runtime(
        &self,
        texts: Vec<String>,
        embed: BlockingEmbed,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || embed(&this, &texts))
            .await
            .map_err(|e| EmbedError::Failed(format!("embedding task: {e}")))?
    }
}

#[async_trait::async_trait]
impl Embedder for LocalEmbedder {
    fn model_id(&self) -> &str {
        match self.inner.precision {
            Precision::Fp32 => MODEL_ID,
            Precision::Int8 => MODEL_ID_INT8,
        }
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
        self.off_runtime(texts, Self::embed_blocking).await
    }

    async fn embed_bulk(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.off_runtime(texts, Self::embed_bulk_blocking).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the bulk worker's own thread is lowered: lowering a pooled thread, or the process,
    /// would slow everything else the server runs.
    #[cfg(target_os = "linux")]
    #[test]
    fn bulk_workers_lower_only_their_own_priority() {
        use rustix::process::getpriority_process;
        use rustix::thread::gettid;
        let before = getpriority_process(Some(gettid())).unwrap();
        let worker = std::thread::spawn(|| {
            yield_to_interactive_work();
            getpriority_process(Some(gettid())).unwrap()
        });
        assert_eq!(worker.join().unwrap(), before + 10);
        assert_eq!(getpriority_process(Some(gettid())).unwrap(), before, "this thread unchanged");
        let main_thread = Some(rustix::process::getpid());
        assert_eq!(getpriority_process(main_thread).unwrap(), before, "the main thread unchanged");
    }

    #[test]
    fn groups_hold_similar_lengths_within_the_budget() {
        let lengths = [256, 10, 256, 64, 12, 256, 64, 300];
        let groups = groups_by_length(&lengths);
        let mut seen: Vec<usize> = groups.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..lengths.len()).collect::<Vec<_>>(), "every text exactly once");
        for group in &groups {
            let longest = group.iter().map(|&i| lengths[i]).max().unwrap();
            assert!(group.len() == 1 || group.len() * longest <= GROUP_TOKENS, "{groups:?}");
        }
        // The short texts share a pass; the 256-token ones go in pairs.
        assert_eq!(groups[0], vec![1, 4, 3, 6]);
        assert!(groups.iter().any(|g| g.len() == 2 && g.iter().all(|&i| lengths[i] == 256)));
        assert_eq!(groups.last().unwrap(), &vec![7], "a text over the budget runs alone");
    }
}
