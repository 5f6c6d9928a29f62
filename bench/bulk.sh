#!/usr/bin/env bash
# Bulk benchmark (issue 16): import and export of 1,000,000 products, and the
# bulk endpoint. Medians of RUNS runs; peak RSS of every CLI run
# (/usr/bin/time). Writes $BULK_OUT/bulk.md and bulk.tsv.
#
#   export (CLI)       1M rows of a seeded PostgreSQL database to CSV and NDJSON; also one
#                      category (~1/15 of the rows), so that RSS can be compared by size
#   import, empty PG   the 1M-row CSV into an empty database (the bulk-load path); also its
#                      first 100k rows (RSS by size)
#   import, changed    over those 1M rows, a CSV in which every row's stock_quantity changed
#                      (the upsert path: one transaction per 1,000 rows)
#   import, SQLite     the 1M-row CSV into an empty SQLite file
#   baseline           with BASELINE_BIN=<another catalog binary>: the upsert paths
#                      (BASELINE_ROWS changed rows, as many new skus) and the bulk endpoint,
#                      with that binary and with this one, in the same session
#   verify             `catalog verify --no-index` after the PostgreSQL imports
#   bulk endpoint      wrk, 4 connections, 1,000 new products per request, cache off
#   export endpoint    GET /api/v1/products/export, 1M rows of NDJSON with curl
#
# Usage: bash bench/bulk.sh   (or: just bench bulk)
# Environment (all optional): BULK_COUNT=1000000 BULK_SMALL=100000 RUNS=3 CHANGED_RUNS=1 DURATION=10s
#   BULK_OUT=docs/benchmarks CATALOG_BIN=target/release/catalog PG_HOST PG_PORT PG_USER PORT=18190
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/common.sh
source bench/common.sh
die() { printf 'bulk.sh: %s\n' "$*" >&2; exit 1; }

COUNT="${BULK_COUNT:-1000000}"
SMALL="${BULK_SMALL:-100000}"
RUNS="${RUNS:-3}"
# The update import takes minutes at a million rows: one run by default.
CHANGED_RUNS="${CHANGED_RUNS:-1}"
DURATION="${DURATION:-10s}"
BULK_OUT="${BULK_OUT:-docs/benchmarks}"
PG_HOST="${PG_HOST:-127.0.0.1}"
PG_PORT="${PG_PORT:-5432}"
PG_USER="${PG_USER:-postgres}"
PORT="${PORT:-18190}"
BASE="http://127.0.0.1:$PORT"
BIN="${CATALOG_BIN:-$ROOT/target/release/catalog}"
WORK="$ROOT/target/bench/bulk"
SRC_DB=catalog_bench_bulk_src
DST_DB=catalog_bench_bulk_dst
PG="postgres://$PG_USER@$PG_HOST:$PG_PORT"
SECRET="bench-bulk-secret-$(date +%s)-0123456789abcdef"
[[ "$DURATION" =~ ^[0-9]+$ ]] && DURATION="${DURATION}s"

if [ -z "${CATALOG_BIN:-}" ]; then
    log "building the release binary"
    cargo build --release -q -p catalog
fi
[ -x "$BIN" ] || die "no binary at $BIN"
ensure_wrk
mkdir -p "$WORK" "$BULK_OUT"
TSV="$WORK/bulk.tsv"
printf 'case\trun\trows\tseconds\trows_per_s\tpeak_rss_mb\n' > "$TSV"

# cli LABEL RUN ROWS DB_URL ARGS...: runs the binary under /usr/bin/time and
# records seconds, rows/s and peak RSS.
cli() {
    local label=$1 run=$2 rows=$3 url=$4
    shift 4
    local rc=0
    /usr/bin/time -o "$WORK/time.out" -f '%e %M' env -u REDIS_URL DATABASE_URL="$url" RUST_LOG=warn \
        "$BIN" "$@" >"$WORK/cli.out" 2>"$WORK/cli.err" || rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then cat "$WORK/cli.err" >&2; die "$label failed ($rc)"; fi
    local out
    out=$(tail -n1 "$WORK/time.out")
    local secs rss
    secs=$(awk '{print $1}' <<<"$out")
    rss=$(awk '{printf "%.0f", $2 / 1024}' <<<"$out")
    printf '%s\t%s\t%s\t%s\t%.0f\t%s\n' "$label" "$run" "$rows" "$secs" "$(awk -v r="$rows" -v s="$secs" 'BEGIN {print (s > 0 ? r / s : 0)}')" "$rss" >> "$TSV"
    log "$label run $run: $rows rows in $secs s, peak RSS $rss MB"
}

