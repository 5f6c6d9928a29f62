#!/usr/bin/env bash
# Soak: the release binary on PostgreSQL with SOAK_COUNT products (1M),
# SOAK_CONNECTIONS (200) keep-alive connections for SOAK_MINUTES (10)
# minutes of mixed traffic (bench/lua/soak_mix.lua: 90 % reads, a quarter
# of them searches, 10 % writes; keys drawn at random from the data),
# cache on (the in-process cache, as the embedded default serves), rate
# limiting off (every connection comes from 127.0.0.1, one client).
#
# The run is one wrk process per minute, back to back, so each minute has
# its own throughput, p50 and p99 and error count; the server's RSS is read
# at the end of each minute. It passes when no request failed (every
# answer 2xx, no socket error) and the last minute's RSS is within 10 % (or
# 64 MB) of the first's. Writes $SOAK_OUT/soak.md and soak.tsv.
#
# The database is a copy of bench/scale.sh's catalog_bench_scale (CREATE
# DATABASE … TEMPLATE, seconds) when it holds SOAK_COUNT products, else it
# is seeded (about 90 s for 1M); it is dropped afterwards.
#
# Usage: bash bench/soak.sh   (or: just soak)
# Environment (all optional):
#   SOAK_COUNT=1000000 SOAK_MINUTES=10 SOAK_CONNECTIONS=200 SOAK_THREADS=2 SOAK_MINUTE_SECS=60
#   SOAK_OUT=docs/benchmarks   CATALOG_BIN=... (skips cargo build --release)
#   PG_HOST=127.0.0.1 PG_PORT=5432 PG_USER=postgres PORT=18190
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/common.sh
source bench/common.sh

SOAK_COUNT="${SOAK_COUNT:-1000000}"
SOAK_MINUTES="${SOAK_MINUTES:-10}"
SOAK_CONNECTIONS="${SOAK_CONNECTIONS:-200}"
SOAK_THREADS="${SOAK_THREADS:-2}"
# Length of one "minute" in seconds (shorter only to try the script out).
SOAK_MINUTE_SECS="${SOAK_MINUTE_SECS:-60}"
SOAK_OUT="${SOAK_OUT:-docs/benchmarks}"
PG_HOST="${PG_HOST:-127.0.0.1}"
PG_PORT="${PG_PORT:-5432}"
PG_USER="${PG_USER:-postgres}"
PORT="${PORT:-18190}"
BASE="http://127.0.0.1:$PORT"
WORK="$ROOT/target/bench/soak"
SOAK_DB="catalog_bench_soak"
TEMPLATE_DB="catalog_bench_scale"
DB_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$SOAK_DB"
SECRET="soak-secret-$RANDOM$RANDOM"
mkdir -p "$WORK" "$SOAK_OUT"

die() { echo "soak: $*" >&2; exit 1; }
ensure_wrk
command -v jq >/dev/null || apt-get install -y -q jq >/dev/null

if [ -n "${CATALOG_BIN:-}" ]; then
    BIN="$CATALOG_BIN"
else
    log "building the release binary"
    cargo build --release --quiet -p catalog
    BIN="$ROOT/target/release/catalog"
fi
[ -x "$BIN" ] || die "$BIN is not an executable"

db_rows() { psql_db "$1" -tAc "SELECT count(*) FROM products" 2>/dev/null || echo 0; }
psql_db postgres -c "DROP DATABASE IF EXISTS $SOAK_DB WITH (FORCE)"
if psql_db postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$TEMPLATE_DB'" | grep -q 1 \
    && [ "$(db_rows "$TEMPLATE_DB")" = "$SOAK_COUNT" ]; then
    log "copying $TEMPLATE_DB ($SOAK_COUNT products) into $SOAK_DB"
    psql_db postgres -c "CREATE DATABASE $SOAK_DB TEMPLATE $TEMPLATE_DB"
    DATA_NOTE="a copy of $TEMPLATE_DB (seeded by bench/scale.sh)"
else
    log "seeding $SOAK_COUNT products into $SOAK_DB"
    psql_db postgres -c "CREATE DATABASE $SOAK_DB"
    env -u REDIS_URL DATABASE_URL="$DB_URL" RUST_LOG=warn "$BIN" seed --count "$SOAK_COUNT" </dev/null
    psql_db "$SOAK_DB" -c "VACUUM (ANALYZE)"
    DATA_NOTE="seeded for this run (catalog seed --count $SOAK_COUNT)"
