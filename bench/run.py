#!/usr/bin/env python3
"""Gatehouse benchmarks, each measured against its physical limit or peer in the same run.

    python3 bench/run.py [--rounds 3] [--only get,head,upload,snapshot,rss] [--work /tmp/gh-bench]

Needs: a release build (target/release/gatehouse, or GATEHOUSE_BIN), nginx (Debian nginx-light), oha
(`cargo install oha --locked`), openssl, and a Python with huggingface_hub (GATEHOUSE_BENCH_PYTHON, default
.venv/bin/python). Everything listens on 127.0.0.1 and every load run is bounded (-n or -z plus a timeout).

Rounds are interleaved (ours, peer, ours, peer, …) and `uptime` is recorded around each, since the two
cores are shared by the client and the server. Raw outputs go to bench/results/<date>/ (results-<time>.json
per run); a Markdown summary is printed at the end (copy it into docs/benchmarks.md with the date and
machine).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = os.environ.get("GATEHOUSE_BIN", str(ROOT / "target/release/gatehouse"))
PY = os.environ.get("GATEHOUSE_BENCH_PYTHON", str(ROOT / ".venv/bin/python"))
OHA = os.environ.get("OHA", shutil.which("oha") or os.path.expanduser("~/.cargo/bin/oha"))
OURS_PORT, NGINX_PORT = 18300, 18380
GIB = 1 << 30


def sh(cmd: str, timeout: float = 600, **kw) -> str:
    return subprocess.run(cmd, shell=True, check=True, capture_output=True, text=True, timeout=timeout, **kw).stdout


def load() -> float:
    return os.getloadavg()[0]


def wait_port(port: int, timeout: float = 20) -> None:
    end = time.time() + timeout
    while time.time() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listening on {port}")


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


# ---------------------------------------------------------------------------------------------- setup


def make_data(work: Path) -> None:
    data = work / "data/acme"
    (data / "big").mkdir(parents=True, exist_ok=True)
    big = data / "big/model.safetensors"
    if not big.exists() or big.stat().st_size != GIB:
        sh(f"openssl rand -out {big} {GIB}", timeout=300)
    (data / "small").mkdir(exist_ok=True)
    (data / "small/config.json").write_bytes(b'{"hidden": 1}' + b" " * (1024 - 13))
    many = data / "many"
    if not many.exists():
        many.mkdir()
        rng = random.Random(7)
        for i in range(1000):
            (many / f"file_{i:04d}.txt").write_text("x" * rng.randint(500, 3500))


class Gatehouse:
    def __init__(self, work: Path):
        self.dir = work / "gatehouse"
        shutil.rmtree(self.dir, ignore_errors=True)
        self.base = f"http://127.0.0.1:{OURS_PORT}"
        gh = f"{BIN} --data-dir {self.dir}"
        sh(f"{gh} user create bench --email bench@example.com")
        self.token = sh(f"{gh} token create bench --role write").strip()
        self.proc = subprocess.Popen(
            [BIN, "--data-dir", str(self.dir), "serve", "--listen", f"127.0.0.1:{OURS_PORT}"],
            stdout=subprocess.DEVNULL, stderr=open(work / "gatehouse.log", "w"),
        )
        wait_port(OURS_PORT)

    def pids(self) -> list[int]:
        return [self.proc.pid]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


class Nginx:
    def __init__(self, work: Path):
        self.dir = work / "nginx"
        self.data = work / "data"
        for d in ["logs", "tmp", "api"]:
            (self.dir / d).mkdir(parents=True, exist_ok=True)
        conf = self.dir / "nginx.conf"
        conf.write_text(textwrap.dedent(f"""
            worker_processes 2;
            pid {self.dir}/nginx.pid;
            error_log {self.dir}/logs/error.log warn;
            events {{ worker_connections 8192; multi_accept on; }}
            http {{
              access_log off; sendfile on; tcp_nopush on; tcp_nodelay on;
              keepalive_requests 1000000; keepalive_timeout 65; open_file_cache max=10000 inactive=60s;
              client_body_temp_path {self.dir}/tmp; proxy_temp_path {self.dir}/tmp; fastcgi_temp_path {self.dir}/tmp;
              uwsgi_temp_path {self.dir}/tmp; scgi_temp_path {self.dir}/tmp;
              default_type application/octet-stream;
              server {{
                listen 127.0.0.1:{NGINX_PORT} backlog=4096;
                location /api/ {{ root {self.dir}; default_type application/json; }}
                location ~ ^/(?<org>[^/]+)/(?<repo>[^/]+)/resolve/(?<rev>[^/]+)/(?<fpath>.+)$ {{
                  add_header X-Repo-Commit "0123456789abcdef0123456789abcdef01234567" always;
                  alias {self.data}/$org/$repo/$fpath;
                }}
              }}
            }}
        """))
        self.conf = conf
        self.write_stubs()
        sh(f"nginx -c {conf} -p {self.dir}")
        wait_port(NGINX_PORT)

    def write_stubs(self) -> None:
        """Static answers for snapshot_download (revision and tree), from the same files."""
        sha = "0123456789abcdef0123456789abcdef01234567"
        api = self.dir / "api/models/acme/many"
        (api / "revision").mkdir(parents=True, exist_ok=True)
        (api / "tree").mkdir(parents=True, exist_ok=True)
        files = sorted((self.data / "acme/many").iterdir())
        (api / "revision/main").write_text(json.dumps({"id": "acme/many", "sha": sha, "siblings": [{"rfilename": f.name} for f in files]}))
        tree = [{"type": "file", "oid": f"{i:040x}", "size": f.stat().st_size, "path": f.name} for i, f in enumerate(files)]
        (api / f"tree/{sha}").write_text(json.dumps(tree))

    def pids(self) -> list[int]:
        master = int((self.dir / "nginx.pid").read_text())
        children = sh(f"pgrep -P {master} || true").split()
        return [master] + [int(c) for c in children]

    def stop(self) -> None:
        sh(f"nginx -s stop -c {self.conf} -p {self.dir}")


def hf(code: str, env: dict | None = None, timeout: float = 900) -> str:
    e = dict(os.environ, HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1", **(env or {}))
    return subprocess.run([PY, "-c", code], check=True, capture_output=True, text=True, env=e, timeout=timeout).stdout


def seed(g: Gatehouse, work: Path) -> None:
    """The same files, through Gatehouse's own upload path, into private repositories."""
    d = work / "data/acme"
    hf(textwrap.dedent(f"""
        from huggingface_hub import HfApi
        api = HfApi(endpoint="{g.base}", token="{g.token}")
        for name in ["big", "small", "many"]:
            api.create_repo(f"bench/{{name}}", private=True, exist_ok=True)
        api.upload_file(path_or_fileobj="{d}/big/model.safetensors", path_in_repo="model.safetensors", repo_id="bench/big")
        api.upload_file(path_or_fileobj="{d}/small/config.json", path_in_repo="config.json", repo_id="bench/small")
        api.upload_folder(folder_path="{d}/many", repo_id="bench/many")
    """))


