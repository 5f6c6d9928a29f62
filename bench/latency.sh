#!/usr/bin/env bash
# Uncached read latency on 100,000 products, SQLite and PostgreSQL: the
# release binary with CATALOG_CACHE=off, wrk at 1 connection (one client's
# latency) and 16 connections (throughput). Writes docs/benchmarks/latency.md.
#
# Usage: bash bench/latency.sh   (or: just bench latency)
# Environment: DURATION=5s COUNT=100000 PG_USER=postgres
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/common.sh
source bench/common.sh
DURATION="${DURATION:-5s}"
COUNT="${COUNT:-100000}"
PG_USER="${PG_USER:-postgres}"
PG_DB=catalog_bench_latency
PORT="${PORT:-18182}"
BASE="http://127.0.0.1:$PORT"
BIN="$ROOT/target/release/catalog"
WORK="$ROOT/target/bench"
OUT=docs/benchmarks/latency.md
mkdir -p "$WORK" docs/benchmarks

ensure_wrk
cargo build --release -q -p catalog

SERVER=""
stop() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true; SERVER=""; }
trap stop EXIT


run() { # NAME CONNS WRK-ARGS... → "rps p50 p99"
    local name=$1 conns=$2
    shift 2
    local out
    out=$(wrk -t1 -c"$conns" -d"$DURATION" --latency "$@")
    echo "$out" >"$WORK/latency-$name.txt"
    wrk_summary <<<"$out"
}

declare -A R
for backend in sqlite postgres; do
    if [ "$backend" = sqlite ]; then
        rm -f "$WORK/latency.db"*
        export DATABASE_URL="sqlite://$WORK/latency.db?mode=rwc"
    else
        psql -X -q -h 127.0.0.1 -U "$PG_USER" -d postgres -c "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB"
        export DATABASE_URL="postgres://$PG_USER@127.0.0.1:5432/$PG_DB"
    fi
    RUST_LOG=warn "$BIN" seed --count "$COUNT"
    CATALOG_CACHE=off CATALOG_SEED_COUNT=0 CATALOG_ADDR="127.0.0.1:$PORT" RUST_LOG=warn "$BIN" serve >"$WORK/latency-$backend.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 100); do curl -fs "$BASE/health" >/dev/null && break; sleep 0.1; done
    for conns in 1 16; do
        R[$backend-list-$conns]=$(run "$backend-list-$conns" "$conns" "$BASE/api/v1/products?category=Books&min_price=10&max_price=200&sort=-price&limit=20")
        R[$backend-default-$conns]=$(run "$backend-default-$conns" "$conns" "$BASE/api/v1/products")
        R[$backend-detail-$conns]=$(run "$backend-detail-$conns" "$conns" -s bench/lua/detail.lua "$BASE" -- "$COUNT")
        R[$backend-stats-$conns]=$(run "$backend-stats-$conns" "$conns" "$BASE/api/v1/products/stats")
        R[$backend-categories-$conns]=$(run "$backend-categories-$conns" "$conns" "$BASE/api/v1/products/categories")
    done
    stop
done
[ -n "${PG_DB:-}" ] && psql -X -q -h 127.0.0.1 -U "$PG_USER" -d postgres -c "DROP DATABASE IF EXISTS $PG_DB"

{
    echo "# Uncached read latency, 100,000 products"
    echo
    echo "Release binary, \`CATALOG_CACHE=off\` (every request queries the database), wrk 1 thread for $DURATION per cell; server, database and load generator share the machine."
    echo
    echo "Machine: $(nproc) cores ($(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')), $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr); PostgreSQL $(psql -X -h 127.0.0.1 -U "$PG_USER" -d postgres -tAc 'SHOW server_version'), SQLite (bundled with sqlx). Date: $(date -u +%Y-%m-%d)."
    echo
    echo "Command: \`bash bench/latency.sh\`."
    echo
    echo "| request | backend | 1 conn p50 ms | 1 conn p99 ms | 16 conns req/s | 16 conns p50 ms | 16 conns p99 ms |"
    echo "|---|---|---|---|---|---|---|"
    for req in default list detail stats categories; do
        for backend in sqlite postgres; do
            read -r _ p50 p99 <<<"${R[$backend-$req-1]}"
            read -r rps q50 q99 <<<"${R[$backend-$req-16]}"
            echo "| $req | $backend | $p50 | $p99 | $rps | $q50 | $q99 |"
        done
    done
    echo
    echo "Requests: default = \`/api/v1/products\` (first page, exact total); list = \`category=Books&min_price=10&max_price=200&sort=-price\` (with its exact total); detail = a random id; stats = unfiltered aggregates over every row; categories = the 15 categories with counts."
} >"$OUT"
cat "$OUT"
