-- Context, its embedding passages, keyword search, project description embeddings and
-- analytics events (in step with SQLite's 0002).

CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE contexts (
    id             uuid PRIMARY KEY,
    project_id     uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    content        text NOT NULL,
    content_hash   text NOT NULL,
    token_count    bigint NOT NULL,
    source         text NOT NULL,
    file_path      text,
    parent_id      uuid REFERENCES contexts (id) ON DELETE CASCADE,
    chunk_index    bigint,
    metadata       jsonb NOT NULL,
    created_by     uuid NOT NULL,
    accessed_count bigint NOT NULL DEFAULT 0,
    last_accessed  timestamptz,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    -- Keyword search: English stemming and stopwords, as SQLite's porter tokenizer.
    search         tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED
);
CREATE INDEX contexts_project ON contexts (project_id, id);
CREATE INDEX contexts_parent ON contexts (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX contexts_file ON contexts (project_id, file_path) WHERE file_path IS NOT NULL;
CREATE INDEX contexts_search ON contexts USING gin (search);

-- The embedding windows of a context. `vector` has no fixed dimension (the embedding provider
-- decides it); each dimension in use gets its own HNSW index over `vector::vector(dim)`,
-- created by the store the first time it stores vectors of that dimension.
CREATE TABLE passages (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    context_id uuid NOT NULL REFERENCES contexts (id) ON DELETE CASCADE,
    project_id uuid NOT NULL,
    start_byte bigint NOT NULL,
    end_byte   bigint NOT NULL,
    model      text NOT NULL,
    dim        integer NOT NULL,
    vector     vector NOT NULL
);
CREATE INDEX passages_context ON passages (context_id);
CREATE INDEX passages_project ON passages (project_id, model);

ALTER TABLE projects ADD COLUMN description_model text;
ALTER TABLE projects ADD COLUMN description_vector real[];

CREATE TABLE analytics_events (
    id                    uuid PRIMARY KEY,
    user_id               uuid NOT NULL,
    project_id            uuid,
    event_type            text NOT NULL,
    timestamp             timestamptz NOT NULL,
    tokens_saved          bigint NOT NULL DEFAULT 0,
    tokens_avoided        bigint NOT NULL DEFAULT 0,
    contexts_retrieved    bigint NOT NULL DEFAULT 0,
    api_calls_made        bigint NOT NULL DEFAULT 0,
    processing_time_ms    double precision NOT NULL DEFAULT 0,
    model                 text,
    price_per_mtok        double precision,
    estimated_savings_usd double precision NOT NULL DEFAULT 0
);
CREATE INDEX analytics_user_time ON analytics_events (user_id, timestamp);
CREATE INDEX analytics_project_time ON analytics_events (project_id, timestamp);
