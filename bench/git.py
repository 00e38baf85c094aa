#!/usr/bin/env python3
"""Git clone through Gatehouse against `git clone file://` of the same repository, in the same run.

    python3 bench/git.py [--rounds 2] [--files 1000] [--lfs-gib 1] [--work /tmp/gh-bench-git]

Needs a release build (target/release/gatehouse), git and git-lfs. It starts its own server (SQLite, local
disk, fresh data dir), builds a source repository with `--files` small files and one random LFS file of
`--lfs-gib` GiB, pushes it to Gatehouse with git and git-lfs, then times, interleaved per round:
  - `git clone` over HTTP from Gatehouse (git objects, then git-lfs downloads the LFS file)
  - `git clone file://` of the source repository (git-lfs copies from the local LFS store)
and the same two with GIT_LFS_SKIP_SMUDGE=1 (git objects only). Results go to bench/results/<date>/git.*
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "target" / "release" / "gatehouse"


def sh(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> str:
    out = subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True, text=True)
    return out.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(cmd: list[str], env: dict, cwd: Path) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--lfs-gib", type=float, default=1.0)
    ap.add_argument("--work", default="/tmp/gh-bench-git")
    args = ap.parse_args()
    if not BIN.exists():
        sys.exit(f"build first: cargo build --release -p gatehouse ({BIN} missing)")
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    home = work / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEHOUSE_", "GIT_"))}
    env.update(HOME=str(home), GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1")
    sh(["git", "config", "--global", "user.name", "Bench"], env)
    sh(["git", "config", "--global", "user.email", "bench@example.com"], env)
    sh(["git", "lfs", "install", "--skip-repo"], env)

    data = work / "data"
    genv = dict(env, GATEHOUSE_DATA_DIR=str(data))
    sh([str(BIN), "user", "create", "bench", "--email", "bench@example.com"], genv)
    token = sh([str(BIN), "token", "create", "bench", "--role", "write"], genv).strip()
    port = free_port()
    server = subprocess.Popen([str(BIN), "serve", "--listen", f"127.0.0.1:{port}"], env=genv,
                              stdout=subprocess.DEVNULL, stderr=open(work / "server.log", "w"))
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                import urllib.request
                urllib.request.urlopen(f"{base}/healthz", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        import urllib.request
        req = urllib.request.Request(f"{base}/api/repos/create", method="POST",
                                     data=json.dumps({"name": "bench", "organization": "bench"}).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        urllib.request.urlopen(req)
        url = f"http://bench:{token}@127.0.0.1:{port}/bench/bench"

        # The source: the Hub's initial commit, then the files, pushed with git and git-lfs.
        src = work / "src"
        sh(["git", "clone", "-q", url, str(src)], env)
        rnd = os.urandom(4096)
        for i in range(args.files):
            d = src / f"dir{i // 100:02d}"
            d.mkdir(exist_ok=True)
            (d / f"file{i:04d}.txt").write_bytes(rnd[: 512 + (i * 37) % 3000].hex().encode()[: 500 + (i * 37) % 3000])
        size = int(args.lfs_gib * (1 << 30))
        with open(src / "model.safetensors", "wb") as f:
            left = size
            while left:
                n = min(left, 1 << 24)
                f.write(os.urandom(n))
                left -= n
        sh(["git", "add", "-A"], env, src)
        sh(["git", "commit", "-qm", "bench content"], env, src)
        t = time.perf_counter()
        sh(["git", "push", "-q", "origin", "main"], env, src)
        push_s = time.perf_counter() - t

        cases = [
            ("gatehouse", url, {}),
            ("file://", f"file://{src}", {}),
            ("gatehouse, git objects only", url, {"GIT_LFS_SKIP_SMUDGE": "1"}),
            ("file://, git objects only", f"file://{src}", {"GIT_LFS_SKIP_SMUDGE": "1"}),
        ]
        times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
        for r in range(args.rounds):
            for name, u, extra in cases:
                dest = work / f"clone-{r}"
                shutil.rmtree(dest, ignore_errors=True)
                times[name].append(timed(["git", "clone", "-q", u, str(dest)], dict(env, **extra), work))
                shutil.rmtree(dest, ignore_errors=True)
    finally:
        server.terminate()
        server.wait(timeout=30)

    date = datetime.date.today().isoformat()
    out_dir = ROOT / "bench" / "results" / date
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {
        "when": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.system()} {platform.release()} {platform.machine()}, {os.cpu_count()} CPUs",
        "git": sh(["git", "--version"], env).strip(),
        "git_lfs": sh(["git", "lfs", "version"], env).strip(),
        "files": args.files,
        "lfs_bytes": size,
        "push_s": push_s,
        "clone_s": times,
    }
    (out_dir / "git.json").write_text(json.dumps(result, indent=2))
    base_full = min(times["file://"])
    base_git = min(times["file://, git objects only"])
    lines = [
        f"# Git clone benchmark, {result['when']}",
        "",
        f"{result['machine']}; {result['git']}; {result['git_lfs']}",
        f"Repository: {args.files} small files + one {size / (1 << 30):.2f} GiB LFS file; initial push {push_s:.1f} s.",
        "",
        "| clone | best (s) | median (s) | vs file:// |",
        "| --- | --- | --- | --- |",
    ]
    for name, _, _ in cases:
        ts = sorted(times[name])
        ref = base_git if "only" in name else base_full
        lines.append(f"| {name} | {ts[0]:.2f} | {ts[len(ts) // 2]:.2f} | {ts[0] / ref:.2f}× |")
    (out_dir / "git.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
