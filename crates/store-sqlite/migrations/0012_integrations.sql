-- Jira and Confluence: connections with sealed secrets, and the indexed items of scans
-- generalised to every source (a Jira issue is replaced whole, as a scanned file is).

CREATE TABLE indexed_items (
    project_id   TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    source       TEXT NOT NULL,
    file_path    TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    PRIMARY KEY (project_id, source, file_path)
) WITHOUT ROWID;
INSERT INTO indexed_items (project_id, source, file_path, content_hash)
    SELECT project_id, 'codebase_scan', file_path, content_hash FROM scanned_files;
DROP TABLE scanned_files;

-- One connection per user per product. Secrets are AES-256-GCM sealed by the server before
-- they are written (nonce ‖ ciphertext, bound to the row's id and the secret's kind).
CREATE TABLE connections (
    id                   TEXT PRIMARY KEY NOT NULL,
    user_id              TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    product              TEXT NOT NULL CHECK (product IN ('jira', 'confluence')),
    kind                 TEXT NOT NULL CHECK (kind IN ('datacenter', 'cloud_api_token', 'cloud_oauth')),
    base_url             TEXT NOT NULL,
    site_url             TEXT NOT NULL,
    cloud_id             TEXT,
    email                TEXT,
    account_name         TEXT,
    account_display_name TEXT,
    token_expires_at     INTEGER,
    token_version        INTEGER NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('active', 'pending', 'disabled')),
    error                TEXT,
    last_sync_at         INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    UNIQUE (user_id, product)
);

CREATE TABLE connection_secrets (
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    key_version   INTEGER NOT NULL,
    sealed        BLOB NOT NULL,
    PRIMARY KEY (connection_id, kind)
) WITHOUT ROWID;
