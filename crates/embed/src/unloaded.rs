//! [`Unloaded`]: the embedder of commands that never embed (`teamcontext user …`,
//! `teamcontext purge`), so that they start in milliseconds without loading the ONNX model (or
//! needing it on the machine). Anything that does try to embed gets an error, never a made-up
//! vector.

use std::ops::Range;

use crate::{EmbedError, Embedder};

/// See the module documentation.
#[derive(Debug, Clone, Default)]
pub struct Unloaded;

#[async_trait::async_trait]
impl Embedder for Unloaded {
    fn model_id(&self) -> &str {
        "unloaded"
    }

    fn dimension(&self) -> usize {
        0
    }

    fn passages(&self, _text: &str) -> Vec<Range<usize>> {
        Vec::new()
    }

    async fn embed(&self, _texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        Err(EmbedError::Failed("this command does not load the embedding model".into()))
    }
}
