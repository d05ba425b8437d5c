-- Project invitations: membership needs the invited account's consent, so an invitation is
-- kept, addressed to an email (an account may not exist yet), until it is accepted or
-- declined. Existing memberships stay as they are.
CREATE TABLE project_invitations (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('contributor')),
    invited_by TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    UNIQUE (project_id, email)
);
CREATE INDEX project_invitations_email ON project_invitations (email);

-- An operator's invitation to register when REGISTRATION=invite: one token (stored hashed)
-- for one email, used once.
CREATE TABLE signup_invitations (
    id         TEXT PRIMARY KEY,
    email      TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
