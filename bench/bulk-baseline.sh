#!/usr/bin/env bash
# Same-session baselines for the rows of bench/bulk.sh that its BASELINE_BIN
# section does not cover: two binaries alternated (base, current; RUNS
# times) on the import of the 1M-row CSV into an empty PostgreSQL database
# and an empty SQLite file, the CSV export, and once each the import of
# CHANGED_ROWS changed rows over 1M products (copies of one database the
# base binary seeded). Prints one line per run: case, binary, seconds,
# peak RSS (KB). Needs bench/bulk.sh's CSVs (target/bench/bulk/).
#
# Usage: BASE_BIN=/path/to/old/catalog [CUR_BIN=target/release/catalog] bash bench/bulk-baseline.sh
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$ROOT/target/bench/bulk"
: "${BASE_BIN:?set BASE_BIN to the binary to compare with}"
CUR_BIN="${CUR_BIN:-$ROOT/target/release/catalog}"
RUNS="${RUNS:-2}"
CHANGED_ROWS="${CHANGED_ROWS:-200000}"
PG="postgres://${PG_USER:-postgres}@${PG_HOST:-127.0.0.1}:${PG_PORT:-5432}"
P=(psql "$PG/postgres" -q)
[ -f "$WORK/all.csv" ] && [ -f "$WORK/changed_a.csv" ] || { echo "run bench/bulk.sh first (no $WORK/all.csv)" >&2; exit 1; }
t() { /usr/bin/time -f "%e %M" -o "$WORK/t.out" env "$@" >/dev/null 2>"$WORK/err.out" || cat "$WORK/err.out" >&2; tail -1 "$WORK/t.out"; }
for r in $(seq "$RUNS"); do
    for pair in "base:$BASE_BIN" "current:$CUR_BIN"; do
        IFS=: read -r label bin <<<"$pair"
        "${P[@]}" -c "DROP DATABASE IF EXISTS bl_empty" -c "CREATE DATABASE bl_empty"
        echo "empty-pg-import $label run $r: $(t DATABASE_URL="$PG/bl_empty" RUST_LOG=warn "$bin" import "$WORK/all.csv")"
        rm -f "$WORK"/bl.db*
        echo "sqlite-import $label run $r: $(t DATABASE_URL="sqlite://$WORK/bl.db?mode=rwc" RUST_LOG=warn "$bin" import "$WORK/all.csv")"
        echo "export-csv $label run $r: $(t DATABASE_URL="$PG/bl_empty" RUST_LOG=warn "$bin" export --format csv --output "$WORK/bl-export.csv")"
    done
done
"${P[@]}" -c "DROP DATABASE IF EXISTS bl_empty"; rm -f "$WORK"/bl.db* "$WORK/bl-export.csv"
head -n "$((CHANGED_ROWS + 1))" "$WORK/changed_a.csv" > "$WORK/bl-changed.csv"
"${P[@]}" -c "DROP DATABASE IF EXISTS bl_base" -c "CREATE DATABASE bl_base"
DATABASE_URL="$PG/bl_base" RUST_LOG=warn "$BASE_BIN" seed --count 1000000 >/dev/null 2>&1
"${P[@]}" -c "DROP DATABASE IF EXISTS bl_cur" -c "CREATE DATABASE bl_cur TEMPLATE bl_base"
echo "update-import-$CHANGED_ROWS base: $(t DATABASE_URL="$PG/bl_base" RUST_LOG=warn "$BASE_BIN" import "$WORK/bl-changed.csv")"
echo "update-import-$CHANGED_ROWS current: $(t DATABASE_URL="$PG/bl_cur" RUST_LOG=warn "$CUR_BIN" import "$WORK/bl-changed.csv")"
"${P[@]}" -c "DROP DATABASE IF EXISTS bl_base" -c "DROP DATABASE IF EXISTS bl_cur"
