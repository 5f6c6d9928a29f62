#!/usr/bin/env bash
# A/B of two release binaries on the scale database, row by row, with
# distinct keys: base, new, base, new... (ROUNDS times), a fresh server
# each time (cache off, the search index on, measured once /health says it
# is ready), per row a 2 s warm-up, DURATION at 64 connections, then 3 s at
# one connection. Prints: round, binary, row, req/s, p99, 1-client p99.
# The tables of docs/performance.md from 2026-12-06 ("CRoaring for the
# postings") were measured this way (the rows below, or a subset).
#
# Usage: BASE_BIN=old NEW_BIN=new bash bench/ab-rows.sh > ab.tsv
#   ROWS      a file of "name|path|random-args" lines (default: the rows
#             below). A fixed row has a path; a random row leaves it empty
#             and gives the arguments of bench/lua/search_random.lua, or
#             "OFFSET <args>" for bench/lua/offset_random.lua.
#   LISTS     the word, pair and category lists `just bench scale` writes
#             (default target/bench/scale).
#   ROUNDS (2), DURATION (6s), PORT (18195), SCALE_DB_URL.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${BASE_BIN:?set BASE_BIN}" "${NEW_BIN:?set NEW_BIN}"
DB="${SCALE_DB_URL:-postgres://postgres@127.0.0.1/catalog_bench_scale}"
P="${PORT:-18195}"
ROUNDS="${ROUNDS:-2}"
DURATION="${DURATION:-6s}"
L="${LISTS:-target/bench/scale}"
for f in search-words.txt search-pairs.txt categories.txt; do
    [ -s "$L/$f" ] || { echo "missing $L/$f: run just bench scale first (it writes the lists)" >&2; exit 2; }
done
DEFAULT_ROWS="pair||/api/v1/products word $L/search-pairs.txt
prefix||/api/v1/products prefix $L/search-words.txt
word||/api/v1/products word $L/search-words.txt
word-cat-price||/api/v1/products word $L/search-words.txt $L/categories.txt &sort=-price
facets-word||/api/v1/products/facets word $L/search-words.txt
facets-blue|/api/v1/products/facets?search=blue|
blue|/api/v1/products?search=blue|
blue-clothing|/api/v1/products?search=blue&category=Clothing&sort=-price|
offset-price||OFFSET price 900000"
if [ -n "${ROWS:-}" ]; then ROW_LINES=$(cat "$ROWS"); else ROW_LINES=$DEFAULT_ROWS; fi

run() { # binary label round
    env -u REDIS_URL DATABASE_URL="$DB" CATALOG_CACHE=off CATALOG_RATE_LIMIT=off \
        CATALOG_MAX_INFLIGHT_EXPENSIVE=off CATALOG_SEED_COUNT=0 CATALOG_SEARCH_INDEX=memory \
        CATALOG_ADDR="127.0.0.1:$P" RUST_LOG=warn "$1" serve >/dev/null 2>&1 &
    local server=$! args name path random r
    for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$P/health" && break; sleep 0.2; done
    for _ in $(seq 600); do
        [ "$(curl -fs "http://127.0.0.1:$P/health" | jq -r '.checks.search_index')" = ready ] && break
        sleep 0.2
    done
    while IFS='|' read -r name path random; do
        [ -z "$name" ] && continue
        if [ -z "$random" ]; then
            args=("http://127.0.0.1:$P$path")
        elif [ "${random%% *}" = OFFSET ]; then
            # shellcheck disable=SC2206
            args=(-s bench/lua/offset_random.lua "http://127.0.0.1:$P" -- ${random#OFFSET })
        else
            # shellcheck disable=SC2206
            args=(-s bench/lua/search_random.lua "http://127.0.0.1:$P" -- $random)
        fi
        wrk -t2 -c64 -d2s "${args[@]}" >/dev/null 2>&1
        r=$(wrk -t2 -c64 -d"$DURATION" --latency "${args[@]}" 2>&1)
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$3" "$2" "$name" \
            "$(awk '/^Requests\/sec/ {print $2}' <<<"$r")" \
            "$(awk '$1 == "99%" {print $2}' <<<"$r")" \
            "$(wrk -t1 -c1 -d3s --latency "${args[@]}" 2>&1 | awk '$1 == "99%" {print $2}')"
    done <<<"$ROW_LINES"
    kill "$server"
    wait "$server" 2>/dev/null
}

for round in $(seq "$ROUNDS"); do
    run "$BASE_BIN" base "$round"
    run "$NEW_BIN" new "$round"
done
