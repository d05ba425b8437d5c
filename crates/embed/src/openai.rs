//! Any OpenAI-compatible embeddings endpoint (`POST {base_url}/embeddings` with
//! `{"model", "input": [...]}`, answered by `{"data": [{"index", "embedding"}]}`): OpenAI,
//! Ollama, vLLM, llama.cpp's server, LM Studio. Inputs are sent in batches; transient failures
//! (connection errors, 429, 5xx) are retried with exponential backoff.

use std::ops::Range;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{EmbedError, Embedder, char_windows, normalize};

const BATCH: usize = 64;
const ATTEMPTS: u32 = 3;
/// Passage window for remote models, in characters (we do not have their tokenizer); about 500
/// tokens of English, within every common embedding model's limit.
const WINDOW_CHARS: usize = 2000;
const OVERLAP_CHARS: usize = 200;

#[derive(Clone)]
pub struct OpenAiConfig {
    /// For example `https://api.example.com/v1` or `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    pub api_key: Option<String>,
    pub model: String,
    pub dimension: usize,
    pub timeout: Duration,
}

impl std::fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<hidden>"))
            .field("model", &self.model)
            .field("dimension", &self.dimension)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct OpenAiEmbedder {
    config: OpenAiConfig,
    client: reqwest::Client,
    url: String,
}

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    input: &'a [String],
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    index: usize,
    embedding: Vec<f32>,
}

impl OpenAiEmbedder {
    pub fn new(config: OpenAiConfig) -> Result<Self, EmbedError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| EmbedError::Remote(format!("http client: {e}")))?;
        let url = format!("{}/embeddings", config.base_url.trim_end_matches('/'));
        Ok(OpenAiEmbedder { config, client, url })
    }

    async fn embed_batch(&self, input: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut delay = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            match self.try_batch(input).await {
                Ok(vectors) => return Ok(vectors),
                Err((retryable, e)) if retryable && attempt < ATTEMPTS => {
                    tracing::warn!(attempt, error = %e, "embedding request failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                Err((_, e)) => return Err(e),
            }
        }
    }

    /// One request; the flag says whether a retry may help.
    async fn try_batch(&self, input: &[String]) -> Result<Vec<Vec<f32>>, (bool, EmbedError)> {
        let mut request =
            self.client.post(&self.url).json(&Request { model: &self.config.model, input });
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| (true, EmbedError::Remote(format!("{}: {e}", self.url))))?;
        let status = response.status();
        if !status.is_success() {
            let retryable = status.as_u16() == 429 || status.is_server_error();
            let body = response.text().await.unwrap_or_default();
            let body: String = body.chars().take(300).collect();
            return Err((
                retryable,
                EmbedError::Remote(format!("{} answered {status}: {body}", self.url)),
            ));
        }
        let parsed: Response = response
            .json()
            .await
            .map_err(|e| (false, EmbedError::Remote(format!("unexpected response: {e}"))))?;
        let mut vectors = vec![Vec::new(); input.len()];
        for item in parsed.data {
            if item.index >= input.len() || item.embedding.len() != self.config.dimension {
                return Err((
                    false,
                    EmbedError::Remote(format!(
                        "response item {} has {} dimensions; expected index < {} and {} dimensions",
                        item.index,
                        item.embedding.len(),
                        input.len(),
                        self.config.dimension
                    )),
                ));
            }
            vectors[item.index] = item.embedding;
        }
        if vectors.iter().any(Vec::is_empty) {
            return Err((
                false,
                EmbedError::Remote("the response left some inputs without an embedding".into()),
            ));
        }
        for v in &mut vectors {
            normalize(v);
        }
        Ok(vectors)
    }
}

#[async_trait::async_trait]
impl Embedder for OpenAiEmbedder {
    fn model_id(&self) -> &str {
        &self.config.model
    }

    fn dimension(&self) -> usize {
        self.config.dimension
    }

    fn passages(&self, text: &str) -> Vec<Range<usize>> {
        char_windows(text, WINDOW_CHARS, OVERLAP_CHARS)
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(BATCH) {
            out.extend(self.embed_batch(batch).await?);
        }
        Ok(out)
    }
}
