-- A user's own language model for their AI calls, overriding the server's. The credentials
-- (API key and extra headers) are AES-256-GCM sealed by the server, bound to the user's id.

CREATE TABLE user_llms (
    user_id             uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    base_url            text NOT NULL,
    model               text NOT NULL,
    credentials_version bigint NOT NULL,
    credentials         bytea NOT NULL,
    tested_at           timestamptz,
    test_error          text,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
