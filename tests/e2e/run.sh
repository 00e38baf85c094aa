#!/usr/bin/env bash
# End-to-end browser tests of the web UI, in headless Chromium (works from any directory):
#
#   tests/e2e/run.sh                    # all tests
#   tests/e2e/run.sh --test-name-pattern=two-factor   # extra arguments go to `node --test`
#
# Environment:
#   GATEHOUSE_BIN    server binary (default: <repo>/target/debug/gatehouse; build it first with
#                    `cargo build -p gatehouse --bin gatehouse`)
#   GATEHOUSE_VENV   Python venv with huggingface_hub (default: <repo>/.venv, as scripts/test.sh makes it)
#   CHROMIUM         browser executable (default: /usr/bin/chromium, installed from Debian if missing)
#
# Screenshots of the main pages are written to docs/screenshots/. Exit code: the tests' result.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
export GATEHOUSE_BIN="${GATEHOUSE_BIN:-$ROOT/target/debug/gatehouse}"
export GATEHOUSE_VENV="${GATEHOUSE_VENV:-$ROOT/.venv}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$CHROMIUM" ]; then
  if [ "$CHROMIUM" != /usr/bin/chromium ]; then echo "CHROMIUM=$CHROMIUM is not executable" >&2; exit 2; fi
  echo "installing chromium (Debian package)..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
[ -x "$GATEHOUSE_BIN" ] || { echo "no server binary at $GATEHOUSE_BIN (cargo build -p gatehouse --bin gatehouse)" >&2; exit 2; }
[ -x "$GATEHOUSE_VENV/bin/python" ] || { echo "no Python venv at $GATEHOUSE_VENV (python3 -m venv \"$GATEHOUSE_VENV\" && \"$GATEHOUSE_VENV/bin/pip\" install huggingface_hub)" >&2; exit 2; }

cd "$HERE"
# playwright-core only drives the system browser; it never downloads one.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi

# One file at a time: each starts its own server and browser.
exec node --test --test-reporter=spec --test-concurrency=1 "$@" ./*.test.mjs
