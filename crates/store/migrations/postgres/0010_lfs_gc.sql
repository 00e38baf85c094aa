-- Garbage collection of LFS blobs. A repository's link to an object and the collector's deletion of the
-- object's bytes must never interleave, so both first write this row (an upsert: a row lock on
-- PostgreSQL, the write lock on SQLite) and decide after it. doomed_at is set while a collector deletes
-- the bytes; a link is refused meanwhile, and so is a second collector. Rows are created on demand by
-- either side and deleted when the bytes are gone.
-- Keep table and column names identical to ../sqlite/0010_lfs_gc.sql.
CREATE TABLE lfs_blob_locks (
    oid TEXT COLLATE "C" PRIMARY KEY,
    doomed_at BIGINT,
    -- Which collector run doomed it (random): only that run, or one that took the claim over after the
    -- first stopped, finishes the deletion.
    claim BIGINT
);
CREATE INDEX lfs_blob_locks_doomed ON lfs_blob_locks (doomed_at);
