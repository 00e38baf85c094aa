-- The web UI: browser sessions, TOTP two-factor sign-in, invite-only sign-up, and the tag index that
-- repository listings filter on. Keep table and column names identical to ../postgres/0006_web.sql.

-- Browser sign-ins. The cookie carries a random secret and only its sha256 (hex) is stored here, so a
-- copy of the database hands out no sessions. second_factor_pending is 1 between a correct password and
-- a correct TOTP code: such a session may only finish signing in. expires_at slides as the session is used.
CREATE TABLE web_sessions (
    id_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    second_factor_pending INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

-- A user's TOTP secret, sealed (encrypted) by the application before it is stored. confirmed_at is NULL
-- while enrolment is unfinished (the secret is not yet required at sign-in); last_step is the last time
-- step accepted, so a code is never accepted twice (replay).
CREATE TABLE user_totp (
    user_id INTEGER PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    sealed_secret TEXT NOT NULL,
    confirmed_at INTEGER,
    last_step INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

-- One-time codes that stand in for a lost TOTP device; only hashes are stored, and a used code keeps
-- its row (used_at) so it cannot be used again.
CREATE TABLE recovery_codes (
    user_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- Invite-only sign-up: an administrator hands out a code (only its hash is stored), optionally bound to
-- one email address; redeeming it creates the account and records who used it.
CREATE TABLE invitations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code_hash TEXT NOT NULL UNIQUE,
    email TEXT,
    created_by INTEGER REFERENCES accounts (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_by INTEGER REFERENCES accounts (id) ON DELETE SET NULL,
    used_at INTEGER
);
CREATE INDEX invitations_created_by ON invitations (created_by);
CREATE INDEX invitations_used_by ON invitations (used_by);

-- The tags of each repository's card (README.md metadata), indexed so listings can filter by tag
-- without reading git. Derived data: rewritten whenever the card changes.
CREATE TABLE repo_tags (
    repo_id INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (repo_id, tag)
);
CREATE INDEX repo_tags_tag ON repo_tags (tag);
