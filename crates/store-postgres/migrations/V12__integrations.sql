-- Jira and Confluence: connections with sealed secrets, and the indexed items of scans
-- generalised to every source (a Jira issue is replaced whole, as a scanned file is).

CREATE TABLE indexed_items (
    project_id   uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    source       text NOT NULL,
    file_path    text NOT NULL,
    content_hash text NOT NULL,
    PRIMARY KEY (project_id, source, file_path)
);
INSERT INTO indexed_items (project_id, source, file_path, content_hash)
    SELECT project_id, 'codebase_scan', file_path, content_hash FROM scanned_files;
DROP TABLE scanned_files;

-- One connection per user per product. Secrets are AES-256-GCM sealed by the server before
-- they are written (nonce ‖ ciphertext, bound to the row's id and the secret's kind).
CREATE TABLE connections (
    id                   uuid PRIMARY KEY,
    user_id              uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    product              text NOT NULL CHECK (product IN ('jira', 'confluence')),
    kind                 text NOT NULL CHECK (kind IN ('datacenter', 'cloud_api_token', 'cloud_oauth')),
    base_url             text NOT NULL,
    site_url             text NOT NULL,
    cloud_id             text,
    email                text,
    account_name         text,
    account_display_name text,
    token_expires_at     timestamptz,
    token_version        bigint NOT NULL,
    status               text NOT NULL CHECK (status IN ('active', 'pending', 'disabled')),
    error                text,
    last_sync_at         timestamptz,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    UNIQUE (user_id, product)
);

CREATE TABLE connection_secrets (
    connection_id uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    kind          text NOT NULL,
    key_version   bigint NOT NULL,
    sealed        bytea NOT NULL,
    PRIMARY KEY (connection_id, kind)
);