# ------------------------------------------------------------------------------------------ measures


def oha(args: str, timeout: float = 300) -> dict:
    out = sh(f"{OHA} --no-tui --output-format json {args}", timeout=timeout)
    return json.loads(out)


def record(results: dict, key: str, value) -> None:
    results.setdefault(key, []).append(value)


def bench_get(g: Gatehouse, n: Nginx, rounds: int, results: dict, out: Path) -> None:
    ours = f'-H "Authorization: Bearer {g.token}" {g.base}/bench/big/resolve/main/model.safetensors'
    peer = f"http://127.0.0.1:{NGINX_PORT}/acme/big/resolve/main/model.safetensors"
    for conc, count in [(1, 6), (4, 12)]:
        for r in range(rounds):
            for who, target in [("ours", ours), ("nginx", peer)]:
                before = load()
                res = oha(f"-c {conc} -n {count} {target}", timeout=600)
                (out / f"get-c{conc}-{who}-{r}.json").write_text(json.dumps(res))
                gib_s = res["summary"]["sizePerSec"] / GIB
                record(results, f"get_c{conc}_{who}", {"gib_s": gib_s, "load": [before, load()]})


def bench_head(g: Gatehouse, n: Nginx, rounds: int, results: dict, out: Path) -> None:
    ours = f'-H "Authorization: Bearer {g.token}" {g.base}/bench/small/resolve/main/config.json'
    peer = f"http://127.0.0.1:{NGINX_PORT}/acme/small/resolve/main/config.json"
    for r in range(rounds):
        for who, target in [("ours", ours), ("nginx", peer)]:
            before = load()
            res = oha(f"-m HEAD -c 64 -z 10s {target}", timeout=60)
            (out / f"head-{who}-{r}.json").write_text(json.dumps(res))
            codes = res.get("statusCodeDistribution", {})
            record(results, f"head_{who}", {
                "rps": res["summary"]["requestsPerSec"],
                "p50_ms": res["latencyPercentiles"]["p50"] * 1000,
                "p99_ms": res["latencyPercentiles"]["p99"] * 1000,
                "codes": codes,
                "load": [before, load()],
            })


