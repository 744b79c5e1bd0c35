#!/usr/bin/env bash
# The HTTP service benchmark of issue 10: backburner/examples/http_service.rs
# driven by wrk on 127.0.0.1, five ways to write per POST, interleaved over
# ROUNDS rounds (the order reversed every other round):
#   none     no write (the HTTP stack's own ceiling)
#   ff       backburner, fire and forget (room awaited with a permit)
#   await    backburner, awaiting the commit
#   writer   one awaited INSERT per request on a single writer thread
#   blocking one autocommit INSERT per request in spawn_blocking
# After each run the rows in SQLite are counted against the 2xx answers.
# CEILINGS=1 adds two rows that bound what any sink could reach:
#   ff-null    fire and forget into a sink that stores nothing (BB_SINK=null)
#   await-null awaiting the commit of such a sink
# (their writes are counted from the store's own `committed` figure).
#
#   scripts/bench-http.sh            # ROUNDS=3 DURATION=15s THREADS=2 CONNS=32
#   CEILINGS=1 ROUNDS=5 DURATION=8s scripts/bench-http.sh
set -euo pipefail
. "$(dirname "$0")/http-lib.sh"
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-15s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
PORT=${PORT:-38123}
need_wrk
cargo build -q --release -p backburner --features tracing --example http_service
BIN=target/release/examples/http_service
OUT=$(mktemp -d)
post_lua "$OUT/post.lua"
MODES=(none ff await writer blocking)
if [ "${CEILINGS:-0}" = 1 ]; then MODES+=(ff-null await-null); fi
for r in $(seq 1 "$ROUNDS"); do
    order=("${MODES[@]}")
    if (( r % 2 == 0 )); then order=(); for ((i=${#MODES[@]}-1; i>=0; i--)); do order+=("${MODES[$i]}"); done; fi
    for mode in "${order[@]}"; do
        db="$OUT/$mode.$r.db"
        sink=sqlite
        case $mode in *-null) sink=null ;; esac
        BB_MODE=${mode%-null} BB_SINK=$sink "$BIN" "127.0.0.1:$PORT" "$db" 2>"$OUT/$mode.$r.log" &
        pid=$!
        wait_health "$PORT"
        wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$OUT/post.lua" "http://127.0.0.1:$PORT/events" >"$OUT/$mode.$r.wrk"
        kill -TERM "$pid"
        wait "$pid" || { echo "the service ($mode) did not end cleanly: see $OUT/$mode.$r.log"; exit 1; }
        python3 - "$mode" "$db" "$OUT/$mode.$r.wrk" "$OUT/$mode.$r.log" >"$OUT/$mode.$r.rows" <<'PY'
import re, sqlite3, sys
mode, db, wrk, log = sys.argv[1:]
t = open(wrk).read()
total = int(re.search(r"(\d+) requests in", t).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
ok = total - (int(bad.group(1)) if bad else 0)
c = sqlite3.connect(db)
table = {"ff": "backburner_kv", "await": "backburner_kv", "writer": "events", "blocking": "events"}.get(mode)
if mode.endswith("-null"):
    # A sink that stores nothing: the store's own count of committed writes.
    table = "store"
    rows = int(re.findall(r"committed=(\d+)", open(log).read())[-1])
else:
    rows = c.execute(f"SELECT count(*) FROM {table}").fetchone()[0] if table else 0
# wrk stops mid-request at the end: a request answered after its count may
# have written; none may be missing.
missing = max(0, ok - rows) if table else 0
print(ok, rows, missing)
PY
        read -r ok rows missing <"$OUT/$mode.$r.rows"
        echo "round $r $mode: $(grep 'Requests/sec' "$OUT/$mode.$r.wrk" | tr -s ' ') 2xx=$ok rows=$rows missing=$missing"
        if [ "$missing" != 0 ]; then echo "ROWS MISSING in $mode round $r"; exit 1; fi
    done
done
python3 - "$OUT" "$ROUNDS" <<'PY'
import re, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def unit(v, u):
    return float(v) * {"us": 1e-3, "ms": 1, "s": 1e3}[u]
data = {}
import os
modes = ["none", "ff", "await", "writer", "blocking"] + [m for m in ["ff-null", "await-null"] if os.path.exists(f"{out}/{m}.1.wrk")]
for mode in modes:
    for r in range(1, rounds + 1):
        t = open(f"{out}/{mode}.{r}.wrk").read()
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
        p50 = unit(*re.search(r"50%\s+([\d.]+)(us|ms|s)", t).groups())
        p99 = unit(*re.search(r"99%\s+([\d.]+)(us|ms|s)", t).groups())
        data.setdefault(mode, []).append((rps, p50, p99))
names = {"none": "(e) no write", "ff": "(c) backburner, fire and forget", "await": "(d) backburner, awaiting the ticket",
         "writer": "(b) one awaited INSERT on a writer thread", "blocking": "(a) autocommit INSERT in spawn_blocking",
         "ff-null": "(c) into a sink that stores nothing", "await-null": "(d) from a sink that stores nothing"}
print(f"\nmedians over {rounds} interleaved rounds (ratio = median of per-round ratios to (e))")
print("| variant | req/s | p50 ms | p99 ms | req/s ÷ (e) | p99 ÷ (e) |")
print("|---|---|---|---|---|---|")
for mode in modes:
    rows = data[mode]
    med = lambda i: statistics.median(x[i] for x in rows)
    rr = statistics.median(x[0] / e[0] for x, e in zip(rows, data["none"]))
    pr = statistics.median(x[2] / e[2] for x, e in zip(rows, data["none"]))
    print(f"| {names[mode]} | {med(0):,.0f} | {med(1):.2f} | {med(2):.2f} | {rr:.2f} | {pr:.2f} |")
PY
echo "files: $OUT"
