-- Context, its embedding passages, keyword search, project description embeddings, and
-- analytics events. Times are Unix milliseconds (UTC).

CREATE TABLE contexts (
    id             TEXT PRIMARY KEY NOT NULL,
    project_id     TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    content        TEXT NOT NULL,
    content_hash   TEXT NOT NULL,
    token_count    INTEGER NOT NULL,
    source         TEXT NOT NULL,
    file_path      TEXT,
    parent_id      TEXT REFERENCES contexts (id) ON DELETE CASCADE,
    chunk_index    INTEGER,
    metadata       TEXT NOT NULL,        -- JSON object: created_by, tags, language, …
    created_by     TEXT NOT NULL,
    accessed_count INTEGER NOT NULL DEFAULT 0,
    last_accessed  INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX contexts_project ON contexts (project_id, id);
CREATE INDEX contexts_parent ON contexts (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX contexts_file ON contexts (project_id, file_path) WHERE file_path IS NOT NULL;

-- The embedding windows of a context. The vector is little-endian f32, `dim` of them.
CREATE TABLE passages (
    id         INTEGER PRIMARY KEY,
    context_id TEXT NOT NULL REFERENCES contexts (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    start_byte INTEGER NOT NULL,
    end_byte   INTEGER NOT NULL,
    model      TEXT NOT NULL,
    vector     BLOB NOT NULL
);
CREATE INDEX passages_context ON passages (context_id);

-- BM25 keyword search over context content (external content: the text lives once, in
-- contexts; triggers keep the index in step).
CREATE VIRTUAL TABLE contexts_fts USING fts5 (
    content,
    content = 'contexts',
    content_rowid = 'rowid',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER contexts_fts_insert AFTER INSERT ON contexts BEGIN
    INSERT INTO contexts_fts (rowid, content) VALUES (new.rowid, new.content);
END;
CREATE TRIGGER contexts_fts_delete AFTER DELETE ON contexts BEGIN
    INSERT INTO contexts_fts (contexts_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
END;
CREATE TRIGGER contexts_fts_update AFTER UPDATE OF content ON contexts BEGIN
    INSERT INTO contexts_fts (contexts_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
    INSERT INTO contexts_fts (rowid, content) VALUES (new.rowid, new.content);
END;

ALTER TABLE projects ADD COLUMN description_model TEXT;
ALTER TABLE projects ADD COLUMN description_vector BLOB;

CREATE TABLE analytics_events (
    id                 TEXT PRIMARY KEY NOT NULL,
    user_id            TEXT NOT NULL,
    project_id         TEXT,
    event_type         TEXT NOT NULL,
    timestamp          INTEGER NOT NULL,
    tokens_saved       INTEGER NOT NULL DEFAULT 0,
    tokens_avoided     INTEGER NOT NULL DEFAULT 0,
    contexts_retrieved INTEGER NOT NULL DEFAULT 0,
    api_calls_made     INTEGER NOT NULL DEFAULT 0,
    processing_time_ms REAL NOT NULL DEFAULT 0,
    model              TEXT,
    price_per_mtok     REAL,
    estimated_savings_usd REAL NOT NULL DEFAULT 0
);
CREATE INDEX analytics_user_time ON analytics_events (user_id, timestamp);
CREATE INDEX analytics_project_time ON analytics_events (project_id, timestamp);