recreate() {
    psql_db postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"
}

# --- the source: COUNT seeded products ----------------------------------
have=$(psql_db postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$SRC_DB'" || true)
if [ "$have" = 1 ] && [ "$(psql_db "$SRC_DB" -tAc 'SELECT count(*) FROM products' 2>/dev/null || echo 0)" = "$COUNT" ]; then
    log "reusing $SRC_DB ($COUNT products)"
else
    recreate "$SRC_DB"
    log "seeding $COUNT products into $SRC_DB"
    DATABASE_URL="$PG/$SRC_DB" RUST_LOG=warn "$BIN" seed --count "$COUNT"
fi

# --- export (CLI) ---------------------------------------------------------
for run in $(seq "$RUNS"); do
    cli "export csv (CLI)" "$run" "$COUNT" "$PG/$SRC_DB" export --format csv --output "$WORK/all.csv"
done
cli "export ndjson (CLI)" 1 "$COUNT" "$PG/$SRC_DB" export --format ndjson --output "$WORK/all.ndjson"
books=$(psql_db "$SRC_DB" -tAc "SELECT count(*) FROM products WHERE category = 'Books'")
cli "export csv, one category (CLI)" 1 "$books" "$PG/$SRC_DB" export --format csv --category Books --output "$WORK/books.csv"
head -n "$((SMALL + 1))" "$WORK/all.csv" > "$WORK/small.csv"
# Every row changed: stock_quantity + 1 (and + 2), written by Python's csv module.
python3 - "$WORK/all.csv" "$WORK" <<'PY'
import csv, sys
src, work = sys.argv[1], sys.argv[2]
for delta, name in ((1, "changed_a.csv"), (2, "changed_b.csv")):
    with open(src, newline="") as f, open(f"{work}/{name}", "w", newline="") as g:
        r = csv.reader(f); w = csv.writer(g)
        header = next(r); w.writerow(header); i = header.index("stock_quantity")
        for row in r:
            row[i] = str(int(row[i]) + delta); w.writerow(row)
PY

# --- import into an empty PostgreSQL database -----------------------------
recreate "$DST_DB"
cli "import csv, empty PG, first $SMALL rows" 1 "$SMALL" "$PG/$DST_DB" import "$WORK/small.csv"
for run in $(seq "$RUNS"); do
    recreate "$DST_DB"
    cli "import csv, empty PG" "$run" "$COUNT" "$PG/$DST_DB" import "$WORK/all.csv"
done
# --- import over the 1M rows, every row changed ---------------------------
for run in $(seq "$CHANGED_RUNS"); do
    file=changed_a.csv
    [ $((run % 2)) -eq 0 ] && file=changed_b.csv
    cli "import csv, 1M rows all changed (PG)" "$run" "$COUNT" "$PG/$DST_DB" import "$WORK/$file"
done
log "catalog verify --no-index on $DST_DB"
verify=$(DATABASE_URL="$PG/$DST_DB" RUST_LOG=warn "$BIN" verify --no-index 2>&1) || die "verify failed: $verify"
log "$verify"

# --- where an update's time goes: one 5,000-row UPDATE of stock_quantity, rolled
# back, with every trigger, without the triggers, and without the triggers and
# the two GIN indexes (fastupdate=off) ---------------------------------------
probe_update() {
    local prep=$1
    psql_db "$DST_DB" -Atq <<SQL 2>&1 | grep -o 'Time: [0-9.]*' | awk '{print $2}' | tail -n1
BEGIN;
$prep
\timing on
UPDATE products SET stock_quantity = stock_quantity + 1 WHERE id <= 5000;
\timing off
ROLLBACK;
SQL
}
gin=$(psql_db "$DST_DB" -Atc "SELECT string_agg(quote_ident(indexname), ',') FROM pg_indexes WHERE tablename = 'products' AND indexdef ILIKE '%USING gin%'")
indexes=$(psql_db "$DST_DB" -Atc "SELECT count(*) FROM pg_indexes WHERE tablename = 'products'")
probe_all=(); probe_notrig=(); probe_nogin=()
for run in $(seq "$RUNS"); do
    probe_all+=("$(probe_update "")")
    probe_notrig+=("$(probe_update "ALTER TABLE products DISABLE TRIGGER USER;")")
    probe_nogin+=("$(probe_update "ALTER TABLE products DISABLE TRIGGER USER; DROP INDEX $gin;")")
done
log "5,000-row UPDATE: ${probe_all[*]} ms with triggers, ${probe_notrig[*]} without, ${probe_nogin[*]} without triggers and GIN"

# --- import into SQLite ---------------------------------------------------
for run in $(seq "$RUNS"); do
    rm -f "$WORK/bulk.db" "$WORK/bulk.db-wal" "$WORK/bulk.db-shm"
    cli "import csv, empty SQLite" "$run" "$COUNT" "sqlite://$WORK/bulk.db?mode=rwc" import "$WORK/all.csv"
done
rm -f "$WORK/bulk.db" "$WORK/bulk.db-wal" "$WORK/bulk.db-shm"

# --- the endpoints, on the imported PostgreSQL database --------------------
log "serving $DST_DB on $BASE (cache off)"
env -u REDIS_URL DATABASE_URL="$PG/$DST_DB" CATALOG_ADDR="127.0.0.1:$PORT" CATALOG_CACHE=off \
    CATALOG_JWT_SECRET="$SECRET" CATALOG_SEED_COUNT=0 RUST_LOG="$SERVER_LOG_FILTER" \
    "$BIN" serve > "$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
wait_healthy "$SERVER" "$BASE" "$WORK/server.log"
wait_search_index "$SERVER" "$BASE" "$WORK/server.log"
TOKEN=$(CATALOG_JWT_SECRET="$SECRET" DATABASE_URL="$PG/$DST_DB" "$BIN" token --sub bench --ttl 3600)
# 1,000 creates spread over the catalog's category/brand pairs, as a
# supplier feed's would be (all in one pair, every trigger would update
# the same summary row).
psql_db "$SRC_DB" -tAc "SELECT category || '|' || brand FROM product_summary WHERE product_count > 0 ORDER BY 1" > "$WORK/pairs.txt"
python3 - "$WORK/template.json" "$WORK/pairs.txt" <<'PY'
import json, sys
pairs = [l.rstrip("\n").split("|", 1) for l in open(sys.argv[2]) if l.strip()]
items = [{"sku": f"B@@-{i:04d}", "name": f"Bulk bench product {i}", "description": "Posted by bench/bulk.sh",
          "category": pairs[i % len(pairs)][0], "brand": pairs[i % len(pairs)][1], "price": 10 + i % 90,
          "stock_quantity": i % 50, "rating": (i % 50) / 10, "is_active": True} for i in range(1000)]
json.dump(items, open(sys.argv[1], "w"))
PY
rss_before=$(ps -o rss= -p "$SERVER" | awk '{printf "%.0f", $1 / 1024}')
for run in $(seq "$RUNS"); do
    out=$(BULK_TEMPLATE="$WORK/template.json" BULK_TOKEN="$TOKEN" wrk -t2 -c4 -d"$DURATION" --timeout 60s --latency \
        -s bench/lua/bulk_create.lua "$BASE" 2>"$WORK/wrk.err")
    read -r rps p50 p99 <<<"$(wrk_summary <<<"$out")"
    grep -q 'bulk request failed' "$WORK/wrk.err" && { head -3 "$WORK/wrk.err" >&2; die "bulk requests failed"; }
    printf 'bulk endpoint, 4 connections, 1,000 creates per request\t%s\t%s\t%s\t%.0f\t-\n' "$run" "$((rps * 1000))" "1" "$((rps * 1000))" >> "$TSV"
    log "bulk endpoint run $run: $rps req/s = $((rps * 1000)) products/s, p50 $p50 ms, p99 $p99 ms"
done
total=$(curl -fs "$BASE/api/v1/products?limit=1" | jq .total)
for run in $(seq "$RUNS"); do
    read -r secs bytes <<<"$(curl -fs -o /dev/null -w '%{time_total} %{size_download}' "$BASE/api/v1/products/export?format=ndjson")"
    printf 'export endpoint, NDJSON\t%s\t%s\t%s\t%.0f\t-\n' "$run" "$total" "$secs" "$(awk -v r="$total" -v s="$secs" 'BEGIN {print r / s}')" >> "$TSV"
    log "export endpoint run $run: $total rows, $bytes bytes in $secs s"
done
rss_after=$(ps -o rss= -p "$SERVER" | awk '{printf "%.0f", $1 / 1024}')
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
trap - EXIT
psql_db postgres -c "DROP DATABASE IF EXISTS $DST_DB WITH (FORCE)"

# --- same-session baseline (BASELINE_BIN) ------------------------------------
# The upsert paths with another binary (a commit before a change) and with
# this one, each from a database that the baseline binary seeded (a copy
# for this one, which migrates it forward): the first $BASELINE_ROWS rows of the
# changed CSV (updates), as many new skus (creates), and the bulk endpoint.
BASELINE_ROWS="${BASELINE_ROWS:-20000}"
BASE_DB=catalog_bench_bulk_base
# csv_edit IN OUT COLUMN ARG: COLUMN "sku" gets ARG as a prefix, any other
# (a number) ARG added.
csv_edit() {
    python3 - "$@" <<'PY'
import csv, sys
src, dst, column, arg = sys.argv[1:5]
with open(src, newline="") as f, open(dst, "w", newline="") as g:
    r = csv.reader(f); w = csv.writer(g)
    header = next(r); w.writerow(header); i = header.index(column)
    for row in r:
        row[i] = arg + row[i] if column == "sku" else str(int(row[i]) + int(arg))
        w.writerow(row)
PY
}
CUR_DB=catalog_bench_bulk_cur
endpoint_runs() {
    local bin=$1 db=$2 label=$3 port=$((PORT + 1))
    env -u REDIS_URL DATABASE_URL="$PG/$db" CATALOG_ADDR="127.0.0.1:$port" CATALOG_CACHE=off \
        CATALOG_JWT_SECRET="$SECRET" CATALOG_SEED_COUNT=0 RUST_LOG="$SERVER_LOG_FILTER" \
        "$bin" serve > "$WORK/server-$label.log" 2>&1 &
    local server=$!
    wait_healthy "$server" "http://127.0.0.1:$port" "$WORK/server-$label.log"
    wait_search_index "$server" "http://127.0.0.1:$port" "$WORK/server-$label.log"
    local token
    token=$(CATALOG_JWT_SECRET="$SECRET" DATABASE_URL="$PG/$db" "$bin" token --sub bench --ttl 3600)
    for run in $(seq "$RUNS"); do
        local out rps
        out=$(BULK_TEMPLATE="$WORK/template.json" BULK_TOKEN="$token" wrk -t2 -c4 -d"$DURATION" --timeout 60s --latency \
            -s bench/lua/bulk_create.lua "http://127.0.0.1:$port" 2>"$WORK/wrk.err")
        grep -q 'bulk request failed' "$WORK/wrk.err" && { head -3 "$WORK/wrk.err" >&2; kill "$server"; die "bulk requests failed"; }
        rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
        printf 'bulk endpoint, 4 connections (%s)\t%s\t%s\t%s\t%.0f\t-\n' "$label" "$run" "$(awk -v r="$rps" 'BEGIN {printf "%.0f", r * 1000}')" "1" "$(awk -v r="$rps" 'BEGIN {print r * 1000}')" >> "$TSV"
        log "bulk endpoint ($label) run $run: $rps req/s"
    done
    kill "$server"; wait "$server" 2>/dev/null || true
}
if [ -n "${BASELINE_BIN:-}" ]; then
    [ -x "$BASELINE_BIN" ] || die "no baseline binary at $BASELINE_BIN"
    head -n "$((BASELINE_ROWS + 1))" "$WORK/changed_a.csv" > "$WORK/base_changed.csv"
    for label in baseline current; do
        csv_edit "$WORK/base_changed.csv" "$WORK/base_new_$label.csv" sku "N$label-"
    done
    recreate "$BASE_DB"
    log "seeding $COUNT products into $BASE_DB with the baseline binary"
    DATABASE_URL="$PG/$BASE_DB" RUST_LOG=warn "$BASELINE_BIN" seed --count "$COUNT"
    psql_db postgres -c "DROP DATABASE IF EXISTS $CUR_DB WITH (FORCE)" -c "CREATE DATABASE $CUR_DB TEMPLATE $BASE_DB"
    for pair in "baseline:$BASELINE_BIN:$BASE_DB" "current:$BIN:$CUR_DB"; do
        IFS=: read -r label bin db <<<"$pair"
        for run in $(seq "$RUNS"); do
            # Each run changes the stock again (run 1: +1 as in the file).
            csv_edit "$WORK/base_changed.csv" "$WORK/base_run.csv" stock_quantity "$((run - 1))"
            BIN_SAVED=$BIN; BIN=$bin
            cli "import csv, $BASELINE_ROWS rows changed ($label)" "$run" "$BASELINE_ROWS" "$PG/$db" import "$WORK/base_run.csv"
            BIN=$BIN_SAVED
        done
        BIN_SAVED=$BIN; BIN=$bin
        cli "import csv, $BASELINE_ROWS new rows ($label)" 1 "$BASELINE_ROWS" "$PG/$db" import "$WORK/base_new_$label.csv"
        BIN=$BIN_SAVED
        endpoint_runs "$bin" "$db" "$label"
    done
    psql_db postgres -c "DROP DATABASE IF EXISTS $BASE_DB WITH (FORCE)" -c "DROP DATABASE IF EXISTS $CUR_DB WITH (FORCE)"
fi

# --- the report ---------------------------------------------------------------
cp "$TSV" "$BULK_OUT/bulk.tsv"
{
    echo "# Bulk: import, export, the bulk endpoint"
    echo
    echo "Machine: $(nproc) cores ($(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')), $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr); PostgreSQL $(psql_db postgres -tAc 'SHOW server_version'). Date: $(date -u +%Y-%m-%d). Binary: $(git rev-parse --short HEAD)."
    echo
    [ -n "${BASELINE_BIN:-}" ] && echo "Same-session baseline: the rows marked (baseline) ran binary $BASELINE_BIN, the rows marked (current) this one, each on a database the baseline binary seeded with $COUNT products." && echo
    echo "Command: \`just bench bulk\` (bench/bulk.sh), $RUNS runs per row ($CHANGED_RUNS for the update import), medians; $COUNT products seeded by \`catalog seed\`; every raw run in [bulk.tsv](bulk.tsv). Peak RSS from \`/usr/bin/time\` (the CLI process)."
    echo
    echo "| case | rows | median s | median rows/s | peak RSS MB (median) |"
    echo "|---|---:|---:|---:|---:|"
    cut -f1 "$TSV" | tail -n +2 | awk '!seen[$0]++' | while read -r label; do
        rows=$(awk -F'\t' -v l="$label" '$1 == l {print $3; exit}' "$TSV")
        mapfile -t secs < <(awk -F'\t' -v l="$label" '$1 == l {print $4}' "$TSV")
        mapfile -t rps < <(awk -F'\t' -v l="$label" '$1 == l {print $5}' "$TSV")
        mapfile -t rss < <(awk -F'\t' -v l="$label" '$1 == l && $6 != "-" {print $6}' "$TSV")
        printf '| %s | %s | %s | %s | %s |\n' "$label" "$rows" "$(median "${secs[@]}")" "$(median "${rps[@]}")" "$(median "${rss[@]}")"
    done
    echo
    echo "The server's RSS around the endpoint runs: $rss_before MB before, $rss_after MB after (1M-product search index included)."
    echo
    echo "\`catalog verify --no-index\` after the PostgreSQL imports: $verify"
    echo
    echo "## Where an update's time goes"
    echo
    echo "One \`UPDATE products SET stock_quantity = stock_quantity + 1 WHERE id <= 5000\` on the imported 1M rows, rolled back (medians of $RUNS): every trigger on: $(median "${probe_all[@]}") ms; the triggers off: $(median "${probe_notrig[@]}") ms; the triggers off and the two GIN indexes (\`fastupdate=off\`) dropped: $(median "${probe_nogin[@]}") ms. The table has $indexes indexes; an update that changes an indexed column (or finds no room on its page, as after a bulk load) writes an entry in every one of them."
} > "$BULK_OUT/bulk.md"
log "wrote $BULK_OUT/bulk.md"
