-- Xet storage: files cut into content-defined chunks, packed into xorbs (content-addressed objects in
-- blob storage). These tables index them; keep names identical to ../postgres/0005_xet.sql.

-- A row exists only once the xorb's bytes and chunk index are durable in blob storage.
-- last_used_at is bumped whenever a shard or a dedup answer refers to the xorb: garbage collection waits
-- a grace period after that, because clients reuse xorbs they know of without uploading them again.
CREATE TABLE xet_xorbs (
    hash TEXT PRIMARY KEY,
    stored_bytes INTEGER NOT NULL,
    unpacked_bytes INTEGER NOT NULL,
    chunk_count INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL
);
CREATE INDEX xet_xorbs_last_used ON xet_xorbs (last_used_at);

-- A file is the ordered list of its terms (chunk ranges of xorbs); the foreign key keeps a referenced
-- xorb from being deleted whatever races with garbage collection.
CREATE TABLE xet_files (
    file_hash TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL
);
CREATE INDEX xet_files_last_used ON xet_files (last_used_at);

CREATE TABLE xet_file_terms (
    file_hash TEXT NOT NULL REFERENCES xet_files (file_hash) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    xorb_hash TEXT NOT NULL REFERENCES xet_xorbs (hash),
    chunk_start INTEGER NOT NULL,
    chunk_end INTEGER NOT NULL,
    unpacked_bytes INTEGER NOT NULL,
    PRIMARY KEY (file_hash, idx)
);
CREATE INDEX xet_file_terms_xorb ON xet_file_terms (xorb_hash);

-- Chunks a client may ask about to deduplicate against (first chunks of files, and the hash-sampled ones).
CREATE TABLE xet_dedup_chunks (
    chunk_hash TEXT PRIMARY KEY,
    xorb_hash TEXT NOT NULL REFERENCES xet_xorbs (hash) ON DELETE CASCADE
);
CREATE INDEX xet_dedup_chunks_xorb ON xet_dedup_chunks (xorb_hash);

-- Uploaded shards, kept as received (content-addressed by sha256) for audit and re-indexing.
CREATE TABLE xet_shards (
    hash TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

-- A repository's link to an LFS object may say the content is a Xet file: the sha256 is then the
-- uploader's claim (from its shard), scoped to this repository, and bytes come from the Xet file.
ALTER TABLE repo_lfs_objects ADD COLUMN xet_hash TEXT;
CREATE INDEX repo_lfs_objects_xet ON repo_lfs_objects (xet_hash);

-- Garbage collection runs, persisted so an interrupted run is visible and its deletions resumable.
CREATE TABLE xet_gc_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    state TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    grace_ms INTEGER NOT NULL,
    report TEXT
);
-- Objects whose rows are gone and whose bytes still have to be deleted (written in the same transaction
-- as the row deletion, so a crash between the two leaves a to-do item, never a dangling reference).
CREATE TABLE xet_gc_pending (
    object_key TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
);