def bench_upload(g: Gatehouse, work: Path, rounds: int, results: dict) -> None:
    big = work / "data/acme/big/model.safetensors"
    copy = work / "upload-copy.bin"
    for r in range(rounds):
        before = load()
        t = time.perf_counter()
        sh(f"bash -c 'tee >(openssl dgst -sha256 >/dev/null) < {big} > {copy} && sync {copy}'", timeout=300)
        limit_s = time.perf_counter() - t
        copy.unlink()
        record(results, "upload_limit", {"s": limit_s, "load": [before, load()]})
        before = load()
        code = textwrap.dedent(f"""
            import time
            from huggingface_hub import HfApi
            api = HfApi(endpoint="{g.base}", token="{g.token}")
            t = time.perf_counter()
            api.upload_file(path_or_fileobj="{big}", path_in_repo="round-{r}/model.safetensors", repo_id="bench/big")
            print(time.perf_counter() - t)
        """)
        ours_s = float(hf(code).strip().splitlines()[-1])
        record(results, "upload_ours", {"s": ours_s, "load": [before, load()]})


def bench_snapshot(g: Gatehouse, n: Nginx, work: Path, rounds: int, results: dict) -> None:
    for r in range(rounds):
        for who, endpoint, repo, token in [("ours", g.base, "bench/many", g.token), ("nginx", f"http://127.0.0.1:{NGINX_PORT}", "acme/many", None)]:
            cache = work / f"snap-cache-{who}"
            shutil.rmtree(cache, ignore_errors=True)
            code = textwrap.dedent(f"""
                import time
                from huggingface_hub import snapshot_download
                t = time.perf_counter()
                p = snapshot_download("{repo}", cache_dir="{cache}", token={token!r} or False)
                print(time.perf_counter() - t)
            """)
            before = load()
            s = float(hf(code, env={"HF_ENDPOINT": endpoint}).strip().splitlines()[-1])
            record(results, f"snapshot_{who}", {"s": s, "load": [before, load()]})


