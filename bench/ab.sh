#!/usr/bin/env bash
# A/B of two release binaries on the scale database, alternated: base, new,
# base, new... (ROUNDS times), 5 s wrk runs at 64 connections after a 1 s
# warm-up, cache off, CATALOG_SEARCH_INDEX=sql (both take the SQL path).
# Prints round, binary, path, req/s (tab-separated). Used for the
# renovation's before/after in docs/benchmarks/search-index.md.
#
# Usage: BASE_BIN=path/to/old NEW_BIN=path/to/new bash bench/ab.sh > ab.tsv
# AB_SEARCH_INDEX=memory runs both with the search index (waiting until
# /health says it is ready); AB_URLS (one path per line) replaces the
# paths below, and AB_DETAIL=0 skips the random-id detail row.
# A base binary older than migration 13 refuses a database that has it:
# with DROP_CHANGE_LOG=1 the change log's table and trigger are dropped
# (and forgotten) before each base run; the new binary re-applies them.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${BASE_BIN:?set BASE_BIN}" "${NEW_BIN:?set NEW_BIN}"
DB="${SCALE_DB_URL:-postgres://postgres@127.0.0.1/catalog_bench_scale}"
P="${PORT:-18190}"
ROUNDS="${ROUNDS:-3}"
INDEX="${AB_SEARCH_INDEX:-sql}"
URLS=(
    "/api/v1/products?category=Books&min_price=10&max_price=200&sort=-price&limit=20"
    "/api/v1/products?sort=price&limit=20"
    "/api/v1/products/stats?category=Books"
    "/api/v1/products/facets?category=Books"
    "/api/v1/products?category=Books&min_price=10&max_price=200&sort=-price&limit=20&count=none"
)
if [ -n "${AB_URLS:-}" ]; then
    mapfile -t URLS <<<"$AB_URLS"
fi
for round in $(seq "$ROUNDS"); do
    for which in base new; do
        if [ "$which" = base ]; then
            BIN=$BASE_BIN
            [ "${DROP_CHANGE_LOG:-0}" = 1 ] && psql -q "$DB" -c "DROP TRIGGER IF EXISTS products_changes ON products; \
                DROP FUNCTION IF EXISTS product_changes_trigger(); DROP TABLE IF EXISTS product_changes; \
                DELETE FROM seaql_migrations WHERE version LIKE 'm20261203%';" >/dev/null
        else
            BIN=$NEW_BIN
        fi
        env -u REDIS_URL DATABASE_URL="$DB" CATALOG_RATE_LIMIT=off CATALOG_MAX_INFLIGHT_EXPENSIVE=off CATALOG_CACHE=off CATALOG_SEED_COUNT=0 CATALOG_SEARCH_INDEX="$INDEX" \
            CATALOG_ADDR="127.0.0.1:$P" RUST_LOG=warn "$BIN" serve >/dev/null 2>&1 &
        S=$!
        for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$P/health" && break; sleep 0.2; done
        if [ "$INDEX" = memory ]; then
            for _ in $(seq 600); do
                [ "$(curl -fs "http://127.0.0.1:$P/health" | jq -r '.checks.search_index')" = ready ] && break
                sleep 0.2
            done
        fi
        for u in "${URLS[@]}"; do
            wrk -t2 -c64 -d1s "http://127.0.0.1:$P$u" >/dev/null 2>&1
            printf '%s\t%s\t%s\t%s\n' "$round" "$which" "$u" \
                "$(wrk -t2 -c64 -d5s "http://127.0.0.1:$P$u" | awk '/^Requests\/sec/ {print $2}')"
        done
        [ "${AB_DETAIL:-1}" = 1 ] && printf '%s\t%s\tdetail\t%s\n' "$round" "$which" \
            "$(wrk -t2 -c64 -d5s -s bench/lua/detail.lua "http://127.0.0.1:$P" -- 1000000 | awk '/^Requests\/sec/ {print $2}')"
        kill "$S"
        wait "$S" 2>/dev/null
    done
done
