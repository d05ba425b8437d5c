//! The names of the metrics the domain records through the `metrics` facade. The server installs
//! the Prometheus recorder and serves them at `/api/v1/metrics`; without a recorder (unit tests,
//! tools) recording is a no-op.

/// Histogram: a whole search, embedding and ranking included, labelled by `mode`.
pub const SEARCH_SECONDS: &str = "teamcontext_search_duration_seconds";
/// Histogram: one call to the embedding model (a batch of texts), labelled by `outcome`.
pub const EMBED_SECONDS: &str = "teamcontext_embedding_duration_seconds";
/// Counter: texts embedded, labelled by `outcome`.
pub const EMBEDDED_TEXTS: &str = "teamcontext_embedded_texts_total";
/// Counter: jobs ended, labelled by `kind` and `outcome` (succeeded, failed, cancelled, retried).
pub const JOBS_FINISHED: &str = "teamcontext_jobs_finished_total";
/// Counter: searches answered from keywords alone because the embedding model failed or timed
/// out, labelled by the `mode` asked for.
pub const SEARCH_DEGRADED: &str = "teamcontext_search_degraded_total";
/// Counter: contexts stored without vectors because the embedding model failed or timed out
/// (the embedding job adds them later).
pub const EMBEDDING_DEFERRED: &str = "teamcontext_embedding_deferred_total";
/// Gauge: contexts without vectors from the current model, set by the embedding job.
pub const EMBEDDING_BACKLOG: &str = "teamcontext_embedding_backlog";
/// Counter: Atlassian Document Format nodes a sync met but the converter does not know
/// (rendered by the fallback), labelled by `type`.
pub const ADF_UNKNOWN_NODES: &str = "teamcontext_adf_unknown_nodes_total";
