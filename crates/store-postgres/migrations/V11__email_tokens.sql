-- Single-use tokens mailed to an account's address: password reset and email verification.
-- Stored hashed; `email` is the address the token was sent to, so a verification proves that
-- address and no other.
CREATE TABLE email_tokens (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text NOT NULL CHECK (purpose IN ('reset_password', 'verify_email')),
    email      text NOT NULL,
    token_hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX email_tokens_by_user ON email_tokens (user_id, purpose, created_at);
