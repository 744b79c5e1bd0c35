#!/usr/bin/env bash
# Where the CPU of the HTTP service benchmark goes, per thread: runs
# backburner/examples/http_service.rs in one BB_MODE under wrk (2 threads,
# 32 connections) and prints, for each of the service's threads, the CPU
# it used over the middle of the run (from /proc/PID/task/*/stat) and its
# context switches, then the CPU per request; the store's batch figures
# are in the service's last log line.
#
#   scripts/http-cpu.sh ff          # or none, await, writer, blocking; DURATION=8
#   BB_SINK=null scripts/http-cpu.sh await   # the same over a sink that stores nothing
set -euo pipefail
. "$(dirname "$0")/http-lib.sh"
cd "$(dirname "$0")/.."
MODE=${1:-ff}
DURATION=${DURATION:-8}
PORT=${PORT:-38124}
need_wrk
# BIN=path runs another build of the example (a before/after comparison).
if [ -z "${BIN:-}" ]; then
    cargo build -q --release -p backburner --features tracing --example http_service
    BIN=target/release/examples/http_service
fi
OUT=$(mktemp -d)
post_lua "$OUT/post.lua"
BB_MODE=$MODE "$BIN" "127.0.0.1:$PORT" "$OUT/t.db" 2>"$OUT/service.log" &
pid=$!
wait_health "$PORT"
snap() {
    for t in /proc/$pid/task/*; do
        echo "$(tr ' ' '_' <"$t/comm")/${t##*/} $(awk '{print $14+$15}' "$t/stat") $(awk '/^(non)?voluntary_ctxt/ {s+=$2} END {print s}' "$t/status")"
    done | sort
}
wrk -t2 -c32 -d"${DURATION}s" -s "$OUT/post.lua" "http://127.0.0.1:$PORT/events" >"$OUT/wrk.txt" &
w=$!
sleep 1
snap >"$OUT/a"
sleep $((DURATION - 2))
snap >"$OUT/b"
wait $w
kill -TERM $pid
wait $pid
rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/wrk.txt")
hz=$(getconf CLK_TCK)
echo "mode $MODE: $rps requests/s"
join <(sort "$OUT/a") <(sort "$OUT/b") 2>/dev/null | awk -v hz="$hz" -v secs=$((DURATION - 2)) -v rps="$rps" '
    { name=$1; sub(/\/.*/, "", name); cpu=($4-$2)/hz; cs=$5-$3; tot[name]+=cpu; sw[name]+=cs }
    END { for (n in tot) if (tot[n] > 0) printf "  %-18s %5.2f CPUs  %6.2f us per request  %7d switches/s\n", n, tot[n]/secs, tot[n]/secs/rps*1e6, sw[n]/secs }'
tail -1 "$OUT/service.log"
