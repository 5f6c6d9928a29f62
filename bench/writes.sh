#!/usr/bin/env bash
# Write benchmark: PATCH and POST throughput on PostgreSQL with 1,000,000
# products, cache off. Every write also updates the summary, the price
# histogram and the search vector in its transaction (triggers), so this is
# what they cost, spread over many summary rows and concentrated on a few
# (the hot scenario: one category, brand and $1 bucket, so every write
# updates the same rows). After the writes `catalog verify` must find every
# derived table equal to what the products table implies: no write lost
# from a summary under contention.
#
# The database is a copy of the scale benchmark's (CREATE DATABASE ...
# TEMPLATE, seconds), seeded first when that does not exist, and dropped
# at the end: the writes never bloat or change the scale benchmark's data.
# A server with a search index (CATALOG_SEARCH_INDEX=memory, the default)
# is measured once the index is ready: its build would take the cores.
# Writes $WRITES_OUT/writes.md and writes.tsv (every run).
#
# Usage: bash bench/writes.sh   (or: just bench writes)
# Environment (all optional):
#   SCALE_COUNT=1000000  products (the template database's size)
#   DURATION=10s RUNS=3 CONNECTIONS=64 THREADS=2 SOLO=5s WARMUP=2s
#   SCALE_DB=catalog_bench_scale   the template (seeded by this script if missing)
#   WRITES_DB=catalog_bench_writes the scratch copy (dropped at the end)
#   WRITES_OUT=docs/benchmarks CATALOG_BIN=... PG_HOST PG_PORT PG_USER PORT=18184
#   WRITES_PREPARE_SQL=...         SQL run on the scratch copy before the server starts (bench/writes-ab.sh
#                                  removes the change log there for a binary older than it)
#   INDEX_TIMEOUT=600              seconds to wait for the server's search index
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/common.sh
source bench/common.sh

