#!/usr/bin/env bash
# A/B of the write benchmark (bench/writes.sh) between two release
# binaries, alternated in one session: base, new, base, new... (AB_ROUNDS
# times), each run on a fresh copy of the same template database. Made for
# issue 14's "the write benchmark stays within 15 % of today's figures with
# the change log": the base binary is built from a commit before the change
# log (bae314e, before migration 13) and runs on a copy with the change log
# removed (its table, trigger and migration record: a binary refuses a
# migration it does not know); the new binary runs on a copy with it, and
# with its search index (the default) ready before it is measured.
# Writes $AB_OUT/writes-ab.md (medians per binary and scenario, the ratio
# new / base, the verdict) and writes-ab.tsv (every run).
#
# Runtime at 1,000,000 products with the defaults: about 3 minutes per
# writes.sh run (copy of the template, index build for the new binary,
# 4 scenarios × (2 s + 2 × 10 s + 3 s), `catalog verify`), 2 runs per round:
# about 18 minutes for 3 rounds.
#
# Usage:
#   git worktree add /work/wt-base bae314e
#   (cd /work/wt-base && CARGO_TARGET_DIR=/work/target-base cargo build --release -p catalog)
#   BASE_BIN=/work/target-base/release/catalog NEW_BIN=/work/target-bench/release/catalog \
#       bash bench/writes-ab.sh        (or: just bench writes-ab, with the same variables)
# Environment:
#   BASE_BIN             the binary from before the change log (required)
#   NEW_BIN              the binary with it (default: `cargo build --release -p catalog` of this checkout)
#   BASE_LABEL=base NEW_LABEL=new   their names in the report (e.g. their commits)
#   AB_ROUNDS=3          alternations; each runs writes.sh once per binary
#   RUNS=2 DURATION=10s SOLO=3s WARMUP=2s   per writes.sh run (the medians are over every run of a binary)
#   BASE_PREPARE_SQL=... SQL run on the base binary's copy (default: remove the change log, migration 13)
#   NEW_PREPARE_SQL=     SQL run on the new binary's copy (default: none)
#   AB_MAX_LOSS=15       the tolerated loss of writes/s, in %, for the verdict
#   AB_OUT=docs/benchmarks   where writes-ab.md and writes-ab.tsv go
#   SCALE_COUNT=1000000 SCALE_DB=catalog_bench_scale WRITES_DB PG_HOST PG_PORT PG_USER PORT
#                        passed on to writes.sh (the template is seeded by NEW_BIN when missing)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/common.sh
source bench/common.sh

