#!/usr/bin/env bash
# Before/after runs of the HTTP service benchmark: builds of
# backburner/examples/http_service.rs under wrk (2 threads, 32
# connections), interleaved, the order reversed every other round, each
# candidate's req/s over the rounds and the median of its per-round ratios
# to the first candidate (the baseline, normally BB_MODE=none).
#
#   scripts/bench-http-ab.sh ROUNDS DURATION LABEL=BINARY:MODE ...
#   scripts/bench-http-ab.sh 5 8s none=/tmp/old:none before=/tmp/old:ff after=/tmp/new:ff
#
# BINARY may be a script that sets BB_SINK=null and runs the example.
set -euo pipefail
. "$(dirname "$0")/http-lib.sh"
ROUNDS=${1:?rounds}
DUR=${2:?duration, as wrk takes it (8s)}
shift 2
[ $# -ge 2 ] || { echo "give a baseline and at least one candidate, LABEL=BINARY:MODE" >&2; exit 2; }
PORT=${PORT:-38127}
need_wrk
OUT=$(mktemp -d)
post_lua "$OUT/post.lua"
specs=("$@")
for r in $(seq 1 "$ROUNDS"); do
    order=("${specs[@]}")
    if (( r % 2 == 0 )); then order=(); for ((i=${#specs[@]}-1; i>=0; i--)); do order+=("${specs[$i]}"); done; fi
    for s in "${order[@]}"; do
        label=${s%%=*}; rest=${s#*=}; bin=${rest%%:*}; mode=${rest#*:}
        BB_MODE=$mode "$bin" "127.0.0.1:$PORT" "$OUT/$label.$r.db" 2>"$OUT/$label.$r.log" &
        pid=$!
        wait_health "$PORT"
        wrk -t2 -c32 -d"$DUR" --latency -s "$OUT/post.lua" "http://127.0.0.1:$PORT/events" >"$OUT/$label.$r.wrk"
        kill -TERM "$pid"
        wait "$pid" || { echo "$label did not end cleanly: see $OUT/$label.$r.log"; exit 1; }
        echo "$label $r $(awk '/Requests\/sec/ {print $2}' "$OUT/$label.$r.wrk")" >>"$OUT/results"
    done
done
python3 - "$OUT/results" "${specs[@]}" <<'PY'
import statistics, sys
res = {}
for line in open(sys.argv[1]):
    label, r, v = line.split()
    res.setdefault(label, {})[int(r)] = float(v)
labels = [s.split("=")[0] for s in sys.argv[2:]]
base = labels[0]
for l in labels:
    v = list(res[l].values())
    rat = [res[l][r] / res[base][r] for r in res[l]]
    print(f"{l:12} req/s median {statistics.median(v):9,.0f} ({min(v):,.0f}-{max(v):,.0f})  "
          f"÷ {base}: median {statistics.median(rat):.3f} (rounds: {' '.join(f'{x:.2f}' for x in rat)})")
PY
echo "files: $OUT"
