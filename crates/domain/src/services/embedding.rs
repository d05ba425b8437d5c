//! Turning text into vectors for the store: a context's passages (the model's windows) and
//! their vectors, for a request (with a time limit) or for background work, and a project
//! description's vector for two-level search.

use std::sync::Arc;

use tc_store::{ContextRecord, PassageRecord};
use tracing::warn;
use uuid::Uuid;

use super::Services;
use crate::error::{DomainError, DomainResult, ErrorCode};

/// Who waits on an embedding, which decides the sessions it runs on and how long it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A request (a search, a save, a batch): the provider picks the sessions (the local model
    /// runs a few texts on its interactive session, more on the bulk sessions side by side); an
    /// answer that takes longer than the embedding timeout counts as a failure, so that the
    /// request can go on without it.
    Request,
    /// Background work (a scan, the embedding job): the bulk sessions, no time limit.
    Background,
}

impl Services {
    /// Embeds `texts` with the configured model for someone waiting on the answer.
    pub(crate) async fn embed(&self, texts: Vec<String>) -> DomainResult<Vec<Vec<f32>>> {
        self.embed_for(texts, Purpose::Request).await
    }

    /// Embeds `texts` with the configured model.
    pub(crate) async fn embed_for(
        &self,
        texts: Vec<String>,
        purpose: Purpose,
    ) -> DomainResult<Vec<Vec<f32>>> {
        let started = std::time::Instant::now();
        let count = texts.len() as u64;
        let result = match purpose {
            Purpose::Request => {
                tokio::time::timeout(self.embed_timeout, self.embedder.embed(texts)).await
            }
            Purpose::Background => Ok(self.embedder.embed_bulk(texts).await),
        };
        let outcome = match &result {
            Ok(Ok(_)) => "ok",
            Ok(Err(_)) => "error",
            Err(_) => "timeout",
        };
        metrics::histogram!(crate::metrics::EMBED_SECONDS, "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        metrics::counter!(crate::metrics::EMBEDDED_TEXTS, "outcome" => outcome).increment(count);
        match result {
            Ok(Ok(vectors)) => Ok(vectors),
            Ok(Err(e)) => Err(DomainError::new(
                ErrorCode::EmbeddingGenerationFailed,
                "the embedding model failed on this input",
            )
            .caused_by(Arc::new(e))),
            Err(_) => Err(DomainError::new(
                ErrorCode::EmbeddingGenerationFailed,
                format!(
                    "the embedding model did not answer within {} ms",
                    self.embed_timeout.as_millis()
                ),
            )),
        }
    }

    /// The passages of several contexts and their vectors, embedded in one call, in the order
    /// of `contexts`.
    pub(crate) async fn passages_for_many(
        &self,
        contexts: &[ContextRecord],
        purpose: Purpose,
    ) -> DomainResult<Vec<Vec<PassageRecord>>> {
        let ranges: Vec<Vec<std::ops::Range<usize>>> =
            contexts.iter().map(|c| self.embedder.passages(&c.content)).collect();
        let texts: Vec<String> = contexts
            .iter()
            .zip(&ranges)
            .flat_map(|(c, rs)| rs.iter().map(|r| c.content[r.clone()].to_string()))
            .collect();
        let mut vectors = self.embed_for(texts, purpose).await?.into_iter();
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