SCALE_COUNT="${SCALE_COUNT:-1000000}"
DURATION="${DURATION:-10s}"
SOLO="${SOLO:-5s}"
WARMUP="${WARMUP:-2s}"
RUNS="${RUNS:-3}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
SCALE_DB="${SCALE_DB:-catalog_bench_scale}"
WRITES_DB="${WRITES_DB:-catalog_bench_writes}"
WRITES_OUT="${WRITES_OUT:-docs/benchmarks}"
PG_HOST="${PG_HOST:-127.0.0.1}"
PG_PORT="${PG_PORT:-5432}"
PG_USER="${PG_USER:-postgres}"
PORT="${PORT:-18184}"
BASE="http://127.0.0.1:$PORT"
WORK="$ROOT/target/bench/writes"
SECRET="bench-writes-secret-$(date +%s)"
[[ "$DURATION" =~ ^[0-9]+$ ]] && DURATION="${DURATION}s"
[[ "$SOLO" =~ ^[0-9]+$ ]] && SOLO="${SOLO}s"
[[ "$WARMUP" =~ ^[0-9]+$ ]] && WARMUP="${WARMUP}s"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "RUNS must be a positive integer" >&2; exit 2; }
for db in "$SCALE_DB" "$WRITES_DB"; do
    [[ "$db" =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "database names must be plain lower-case identifiers" >&2; exit 2; }
done
[ "$SCALE_DB" != "$WRITES_DB" ] || { echo "WRITES_DB must differ from SCALE_DB" >&2; exit 2; }
DB_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$WRITES_DB"
MD="$WRITES_OUT/writes.md"
TSV="$WRITES_OUT/writes.tsv"
INDEX_TIMEOUT="${INDEX_TIMEOUT:-600}"
mkdir -p "$WORK" "$WRITES_OUT"
rm -f "$WORK"/wrk-*.txt

die() { printf 'writes.sh: %s\n' "$*" >&2; exit 1; }

ensure_wrk
if [ -n "${CATALOG_BIN:-}" ]; then
    BIN="$(cd "$(dirname "$CATALOG_BIN")" && pwd)/$(basename "$CATALOG_BIN")"
    [ -x "$BIN" ] || die "CATALOG_BIN=$CATALOG_BIN is not an executable"
else
    log "building the release binary"
    cargo build --release -q -p catalog
    BIN="$ROOT/target/release/catalog"
fi
psql_db postgres -c 'SELECT 1' >/dev/null || die "PostgreSQL is not reachable at $PG_HOST:$PG_PORT as $PG_USER"
curl -fs -o /dev/null "$BASE/health" && die "something already answers on port $PORT; set PORT"
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && COMMIT="$COMMIT (with uncommitted changes)"

SERVER=""
cleanup() {
    if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    SERVER=""
    psql_db postgres -c "DROP DATABASE IF EXISTS $WRITES_DB WITH (FORCE)" 2>/dev/null || true
}
trap cleanup EXIT

# --- database ----------------------------------------------------------------

template_rows=$(psql_db "$SCALE_DB" -tAc "SELECT count(*) FROM products" 2>/dev/null || echo 0)
if [ "$template_rows" != "$SCALE_COUNT" ]; then
    log "$SCALE_DB holds $template_rows products, not $SCALE_COUNT: seeding it (bench/scale.sh keeps it)"
    psql_db postgres -c "DROP DATABASE IF EXISTS $SCALE_DB WITH (FORCE)"
    psql_db postgres -c "CREATE DATABASE $SCALE_DB"
    env -u REDIS_URL DATABASE_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$SCALE_DB" RUST_LOG=warn \
        "$BIN" seed --count "$SCALE_COUNT" </dev/null >/dev/null || die "seeding $SCALE_DB failed"
    psql_db "$SCALE_DB" -c "VACUUM (ANALYZE)"
fi
log "copying $SCALE_DB into $WRITES_DB"
psql_db postgres -c "DROP DATABASE IF EXISTS $WRITES_DB WITH (FORCE)"
# A template must have no other sessions: a server left on it fails this.
psql_db postgres -c "CREATE DATABASE $WRITES_DB TEMPLATE $SCALE_DB" \
    || die "copying $SCALE_DB failed (is something still connected to it?)"
if [ -n "${WRITES_PREPARE_SQL:-}" ]; then
    log "preparing $WRITES_DB (WRITES_PREPARE_SQL)"
    psql_db "$WRITES_DB" -c "$WRITES_PREPARE_SQL"
fi
psql_db "$WRITES_DB" -c "ANALYZE"

# The hot set: the (category, brand, \$1 bucket) with the most products.
read -r HOT_CATEGORY HOT_BRAND HOT_BUCKET HOT_N < <(psql_db "$WRITES_DB" -tA -F $'\t' -c \
    "SELECT category, brand, price_cents / 100, count(*) FROM products \
     GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3 LIMIT 1" | tr '\t' ' ')
HOT_IDS=$(psql_db "$WRITES_DB" -tAc "SELECT string_agg(id::text, ',') FROM (SELECT id FROM products \
    WHERE category = '$HOT_CATEGORY' AND brand = '$HOT_BRAND' AND price_cents / 100 = $HOT_BUCKET \
    ORDER BY id LIMIT 200) x")
[ -n "$HOT_IDS" ] || die "no hot set found"
log "hot set: $HOT_N products in $HOT_CATEGORY / $HOT_BRAND / \$$HOT_BUCKET"

# --- server ------------------------------------------------------------------

log "starting the server (cache off) on port $PORT"
env -u REDIS_URL -u CATALOG_DB_MAX_CONNECTIONS DATABASE_URL="$DB_URL" CATALOG_CACHE=off CATALOG_SEED_COUNT=0 \
    CATALOG_ADDR="127.0.0.1:$PORT" CATALOG_JWT_SECRET="$SECRET" RUST_LOG="$SERVER_LOG_FILTER" \
    "$BIN" serve >"$WORK/server.log" 2>&1 </dev/null &
SERVER=$!
wait_healthy "$SERVER" "$BASE" "$WORK/server.log"
INDEX_NOTE="no search index (a binary without one, or \`CATALOG_SEARCH_INDEX=sql\`)"
start=$(date +%s.%N)
if [ "${CATALOG_SEARCH_INDEX:-memory}" != sql ] && has_search_index "$BIN"; then
    wait_search_index "$SERVER" "$BASE" "$WORK/server.log" "$INDEX_TIMEOUT"
    INDEX_NOTE="search index (\`CATALOG_SEARCH_INDEX=memory\`), ready $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s after \`/health\` first answered; measured after that"
fi
log "server: $INDEX_NOTE"
TOKEN=$(CATALOG_JWT_SECRET="$SECRET" RUST_LOG=warn "$BIN" token --sub bench-writes --ttl 86400)
code=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/merge-patch+json' -d '{"stock_quantity": 5}' "$BASE/api/v1/products/1")
[ "$code" = 200 ] || die "a PATCH with the minted token answered $code"
ROWS_BEFORE=$(psql_db "$WRITES_DB" -tAc "SELECT count(*) FROM products")

# --- scenarios ---------------------------------------------------------------

ORDER=()
declare -A DESC RPS P50 P99 NON2XX SOLO_P50 SOLO_P99
printf 'scenario\trun\trequests_per_s\tp50_ms\tp99_ms\tnon_2xx\n' >"$WORK/writes.tsv"
# write NAME DESCRIPTION MODE: wrk closed loop, RUNS times, then one client.
write() {
    local name=$1 mode=$3 run out rps p50 p99 non2xx r=() a=() b=() n=()
    ORDER+=("$name")
    DESC[$name]=$2
    local args=(-s bench/lua/writes.lua "$BASE" -- "$mode" "$TOKEN" "$SCALE_COUNT" "$HOT_IDS")
    log "$name (${RUNS} × $DURATION)"
    [ "$WARMUP" = 0s ] || wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" --timeout 30s "${args[@]}" W0 >/dev/null
    for ((run = 1; run <= RUNS; run++)); do
        out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 30s --latency "${args[@]}" "W$run")
        echo "$out" >"$WORK/wrk-$name-$run.txt"
        read -r rps p50 p99 <<<"$(wrk_summary <<<"$out")"
        non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
        r+=("${rps:-0}") a+=("${p50:-0}") b+=("${p99:-0}") n+=("${non2xx:-0}")
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$run" "${rps:-0}" "${p50:-0}" "${p99:-0}" "${non2xx:-0}" >>"$WORK/writes.tsv"
        log "  run $run: $rps req/s, p50 $p50 ms, p99 $p99 ms${non2xx:+, $non2xx non-2xx}"
    done
    RPS[$name]=$(median "${r[@]}") P50[$name]=$(median "${a[@]}") P99[$name]=$(median "${b[@]}")
    NON2XX[$name]=$(printf '%s\n' "${n[@]}" | awk '{ s += $1 } END { print s + 0 }')
    out=$(wrk -t1 -c1 -d"$SOLO" --timeout 30s --latency "${args[@]}" W9)
    read -r rps p50 p99 <<<"$(wrk_summary <<<"$out")"
    SOLO_P50[$name]=${p50:--} SOLO_P99[$name]=${p99:--}
    printf '%s\tsolo\t%s\t%s\t%s\t0\n' "$name" "${rps:-0}" "${p50:-0}" "${p99:-0}" >>"$WORK/writes.tsv"
    log "  1 client: $rps req/s, p50 $p50 ms, p99 $p99 ms"
}

