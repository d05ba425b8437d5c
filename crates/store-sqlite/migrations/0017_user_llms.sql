-- A user's own language model for their AI calls, overriding the server's. The credentials
-- (API key and extra headers) are AES-256-GCM sealed by the server, bound to the user's id.

CREATE TABLE user_llms (
    user_id             TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    base_url            TEXT NOT NULL,
    model               TEXT NOT NULL,
    credentials_version INTEGER NOT NULL,
    credentials         BLOB NOT NULL,
    tested_at           INTEGER,
    test_error          TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
) WITHOUT ROWID;
