-- MCP servers users registered for the agent. The bearer token is AES-256-GCM sealed by the
-- server before it is written (bound to the row's id); `tools` caches the server's tool list.

CREATE TABLE mcp_servers (
    id                 TEXT PRIMARY KEY NOT NULL,
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    url                TEXT NOT NULL,
    token_key_version  INTEGER,
    token_sealed       BLOB,
    tools              TEXT NOT NULL,
    tools_refreshed_at INTEGER,
    error              TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (user_id, name)
);
