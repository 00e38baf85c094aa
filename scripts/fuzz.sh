#!/usr/bin/env bash
# Fuzzes the Xet parsers (crates/xet) with libFuzzer, for a bounded time, on stable Rust:
#
#   ./scripts/fuzz.sh            # every target, 30 s each
#   ./scripts/fuzz.sh 300        # every target, 300 s each
#   FUZZ_TARGETS=shard ./scripts/fuzz.sh 60
#
# Targets live in fuzz/ (a cargo project of its own, outside the workspace): `xorb` (XorbValidator over arbitrary
# bytes split at arbitrary points, XorbIndex::from_bytes) and `shard` (Shard::parse; what parses re-serializes and
# re-parses equal). No nightly and no cargo-fuzz: the sanitizer-coverage instrumentation libFuzzer needs is asked for
# with stable `-C passes` / `-C llvm-args` flags, and libfuzzer-sys builds libFuzzer itself (needs a C++ compiler).
# What stable cannot give is AddressSanitizer (-Zsanitizer); the code under test has no `unsafe` of its own.
#
# Seeds are regenerated each run into fuzz/target/seeds/ from the captured client vectors and our encoders
# (fuzz/gen_seeds.rs); inputs libFuzzer finds interesting accumulate in fuzz/corpus/<target>/ (not committed).
# Exits non-zero if a target crashes, panics, leaks past the RSS limit or hangs; the input is kept in
# fuzz/artifacts/<target>/ and the reproduction command is printed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ="$ROOT/fuzz"
SECS="${1:-30}"
TARGETS="${FUZZ_TARGETS:-xorb shard}"
case "$SECS" in ''|*[!0-9]*) echo "usage: $0 [seconds per target]" >&2; exit 2 ;; esac

# An explicit --target keeps the instrumentation off build scripts and proc macros, and keeps these artefacts apart
# from the plain build of gen-seeds.
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
SANCOV="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
SANCOV+=" -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table"
SANCOV+=" -Cllvm-args=-sanitizer-coverage-trace-compares"

echo "== seeds"
SEEDS="$FUZZ/target/seeds"
rm -rf "$SEEDS"
cargo run --quiet --release --no-default-features --manifest-path "$FUZZ/Cargo.toml" --bin gen-seeds -- "$SEEDS"

echo "== build ($TARGETS) with sanitizer coverage"
BINS=()
for t in $TARGETS; do BINS+=(--bin "$t"); done
RUSTFLAGS="$SANCOV" cargo build --release --manifest-path "$FUZZ/Cargo.toml" --target "$TRIPLE" "${BINS[@]}"

FAILED=()
for t in $TARGETS; do
  echo "== fuzz $t for ${SECS}s"
  mkdir -p "$FUZZ/corpus/$t" "$FUZZ/artifacts/$t"
  bin="$FUZZ/target/$TRIPLE/release/$t"
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a parse needing 2 GiB is a finding too.
  if ! "$bin" "$FUZZ/corpus/$t" "$SEEDS/$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$FUZZ/artifacts/$t/" -print_final_stats=1 2>"$FUZZ/target/fuzz-$t.log"; then
    tail -n 40 "$FUZZ/target/fuzz-$t.log" >&2
    FAILED+=("$t")
    echo "!! $t failed; reproduce with: $bin <file from fuzz/artifacts/$t/>" >&2
  else
    grep -E '^(stat::number_of_executed_units|stat::new_units_added|Done)|cov: ' "$FUZZ/target/fuzz-$t.log" | tail -n 4
  fi
done

if [ ${#FAILED[@]} -ne 0 ]; then
  echo "fuzz: FAILED (${FAILED[*]})"
  exit 1
fi
echo "fuzz: ok ($TARGETS, ${SECS}s each)"
