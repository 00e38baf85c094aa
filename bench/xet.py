#!/usr/bin/env python3
"""Xet storage benchmarks: the real client (huggingface_hub + hf_xet) against a release Gatehouse.

    python3 bench/xet.py [--rounds 2] [--only updown,dedup,rss] [--work /tmp/gh-bench-xet] [--rss-gib 5]

(a) updown: upload and download of a 1 GiB random file through Xet, against the same through the LFS path
    (HF_HUB_DISABLE_XET=1: the client hashes in Python, then LFS batch + PUT; downloads are a plain GET), and
    against the limits measured on the same file in the same round: `sha256sum`, `openssl dgst -sha256`,
    `dd ... conv=fsync` and the `tee >(openssl dgst) > copy && sync` pipeline of bench/run.py. Also a plain
    (HF_HUB_DISABLE_XET=1) download of the Xet file, i.e. the server's own reconstruction.
(b) dedup: a 1 GiB file, then copies with 1% changed in 64 scattered regions, uploaded by the same client
    (warm shard cache) and by a client with an empty cache (global dedup queries only): new stored bytes
    (`gatehouse xet stats`) / file size.
(c) rss: peak server RSS (sampled VmRSS every 100 ms, and VmHWM) on a fresh server during a 5 GiB upload,
    a 5 GiB Xet download and a 5 GiB plain GET.

Needs a release build (target/release/gatehouse or GATEHOUSE_BIN), openssl, curl, dd, sha256sum, and .venv's Python with
huggingface_hub + hf_xet (GATEHOUSE_BENCH_PYTHON). Every client runs in its own process with its own HF_HOME,
so no shard cache carries over unless a measure says so. Everything listens on 127.0.0.1. Results:
bench/results/<date>/xet.json and xet.md; the Markdown summary is printed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = os.environ.get("GATEHOUSE_BIN", str(ROOT / "target/release/gatehouse"))
PY = os.environ.get("GATEHOUSE_BENCH_PYTHON", str(ROOT / ".venv/bin/python"))
PORT = 18320
GIB = 1 << 30
MIB = 1 << 20
CLK = os.sysconf("SC_CLK_TCK")


def sh(cmd: str, timeout: float = 900) -> str:
    return subprocess.run(cmd, shell=True, check=True, capture_output=True, text=True, timeout=timeout,
                          executable="/bin/bash").stdout


def load() -> float:
    return os.getloadavg()[0]


def timed(cmd: str, timeout: float = 900) -> float:
    t = time.perf_counter()
    sh(cmd, timeout)
    return time.perf_counter() - t


def wait_port(port: int, timeout: float = 30) -> None:
    end = time.time() + timeout
    while time.time() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listening on {port}")


def proc_status(pid: int, key: str) -> int:
    """VmRSS / VmHWM of a process, KiB."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime + stime


# ---------------------------------------------------------------------------------------------- server