fi
cleanup() {
    [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    psql_db postgres -c "DROP DATABASE IF EXISTS $SOAK_DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
MAX_ID=$(psql_db "$SOAK_DB" -tAc "SELECT max(id) FROM products")

# Words of the data for the searches (as bench/scale.sh draws them).
STEP=$(( SOAK_COUNT / 20000 > 1 ? SOAK_COUNT / 20000 : 1 ))
psql_db "$SOAK_DB" -tA >"$WORK/words.txt" <<SQL
SELECT DISTINCT w FROM products, regexp_split_to_table(lower(name || ' ' || description), '[^[:alpha:]]+') AS w
WHERE id % $STEP = 0 AND length(w) >= 4
  AND w !~ '^(from|that|this|with|into|your|their|there|were|have|been|them|they|which|what|will|than|then)$';
SQL

log "starting the server"
env -u REDIS_URL DATABASE_URL="$DB_URL" CATALOG_ADDR="127.0.0.1:$PORT" CATALOG_SEED_COUNT=0 \
    CATALOG_JWT_SECRET="$SECRET" CATALOG_RATE_LIMIT=off RUST_LOG="$SERVER_LOG_FILTER" \
    "$BIN" serve </dev/null >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
wait_healthy "$SERVER_PID" "$BASE" "$WORK/server.log"
wait_search_index "$SERVER_PID" "$BASE" "$WORK/server.log"
curl -fs "$BASE/api/v1/products/categories" | jq -r '.items[].name | @uri' >"$WORK/categories.txt"
curl -fs "$BASE/api/v1/products/brands" | jq -r '.items[].name | @uri' >"$WORK/brands.txt"
TOKEN=$(CATALOG_JWT_SECRET="$SECRET" "$BIN" token --sub soak --scope products:write --ttl 7200)
rss_mb() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$SERVER_PID/status"; }
hwm_mb() { awk '/^VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$SERVER_PID/status"; }
RSS_START=$(rss_mb)
log "server ready (RSS $RSS_START MB); soaking for $SOAK_MINUTES minutes at $SOAK_CONNECTIONS connections"

# Each class of the mix alone first (SOAK_PROBE_SECS each, 0 skips), so the
# report says what each costs at this concurrency.
SOAK_PROBE_SECS="${SOAK_PROBE_SECS:-8}"
PROBES="$WORK/probes.tsv"
: >"$PROBES"
if [ "$SOAK_PROBE_SECS" -gt 0 ]; then
    for class in search list detail aggregate names patch create; do
        out=$(wrk -t"$SOAK_THREADS" -c"$SOAK_CONNECTIONS" -d"${SOAK_PROBE_SECS}s" --timeout 10s --latency \
            -s bench/lua/soak_mix.lua "$BASE" -- "$TOKEN" "$MAX_ID" "$WORK/words.txt" \
            "$WORK/categories.txt" "$WORK/brands.txt" "probe" "$class")
        read -r rps p50 p99 < <(wrk_summary <<<"$out")
        bad=$(awk '/^SOAK/ { for (i = 1; i <= NF; i++) if ($i ~ /^non2xx=/) { sub("non2xx=", "", $i); s += $i } } END { print s + 0 }' <<<"$out")
        printf '%s\t%s\t%s\t%s\t%s\n' "$class" "$rps" "$p50" "$p99" "$bad" >>"$PROBES"
        log "probe $class: $rps req/s, p50 $p50 ms, p99 $p99 ms, $bad non-2xx"
    done
fi

TSV="$SOAK_OUT/soak.tsv"
printf 'minute\trequests_per_s\tp50_ms\tp99_ms\tnon2xx\tsocket_errors\trss_mb\n' >"$TSV"
TOTAL_BAD=0
TOTAL_REQ=0
for minute in $(seq "$SOAK_MINUTES"); do
    out=$(wrk -t"$SOAK_THREADS" -c"$SOAK_CONNECTIONS" -d"${SOAK_MINUTE_SECS}s" --timeout 10s --latency \
        -s bench/lua/soak_mix.lua "$BASE" -- "$TOKEN" "$MAX_ID" "$WORK/words.txt" \
        "$WORK/categories.txt" "$WORK/brands.txt" "$minute")
    echo "$out" >"$WORK/minute-$minute.txt"
    read -r rps p50 p99 < <(wrk_summary <<<"$out")
    bad=$(awk '/^SOAK/ { for (i = 1; i <= NF; i++) if ($i ~ /^non2xx=/) { sub("non2xx=", "", $i); s += $i } } END { print s + 0 }' <<<"$out")
    reqs=$(awk '/^SOAK/ { for (i = 1; i <= NF; i++) if ($i ~ /^requests=/) { sub("requests=", "", $i); s += $i } } END { print s + 0 }' <<<"$out")
    sock=$(awk '/Socket errors/ { gsub(",", ""); s = $4 + $6 + $8 + $10 } END { print s + 0 }' <<<"$out")
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; die "the server died in minute $minute"; }
    rss=$(rss_mb)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$minute" "$rps" "$p50" "$p99" "$bad" "$sock" "$rss" >>"$TSV"
    log "minute $minute: $rps req/s, p50 $p50 ms, p99 $p99 ms, $bad non-2xx, $sock socket errors, RSS $rss MB"
    TOTAL_BAD=$((TOTAL_BAD + bad + sock))
    TOTAL_REQ=$((TOTAL_REQ + reqs))
done
HWM=$(hwm_mb)
RSS_FIRST=$(awk -F'\t' 'NR == 2 { print $7 }' "$TSV")
RSS_LAST=$(awk -F'\t' 'END { print $7 }' "$TSV")
GROWTH=$((RSS_LAST - RSS_FIRST))
ALLOWED=$(( RSS_FIRST / 10 > 64 ? RSS_FIRST / 10 : 64 ))
STATUSES=$(cat "$WORK"/minute-*.txt | awk '/^SOAK/ { for (i = 1; i <= NF; i++) if ($i ~ /^statuses=/) { sub("statuses=", "", $i); n = split($i, p, ","); for (j = 1; j <= n; j++) { split(p[j], kv, ":"); c[kv[1]] += kv[2] } } } END { for (k in c) printf "%s: %d; ", k, c[k] }')
VERDICT="passed"
[ "$TOTAL_BAD" -eq 0 ] || VERDICT="FAILED: $TOTAL_BAD failed requests"
[ "$GROWTH" -le "$ALLOWED" ] || VERDICT="FAILED: RSS grew $GROWTH MB (allowed $ALLOWED)"
log "soak $VERDICT"

CPU=$(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }')
{
    echo "# Soak: $SOAK_MINUTES minutes at $SOAK_CONNECTIONS connections, $SOAK_COUNT products"
    echo
    echo "Written by \`just soak\` (bench/soak.sh) on $(date -u +%Y-%m-%d) at commit $(git rev-parse --short HEAD)."
    echo "Machine: $CPU, $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; PostgreSQL $(psql_db postgres -tAc 'SHOW server_version' | cut -d' ' -f1) on the same machine."
    echo "Load generator: wrk ($SOAK_THREADS threads) on the same machine, one ${SOAK_MINUTE_SECS} s run per minute, back to back."
    echo
    echo "Traffic (bench/lua/soak_mix.lua): 90 % reads (22.5 % searches of words of the data, 27.5 % lists"
    echo "with random filters, sorts and pages, 25 % details of random ids, 10 % stats and facets of a category or brand, a fifth of them within a price range, 5 %"
    echo "categories and brands) and 10 % writes (7 % PATCH of random products, 3 % POST of new ones)."
    echo "Server: $(basename "$(dirname "$BIN")") build, PostgreSQL ($DATA_NOTE), the in-process cache and search index (defaults),"
    echo "\`CATALOG_RATE_LIMIT=off\` (all connections come from one address)."
    echo
    echo "**Verdict: $VERDICT.** $TOTAL_REQ requests; statuses: $STATUSES"
    echo "RSS: $RSS_START MB when ready, $RSS_FIRST MB after the first minute, $RSS_LAST MB after the last"
    echo "(growth $GROWTH MB; allowed $ALLOWED MB), peak $HWM MB."
    echo
    if [ -s "$PROBES" ]; then
        echo "Each class alone first ($SOAK_PROBE_SECS s each, same connections; not part of the verdict):"
        echo
        echo "| class | requests/s | p50 (ms) | p99 (ms) | non-2xx |"
        echo "|---|---:|---:|---:|---:|"
        awk -F'\t' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$PROBES"
        echo
    fi
    echo "| minute | requests/s | p50 (ms) | p99 (ms) | non-2xx | socket errors | RSS (MB) |"
    echo "|---:|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7 }' "$TSV"
    echo
    echo "Latency is wrk's closed-loop measure (each connection sends its next request when the"
    echo "previous one is answered), so p99 includes the queueing of $SOAK_CONNECTIONS connections on $(nproc) cores"
    echo "shared with wrk and PostgreSQL."
} >"$SOAK_OUT/soak.md"
log "wrote $SOAK_OUT/soak.md"
[ "$VERDICT" = passed ]
