#!/usr/bin/env bash
# Cache benchmark (wrk): the release binary on PostgreSQL + Redis with
# 100,000 products. Cached and uncached (CATALOG_CACHE=off) list, detail and
# stats at 100 connections, single-client latency, and the hit ratio of a
# Zipf-like mix of 1,000 list queries. Writes docs/benchmarks/cache.md.
#
# Usage: bash bench/cache.sh      (or: just bench cache)
# Environment: DURATION=10s CONNECTIONS=100 COUNT=100000 PG_USER=postgres
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/common.sh
source bench/common.sh

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-100}"
COUNT="${COUNT:-100000}"
PG_USER="${PG_USER:-postgres}"
PG_DB=catalog_bench_cache
PORT="${PORT:-18181}"
BASE="http://127.0.0.1:$PORT"
PREFIX="catalog_bench_$$"
OUT=docs/benchmarks/cache.md
BIN="$ROOT/target/release/catalog"
LOG="$ROOT/target/bench/cache-server.log"
mkdir -p "$ROOT/target/bench" docs/benchmarks

ensure_wrk

cargo build --release -q -p catalog

psql -X -q -h 127.0.0.1 -U "$PG_USER" -d postgres -tc "SELECT 1 FROM pg_database WHERE datname='$PG_DB'" | grep -q 1 \
    || createdb -h 127.0.0.1 -U "$PG_USER" "$PG_DB"
export DATABASE_URL="postgres://$PG_USER@127.0.0.1:5432/$PG_DB"
RUST_LOG=warn "$BIN" seed --count "$COUNT"

SERVER=""
cleanup() {
    [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
    redis-cli --scan --pattern "$PREFIX:*" | xargs -r -n 500 redis-cli del >/dev/null || true
}
trap cleanup EXIT

start() { # start CACHE_SETTING
    cleanup
    CATALOG_CACHE="$1" REDIS_URL=redis://127.0.0.1:6379 CATALOG_CACHE_PREFIX="$PREFIX" \
        CATALOG_SEED_COUNT=0 CATALOG_ADDR="127.0.0.1:$PORT" RUST_LOG=warn "$BIN" serve >"$LOG" 2>&1 &
    SERVER=$!
    for _ in $(seq 100); do curl -fs "$BASE/health" >/dev/null && return 0; sleep 0.1; done
    echo "server did not start; see $LOG" >&2
    exit 1
}

# run NAME CONNECTIONS WRK-ARGS... → "rps p50 p99" (ms)
run() {
    local name=$1 conns=$2
    shift 2
    local out
    local threads=2
    [ "$conns" -lt 2 ] && threads=1
    out=$(wrk -t"$threads" -c"$conns" -d"$DURATION" --latency "$@")
    echo "$out" >"$ROOT/target/bench/wrk-$name.txt"
    wrk_summary <<<"$out"
}


LIST="$BASE/api/v1/products?category=Books&sort=-price&limit=20"
STATS="$BASE/api/v1/products/stats"

declare -A R
for mode in on off; do
    start "$mode"
    # Warm: every detail id 1..1000 and the list/stats once.
    if [ "$mode" = on ]; then
        for id in $(seq 1000); do curl -fs -o /dev/null "$BASE/api/v1/products/$id"; done
        curl -fs -o /dev/null "$LIST"; curl -fs -o /dev/null "$STATS"
    fi
    R[list-$mode]=$(run "list-$mode" "$CONNECTIONS" "$LIST")
    R[detail-$mode]=$(run "detail-$mode" "$CONNECTIONS" -s bench/lua/detail.lua "$BASE" -- 1000)
    R[stats-$mode]=$(run "stats-$mode" "$CONNECTIONS" "$STATS")
    R[list1-$mode]=$(run "list1-$mode" 1 "$LIST")
    R[detail1-$mode]=$(run "detail1-$mode" 1 -s bench/lua/detail.lua "$BASE" -- 1000)
    R[stats1-$mode]=$(run "stats1-$mode" 1 "$STATS")
done

# The Zipf mix from a cold cache (warming covers only the default page).
start on
MIX=$(wrk -t2 -c"$CONNECTIONS" -d30s --latency -s bench/lua/cache_mix.lua "$BASE")
echo "$MIX" >"$ROOT/target/bench/wrk-mix.txt"
MIX_RATIO=$(awk '/^CACHE/ {sub("ratio=", "", $5); print $5}' <<<"$MIX")
MIX_LINE=$(awk '/^CACHE/' <<<"$MIX")
MIX_RPS=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$MIX")
MIX_P50=$(to_ms "$(awk '$1=="50%" {print $2}' <<<"$MIX")")
MIX_P99=$(to_ms "$(awk '$1=="99%" {print $2}' <<<"$MIX")")
cleanup
SERVER=""

row() { # label key
    read -r crps cp50 cp99 <<<"${R[$2-on]}"
    read -r urps up50 up99 <<<"${R[$2-off]}"
    local ratio
    ratio=$(awk -v a="$crps" -v b="$urps" 'BEGIN { if (b > 0) printf "%.1f×", a / b; else print "-" }')
    echo "| $1 | $crps | $cp50 | $cp99 | $urps | $up50 | $up99 | $ratio |"
}

{
    echo "# Cache benchmark"
    echo
    echo "Release binary on PostgreSQL $(psql -X -h 127.0.0.1 -U "$PG_USER" -d postgres -tAc 'SHOW server_version') + Redis $(redis-server --version | awk '{print $3}' | sed 's/v=//'), $COUNT products, wrk with 2 threads for $DURATION per row; server and load generator share the machine."
    echo
    echo "Machine: $(nproc) cores ($(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')), $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr). Date: $(date -u +%Y-%m-%d)."
    echo
    echo "Command: \`bash bench/cache.sh\` (DURATION=$DURATION CONNECTIONS=$CONNECTIONS)."
    echo
    echo "## $CONNECTIONS connections (closed loop)"
    echo
    echo "| request | cached req/s | p50 ms | p99 ms | uncached req/s | p50 ms | p99 ms | cached/uncached |"
    echo "|---|---|---|---|---|---|---|---|"
    row "list: category=Books, sort=-price" list
    row "detail: random id of 1,000 hot ids" detail
    row "stats, unfiltered" stats
    echo
    echo "## 1 connection (latency of one client)"
    echo
    echo "| request | cached req/s | p50 ms | p99 ms | uncached req/s | p50 ms | p99 ms | cached/uncached |"
    echo "|---|---|---|---|---|---|---|---|"
    row "list" list1
    row "detail" detail1
    row "stats" stats1
    echo
    echo "## Hit ratio of a realistic mix"
    echo
    echo "1,000 distinct list queries (10 categories × 5 brands × 4 sorts × 5 pages), the k-th most popular requested with weight 1/k, 30 s at $CONNECTIONS connections from a cold cache:"
    echo
    echo "- hit ratio **$MIX_RATIO** ($MIX_LINE)"
    echo "- $MIX_RPS req/s, p50 $MIX_P50 ms, p99 $MIX_P99 ms"
    echo
    echo "Raw wrk output: \`target/bench/wrk-*.txt\` after a run."
} >"$OUT"
cat "$OUT"