write patch-price "PATCH a random product's price (it moves to another \$1 and usually \$100 bucket)" patch-price
write patch-stock "PATCH a random product's stock (price unchanged: its own buckets' sums change)" patch-stock
write patch-hot "PATCH the stock of one of 200 products sharing a category, brand and \$1 bucket ($HOT_CATEGORY / $HOT_BRAND / \$$HOT_BUCKET): every write updates the same summary rows" patch-hot
write create "POST a new product (unique sku, one new category and brand)" create

ROWS_AFTER=$(psql_db "$WRITES_DB" -tAc "SELECT count(*) FROM products")
RSS_HWM_KB=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$SERVER/status")
log "checking the derived tables (catalog verify)"
kill "$SERVER" 2>/dev/null || true
wait "$SERVER" 2>/dev/null || true
SERVER=""
start=$(date +%s.%N)
if VERIFY_OUT=$(env -u REDIS_URL DATABASE_URL="$DB_URL" RUST_LOG=warn "$BIN" verify 2>&1); then
    VERIFY="**yes**: \`catalog verify\` found every derived table equal to what the products table implies"
else
    VERIFY="**NO**: \`catalog verify\` reported: $(tr '\n' ' ' <<<"$VERIFY_OUT")"
fi
VERIFY_SECS=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
log "verify: $VERIFY_OUT"

# --- report ------------------------------------------------------------------

