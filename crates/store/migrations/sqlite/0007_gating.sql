-- Gated repositories' access requests, gating group collections, the decisions log, and notifications.
-- Keep table and column names identical to ../postgres/0007_gating.sql.

-- Who is told of new access requests, and how often (the Hub's "Notification frequency" and
-- "Notifications email"; NULL email: the owner's primary email, or the first 5 admins of an organization).
ALTER TABLE repos ADD COLUMN gated_notifications_mode TEXT NOT NULL DEFAULT 'real-time'
    CHECK (gated_notifications_mode IN ('real-time', 'daily'));
ALTER TABLE repos ADD COLUMN gated_notifications_email TEXT;

-- Collections (spec §8). object_id is the 24-hex id that ends the slug `owner/title-slug-<object_id>`.
-- gated: NULL unless the collection is a gating group (then the approval mode of all its repositories).
CREATE TABLE collections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    object_id TEXT NOT NULL UNIQUE,
    owner_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    slug_title TEXT NOT NULL,
    description TEXT,
    private INTEGER NOT NULL DEFAULT 0,
    theme TEXT NOT NULL DEFAULT 'default',
    position INTEGER NOT NULL DEFAULT 0,
    gated TEXT CHECK (gated IN ('auto', 'manual')),
    gated_notifications_mode TEXT NOT NULL DEFAULT 'real-time'
        CHECK (gated_notifications_mode IN ('real-time', 'daily')),
    gated_notifications_email TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX collections_owner ON collections (owner_id);

-- Items of a collection. Repositories are referenced by id (an item follows a renamed repository and
-- disappears with a deleted one); papers, collections and buckets by their id as text. item_key makes an
-- item unique within its collection: `repo:<id>` or the text id.
CREATE TABLE collection_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    object_id TEXT NOT NULL UNIQUE,
    collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    item_type TEXT NOT NULL CHECK (item_type IN ('model', 'dataset', 'space', 'paper', 'collection', 'bucket')),
    repo_id INTEGER REFERENCES repos (id) ON DELETE CASCADE,
    item_key TEXT NOT NULL,
    position INTEGER NOT NULL,
    note TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (collection_id, item_key)
);
CREATE INDEX collection_items_repo ON collection_items (repo_id);

-- The gating group a model or dataset belongs to (at most one, by construction): set while the
-- repository is an item of a collection whose gating is on. Its requests and mode then apply.
ALTER TABLE repos ADD COLUMN gating_group_id INTEGER REFERENCES collections (id) ON DELETE SET NULL;
CREATE INDEX repos_gating_group ON repos (gating_group_id);

-- Access requests: one per user and gate, the gate being a repository or a gating group (exactly one of
-- repo_id, collection_id). created_at is when the user first asked (or was granted access); fields holds
-- the request form's answers as a JSON object.
CREATE TABLE access_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repo_id INTEGER REFERENCES repos (id) ON DELETE CASCADE,
    collection_id INTEGER REFERENCES collections (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'rejected')),
    fields TEXT,
    rejection_reason TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    decided_by INTEGER REFERENCES accounts (id) ON DELETE SET NULL,
    CHECK ((repo_id IS NULL) <> (collection_id IS NULL))
);
CREATE UNIQUE INDEX access_requests_repo_user ON access_requests (repo_id, user_id) WHERE repo_id IS NOT NULL;
CREATE UNIQUE INDEX access_requests_collection_user ON access_requests (collection_id, user_id)
    WHERE collection_id IS NOT NULL;
CREATE INDEX access_requests_user ON access_requests (user_id);

-- Every gating decision (request, accept, reject, cancel, grant, revoke, settings change), kept for the
-- audit log: names are copied so the record outlives renames and deletions (hence no foreign keys).
CREATE TABLE gate_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor_id INTEGER,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    repo_id INTEGER,
    collection_id INTEGER,
    target TEXT NOT NULL,
    user_id INTEGER,
    user_name TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX gate_events_repo ON gate_events (repo_id, at);
CREATE INDEX gate_events_collection ON gate_events (collection_id, at);

-- Notifications: shown in the web UI to user_id (when set) and mailed to email (when set). Written in the
-- transaction of the event they tell about; dedupe_key makes writing one twice a no-op (a daily digest is
-- one key per gate and day). mail_state: 'none' (in-app only), 'queued', 'sent', 'failed' (gave up).
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER REFERENCES accounts (id) ON DELETE CASCADE,
    email TEXT,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    link TEXT,
    dedupe_key TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    read_at INTEGER,
    mail_state TEXT NOT NULL CHECK (mail_state IN ('none', 'queued', 'sent', 'failed')),
    mail_attempts INTEGER NOT NULL DEFAULT 0,
    mail_next_at INTEGER,
    mail_sent_at INTEGER,
    mail_error TEXT
);
CREATE INDEX notifications_user ON notifications (user_id, created_at);
CREATE INDEX notifications_mail ON notifications (mail_state, mail_next_at);
