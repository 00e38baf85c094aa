#!/usr/bin/env bash
# The one command that runs Gatehouse's whole test suite:
#
#   ./scripts/test.sh                 # everything: rust, fuzz, compat (sqlite + postgres), e2e, upstream
#   ./scripts/test.sh rust            # cargo nextest run --workspace (cargo test if nextest is missing)
#   ./scripts/test.sh compat          # build the binary, compat suite on sqlite and on postgres
#   ./scripts/test.sh compat-sqlite   # ... only sqlite (or compat-postgres)
#   ./scripts/test.sh compat-1x       # the gating tests with huggingface_hub 1.x (the older list shape), sqlite
#   ./scripts/test.sh e2e             # build the binary, the web pages in headless Chromium (tests/e2e/run.sh)
#   ./scripts/test.sh upstream        # build the binary, huggingface_hub's own tests against a seeded server
#   ./scripts/test.sh fuzz            # the Xet parsers under libFuzzer, FUZZ_SECS (default 30) per target
#   ./scripts/test.sh compat -- -k refs -x   # extra pytest args for the compat stages after --
#
# Environment:
#   GATEHOUSE_VENV     Python venv to create/reuse (default: <repo>/.venv) with huggingface_hub, pytest, httpx
#   GATEHOUSE_SHARED   shared/ folder holding upstream-hfhub/ (default: <repo>/../shared, else /work/shared)
#   GATEHOUSE_BIN      use this server binary instead of building target/debug/gatehouse
#   HF_HUB_VERSION     client version for the upstream harness (default 1.28.0)
#   UPSTREAM_THRESHOLD minimum upstream pass rate (default 0.9)
#
# Exits non-zero if any Rust or compat test fails, the binary does not build, or the upstream pass rate is
# below the threshold. Ends with a summary block whose last line is `upstream: N passed, M failed, K skipped`
# (also written to target/upstream-summary.txt).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${GATEHOUSE_VENV:-$ROOT/.venv}"
# The steering folder sits beside the repository; a clone made elsewhere (CI) finds it at /work/shared.
SHARED="${GATEHOUSE_SHARED:-$ROOT/../shared}"
[ -d "$SHARED/upstream-hfhub" ] || [ ! -d /work/shared/upstream-hfhub ] || SHARED=/work/shared
LOGS="$ROOT/target/test-logs"
mkdir -p "$LOGS"
export HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_UPDATE_CHECK=1 CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# ---- stage selection ---------------------------------------------------------------------------------
STAGES=()
PYTEST_EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; PYTEST_EXTRA=("$@"); break ;;
    all) STAGES+=(rust fuzz compat-sqlite compat-postgres compat-1x e2e upstream) ;;
    rust|fuzz|compat-sqlite|compat-postgres|compat-1x|e2e|upstream) STAGES+=("$1") ;;
    compat) STAGES+=(compat-sqlite compat-postgres) ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "unknown stage '$1' (rust|fuzz|compat|compat-sqlite|compat-postgres|compat-1x|e2e|upstream|all)" >&2; exit 2 ;;
  esac
  shift