PG_VERSION=$(psql_db postgres -tAc 'SHOW server_version')
PG_SETTINGS=$(psql_db postgres -tAc "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('shared_buffers', 'synchronous_commit', 'wal_level', 'max_wal_size', 'max_connections')")
CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM=$(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
{
    echo "# Write benchmark: $(sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta' <<<"$SCALE_COUNT") products, PostgreSQL"
    echo
    echo "The catalog binary on PostgreSQL with \`CATALOG_CACHE=off\`, on a copy of the scale benchmark's"
    echo "$SCALE_COUNT products. wrk, $THREADS threads, $CONNECTIONS connections, $RUNS × $DURATION per scenario"
    echo "after a $WARMUP warm-up; each cell is the median over the runs. Every write runs in one transaction"
    echo "with the triggers that keep the summary, the price histogram (up to 12 rows per write) and the"
    echo "search vector. Server, PostgreSQL and wrk share the machine's 2 cores."
    echo
    echo "| scenario | writes/s | p50 ms | p99 ms | 1 client: p50 / p99 ms | non-2xx | vs patch-stock |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for name in "${ORDER[@]}"; do
        echo "| $name: ${DESC[$name]} | ${RPS[$name]} | ${P50[$name]} | ${P99[$name]} | ${SOLO_P50[$name]} / ${SOLO_P99[$name]} | ${NON2XX[$name]} | $(ratio "${RPS[$name]}" "${RPS[patch-stock]}") |"
    done
    echo
    echo "Server: $INDEX_NOTE; peak RSS (VmHWM) $((RSS_HWM_KB / 1024)) MB. Every run: [writes.tsv](writes.tsv)."
    echo
    echo "Derived tables consistent after $((ROWS_AFTER - ROWS_BEFORE)) creates and every update above: $VERIFY (${VERIFY_SECS} s)."
    echo
    echo "## What was measured"
    echo
    echo "- Each PATCH is a JSON Merge Patch without \`If-Match\`: read, validate, update with the version"
    echo "  check, triggers, commit (\`synchronous_commit\` as configured below: each commit waits for its WAL flush)."
    echo "- The hot scenario's 200 products share every summary row a stock change touches (whole table,"
    echo "  category and brand, each at \$1 and \$100, plus the category-brand summary row): concurrent writes"
    echo "  queue on those row locks, so its rate is that of one lock holder at a time plus group commit."
    echo "- *1 client*: one connection, one write at a time for $SOLO (\`wrk -t1 -c1\`)."
    echo "- Non-2xx: every response that was not a success, over all runs (0 is the expected figure)."
    echo
    echo "## Machine"
    echo
    echo "| | |"
    echo "|---|---|"
    echo "| CPU | $CPU, $(nproc) cores (\`nproc\`) |"
    echo "| memory | $MEM |"
    echo "| PostgreSQL | $PG_VERSION, same machine ($PG_SETTINGS) |"
    echo "| binary | ${CATALOG_BIN:-release build (\`cargo build --release -p catalog\`)}, default pool, \`RUST_LOG=$SERVER_LOG_FILTER\` (no line per request) |"
    echo "| load generator | $(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}') |"
    echo "| commit | $COMMIT |"
    echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
    echo
    echo "## Reproduce"
    echo
    echo "\`\`\`sh"
    echo "just bench writes        # or: bash bench/writes.sh"
    echo "\`\`\`"
    echo
    echo "- \`DURATION\` (10s), \`RUNS\` (3), \`CONNECTIONS\` (64), \`THREADS\` (2), \`WARMUP\` (2s), \`SOLO\` (5s),"
    echo "  \`SCALE_DB\` (the template, catalog_bench_scale), \`WRITES_DB\` (the scratch copy, dropped at the end),"
    echo "  \`WRITES_OUT\` (docs/benchmarks), \`CATALOG_BIN\`, \`PG_HOST\`, \`PG_PORT\`, \`PG_USER\`, \`PORT\` (18184),"
    echo "  \`WRITES_PREPARE_SQL\`, \`INDEX_TIMEOUT\` (600 s). \`just bench writes-ab\` (bench/writes-ab.sh) alternates this"
    echo "  benchmark between two binaries (e.g. before and after the change log) and reports the ratio."
    echo "- Raw wrk output and the server log: \`target/bench/writes/\`."
} >"$MD"
cp "$WORK/writes.tsv" "$TSV"
cat "$MD"
log "wrote $MD and $TSV"
case "$VERIFY" in "**yes**"*) ;; *) die "the derived tables disagree after the writes" ;; esac
