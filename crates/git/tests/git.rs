//! Repository storage against real on-disk bare repositories.

use gatehouse_git::*;

fn sig() -> Signature {
    Signature { name: "alice".into(), email: "alice@example.com".into() }
}

fn req(ops: Vec<TreeOp>, parent: Option<Oid>) -> CommitRequest {
    CommitRequest {
        ref_name: "refs/heads/main".into(),
        expected_parent: parent,
        create_from: None,
        create_ref: true,
        ops,
        title: "t".into(),
        description: String::new(),
        author: sig(),
    }
}

fn setup() -> (tempfile::TempDir, GitStore, Repo) {
    let dir = tempfile::tempdir().unwrap();
    let store = GitStore::new(dir.path());
    let repo = store.init("abc123").unwrap();
    (dir, store, repo)
}

fn put(repo: &Repo, path: &str, data: &[u8]) -> TreeOp {
    TreeOp::Upsert { path: path.into(), blob: repo.write_blob(data).unwrap() }
}

#[test]
fn commit_then_read_back() {
    let (_d, store, repo) = setup();
    let ops = vec![put(&repo, "a.txt", b"hello"), put(&repo, "dir/sub/b.txt", b"world")];
    let out = repo.commit(&req(ops, None)).unwrap();
    assert_eq!(out.parent, None);
    let repo = store.open("abc123").unwrap();
    let head = repo.resolve("main").unwrap();
    assert_eq!(head.commit, out.commit);
    assert_eq!(head.ref_name.as_deref(), Some("refs/heads/main"));
    assert_eq!(repo.resolve(&out.commit.to_string()).unwrap().commit, out.commit);

    let e = repo.entry(out.commit, "dir/sub/b.txt").unwrap().unwrap();
    assert_eq!((e.kind, e.size), (EntryKind::File, 5));
    assert_eq!(repo.read_blob(e.oid).unwrap(), b"world");
    // git's own blob id for "world"
    assert_eq!(e.oid.to_string(), "04fea06420ca60892f73becee3614f6d023a4b7f");

    let top: Vec<_> = repo.list(out.commit, None, false).unwrap().unwrap().into_iter().map(|e| e.path).collect();
    assert_eq!(top, ["a.txt", "dir"]);
    let all: Vec<_> = repo.list(out.commit, None, true).unwrap().unwrap().into_iter().map(|e| e.path).collect();
    assert_eq!(all, ["a.txt", "dir", "dir/sub", "dir/sub/b.txt"]);
    let sub: Vec<_> = repo.list(out.commit, Some("dir"), false).unwrap().unwrap().into_iter().map(|e| e.path).collect();
    assert_eq!(sub, ["dir/sub"]);
    assert!(repo.list(out.commit, Some("nope"), false).unwrap().is_none());
    assert!(repo.list(out.commit, Some("a.txt"), false).unwrap().is_none());
}

#[test]
fn unknown_revisions() {
    let (_d, _s, repo) = setup();
    repo.commit(&req(vec![put(&repo, "a", b"1")], None)).unwrap();
    for rev in ["nope", "0000000000000000000000000000000000000000", "refs/heads/x"] {
        assert!(matches!(repo.resolve(rev), Err(GitError::RevisionNotFound(_))), "{rev}");
    }
}

#[test]
fn stale_parent_is_refused_and_changes_nothing() {
    let (_d, _s, repo) = setup();
    let first = repo.commit(&req(vec![put(&repo, "a", b"1")], None)).unwrap().commit;
    let second = repo.commit(&req(vec![put(&repo, "a", b"2")], Some(first))).unwrap().commit;
    let err = repo.commit(&req(vec![put(&repo, "a", b"3")], Some(first))).unwrap_err();
    assert!(matches!(err, GitError::Stale { .. }));
    assert_eq!(repo.resolve("main").unwrap().commit, second);
}

