-- MCP servers users registered for the agent. The bearer token is AES-256-GCM sealed by the
-- server before it is written (bound to the row's id); `tools` caches the server's tool list.

CREATE TABLE mcp_servers (
    id                 uuid PRIMARY KEY,
    user_id            uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name               text NOT NULL,
    url                text NOT NULL,
    token_key_version  bigint,
    token_sealed       bytea,
    tools              jsonb NOT NULL,
    tools_refreshed_at timestamptz,
    error              text,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    CONSTRAINT mcp_servers_user_name UNIQUE (user_id, name)
);