def bench_rss(g: Gatehouse, n: Nginx, results: dict, out: Path) -> None:
    time.sleep(5)
    results["idle_rss_kib"] = {"ours": rss_kib(g.pids()), "nginx": rss_kib(n.pids())}
    for who, pids, target in [
        ("ours", g.pids(), f'-H "Authorization: Bearer {g.token}" {g.base}/bench/big/resolve/main/model.safetensors'),
        ("nginx", n.pids(), f"http://127.0.0.1:{NGINX_PORT}/acme/big/resolve/main/model.safetensors"),
    ]:
        proc = subprocess.Popen(f"{OHA} --no-tui --output-format json -c 200 -z 20s {target}", shell=True,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        samples = []
        while proc.poll() is None:
            samples.append(rss_kib(pids))
            time.sleep(0.5)
        res = json.loads(proc.stdout.read())
        (out / f"rss200-{who}.json").write_text(json.dumps(res))
        # No 1 GiB download completes within 20 s at 200-way concurrency, so oha's throughput (completed
        # responses only) says nothing here: this test is about memory staying flat.
        results[f"rss200_{who}"] = {"peak_kib": max(samples), "median_kib": statistics.median(samples)}


# ---------------------------------------------------------------------------------------------- main


def summary(results: dict) -> str:
    def best(key, field, hi=True):
        vals = [x[field] for x in results.get(key, [])]
        return (max(vals) if hi else min(vals)) if vals else float("nan")

    def med(key, field):
        vals = [x[field] for x in results.get(key, [])]
        return statistics.median(vals) if vals else float("nan")

    lines = ["| figure | Gatehouse (best / median) | limit (best / median) | ratio (best) |", "| --- | --- | --- | --- |"]
    for c in (1, 4):
        o, p = f"get_c{c}_ours", f"get_c{c}_nginx"
        if o in results:
            lines.append(f"| GET 1 GiB, {c} conn. (GiB/s) | {best(o,'gib_s'):.2f} / {med(o,'gib_s'):.2f} | nginx {best(p,'gib_s'):.2f} / {med(p,'gib_s'):.2f} | {best(o,'gib_s')/best(p,'gib_s'):.2f}× |")
    if "head_ours" in results:
        lines.append(f"| HEAD resolve, private repo + token, 64 conn. (req/s) | {best('head_ours','rps'):,.0f} / {med('head_ours','rps'):,.0f} | nginx {best('head_nginx','rps'):,.0f} / {med('head_nginx','rps'):,.0f} | {best('head_ours','rps')/best('head_nginx','rps'):.2f}× |")
        lines.append(f"| HEAD p99 latency (ms) | {best('head_ours','p99_ms',False):.2f} / {med('head_ours','p99_ms'):.2f} | nginx {best('head_nginx','p99_ms',False):.2f} / {med('head_nginx','p99_ms'):.2f} | |")
    if "upload_ours" in results:
        lines.append(f"| upload_file 1 GiB (s) | {best('upload_ours','s',False):.2f} / {med('upload_ours','s'):.2f} | tee+openssl+sync {best('upload_limit','s',False):.2f} / {med('upload_limit','s'):.2f} | {best('upload_ours','s',False)/best('upload_limit','s',False):.2f}× |")
    if "snapshot_ours" in results:
        lines.append(f"| snapshot_download 1,000 files (s) | {best('snapshot_ours','s',False):.2f} / {med('snapshot_ours','s'):.2f} | nginx {best('snapshot_nginx','s',False):.2f} / {med('snapshot_nginx','s'):.2f} | {best('snapshot_ours','s',False)/best('snapshot_nginx','s',False):.2f}× |")
    if "idle_rss_kib" in results:
        i = results["idle_rss_kib"]
        lines.append(f"| idle RSS (MiB) | {i['ours']/1024:.1f} | nginx {i['nginx']/1024:.1f} | |")
    if "rss200_ours" in results:
        o, p = results["rss200_ours"], results["rss200_nginx"]
        lines.append(f"| 200 concurrent 1 GiB GETs: peak RSS (MiB) | {o['peak_kib']/1024:.1f} (median {o['median_kib']/1024:.1f}) | nginx {p['peak_kib']/1024:.1f} | |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="get,head,upload,snapshot,rss")
    ap.add_argument("--work", default="/tmp/gh-bench")
    args = ap.parse_args()
    only = set(args.only.split(","))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    out = ROOT / "bench/results" / time.strftime("%Y-%m-%d")
    out.mkdir(parents=True, exist_ok=True)
    for tool, path in [("gatehouse", BIN), ("oha", OHA), ("python", PY)]:
        if not path or not Path(path).exists():
            raise SystemExit(f"missing {tool}: {path}")
    make_data(work)
    g, n = Gatehouse(work), Nginx(work)
    results: dict = {"machine": sh("uname -srm").strip(), "cpus": os.cpu_count(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                     "uptime_before": sh("uptime").strip()}
    try:
        seed(g, work)
        if "rss" in only:
            bench_rss(g, n, results, out)
        if "head" in only:
            bench_head(g, n, args.rounds, results, out)
        if "get" in only:
            bench_get(g, n, args.rounds, results, out)
        if "snapshot" in only:
            bench_snapshot(g, n, work, args.rounds, results)
        if "upload" in only:
            bench_upload(g, work, args.rounds, results)
    finally:
        results["uptime_after"] = sh("uptime").strip()
        g.stop()
        n.stop()
    (out / f"results-{time.strftime('%H%M%S')}.json").write_text(json.dumps(results, indent=2))
    print(summary(results))
    print(f"\nraw results: {out}/", file=sys.stderr)


if __name__ == "__main__":
    main()