#[test]
fn deletions() {
    let (_d, _s, repo) = setup();
    let c = repo
        .commit(&req(vec![put(&repo, "keep", b"k"), put(&repo, "d/x", b"x"), put(&repo, "d/e/y", b"y")], None))
        .unwrap()
        .commit;
    // A missing file is an error and the branch is untouched.
    assert!(matches!(
        repo.commit(&req(vec![TreeOp::Delete { path: "missing".into() }], None)),
        Err(GitError::EntryNotFound(_))
    ));
    assert!(matches!(
        repo.commit(&req(vec![TreeOp::DeleteFolder { path: "keep".into() }], None)),
        Err(GitError::EntryNotFound(_))
    ));
    assert_eq!(repo.resolve("main").unwrap().commit, c);
    let c2 = repo.commit(&req(vec![TreeOp::DeleteFolder { path: "d".into() }], None)).unwrap().commit;
    let all: Vec<_> = repo.list(c2, None, true).unwrap().unwrap().into_iter().map(|e| e.path).collect();
    assert_eq!(all, ["keep"]);
    // Deleting a folder by its plain name (no trailing slash) works too, like on the Hub.
    let c3 = repo.commit(&req(vec![put(&repo, "f/z", b"z")], None)).unwrap().commit;
    assert!(repo.entry(c3, "f/z").unwrap().is_some());
    let c4 = repo.commit(&req(vec![TreeOp::Delete { path: "f".into() }], None)).unwrap().commit;
    assert!(repo.entry(c4, "f").unwrap().is_none());
}

#[test]
fn file_and_folder_cannot_share_a_name() {
    let (_d, _s, repo) = setup();
    repo.commit(&req(vec![put(&repo, "a", b"1"), put(&repo, "d/x", b"x")], None)).unwrap();
    assert!(matches!(repo.commit(&req(vec![put(&repo, "a/b", b"2")], None)), Err(GitError::Invalid(_))));
    assert!(matches!(repo.commit(&req(vec![put(&repo, "d", b"2")], None)), Err(GitError::Invalid(_))));
}