done
[ ${#STAGES[@]} -eq 0 ] && STAGES=(rust fuzz compat-sqlite compat-postgres compat-1x e2e upstream)
want() { local s; for s in "${STAGES[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

declare -A RESULT   # stage -> "passed failed skipped note"
ORDER=()
FAILED_STAGES=()
record() { # stage passed failed skipped ok(0/1) note...
  local stage=$1 p=$2 f=$3 s=$4 ok=$5; shift 5
  RESULT[$stage]="$p $f $s $*"
  ORDER+=("$stage")
  [ "$ok" = 0 ] || FAILED_STAGES+=("$stage")
}
banner() { printf '\n==================== %s ====================\n' "$*"; }

# ---- python venv -------------------------------------------------------------------------------------
ensure_venv() {
  local py="$VENV/bin/python" stamp="$VENV/.gatehouse-deps"
  if ! "$py" -c 'import huggingface_hub, pytest, httpx, pytest_timeout' 2>/dev/null; then
    banner "python venv ($VENV)"
    python3 -m venv "$VENV" || { echo "python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; return 1; }
    "$py" -m pip install -q --upgrade pip || true
    "$py" -m pip install -q --upgrade huggingface_hub pytest httpx pytest-timeout || return 1
    touch "$stamp"
  elif [ -z "$(find "$stamp" -mmin -1440 2>/dev/null)" ]; then
    # reused venv: keep huggingface_hub the newest at most a day old (offline is fine: keep what we have)
    "$py" -m pip install -q --upgrade huggingface_hub pytest httpx pytest-timeout 2>/dev/null && touch "$stamp" || true
  fi
  "$py" -c 'import huggingface_hub, hf_xet, sys; print(f"huggingface_hub {huggingface_hub.__version__}, hf_xet {getattr(hf_xet, \"__version__\", \"?\")}, python {sys.version.split()[0]}")' 2>/dev/null \
    || "$py" -c 'import huggingface_hub; print("huggingface_hub", huggingface_hub.__version__, "(no hf_xet)")'
}

# ---- rust --------------------------------------------------------------------------------------------
run_rust() {
  banner "rust: workspace tests"
  local log="$LOGS/rust.log" rc p=0 f=0 s=0
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast --no-tests=warn 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}
    # "Summary [ 12.3s] 120 tests run: 118 passed, 1 failed, 1 timed out, 3 skipped"
    read -r p f s <<<"$(grep -E '^ *Summary \[' "$log" | tail -1 | awk '{
      for (i = 2; i <= NF; i++) { w = $i; gsub(/[,:]/, "", w)
        if (w == "passed") p += $(i-1); else if (w == "failed") f += $(i-1);
        else if (w == "timed" && $(i+1) ~ /^out/) f += $(i-1); else if (w == "skipped") s += $(i-1) }
    } END { print p+0, f+0, s+0 }')"
  else
    echo "(cargo-nextest not found: using cargo test)"
    cargo test --workspace --no-fail-fast 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}
    # "test result: ok. 5 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out"
    read -r p f s <<<"$(grep -E '^test result:' "$log" | awk '{
      for (i = 2; i <= NF; i++) { w = $i; gsub(/[;,]/, "", w)
        if (w == "passed") p += $(i-1); else if (w == "failed") f += $(i-1); else if (w == "ignored") s += $(i-1) }
    } END { print p+0, f+0, s+0 }')"
  fi
  p=${p:-0}; f=${f:-0}; s=${s:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; record rust "$p" "$f" "$s" 1 "(exit $rc: build or runner error, see $log)"; return; fi
  record rust "$p" "$f" "$s" $(( rc != 0 )) ""
}

# ---- fuzz --------------------------------------------------------------------------------------------
run_fuzz() {
  banner "fuzz: Xet xorb and shard parsers, ${FUZZ_SECS:-30}s per target"
  if "$ROOT/scripts/fuzz.sh" "${FUZZ_SECS:-30}" 2>&1 | tee "$LOGS/fuzz.log"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
    record fuzz 2 0 0 0 "(targets xorb, shard: no crash)"
  else
    record fuzz 0 1 0 1 "(see $LOGS/fuzz.log)"
  fi
}

# ---- binary ------------------------------------------------------------------------------------------
BIN_OK=""
build_binary() {
  [ -n "$BIN_OK" ] && return "$BIN_OK"
  if [ -n "${GATEHOUSE_BIN:-}" ]; then
    [ -x "$GATEHOUSE_BIN" ] && BIN_OK=0 || { echo "GATEHOUSE_BIN=$GATEHOUSE_BIN is not executable" >&2; BIN_OK=1; }
    return "$BIN_OK"
  fi
  banner "build: cargo build -p gatehouse --bin gatehouse"
  if cargo build -p gatehouse --bin gatehouse 2>&1 | tee "$LOGS/build.log"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
    export GATEHOUSE_BIN="$ROOT/target/debug/gatehouse"; BIN_OK=0
  else
    BIN_OK=1
  fi
  return "$BIN_OK"
}

# ---- compat ------------------------------------------------------------------------------------------
run_compat() { # sqlite|postgres
  local db=$1 stage="compat-$1" junit="$ROOT/target/compat-$1.xml" rc
  banner "$stage: huggingface_hub + hf CLI against gatehouse ($db)"
  if ! ensure_venv; then record "$stage" 0 1 0 1 "(python venv could not be set up)"; return; fi
  if ! build_binary; then record "$stage" 0 1 0 1 "(gatehouse binary did not build, see $LOGS/build.log)"; return; fi
  rm -f "$junit"
  COMPAT_DATABASE="$db" "$VENV/bin/python" -m pytest -c "$ROOT/tests/compat/pytest.ini" "$ROOT/tests/compat" \
    --junitxml="$junit" -o junit_family=xunit1 "${PYTEST_EXTRA[@]}" 2>&1 | tee "$LOGS/$stage.log"
  rc=${PIPESTATUS[0]}
  local counts
  counts="$(junit_counts "$junit")" || counts="0 1 0"
  read -r p f s <<<"$counts"
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then record "$stage" "$p" 1 "$s" 1 "(pytest exit $rc)"; return; fi
  if [ $((p + f)) -eq 0 ]; then record "$stage" 0 1 "$s" 1 "(no test ran)"; return; fi
  record "$stage" "$p" "$f" "$s" $(( rc != 0 )) ""
}

junit_counts() {
  [ -f "$1" ] || return 1
  python3 - "$1" <<'EOF'
import sys, xml.etree.ElementTree as ET
p = f = s = 0
for case in ET.parse(sys.argv[1]).iter("testcase"):
    tags = {c.tag for c in case}
    if tags & {"failure", "error"}: f += 1
    elif "skipped" in tags: s += 1
    else: p += 1
print(p, f, s)
EOF
}

# ---- compat with huggingface_hub 1.x ----------------------------------------------------------------
# 1.x reads access requests in an older shape (user.user and user.fullname required, no requestId); the
# gating tests run against the newest 1.x release in a venv of their own.
run_compat_1x() {
  local stage=compat-1x venv="${GATEHOUSE_VENV_1X:-$ROOT/.venv-hf1}" junit="$ROOT/target/compat-1x.xml" rc
  banner "$stage: the gating tests with huggingface_hub 1.x (sqlite)"
  if ! "$venv/bin/python" -c 'import huggingface_hub, pytest, httpx, pytest_timeout' 2>/dev/null; then
    python3 -m venv "$venv" && "$venv/bin/python" -m pip install -q --upgrade pip \
      && "$venv/bin/python" -m pip install -q "huggingface_hub<2" pytest httpx pytest-timeout \
      || { record "$stage" 0 1 0 1 "(could not set up $venv)"; return; }
  fi
  "$venv/bin/python" -c 'import huggingface_hub; print("huggingface_hub", huggingface_hub.__version__)'
  if ! build_binary; then record "$stage" 0 1 0 1 "(gatehouse binary did not build, see $LOGS/build.log)"; return; fi
  rm -f "$junit"
  COMPAT_DATABASE=sqlite "$venv/bin/python" -m pytest -c "$ROOT/tests/compat/pytest.ini" "$ROOT/tests/compat/test_gating.py" \
    --junitxml="$junit" -o junit_family=xunit1 "${PYTEST_EXTRA[@]}" 2>&1 | tee "$LOGS/$stage.log"
  rc=${PIPESTATUS[0]}
  local counts p f s
  counts="$(junit_counts "$junit")" || counts="0 1 0"
  read -r p f s <<<"$counts"
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then record "$stage" "$p" 1 "$s" 1 "(pytest exit $rc)"; return; fi
  if [ $((p + f)) -eq 0 ]; then record "$stage" 0 1 "$s" 1 "(no test ran)"; return; fi
  record "$stage" "$p" "$f" "$s" $(( rc != 0 )) ""
}

# ---- e2e ---------------------------------------------------------------------------------------------
run_e2e() {
  banner "e2e: the web pages in headless Chromium"
  local log="$LOGS/e2e.log" rc p f s
  if ! ensure_venv; then record e2e 0 1 0 1 "(python venv could not be set up)"; return; fi
  if ! build_binary; then record e2e 0 1 0 1 "(gatehouse binary did not build, see $LOGS/build.log)"; return; fi
  GATEHOUSE_VENV="$VENV" "$ROOT/tests/e2e/run.sh" 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}
  # node --test's spec reporter ends with "ℹ pass N", "ℹ fail N", "ℹ skipped N"
  p=$(grep -E '^ℹ pass [0-9]+' "$log" | tail -1 | awk '{print $3}'); f=$(grep -E '^ℹ fail [0-9]+' "$log" | tail -1 | awk '{print $3}')
  s=$(grep -E '^ℹ skipped [0-9]+' "$log" | tail -1 | awk '{print $3}')
  p=${p:-0}; f=${f:-0}; s=${s:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then record e2e "$p" 1 "$s" 1 "(exit $rc, see $log)"; return; fi
  if [ $((p + f)) -eq 0 ]; then record e2e 0 1 "$s" 1 "(no test ran)"; return; fi
  record e2e "$p" "$f" "$s" $(( rc != 0 )) "(screenshots in docs/screenshots/)"
}

# ---- upstream ----------------------------------------------------------------------------------------
run_upstream() {
  banner "upstream: huggingface_hub's own tests against a fresh seeded gatehouse"
  local summary="$ROOT/target/upstream-summary.txt" harness="$SHARED/upstream-hfhub" rc
  rm -f "$summary"
  if ! ensure_venv; then record upstream 0 0 0 1 "(python venv could not be set up)"; return; fi
  if ! build_binary; then
    echo "upstream: 0 passed, 0 failed, 0 skipped (gatehouse did not build)" >"$summary"
    record upstream 0 0 0 1 "(gatehouse binary did not build)"; return
  fi
  "$VENV/bin/python" "$ROOT/scripts/upstream.py" --bin "$GATEHOUSE_BIN" --harness "$harness" \
    --summary "$summary" --threshold "${UPSTREAM_THRESHOLD:-0.9}" 2>&1 | tee "$LOGS/upstream.log"
  rc=${PIPESTATUS[0]}
  local line
  line="$(grep -m1 -E '^upstream: [0-9]+ passed' "$summary" 2>/dev/null)"
  read -r p f s <<<"$(sed -E 's/^upstream: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped.*/\1 \2 \3/' <<<"${line:-upstream: 0 passed, 0 failed, 0 skipped}")"
  record upstream "$p" "$f" "$s" $(( rc != 0 )) "$(sed -n 2p "$summary" 2>/dev/null)"
}

# ---- run ---------------------------------------------------------------------------------------------
START=$(date +%s)
want rust && run_rust
want fuzz && run_fuzz
want compat-sqlite && run_compat sqlite
want compat-postgres && run_compat postgres
want compat-1x && run_compat_1x
want e2e && run_e2e
want upstream && run_upstream

banner "summary ($(( $(date +%s) - START ))s)"
for stage in "${ORDER[@]}"; do
  [ "$stage" = upstream ] && continue
  read -r p f s note <<<"${RESULT[$stage]}"
  printf '%s: %s passed, %s failed, %s skipped %s\n' "$stage" "$p" "$f" "$s" "$note"
done
if [ ${#FAILED_STAGES[@]} -eq 0 ]; then
  echo "verdict: PASS (${ORDER[*]})"
else
  echo "verdict: FAIL (${FAILED_STAGES[*]})"
fi
if [ -n "${RESULT[upstream]:-}" ]; then
  read -r p f s note <<<"${RESULT[upstream]}"
  [ -n "$note" ] && echo "$note"
  echo "upstream: $p passed, $f failed, $s skipped"
fi
[ ${#FAILED_STAGES[@]} -eq 0 ]
