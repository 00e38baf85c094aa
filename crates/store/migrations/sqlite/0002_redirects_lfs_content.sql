-- Old names of moved repositories keep resolving to them, as the Hub redirects them.
CREATE TABLE repo_redirects (
    repo_type TEXT NOT NULL,
    owner_lower TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    repo_id INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (repo_type, owner_lower, name_lower)
);
CREATE INDEX repo_redirects_repo ON repo_redirects (repo_id);

-- Facts about LFS content shared by every repository holding it: the git blob id the content would
-- have if it were stored in git, computed once on demand so clients can tell a file did not change.
CREATE TABLE lfs_content (
    oid TEXT PRIMARY KEY,
    git_blob_oid TEXT NOT NULL
);
