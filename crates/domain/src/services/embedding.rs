//! Turning text into vectors for the store: a context's passages (the model's windows) and
//! their vectors, interactive or bulk, and a project description's vector for two-level search.

use std::sync::Arc;

use tc_store::{ContextRecord, PassageRecord};
use tracing::warn;
use uuid::Uuid;

use super::Services;
use crate::error::{DomainError, DomainResult, ErrorCode};

impl Services {
    /// Embeds `texts` with the configured model, for someone waiting on the answer.
    pub(crate) async fn embed(&self, texts: Vec<String>) -> DomainResult<Vec<Vec<f32>>> {
        self.embed_as(texts, false).await
    }

    /// Embeds `texts` with the configured model; `bulk` for background work such as a scan.
    async fn embed_as(&self, texts: Vec<String>, bulk: bool) -> DomainResult<Vec<Vec<f32>>> {
        let started = std::time::Instant::now();
        let count = texts.len() as u64;
        let result = if bulk {
            self.embedder.embed_bulk(texts).await
        } else {
            self.embedder.embed(texts).await
        };
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::histogram!(crate::metrics::EMBED_SECONDS, "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        metrics::counter!(crate::metrics::EMBEDDED_TEXTS, "outcome" => outcome).increment(count);
        result.map_err(|e| {
            DomainError::new(
                ErrorCode::EmbeddingGenerationFailed,
                "the embedding model failed on this input",
            )
            .caused_by(Arc::new(e))
        })
    }

    /// The passages of several contexts and their vectors, embedded in one batch as background
    /// work (a scanned file's chunks), in the order of `contexts`.
    pub(crate) async fn passages_for_many(
        &self,
        contexts: &[ContextRecord],
    ) -> DomainResult<Vec<Vec<PassageRecord>>> {
        let ranges: Vec<Vec<std::ops::Range<usize>>> =
            contexts.iter().map(|c| self.embedder.passages(&c.content)).collect();
        let texts: Vec<String> = contexts
            .iter()
            .zip(&ranges)
            .flat_map(|(c, rs)| rs.iter().map(|r| c.content[r.clone()].to_string()))
            .collect();
        let mut vectors = self.embed_as(texts, true).await?.into_iter();
        let model = self.embedder.model_id().to_string();
        Ok(contexts
            .iter()
            .zip(ranges)
            .map(|(c, rs)| {
                rs.into_iter()
                    .zip(vectors.by_ref())
                    .map(|(r, vector)| PassageRecord {
                        context_id: c.id,
                        project_id: c.project_id,
                        start: r.start,
                        end: r.end,
                        model: model.clone(),
                        vector,
                    })
                    .collect()
            })
            .collect())
    }

    /// The passages of one context and their vectors.
    pub(crate) async fn passages_for(
        &self,
        context: &ContextRecord,
    ) -> DomainResult<Vec<PassageRecord>> {
        let ranges = self.embedder.passages(&context.content);
        let texts: Vec<String> =
            ranges.iter().map(|r| context.content[r.clone()].to_string()).collect();
        let vectors = self.embed(texts).await?;
        Ok(ranges
            .into_iter()
            .zip(vectors)
            .map(|(r, vector)| PassageRecord {
                context_id: context.id,
                project_id: context.project_id,
                start: r.start,
                end: r.end,
                model: self.embedder.model_id().to_string(),
                vector,
            })
            .collect())
    }

    /// Keeps a project's description embedding current (cleared with the description); failures
    /// are logged, not fatal (the project then takes no part in two-level search until its next
    /// update).
    pub(crate) async fn embed_description(&self, project_id: Uuid, description: &str) {
        let result = if description.trim().is_empty() {
            self.store
                .set_project_description_vector(project_id, None)
                .await
                .map_err(DomainError::from)
        } else {
            match self.embed(vec![description.to_string()]).await {
                Ok(mut v) => {
                    let vector = v.remove(0);
                    let model = self.embedder.model_id();
                    self.store
                        .set_project_description_vector(project_id, Some((model, &vector)))
                        .await
                        .map_err(DomainError::from)
                }
                Err(e) => Err(e),
            }
        };
        if let Err(e) = result {
            warn!(%project_id, error = ?e.cause_chain(), "could not update the project description embedding");
        }
    }
}