class Gatehouse:
    def __init__(self, work: Path, name: str):
        self.dir = work / name
        shutil.rmtree(self.dir, ignore_errors=True)
        self.base = f"http://127.0.0.1:{PORT}"
        gh = f"{BIN} --data-dir {self.dir}"
        sh(f"{gh} user create bench --email bench@example.com")
        self.token = sh(f"{gh} token create bench --role write").strip()
        self.log = open(work / f"{name}.log", "w")
        self.proc = subprocess.Popen([BIN, "--data-dir", str(self.dir), "serve", "--listen", f"127.0.0.1:{PORT}"],
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        wait_port(PORT)

    def stats(self) -> dict:
        out = sh(f"{BIN} --data-dir {self.dir} xet stats").strip()
        return json.loads([l for l in out.splitlines() if l.lstrip().startswith("{")][-1])

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.log.close()


def client(g: Gatehouse, work: Path, code: str, env: dict | None = None, home: Path | None = None,
           timeout: float = 1800) -> dict:
    """Run huggingface_hub code in its own process (its own HF_HOME unless given); it prints one JSON line."""
    home = home or work / "homes" / uuid.uuid4().hex[:8]
    home.mkdir(parents=True, exist_ok=True)
    e = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    e.update(HF_ENDPOINT=g.base, HF_HOME=str(home), HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1",
             HF_HUB_DISABLE_UPDATE_CHECK="1", **(env or {}))
    prelude = textwrap.dedent(f"""
        import json, time
        from huggingface_hub import HfApi, hf_hub_download
        TOKEN = {g.token!r}
        api = HfApi(token=TOKEN)
    """)
    out = subprocess.run([PY, "-c", prelude + textwrap.dedent(code)], env=e, capture_output=True, text=True,
                         timeout=timeout)
    if out.returncode != 0:
        raise SystemExit(f"client failed ({out.returncode}):\n{textwrap.dedent(code)}\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


UPLOAD = """
t = time.perf_counter()
api.upload_file(path_or_fileobj={src!r}, path_in_repo={path!r}, repo_id={repo!r})
print(json.dumps({{"s": time.perf_counter() - t}}))
"""
DOWNLOAD = """
import hashlib, os
t = time.perf_counter()
p = hf_hub_download({repo!r}, {path!r}, token=TOKEN, cache_dir={cache!r})
s = time.perf_counter() - t
h = hashlib.sha256()
with open(p, "rb") as f:
    for b in iter(lambda: f.read(1 << 22), b""):
        h.update(b)
print(json.dumps({{"s": s, "sha256": h.hexdigest()}}))
"""


def measure(g: Gatehouse, work: Path, code: str, env: dict | None = None, home: Path | None = None) -> dict:
    before_load, before_cpu, before_stats = load(), g.cpu(), g.stats()
    res = client(g, work, code, env, home)
    after_stats = g.stats()
    res.update(server_cpu_s=g.cpu() - before_cpu, load=[before_load, load()],
               stored_bytes=after_stats["xorb_bytes"] - before_stats["xorb_bytes"],
               new_xorbs=after_stats["xorbs"] - before_stats["xorbs"])
    return res


def gen(path: Path, size: int) -> None:
    """Random (incompressible) bytes; os.urandom in 64 MiB blocks (openssl rand takes no sizes over 2 GiB)."""
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 64 * MIB)
            f.write(os.urandom(n))
            left -= n


def sha256_of(path: Path) -> str:
    return sh(f"openssl dgst -sha256 -r {path}").split()[0]


# ------------------------------------------------------------------------------------------ measures


def bench_updown(work: Path, rounds: int, results: dict) -> None:
    g = Gatehouse(work, "updown")
    try:
        client(g, work, """
            for r in ("bench/xet", "bench/lfs"):
                api.create_repo(r, private=True, exist_ok=True)
            print("{}")
        """)
        for r in range(rounds):
            xf, lf, copy = work / f"xet-{r}.bin", work / f"lfs-{r}.bin", work / "copy.bin"
            gen(xf, GIB)
            gen(lf, GIB)
            xsha, lsha = sha256_of(xf), sha256_of(lf)
            row: dict = {"load_start": load()}
            row["limit_sha256sum_s"] = timed(f"sha256sum {xf} >/dev/null")
            row["limit_openssl_sha256_s"] = timed(f"openssl dgst -sha256 {xf} >/dev/null")
            row["limit_dd_fsync_s"] = timed(f"dd if={xf} of={copy} bs=4M conv=fsync status=none")
            copy.unlink()
            row["limit_tee_openssl_sync_s"] = timed(f"tee >(openssl dgst -sha256 >/dev/null) < {xf} > {copy} && sync {copy}")
            copy.unlink()
            row["limit_read_s"] = timed(f"cat {xf} >/dev/null")
            row["xet_upload"] = measure(g, work, UPLOAD.format(src=str(xf), path=f"r{r}.bin", repo="bench/xet"))
            row["lfs_upload"] = measure(g, work, UPLOAD.format(src=str(lf), path=f"r{r}.bin", repo="bench/lfs"),
                                        env={"HF_HUB_DISABLE_XET": "1"})
            for key, repo, env, want in [("xet_download", "bench/xet", {}, xsha),
                                         ("plain_download_of_xet_file", "bench/xet", {"HF_HUB_DISABLE_XET": "1"}, xsha),
                                         ("lfs_download", "bench/lfs", {"HF_HUB_DISABLE_XET": "1"}, lsha)]:
                cache = work / "dl-cache"
                shutil.rmtree(cache, ignore_errors=True)
                row[key] = measure(g, work, DOWNLOAD.format(repo=repo, path=f"r{r}.bin", cache=str(cache)), env=env)
                assert row[key].pop("sha256") == want, f"{key}: wrong bytes"
                shutil.rmtree(cache, ignore_errors=True)
            row["load_end"] = load()
            results.setdefault("updown", []).append(row)
            xf.unlink()
            lf.unlink()
            print(f"round {r}: " + json.dumps(row), file=sys.stderr)
    finally:
        g.stop()
        shutil.rmtree(g.dir, ignore_errors=True)


def scatter_copy(src: Path, dst: Path, fraction: float, regions: int, seed: int) -> int:
    """dst = src with `fraction` of its bytes overwritten, in `regions` regions spread over the file."""
    shutil.copyfile(src, dst)
    size = src.stat().st_size
    each = int(size * fraction / regions)
    rng = random.Random(seed)
    stride = size // regions
    changed = 0
    with open(dst, "r+b") as f:
        for i in range(regions):
            off = i * stride + rng.randrange(0, stride - each)
            f.seek(off)
            f.write(os.urandom(each))
            changed += each
    return changed


def bench_dedup(work: Path, results: dict) -> None:
    g = Gatehouse(work, "dedup")
    try:
        client(g, work, 'api.create_repo("bench/dedup", private=True); print("{}")')
        base, c1, c2 = work / "base.bin", work / "copy-warm.bin", work / "copy-cold.bin"
        gen(base, GIB)
        changed1 = scatter_copy(base, c1, 0.01, 64, seed=1)
        changed2 = scatter_copy(base, c2, 0.01, 64, seed=2)
        warm_home = work / "homes" / "dedup-warm"
        shutil.rmtree(warm_home, ignore_errors=True)
        out: dict = {"file_bytes": GIB, "regions": 64}
        out["base"] = measure(g, work, UPLOAD.format(src=str(base), path="base.bin", repo="bench/dedup"), home=warm_home)
        out["copy_warm_cache"] = measure(g, work, UPLOAD.format(src=str(c1), path="copy-warm.bin", repo="bench/dedup"),
                                         home=warm_home)
        out["copy_warm_cache"]["changed_bytes"] = changed1
        out["copy_cold_cache"] = measure(g, work, UPLOAD.format(src=str(c2), path="copy-cold.bin", repo="bench/dedup"))
        out["copy_cold_cache"]["changed_bytes"] = changed2
        for k in ("copy_warm_cache", "copy_cold_cache"):
            out[k]["new_stored_over_size"] = out[k]["stored_bytes"] / GIB
        out["final_stats"] = g.stats()
        results["dedup"] = out
        for p in (base, c1, c2):
            p.unlink()
        print("dedup: " + json.dumps(out), file=sys.stderr)
    finally:
        g.stop()
        shutil.rmtree(g.dir, ignore_errors=True)


class RssSampler:
    def __init__(self, pid: int):
        self.pid, self.samples, self._stop = pid, [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(proc_status(self.pid, "VmRSS"))
            time.sleep(0.1)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join()

    def summary(self) -> dict:
        s = sorted(self.samples)
        return {"peak_kib": s[-1], "median_kib": s[len(s) // 2], "samples": len(s)}


def bench_rss(work: Path, gib: int, results: dict) -> None:
    g = Gatehouse(work, "rss")
    try:
        client(g, work, 'api.create_repo("bench/rss", private=True); print("{}")')
        big = work / f"big-{gib}g.bin"
        gen(big, gib * GIB)
        want = sha256_of(big)
        time.sleep(2)
        out: dict = {"file_bytes": gib * GIB, "idle_rss_kib": proc_status(g.proc.pid, "VmRSS")}
        with RssSampler(g.proc.pid) as s:
            out["upload"] = measure(g, work, UPLOAD.format(src=str(big), path="big.bin", repo="bench/rss"))
        out["upload"].update(s.summary(), vmhwm_kib=proc_status(g.proc.pid, "VmHWM"))
        big.unlink()
        cache = work / "dl-cache"
        shutil.rmtree(cache, ignore_errors=True)
        with RssSampler(g.proc.pid) as s:
            out["xet_download"] = measure(g, work, DOWNLOAD.format(repo="bench/rss", path="big.bin", cache=str(cache)))
        assert out["xet_download"].pop("sha256") == want
        out["xet_download"].update(s.summary(), vmhwm_kib=proc_status(g.proc.pid, "VmHWM"))
        shutil.rmtree(cache, ignore_errors=True)
        with RssSampler(g.proc.pid) as s:
            t, cpu0 = time.perf_counter(), g.cpu()
            got = sh(f"curl -sf -H 'Authorization: Bearer {g.token}' {g.base}/bench/rss/resolve/main/big.bin"
                     f" | openssl dgst -sha256 -r", timeout=1800).split()[0]
            out["plain_get"] = {"s": time.perf_counter() - t, "server_cpu_s": g.cpu() - cpu0}
        assert got == want, "plain GET: wrong bytes"
        out["plain_get"].update(s.summary(), vmhwm_kib=proc_status(g.proc.pid, "VmHWM"))
        # many plain downloads at once: is the reconstruction memory per connection? (time-bounded)
        n, secs = 16, 20
        with RssSampler(g.proc.pid) as s:
            t = time.perf_counter()
            sh(" & ".join([f"curl -s -o /dev/null --max-time {secs} -H 'Authorization: Bearer {g.token}' "
                           f"-w '%{{size_download}}\\n' {g.base}/bench/rss/resolve/main/big.bin"] * n) + " & wait",
               timeout=secs + 60)
            out[f"plain_get_c{n}"] = {"s": time.perf_counter() - t, "connections": n, "max_time_s": secs}
        out[f"plain_get_c{n}"].update(s.summary(), vmhwm_kib=proc_status(g.proc.pid, "VmHWM"))
        results["rss"] = out
        print("rss: " + json.dumps(out), file=sys.stderr)
    finally:
        g.stop()
        shutil.rmtree(g.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- main


def summary(results: dict) -> str:
    lines = []

    def best_med(vals):
        vals = sorted(vals)
        return (vals[0], vals[len(vals) // 2]) if vals else (float("nan"), float("nan"))

    rows = results.get("updown", [])
    if rows:
        def col(key, field="s"):
            return best_med([r[key][field] if isinstance(r[key], dict) else r[key] for r in rows])

        g = GIB / MIB
        lim_up, _ = col("limit_tee_openssl_sync_s")
        lines += ["| 1 GiB, best / median of %d | time (s) | MiB/s (best) | server CPU (s) | vs limit |" % len(rows),
                  "| --- | --- | --- | --- | --- |"]
        for label, key in [("`sha256sum` (limit)", "limit_sha256sum_s"),
                           ("`openssl dgst -sha256` (limit)", "limit_openssl_sha256_s"),
                           ("`dd bs=4M conv=fsync` copy (limit)", "limit_dd_fsync_s"),
                           ("`tee >(openssl dgst) > copy && sync` (upload limit, as bench/run.py)", "limit_tee_openssl_sync_s"),
                           ("`cat > /dev/null` (read limit)", "limit_read_s")]:
            b, m = col(key)
            lines.append(f"| {label} | {b:.2f} / {m:.2f} | {g / b:,.0f} | | |")
        for label, key, lim in [("upload_file through Xet", "xet_upload", lim_up),
                                ("upload_file through LFS (HF_HUB_DISABLE_XET=1)", "lfs_upload", lim_up),
                                ("hf_hub_download through Xet", "xet_download", None),
                                ("hf_hub_download of the Xet file, plain GET (server reconstructs)",
                                 "plain_download_of_xet_file", None),
                                ("hf_hub_download of the LFS file, plain GET", "lfs_download", None)]:
            b, m = col(key)
            cb, _ = col(key, "server_cpu_s")
            ratio = f"{b / lim:.2f}×" if lim else ""
            lines.append(f"| {label} | {b:.2f} / {m:.2f} | {g / b:,.0f} | {cb:.1f} | {ratio} |")
        loads = [x for r in rows for x in (r["load_start"], r["load_end"])]
        lines.append(f"\nload average during the rounds: {min(loads):.1f}–{max(loads):.1f}")
    d = results.get("dedup")
    if d:
        lines += ["", "| dedup, 1 GiB file, 1% changed in 64 regions | new stored bytes | / file size | new xorbs | upload (s) |",
                  "| --- | --- | --- | --- | --- |"]
        lines.append(f"| first upload | {d['base']['stored_bytes']:,} | {d['base']['stored_bytes'] / GIB:.3f} | "
                     f"{d['base']['new_xorbs']} | {d['base']['s']:.2f} |")
        for label, key in [("copy, same client (warm shard cache)", "copy_warm_cache"),
                           ("copy, new client (empty cache: global dedup only)", "copy_cold_cache")]:
            x = d[key]
            lines.append(f"| {label} | {x['stored_bytes']:,} | {x['new_stored_over_size']:.4f} | {x['new_xorbs']} | {x['s']:.2f} |")
    r = results.get("rss")
    if r:
        gib = r["file_bytes"] / GIB
        lines += ["", f"| server RSS, {gib:.0f} GiB file | peak sampled RSS (MiB) | median (MiB) | VmHWM after (MiB) | time (s) |",
                  "| --- | --- | --- | --- | --- |",
                  f"| idle before | {r['idle_rss_kib'] / 1024:.1f} | | | |"]
        for label, key in [("upload_file through Xet", "upload"), ("hf_hub_download through Xet", "xet_download"),
                           ("plain GET (curl, server reconstructs)", "plain_get"),
                           ("16 plain GETs at once, 20 s (curl)", "plain_get_c16")]:
            if key not in r:
                continue
            x = r[key]
            lines.append(f"| {label} | {x['peak_kib'] / 1024:.1f} | {x['median_kib'] / 1024:.1f} | "
                         f"{x['vmhwm_kib'] / 1024:.1f} | {x['s']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--only", default="updown,dedup,rss")
    ap.add_argument("--work", default="/tmp/gh-bench-xet")
    ap.add_argument("--rss-gib", type=int, default=5)
    args = ap.parse_args()
    only = set(args.only.split(","))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    for tool, path in [("gatehouse", BIN), ("python", PY)]:
        if not Path(path).exists():
            raise SystemExit(f"missing {tool}: {path}")
    if subprocess.run([PY, "-c", "import hf_xet"], capture_output=True).returncode != 0:
        raise SystemExit(f"{PY} has no hf_xet: nothing would go through Xet")
    versions = subprocess.run([PY, "-c", "import huggingface_hub, importlib.metadata as m; "
                                         "print(huggingface_hub.__version__, m.version('hf_xet'))"],
                              capture_output=True, text=True).stdout.split()
    out = ROOT / "bench/results" / time.strftime("%Y-%m-%d")
    out.mkdir(parents=True, exist_ok=True)
    # A rerun with --only replaces its sections in the day's xet.json and keeps the others.
    merged = json.loads((out / "xet.json").read_text()) if (out / "xet.json").exists() else {}
    results: dict = {"machine": sh("uname -srm").strip(), "cpus": os.cpu_count(),
                     "started": time.strftime("%Y-%m-%d %H:%M:%S"), "uptime_before": sh("uptime").strip(),
                     "huggingface_hub": versions[0] if versions else "?", "hf_xet": versions[1] if len(versions) > 1 else "?",
                     "binary": BIN}
    try:
        if "rss" in only:
            bench_rss(work, args.rss_gib, results)
        if "dedup" in only:
            bench_dedup(work, results)
        if "updown" in only:
            bench_updown(work, args.rounds, results)
    finally:
        results["uptime_after"] = sh("uptime").strip()
        results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        for section in ("updown", "dedup", "rss"):
            if section in results:
                results[section + "_run"] = {k: results[k] for k in ("started", "finished", "uptime_before",
                                                                       "uptime_after")}
        merged.update(results)
        results = merged
        (out / "xet.json").write_text(json.dumps(results, indent=2))
    md = summary(results)
    (out / "xet.md").write_text(f"# Xet benchmarks, {results['started']}\n\n{results['machine']}, {results['cpus']} CPUs, "
                                f"huggingface_hub {results['huggingface_hub']}, hf_xet {results['hf_xet']}\n\n{md}\n")
    print(md)
    print(f"\nraw results: {out}/xet.json", file=sys.stderr)


if __name__ == "__main__":
    main()
