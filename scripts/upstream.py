#!/usr/bin/env python3
"""Run huggingface_hub's own (upstream) tests against a freshly started, seeded Gatehouse.

    scripts/upstream.py --bin target/debug/gatehouse --harness ../shared/upstream-hfhub \
        [--summary target/upstream-summary.txt] [--threshold 0.9] [-- extra run_upstream.sh args]

1. starts `gatehouse serve` on a free port with a temporary data dir (SQLite, or PostgreSQL when
   GATEHOUSE_DATABASE_URL is set in the environment);
2. seeds the identities the upstream tests assume with the admin CLI: user `__DUMMY_TRANSFORMERS_USER__`
   ("Dummy User") in org `valid_org_hub` ("Dummy Hub Org"), user `DVUser`, and `EnterpriseAdmin` admin of
   `EnterpriseOrgPrivate`; write tokens for each are handed to the harness (UPSTREAM_* overrides);
3. runs `run_upstream.sh <endpoint>` (HF_HUB_VERSION defaults to the harness's 1.28.0);
4. stops the server (SIGTERM), writes the summary file and prints `upstream: N passed, M failed, K skipped`
   as its last line.

Exit status: 0 if passed >= threshold x in-scope tests (passed + failed + skipped), 1 if below, 2 if the harness
or the server could not run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUMMARY_RE = re.compile(r"^upstream: (\d+) passed, (\d+) failed, (\d+) skipped")

USER, FULL_NAME = "__DUMMY_TRANSFORMERS_USER__", "Dummy User"
FALLBACK_USER = "dummy-transformers-user"
ORG, ORG_FULL_NAME = "valid_org_hub", "Dummy Hub Org"
OTHER_USER = "DVUser"
ENTERPRISE_USER, ENTERPRISE_ORG = "EnterpriseAdmin", "EnterpriseOrgPrivate"


def log(msg: str) -> None:
    print(f"[upstream] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(proc: subprocess.Popen, endpoint: str, log_path: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gatehouse serve exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(endpoint + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.2)
    raise RuntimeError(f"no 200 from {endpoint}/healthz after {timeout}s:\n{log_path.read_text()[-4000:]}")


# What run_upstream.sh installs, plus the few test-only extras of `huggingface_hub[testing]` that in-scope tests
# import (test_hub_mixin's push_to_hub renders a model card: Jinja2). run_upstream.sh reuses a venv that has them.
UPSTREAM_DEPS = ["pytest>=8.4.2", "pytest-mock", "pytest-timeout", "jedi", "Jinja2"]


def prepare_venv(venv: Path, version: str) -> None:
    py = venv / "bin" / "python"
    probe = ("import sys, huggingface_hub, pytest_mock, pytest_timeout, jedi, jinja2; "
             f"sys.exit(huggingface_hub.__version__ != {version!r})")
    if py.exists() and subprocess.run([str(py), "-c", probe], capture_output=True).returncode == 0:
        return
    log(f"creating venv {venv} (huggingface_hub=={version})")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=False)
    subprocess.run([str(py), "-m", "pip", "install", "-q", f"huggingface_hub=={version}", *UPSTREAM_DEPS], check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("GATEHOUSE_BIN", str(ROOT / "target/debug/gatehouse")))
    ap.add_argument("--harness", required=True, help="directory holding run_upstream.sh")
    ap.add_argument("--summary", default=str(ROOT / "target/upstream-summary.txt"))
    ap.add_argument("--workdir", default=str(ROOT / "target/upstream-work"))
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--keep-data", action="store_true")
    ap.add_argument("harness_args", nargs="*")
    args = ap.parse_args()

    summary_path = Path(args.summary)
    summary_path.parent.mkdir(parents=True, exist_ok=True)

    def fail(msg: str) -> int:
        line = "upstream: 0 passed, 0 failed, 0 skipped"
        summary_path.write_text(f"{line}\nerror: {msg}\n")
        log(msg)
        print(line)
        return 2

    runner = Path(args.harness) / "run_upstream.sh"
    if not runner.is_file():
        return fail(f"harness not found: {runner} (set GATEHOUSE_SHARED)")
    binary = Path(args.bin)
    if not binary.is_file():
        return fail(f"gatehouse binary not found: {binary}")

    data_dir = Path(tempfile.mkdtemp(prefix="gh-upstream-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_") or k == "GATEHOUSE_DATABASE_URL"}
    env["GATEHOUSE_DATA_DIR"] = str(data_dir)
    env.setdefault("RUST_LOG", "info")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log_path = data_dir / "server.log"
    server_log = open(log_path, "wb")
    proc = subprocess.Popen([str(binary), "serve", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}"],
                            env=env, stdout=server_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def cli(*a: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([str(binary), *a], env=env, capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError(f"gatehouse {' '.join(a)} -> {r.returncode}: {r.stderr.strip()}")
        return r

    def token(user: str) -> str:
        return cli("token", "create", user, "--role", "write", "--name", "upstream").stdout.strip()

    rc = 2
    try:
        wait_healthy(proc, endpoint, log_path)
        hv = {}
        user = USER
        if cli("user", "create", USER, "--email", "dummy@example.com", "--full-name", FULL_NAME,
               check=False).returncode != 0:
            log(f"server refused user {USER!r}; falling back to {FALLBACK_USER!r}")
            user = FALLBACK_USER
            cli("user", "create", user, "--email", "dummy@example.com", "--full-name", FULL_NAME)
        # Always pass the name: the upstream constant differs between versions (1.28.0: __DUMMY_HUB_USER__).
        hv["UPSTREAM_USER"] = user
        cli("org", "create", ORG, "--admin", user, "--full-name", ORG_FULL_NAME)
        cli("user", "create", OTHER_USER, "--email", "dvuser@example.com", "--full-name", "DV User")
        hv.update(UPSTREAM_FULL_NAME=FULL_NAME, UPSTREAM_TOKEN=token(user), UPSTREAM_OTHER_USER=OTHER_USER,
                  UPSTREAM_OTHER_TOKEN=token(OTHER_USER))
        try:  # optional: used by one out-of-core test only
            cli("user", "create", ENTERPRISE_USER, "--email", "enterprise@example.com", "--full-name", "Enterprise")
            cli("org", "create", ENTERPRISE_ORG, "--admin", ENTERPRISE_USER, "--full-name", "Enterprise Org")
            hv.update(UPSTREAM_ENTERPRISE_USER=ENTERPRISE_USER, UPSTREAM_ENTERPRISE_ORG=ENTERPRISE_ORG,
                      UPSTREAM_ENTERPRISE_TOKEN=token(ENTERPRISE_USER))
        except RuntimeError as e:
            log(f"enterprise identity not seeded (optional): {e}")

        version = os.environ.get("HF_HUB_VERSION", "1.28.0")
        henv = dict(os.environ)
        henv.update(hv)
        henv["HF_HUB_VERSION"] = version
        henv.setdefault("UPSTREAM_VENV", str(ROOT / "target" / f"upstream-venv-{version}"))
        prepare_venv(Path(henv["UPSTREAM_VENV"]), version)
        cmd = [str(runner), endpoint, "--workdir", args.workdir, *args.harness_args]
        log(f"server {endpoint} (data {data_dir}); huggingface_hub {version}; running {' '.join(cmd)}")
        out_lines: list[str] = []
        p = subprocess.Popen(cmd, env=henv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             stdin=subprocess.DEVNULL)
        assert p.stdout is not None
        for line in p.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            out_lines.append(line.rstrip("\n"))
        p.wait()
        found = [SUMMARY_RE.match(line) for line in out_lines]
        found = [m for m in found if m]
        if not found or "harness error" in out_lines[-1] or p.returncode not in (0, 1):
            return fail(f"the harness did not produce a summary (exit {p.returncode})")
        passed, failed, skipped = (int(x) for x in found[-1].groups())
        total = passed + failed + skipped
        rate = passed / total if total else 0.0
        ok = total > 0 and rate >= args.threshold
        line = f"upstream: {passed} passed, {failed} failed, {skipped} skipped"
        tail = []
        if any(line_.startswith("per file") for line_ in out_lines):
            start = max(i for i, line_ in enumerate(out_lines) if line_.startswith("per file"))
            tail = out_lines[start:-1]
        summary_path.write_text(
            f"{line}\n"
            f"pass rate: {rate:.1%} of {total} in-scope tests (threshold {args.threshold:.0%}): "
            f"{'OK' if ok else 'BELOW THRESHOLD'}\n"
            f"huggingface_hub {version}; details: {args.workdir}/results.json\n" + "\n".join(tail) + "\n")
        log(f"pass rate {rate:.1%} of {total} (threshold {args.threshold:.0%}) -> {'ok' if ok else 'FAIL'}")
        print(line)
        rc = 0 if ok else 1
        return rc
    except Exception as e:  # noqa: BLE001
        return fail(f"{type(e).__name__}: {e}")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        server_log.close()
        if args.keep_data or rc != 0:
            log(f"server data and log kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
