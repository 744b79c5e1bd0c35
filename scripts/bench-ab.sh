#!/usr/bin/env bash
# Before/after benchmark runs of two `backburner` binaries, interleaved
# (B A B A ...), for a redesign's before/after tables:
#
#   scripts/bench-ab.sh BEFORE_BINARY AFTER_BINARY [OUT_DIR]
#   PAIRS=7 BENCHES="store journal log" scripts/bench-ab.sh ...
#   python3 scripts/bench-ab-table.py OUT_DIR
#
# Build each binary with `cargo build --release` in its own checkout
# (`git worktree add`). Each run is the benchmark with its defaults (its own
# candidates interleaved over 5 rounds).
set -euo pipefail
B=${1:?before binary}
A=${2:?after binary}
OUT=${3:-bench-ab}
PAIRS=${PAIRS:-7}
mkdir -p "$OUT"
for bench in ${BENCHES:-store journal log}; do
  for i in $(seq 1 "$PAIRS"); do
    "$B" bench "$bench" > "$OUT/$bench.before.$i.txt" 2>&1
    "$A" bench "$bench" > "$OUT/$bench.after.$i.txt" 2>&1
  done
done
echo "done: $OUT"
