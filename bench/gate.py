#!/usr/bin/env python3
"""What a gate costs on the download path: GET of the same small file through resolve, as the same user,
on a repository that is not gated and on a gated one whose request was accepted (the extra lookup of the
accepted request, cached for 5 s), and as the owner (a writer: no lookup at all). Interleaved rounds.

    python3 bench/gate.py [--rounds 3] [--seconds 10] [--work /tmp/gh-bench-gate]

Needs: a release build (target/release/gatehouse, or GATEHOUSE_BIN), wrk (Debian's), and a Python with
huggingface_hub (GATEHOUSE_BENCH_PYTHON, default .venv/bin/python). Everything is on 127.0.0.1 and every
run is bounded (-d plus a timeout). Raw outputs go to bench/results/<date>/gate-<time>.json; a Markdown
summary is printed (copy it into docs/benchmarks.md with the date and machine).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import BIN, ROOT, hf, load, sh, wait_port  # noqa: E402

PORT = 18390


def start(work: Path) -> tuple[subprocess.Popen, str, dict]:
    data = work / "gatehouse"
    shutil.rmtree(data, ignore_errors=True)
    gh = f"{BIN} --data-dir {data}"
    tokens = {}
    for user in ["owner", "reader"]:
        sh(f"{gh} user create {user} --email {user}@example.com")
        tokens[user] = sh(f"{gh} token create {user} --role write").strip()
    proc = subprocess.Popen([BIN, "--data-dir", str(data), "serve", "--listen", f"127.0.0.1:{PORT}"],
                            stdout=subprocess.DEVNULL, stderr=open(work / "gatehouse.log", "w"))
    wait_port(PORT)
    return proc, f"http://127.0.0.1:{PORT}", tokens


def seed(base: str, tokens: dict) -> None:
    hf(textwrap.dedent(f"""
        import httpx
        from huggingface_hub import HfApi
        owner = HfApi(endpoint="{base}", token="{tokens['owner']}")
        for name in ["open", "gated"]:
            owner.create_repo(f"owner/{{name}}")
            owner.upload_file(path_or_fileobj=b'{{"hidden_size": 64}}', path_in_repo="config.json", repo_id=f"owner/{{name}}")
        owner.update_repo_settings("owner/gated", gated="manual")
        r = httpx.post("{base}/api/models/owner/gated/user-access-request", json={{"fields": {{}}}},
                       headers={{"authorization": "Bearer {tokens['reader']}"}})
        assert r.json() == {{"status": "pending"}}, r.text
        owner.accept_access_request("owner/gated", "reader")
    """))


def wrk_get(url: str, token: str, seconds: int, lua: Path) -> dict:
    # GET, not HEAD: wrk waits for the body a HEAD answer's Content-Length announces.
    lua.write_text(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
    out = sh(f"wrk -t1 -c32 -d{seconds}s --latency -s {lua} {url}", timeout=seconds + 30)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {p: m for p, m in re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M)}
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50": lat.get("50"), "p99": lat.get("99"), "non2xx": int(non2xx.group(1)) if non2xx else 0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--work", default="/tmp/gh-bench-gate")
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    proc, base, tokens = start(work)
    results: dict[str, list] = {}
    try:
        seed(base, tokens)
        cases = [
            ("not gated, reader", f"{base}/owner/open/resolve/main/config.json", tokens["reader"]),
            ("gated, accepted reader", f"{base}/owner/gated/resolve/main/config.json", tokens["reader"]),
            ("gated, owner", f"{base}/owner/gated/resolve/main/config.json", tokens["owner"]),
        ]
        for r in range(a.rounds):
            for name, url, token in cases:
                before = load()
                res = wrk_get(url, token, a.seconds, work / "get.lua")
                res["load"] = [before, load()]
                assert res["non2xx"] == 0, f"{name}: {res['non2xx']} refusals"
                results.setdefault(name, []).append(res)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    out = ROOT / "bench/results" / time.strftime("%Y-%m-%d")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"gate-{time.strftime('%H%M%S')}.json").write_text(json.dumps(results, indent=1))
    print(f"| GET of a 20-byte file, wrk -c32, {a.seconds} s x {a.rounds} rounds | req/s (median) | p50 | p99 |")
    print("| --- | --- | --- | --- |")
    for name, runs in results.items():
        med = statistics.median(x["rps"] for x in runs)
        mid = sorted(runs, key=lambda x: x["rps"])[len(runs) // 2]
        print(f"| {name} | {med:,.0f} | {mid['p50']} | {mid['p99']} |")


if __name__ == "__main__":
    main()
