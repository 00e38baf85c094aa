-- Gatehouse metadata, SQLite flavour. Keep table and column names identical to ../postgres/0001_init.sql
-- (a test compares them). Booleans are INTEGER 0/1, timestamps INTEGER unix milliseconds.
-- AUTOINCREMENT so ids are never reused after a delete, as with PostgreSQL identity columns.

-- Users and organizations share one namespace (as on the Hub), hence one table and one unique name.
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('user', 'org')),
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL UNIQUE,
    fullname TEXT NOT NULL,
    email TEXT,
    email_lower TEXT UNIQUE,
    password_hash TEXT,
    site_admin INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE memberships (
    org_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

-- `scopes` (JSON) is reserved for fine-grained tokens; NULL means "the role alone".
CREATE TABLE tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    scopes TEXT,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE repos (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repo_type TEXT NOT NULL,
    owner_id INTEGER NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    private INTEGER NOT NULL,
    created_by INTEGER REFERENCES accounts (id) ON DELETE SET NULL,
    storage_key TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (repo_type, owner_id, name_lower)
);
CREATE INDEX repos_owner ON repos (owner_id);
CREATE INDEX repos_type_updated ON repos (repo_type, updated_at);
CREATE INDEX repos_type_created ON repos (repo_type, created_at);
CREATE INDEX repos_type_name ON repos (repo_type, name_lower);
CREATE INDEX repos_created_by ON repos (created_by);

CREATE TABLE repo_lfs_objects (
    repo_id INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    oid TEXT NOT NULL,
    size INTEGER NOT NULL,
    pushed_at INTEGER NOT NULL,
    PRIMARY KEY (repo_id, oid)
);
CREATE INDEX repo_lfs_objects_oid ON repo_lfs_objects (oid);
CREATE INDEX repo_lfs_objects_pushed ON repo_lfs_objects (repo_id, pushed_at);
