-- Password resets by email: a one-time link whose secret only the mail carries (only its sha256 hex is
-- stored). Using one sets the password, uses up every other pending link of the user and ends their
-- sessions, in one transaction.
CREATE TABLE password_resets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX password_resets_user ON password_resets (user_id);