die() { printf 'writes-ab.sh: %s\n' "$*" >&2; exit 1; }
thousands() { sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta' <<<"$1"; }
join_runs() { # VALUE... → "1234 / 1180 / 1201" (whole numbers)
    printf '%s\n' "$@" | awk '{ printf "%s%.0f", (NR > 1 ? " / " : ""), $1 }'
}

: "${BASE_BIN:?set BASE_BIN to the binary from before the change log (e.g. built from bae314e)}"
BASE_LABEL="${BASE_LABEL:-base}"
NEW_LABEL="${NEW_LABEL:-new}"
AB_ROUNDS="${AB_ROUNDS:-3}"
AB_MAX_LOSS="${AB_MAX_LOSS:-15}"
AB_OUT="${AB_OUT:-docs/benchmarks}"
export RUNS="${RUNS:-2}" DURATION="${DURATION:-10s}" SOLO="${SOLO:-3s}" WARMUP="${WARMUP:-2s}"
export SCALE_COUNT="${SCALE_COUNT:-1000000}" SCALE_DB="${SCALE_DB:-catalog_bench_scale}"
PG_HOST="${PG_HOST:-127.0.0.1}"
PG_PORT="${PG_PORT:-5432}"
PG_USER="${PG_USER:-postgres}"
export PG_HOST PG_PORT PG_USER
BASE_PREPARE_SQL="${BASE_PREPARE_SQL-DROP TRIGGER IF EXISTS products_changes ON products;
DROP FUNCTION IF EXISTS product_changes_trigger();
DROP TABLE IF EXISTS product_changes;
DELETE FROM seaql_migrations WHERE version LIKE 'm20261203_000013%';}"
NEW_PREPARE_SQL="${NEW_PREPARE_SQL:-}"
WORK="$ROOT/target/bench/writes-ab"
[[ "$AB_ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "AB_ROUNDS must be a positive integer"
[[ "$AB_MAX_LOSS" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "AB_MAX_LOSS must be a number (percent)"
[[ "$SCALE_DB" =~ ^[a-z_][a-z0-9_]*$ ]] || die "SCALE_DB must be a plain lower-case identifier"

abs_bin() { # PATH → its absolute path, when executable
    [ -x "$1" ] || die "$1 is not an executable"
    echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
}
BASE_BIN=$(abs_bin "$BASE_BIN")
if [ -z "${NEW_BIN:-}" ]; then
    log "building the release binary (NEW_BIN unset)"
    cargo build --release -q -p catalog
    NEW_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/catalog"
fi
NEW_BIN=$(abs_bin "$NEW_BIN")
[ "$BASE_BIN" != "$NEW_BIN" ] || die "BASE_BIN and NEW_BIN are the same file"
psql_db postgres -c 'SELECT 1' >/dev/null || die "PostgreSQL is not reachable at $PG_HOST:$PG_PORT as $PG_USER"
mkdir -p "$WORK" "$AB_OUT"
rm -rf "${WORK:?}"/run-*

# The template, seeded by the new binary when missing (writes.sh would seed
# it with whichever binary runs first: the base one would leave it without
# the change log's migration).
template_rows=$(psql_db "$SCALE_DB" -tAc "SELECT count(*) FROM products" 2>/dev/null || echo 0)
if [ "$template_rows" != "$SCALE_COUNT" ]; then
    log "$SCALE_DB holds $template_rows products, not $SCALE_COUNT: seeding it with $NEW_BIN"
    psql_db postgres -c "DROP DATABASE IF EXISTS $SCALE_DB WITH (FORCE)"
    psql_db postgres -c "CREATE DATABASE $SCALE_DB"
    env -u REDIS_URL DATABASE_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$SCALE_DB" RUST_LOG=warn \
        "$NEW_BIN" seed --count "$SCALE_COUNT" </dev/null >/dev/null || die "seeding $SCALE_DB failed"
    psql_db "$SCALE_DB" -c "VACUUM (ANALYZE)"
fi
# The template at the new binary's schema, so that neither copy migrates
# inside a measured run.
env -u REDIS_URL DATABASE_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$SCALE_DB" RUST_LOG=warn \
    "$NEW_BIN" migrate </dev/null >/dev/null || die "migrating $SCALE_DB with $NEW_BIN failed"

COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
printf 'round\tbinary\tscenario\trun\trequests_per_s\tp50_ms\tp99_ms\tnon_2xx\n' >"$WORK/writes-ab.tsv"
started=$(date +%s)
for ((round = 1; round <= AB_ROUNDS; round++)); do
    for which in base new; do
        if [ "$which" = base ]; then bin=$BASE_BIN prep=$BASE_PREPARE_SQL; else bin=$NEW_BIN prep=$NEW_PREPARE_SQL; fi
        out="$WORK/run-$round-$which"
        mkdir -p "$out"
        log "round $round/$AB_ROUNDS: $which ($bin)"
        CATALOG_BIN="$bin" WRITES_OUT="$out" WRITES_PREPARE_SQL="$prep" bash bench/writes.sh >"$out/writes.log" 2>&1 \
            || { tail -n 40 "$out/writes.log" >&2; die "writes.sh failed for $which in round $round (log: $out/writes.log)"; }
        cp "$ROOT/target/bench/writes/server.log" "$out/server.log" 2>/dev/null || true
        awk -F'\t' -v r="$round" -v b="$which" 'NR > 1 { printf "%s\t%s\t%s\n", r, b, $0 }' "$out/writes.tsv" >>"$WORK/writes-ab.tsv"
        awk -F'\t' 'NR > 1 && $2 != "solo" { printf "   %s run %s: %s writes/s, p99 %s ms\n", $1, $2, $3, $5 }' "$out/writes.tsv" >&2
        grep -h '^Derived tables consistent' "$out/writes.md" >&2 || true
    done
done
elapsed=$(( $(date +%s) - started ))

# --- report ------------------------------------------------------------------

values() { # BINARY SCENARIO COLUMN → that column of every measured run
    awk -F'\t' -v b="$1" -v s="$2" -v c="$3" 'NR > 1 && $2 == b && $3 == s && $4 != "solo" { print $c }' "$WORK/writes-ab.tsv"
}
scenarios=$(awk -F'\t' 'NR > 1 && !seen[$3]++ { print $3 }' "$WORK/writes-ab.tsv")
MD="$AB_OUT/writes-ab.md"
VERDICT=yes
{
    echo "# Write benchmark A/B: $BASE_LABEL against $NEW_LABEL"
    echo
    echo "bench/writes.sh alternated between two binaries in one session ($AB_ROUNDS rounds of $BASE_LABEL then"
    echo "$NEW_LABEL), $(thousands "$SCALE_COUNT") products, each run on a fresh copy of \`$SCALE_DB\`; per run of writes.sh"
    echo "$RUNS × $DURATION per scenario after a $WARMUP warm-up, wrk 64 connections (writes.sh's defaults otherwise)."
    echo "Medians over the $((AB_ROUNDS * RUNS)) runs of each binary; every run in [writes-ab.tsv](writes-ab.tsv)."
    echo "Target (issue 14): $NEW_LABEL's writes/s at least $((100 - ${AB_MAX_LOSS%.*})) % of $BASE_LABEL's."
    echo
    echo "| scenario | $BASE_LABEL writes/s (runs) | $NEW_LABEL writes/s (runs) | $BASE_LABEL median | $NEW_LABEL median | $NEW_LABEL / $BASE_LABEL | p99 ms $BASE_LABEL / $NEW_LABEL | within ${AB_MAX_LOSS} %? |"
    echo "|---|---|---|---:|---:|---:|---:|---|"
    for s in $scenarios; do
        mapfile -t b < <(values base "$s" 5)
        mapfile -t n < <(values new "$s" 5)
        mapfile -t bp < <(values base "$s" 7)
        mapfile -t np < <(values new "$s" 7)
        bm=$(median "${b[@]}") nm=$(median "${n[@]}")
        r=$(awk -v a="$nm" -v b="$bm" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
        ok=$(awk -v r="$r" -v l="$AB_MAX_LOSS" 'BEGIN { print (r != "-" && r >= 1 - l / 100) ? "yes" : "**no**" }')
        [ "$ok" = yes ] || VERDICT=no
        bad=$(awk -F'\t' -v s="$s" 'NR > 1 && $3 == s { n += $8 } END { print n + 0 }' "$WORK/writes-ab.tsv")
        [ "$bad" = 0 ] || ok="$ok ($bad non-2xx)"
        echo "| $s | $(join_runs "${b[@]}") | $(join_runs "${n[@]}") | ${bm%.*} | ${nm%.*} | $r | $(median "${bp[@]}") / $(median "${np[@]}") | $ok |"
    done
    echo
    echo "- $BASE_LABEL: \`$BASE_BIN\`, on a copy without the change log (\`BASE_PREPARE_SQL\`: $(tr '\n' ' ' <<<"$BASE_PREPARE_SQL"))."
    echo "- $NEW_LABEL: \`$NEW_BIN\`, on a copy with it${NEW_PREPARE_SQL:+ (\`NEW_PREPARE_SQL\`: $NEW_PREPARE_SQL)}; its search index, when it has one, built and ready before the runs."
    echo "- Every writes.sh report (with \`catalog verify\` after the writes), its log and the server's: \`target/bench/writes-ab/run-ROUND-BINARY/\`."
    echo "- Commit of the scripts: $COMMIT; date $(date -u '+%Y-%m-%d %H:%M UTC'); $((elapsed / 60)) min $((elapsed % 60)) s; load average after: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo "Reproduce: \`BASE_BIN=… NEW_BIN=… AB_ROUNDS=$AB_ROUNDS RUNS=$RUNS DURATION=$DURATION bash bench/writes-ab.sh\` (or \`just bench writes-ab\`)."
} >"$MD"
cp "$WORK/writes-ab.tsv" "$AB_OUT/writes-ab.tsv"
cat "$MD"
log "wrote $MD and $AB_OUT/writes-ab.tsv; every scenario within ${AB_MAX_LOSS} %: $VERDICT"