#[test]
fn racing_commits_lose_nothing() {
    let (dir, store, repo) = setup();
    repo.commit(&req(vec![put(&repo, "base", b"0")], None)).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let store = GitStore::new(dir.path());
            std::thread::spawn(move || {
                let repo = store.open("abc123").unwrap();
                for j in 0..5 {
                    let op = put(&repo, &format!("t{i}/f{j}"), format!("{i}-{j}").as_bytes());
                    repo.commit(&req(vec![op], None)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let repo = store.open("abc123").unwrap();
    let head = repo.resolve("main").unwrap().commit;
    let files = repo.list(head, None, true).unwrap().unwrap().into_iter().filter(|e| e.kind == EntryKind::File).count();
    assert_eq!(files, 1 + 8 * 5);
    let (log, more) = repo.log(head, 0, 100).unwrap();
    assert_eq!((log.len(), more), (41, false));
}

#[test]
fn racing_pinned_commits_one_wins() {
    let (dir, store, repo) = setup();
    let base = repo.commit(&req(vec![put(&repo, "base", b"0")], None)).unwrap().commit;
    let results: Vec<_> = (0..6)
        .map(|i| {
            let store = GitStore::new(dir.path());
            std::thread::spawn(move || {
                let repo = store.open("abc123").unwrap();
                let op = put(&repo, "same", format!("{i}").as_bytes());
                repo.commit(&req(vec![op], Some(base)))
            })
        })
        .map(|t| t.join().unwrap())
        .collect();
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1);
    assert!(results.iter().filter_map(|r| r.as_ref().err()).all(|e| matches!(e, GitError::Stale { .. })));
    let repo = store.open("abc123").unwrap();
    let (log, _) = repo.log(repo.resolve("main").unwrap().commit, 0, 10).unwrap();
    assert_eq!(log.len(), 2);
}

#[test]
fn branches_tags_and_refs() {
    let (_d, _s, repo) = setup();
    let c = repo.commit(&req(vec![put(&repo, "a", b"1")], None)).unwrap().commit;
    repo.create_branch("feat/x", c).unwrap();
    assert!(matches!(repo.create_branch("feat/x", c), Err(GitError::Conflict(_))));
    assert!(matches!(repo.create_branch("bad..name", c), Err(GitError::Invalid(_))));
    repo.create_tag("v1", c, None, &sig()).unwrap();
    repo.create_tag("v2", c, Some("release"), &sig()).unwrap();
    assert!(matches!(repo.create_tag("v1", c, None, &sig()), Err(GitError::Conflict(_))));
    // A branch may share a tag's name.
    repo.create_branch("v1", c).unwrap();
    assert_eq!(repo.resolve("v2").unwrap().commit, c);
    assert_eq!(repo.resolve("feat/x").unwrap().commit, c);
    let refs = repo.refs().unwrap();
    let names = |l: &[RefInfo]| l.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&refs.branches), ["feat/x", "main", "v1"]);
    assert_eq!(names(&refs.tags), ["v1", "v2"]);
    assert!(refs.tags.iter().all(|t| t.target == c));
    assert!(matches!(repo.delete_branch("main"), Err(GitError::Invalid(_))));
    assert!(matches!(repo.delete_branch("nope"), Err(GitError::RevisionNotFound(_))));
    repo.delete_branch("feat/x").unwrap();
    repo.delete_tag("v2").unwrap();
    assert!(matches!(repo.delete_tag("v2"), Err(GitError::RevisionNotFound(_))));
    assert!(matches!(repo.resolve("feat/x"), Err(GitError::RevisionNotFound(_))));
}

#[test]
fn pr_refs_resolve_and_commit_from_base() {
    let (_d, _s, repo) = setup();
    let c = repo.commit(&req(vec![put(&repo, "a", b"1")], None)).unwrap().commit;
    let mut pr = req(vec![put(&repo, "b", b"2")], None);
    pr.ref_name = "refs/pr/1".into();
    pr.create_from = Some(c);
    let out = repo.commit(&pr).unwrap();
    assert_eq!(out.parent, Some(c));
    assert_eq!(repo.resolve("refs/pr/1").unwrap().commit, out.commit);
    assert_eq!(repo.refs().unwrap().pull_requests[0].name, "refs/pr/1");
    // The branch itself did not move.
    assert_eq!(repo.resolve("main").unwrap().commit, c);
}

#[test]
fn history_paging_and_squash() {
    let (_d, _s, repo) = setup();
    for i in 0..5 {
        let mut r = req(vec![put(&repo, "f", format!("{i}").as_bytes())], None);
        r.title = format!("commit {i}");
        r.description = if i == 4 { "body\nmore".into() } else { String::new() };
        repo.commit(&r).unwrap();
    }
    let head = repo.resolve("main").unwrap().commit;
    let (page, more) = repo.log(head, 0, 2).unwrap();
    assert!(more);
    assert_eq!(page[0].title, "commit 4");
    assert_eq!(page[0].message, "body\nmore");
    let (page, more) = repo.log(head, 4, 2).unwrap();
    assert_eq!((page.len(), more, page[0].title.as_str()), (1, false, "commit 0"));
    let last = repo.last_commits(head, &["f".to_string()], 100).unwrap();
    assert_eq!(last["f"].id, head);
    let squashed = repo.squash("refs/heads/main", "squash", &sig()).unwrap();
    let (log, _) = repo.log(squashed, 0, 10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(repo.read_blob(repo.entry(squashed, "f").unwrap().unwrap().oid).unwrap(), b"4");
}

#[test]
fn lfs_pointers_are_recognised_in_listings() {
    let (_d, _s, repo) = setup();
    let p = LfsPointer { oid: "ab".repeat(32), size: 123_456_789 };
    let c = repo.commit(&req(vec![put(&repo, "w.bin", p.to_text().as_bytes())], None)).unwrap().commit;
    let e = repo.entry(c, "w.bin").unwrap().unwrap();
    assert_eq!(e.lfs, Some(p));
    assert_eq!(e.content_size(), 123_456_789);
    assert_eq!(e.size as usize, e.lfs.as_ref().unwrap().to_text().len());
}

#[test]
fn storage_keys_are_checked_and_delete_is_complete() {
    let (_d, store, _repo) = setup();
    assert!(store.path("../x").is_err());
    assert!(store.init("abc123").is_err());
    assert!(store.exists("abc123"));
    store.delete("abc123").unwrap();
    assert!(!store.exists("abc123"));
}

#[test]
fn purging_lfs_objects_rewrites_every_ref() {
    let (_d, _s, repo) = setup();
    let gone = LfsPointer { oid: "aa".repeat(32), size: 10 };
    let kept = LfsPointer { oid: "bb".repeat(32), size: 20 };
    let c1 = repo
        .commit(&req(
            vec![
                put(&repo, "a.txt", b"text"),
                put(&repo, "w/gone.bin", gone.to_text().as_bytes()),
                put(&repo, "kept.bin", kept.to_text().as_bytes()),
            ],
            None,
        ))
        .unwrap()
        .commit;
    let c2 = repo.commit(&req(vec![put(&repo, "b.txt", b"more")], None)).unwrap().commit;
    repo.create_branch("dev", c1).unwrap();
    repo.create_tag("v1", c2, Some("release"), &sig()).unwrap();
    repo.create_tag("v0", c1, None, &sig()).unwrap();
    let before = repo.commit_info(c2).unwrap();
    let n = repo.purge_lfs_objects(&[gone.oid.clone()].into_iter().collect()).unwrap();
    assert_eq!(n, 2);
    for rev in ["main", "dev", "v1", "v0"] {
        let head = repo.resolve(rev).unwrap().commit;
        let (history, _) = repo.log(head, 0, 10).unwrap();
        for c in &history {
            assert!(repo.entry(c.id, "w/gone.bin").unwrap().is_none(), "{rev}");
            assert!(repo.entry(c.id, "w").unwrap().is_none(), "emptied folder disappears");
            assert!(repo.entry(c.id, "kept.bin").unwrap().is_some());
        }
    }
    let after = repo.commit_info(repo.resolve("main").unwrap().commit).unwrap();
    assert_ne!(after.id, before.id);
    assert_eq!(
        (after.title, after.author_name, after.time_millis),
        (before.title, before.author_name, before.time_millis)
    );
    // Nothing to purge: nothing changes.
    let head = repo.resolve("main").unwrap().commit;
    assert_eq!(repo.purge_lfs_objects(&["cc".repeat(32)].into_iter().collect()).unwrap(), 0);
    assert_eq!(repo.resolve("main").unwrap().commit, head);
}

#[test]
fn cached_handles_see_writes_made_elsewhere() {
    let (dir, store, repo) = setup();
    let c1 = repo.commit(&req(vec![put(&repo, "a", b"1")], None)).unwrap().commit;
    assert_eq!(store.with_repo("abc123", |r| Ok(r.resolve("main")?.commit)).unwrap(), c1);
    // Another handle (as another thread or process would) commits.
    let other = GitStore::new(dir.path()).open("abc123").unwrap();
    let c2 = other.commit(&req(vec![put(&other, "b", b"2")], None)).unwrap().commit;
    let (head, entry) = store
        .with_repo("abc123", |r| {
            let head = r.resolve("main")?.commit;
            Ok((head, r.entry(head, "b")?))
        })
        .unwrap();
    assert_eq!(head, c2);
    assert_eq!(entry.unwrap().size, 1);
}

/// A process killed between locking a ref and renaming the lock into place leaves `<ref>.lock`.
fn plant_lock(dir: &std::path::Path, age_secs: u64) -> std::path::PathBuf {
    let lock = GitStore::new(dir).path("abc123").unwrap().join("refs/heads/main.lock");
    let f = std::fs::File::create(&lock).unwrap();
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(age_secs)).unwrap();
    lock
}

#[test]
fn a_stale_ref_lock_does_not_wedge_the_branch() {
    let (dir, _s, repo) = setup();
    repo.commit(&req(vec![put(&repo, "a", b"1")], None)).unwrap();
    let lock = plant_lock(dir.path(), 60);
    repo.commit(&req(vec![put(&repo, "b", b"2")], None)).unwrap();
    assert!(!lock.exists());
}

#[test]
fn a_fresh_ref_lock_is_respected_and_stale_ones_are_swept() {
    let (dir, store, repo) = setup();
    let c = repo.commit(&req(vec![put(&repo, "a", b"1")], None)).unwrap().commit;
    let lock = plant_lock(dir.path(), 0);
    // A live writer (another node) may hold it: never steal a fresh lock.
    let mut r = req(vec![put(&repo, "b", b"2")], Some(c));
    r.expected_parent = Some(c);
    assert!(repo.commit(&r).is_err());
    assert!(lock.exists());
    assert_eq!(store.remove_stale_locks().unwrap(), 0);
    let lock = plant_lock(dir.path(), 60);
    assert_eq!(store.remove_stale_locks().unwrap(), 1);
    assert!(!lock.exists());
    repo.commit(&r).unwrap();
}

fn commit_files(repo: &Repo, ops: Vec<TreeOp>) -> Oid {
    repo.commit(&req(ops, None)).unwrap().commit
}

fn text_hunks(f: &FileDiff) -> &[DiffHunk] {
    match &f.body {
        FileDiffBody::Text(h) => h,
        other => panic!("{}: expected a text diff, got {other:?}", f.path),
    }
}

/// Each line as `(kind, old, new, text)`, the way a reader checks a unified diff.
fn rows(h: &DiffHunk) -> Vec<(DiffLineKind, Option<u32>, Option<u32>, &str)> {
    h.lines.iter().map(|l| (l.kind, l.old_line, l.new_line, l.text.as_str())).collect()
}

#[test]
fn commit_diff_of_text_files() {
    use DiffLineKind::*;
    let (_d, _s, repo) = setup();
    let old: String = (1..=20).map(|i| format!("line {i}\n")).collect();
    let first = commit_files(
        &repo,
        vec![put(&repo, "a.txt", old.as_bytes()), put(&repo, "gone.txt", b"x\ny\n"), put(&repo, "same", b"s")],
    );
    let new = old.replace("line 5\n", "line five\nline 5.5\n").replace("line 20\n", "");
    let second = commit_files(
        &repo,
        vec![
            put(&repo, "a.txt", new.as_bytes()),
            put(&repo, "d/new.txt", b"one\ntwo"),
            TreeOp::Delete { path: "gone.txt".into() },
        ],
    );
    let diff = repo.commit_diff(second, &DiffLimits::default()).unwrap();
    assert_eq!(diff.commit.id, second);
    assert_eq!(diff.parent, Some(first));
    assert!(!diff.truncated_files);
    let summary: Vec<_> =
        diff.files.iter().map(|f| (f.path.as_str(), f.change.clone(), f.additions, f.deletions)).collect();
    assert_eq!(
        summary,
        [
            ("a.txt", FileChange::Modified, 2, 2),
            ("d/new.txt", FileChange::Added, 2, 0),
            ("gone.txt", FileChange::Deleted, 0, 2),
        ]
    );

    let hunks = text_hunks(&diff.files[0]);
    assert_eq!(hunks.len(), 2);
    assert!(hunks[0].header.starts_with("@@ -2,7 +2,8 @@"), "{}", hunks[0].header);
    assert_eq!(
        rows(&hunks[0]),
        [
            (Context, Some(2), Some(2), "line 2"),
            (Context, Some(3), Some(3), "line 3"),
            (Context, Some(4), Some(4), "line 4"),
            (Removed, Some(5), None, "line 5"),
            (Added, None, Some(5), "line five"),
            (Added, None, Some(6), "line 5.5"),
            (Context, Some(6), Some(7), "line 6"),
            (Context, Some(7), Some(8), "line 7"),
            (Context, Some(8), Some(9), "line 8"),
        ]
    );
    assert!(hunks[1].header.starts_with("@@ -17,4 +18,3 @@"), "{}", hunks[1].header);
    assert_eq!(rows(&hunks[1])[0], (Context, Some(17), Some(18), "line 17"));
    assert_eq!(rows(&hunks[1]).last(), Some(&(Removed, Some(20), None, "line 20")));

    // Added without a final newline: the marker is not a line.
    let added = text_hunks(&diff.files[1]);
    assert!(added[0].header.starts_with("@@ -0,0 +1,2 @@"));
    assert_eq!(rows(&added[0]), [(Added, None, Some(1), "one"), (Added, None, Some(2), "two")]);
    let deleted = text_hunks(&diff.files[2]);
    assert_eq!(rows(&deleted[0]), [(Removed, Some(1), None, "x"), (Removed, Some(2), None, "y")]);
}

#[test]
fn commit_diff_of_the_root_commit_and_renames() {
    let (_d, _s, repo) = setup();
    let root = commit_files(&repo, vec![put(&repo, "README.md", b"# hi\n"), put(&repo, "src/x.py", b"print(1)\n")]);
    let diff = repo.commit_diff(root, &DiffLimits::default()).unwrap();
    assert_eq!(diff.parent, None);
    assert_eq!(diff.commit.title, "t");
    let paths: Vec<_> = diff.files.iter().map(|f| (f.path.as_str(), f.change.clone(), f.additions)).collect();
    assert_eq!(paths, [("README.md", FileChange::Added, 1), ("src/x.py", FileChange::Added, 1)]);
    assert_eq!(text_hunks(&diff.files[0])[0].lines[0].text, "# hi");

    let moved =
        commit_files(&repo, vec![TreeOp::Delete { path: "src/x.py".into() }, put(&repo, "lib/x.py", b"print(1)\n")]);
    let diff = repo.commit_diff(moved, &DiffLimits::default()).unwrap();
    assert_eq!(diff.files.len(), 1);
    let f = &diff.files[0];
    assert_eq!((f.path.as_str(), &f.change), ("lib/x.py", &FileChange::Renamed { from: "src/x.py".into() }));
    assert_eq!((f.additions, f.deletions), (0, 0));
    assert!(text_hunks(f).is_empty());
}

#[test]
fn commit_diff_of_binary_lfs_and_large_files() {
    let (_d, _s, repo) = setup();
    let p1 = LfsPointer { oid: "ab".repeat(32), size: 1_000_000 };
    let p2 = LfsPointer { oid: "cd".repeat(32), size: 2_000_000 };
    let mut bin = vec![0u8, 1, 2, 3];
    bin.extend_from_slice(&[b'a'; 100]);
    let big = "x\n".repeat(600);
    let first = commit_files(
        &repo,
        vec![
            put(&repo, "w.bin", p1.to_text().as_bytes()),
            put(&repo, "big.txt", b"small\n"),
            put(&repo, "moved-to-lfs.txt", b"plain\n"),
        ],
    );
    let second = commit_files(
        &repo,
        vec![
            put(&repo, "w.bin", p2.to_text().as_bytes()),
            put(&repo, "new.bin", p1.to_text().as_bytes()),
            put(&repo, "img.png", &bin),
            put(&repo, "big.txt", big.as_bytes()),
            put(&repo, "moved-to-lfs.txt", p2.to_text().as_bytes()),
        ],
    );
    let limits = DiffLimits { max_bytes_per_file: 1000, ..DiffLimits::default() };
    let diff = repo.commit_diff(second, &limits).unwrap();
    assert_eq!(diff.parent, Some(first));
    let by_path = |p: &str| diff.files.iter().find(|f| f.path == p).unwrap_or_else(|| panic!("{p}"));

    let f = by_path("w.bin");
    assert_eq!(f.change, FileChange::Modified);
    assert_eq!(f.body, FileDiffBody::LfsPointer { old: Some(p1.clone()), new: Some(p2.clone()) });
    assert_eq!((f.additions, f.deletions), (0, 0));
    let f = by_path("new.bin");
    assert_eq!((&f.change, &f.body), (&FileChange::Added, &FileDiffBody::LfsPointer { old: None, new: Some(p1) }));
    let f = by_path("moved-to-lfs.txt");
    assert_eq!(f.body, FileDiffBody::LfsPointer { old: None, new: Some(p2) });

    let f = by_path("img.png");
    assert_eq!((&f.change, &f.body, f.additions), (&FileChange::Added, &FileDiffBody::Binary, 0));
    // The old side is small, but the new one is over the limit: neither is read.
    let f = by_path("big.txt");
    assert_eq!((&f.change, &f.body, f.additions, f.deletions), (&FileChange::Modified, &FileDiffBody::TooLarge, 0, 0));

    // Deleting the large file is refused as well: the old side is over the limit.
    let third = commit_files(&repo, vec![TreeOp::Delete { path: "big.txt".into() }]);
    let diff = repo.commit_diff(third, &limits).unwrap();
    assert_eq!((&diff.files[0].change, &diff.files[0].body), (&FileChange::Deleted, &FileDiffBody::TooLarge));
}

#[test]
fn commit_diff_limits_files_and_lines() {
    let (_d, _s, repo) = setup();
    let ops: Vec<_> = (0..10).map(|i| put(&repo, &format!("f{i:02}"), "l\n".repeat(5).as_bytes())).collect();
    let c = commit_files(&repo, ops);

    let all = repo.commit_diff(c, &DiffLimits::default()).unwrap();
    assert_eq!((all.files.len(), all.truncated_files), (10, false));
    let exact = repo.commit_diff(c, &DiffLimits { max_files: 10, ..DiffLimits::default() }).unwrap();
    assert_eq!((exact.files.len(), exact.truncated_files), (10, false));
    let few = repo.commit_diff(c, &DiffLimits { max_files: 3, ..DiffLimits::default() }).unwrap();
    assert!(few.truncated_files);
    let paths: Vec<_> = few.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["f00", "f01", "f02"]);

    // 12 lines: two files fit (10), the third would not; counts are still given.
    let lines = repo.commit_diff(c, &DiffLimits { max_lines_total: 12, ..DiffLimits::default() }).unwrap();
    assert_eq!(lines.files.len(), 10);
    assert!(matches!(lines.files[0].body, FileDiffBody::Text(_)));
    assert!(matches!(lines.files[1].body, FileDiffBody::Text(_)));
    assert!(lines.files[2..].iter().all(|f| f.body == FileDiffBody::Truncated && f.additions == 5));
}

#[test]
fn commit_diff_of_an_unknown_commit() {
    let (_d, _s, repo) = setup();
    let c = commit_files(&repo, vec![put(&repo, "a", b"1")]);
    let missing = Oid::from_str("0123456789012345678901234567890123456789").unwrap();
    assert!(matches!(repo.commit_diff(missing, &DiffLimits::default()), Err(GitError::RevisionNotFound(_))));
    // A blob's id is not a commit.
    let blob = repo.entry(c, "a").unwrap().unwrap().oid;
    assert!(matches!(repo.commit_diff(blob, &DiffLimits::default()), Err(GitError::RevisionNotFound(_))));
}
