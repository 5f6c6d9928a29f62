#!/usr/bin/env bash
# Seeding benchmark: times `catalog seed --count N` (release build) into a
# fresh SQLite file and a fresh PostgreSQL database, RUNS times each, and
# writes the medians to docs/benchmarks/seeding.md.
#
# Usage: bash bench/seed.sh
# Environment (all optional):
#   COUNT=100000   products per run
#   RUNS=3         runs per backend (the median is reported)
#   PG_HOST=127.0.0.1 PG_PORT=5432 PG_USER=postgres   the PostgreSQL server
#   BENCH_DIR=target/bench   where the SQLite file lives (a real disk, not tmpfs)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

COUNT="${COUNT:-100000}"
RUNS="${RUNS:-3}"
PG_HOST="${PG_HOST:-127.0.0.1}"
PG_PORT="${PG_PORT:-5432}"
PG_USER="${PG_USER:-postgres}"
PG_DB=catalog_bench_seed
BENCH_DIR="${BENCH_DIR:-$ROOT/target/bench}"
SQLITE_FILE="$BENCH_DIR/seed.db"
OUT=docs/benchmarks/seeding.md
BIN="$ROOT/target/release/catalog"

SQLITE_URL="sqlite://$SQLITE_FILE?mode=rwc"
PG_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$PG_DB"

psql_admin() {
    PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres "$@"
}

fresh_sqlite() {
    mkdir -p "$BENCH_DIR"
    rm -f "$SQLITE_FILE" "$SQLITE_FILE-wal" "$SQLITE_FILE-shm"
}

fresh_pg() {
    psql_admin -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)"
    psql_admin -c "CREATE DATABASE $PG_DB"
}

cleanup() {
    rm -f "$SQLITE_FILE" "$SQLITE_FILE-wal" "$SQLITE_FILE-shm" "${LOG:-}"
    psql_admin -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# The median of the numbers given as arguments.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "== building the release binary"
cargo build --release -p catalog

psql_admin -c "SELECT 1" >/dev/null || {
    echo "PostgreSQL is not reachable at $PG_HOST:$PG_PORT as $PG_USER" >&2
    exit 1
}

LOG="$(mktemp)"
# Other work on the machine skews the timings; the report records it.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# The command every run times (the URL differs per backend).
seed_cmd=(env -u REDIS_URL -u CATALOG_DB_MAX_CONNECTIONS RUST_LOG=info CATALOG_LOG_FORMAT=json
    "$BIN" seed --count "$COUNT")

# time_runs BACKEND URL: prints one "wall_seconds seed_seconds" line per run.
time_runs() {
    local backend="$1" url="$2" i start end inserted seed_secs
    for ((i = 1; i <= RUNS; i++)); do
        if [[ "$backend" == sqlite ]]; then fresh_sqlite; else fresh_pg; fi
        start=$(date +%s.%N)
        DATABASE_URL="$url" "${seed_cmd[@]}" 2>"$LOG" </dev/null
        end=$(date +%s.%N)
        inserted=$(jq -r 'select(.fields.message == "seeding done") | .fields.inserted' "$LOG")
        seed_secs=$(jq -r 'select(.fields.message == "seeding done") | .fields.seconds' "$LOG")
        if [[ "$inserted" != "$COUNT" ]]; then
            echo "$backend run $i inserted '$inserted' products, expected $COUNT" >&2
            cat "$LOG" >&2
            exit 1
        fi
        awk -v s="$start" -v e="$end" -v k="$seed_secs" 'BEGIN { printf "%.3f %.3f\n", e - s, k }'
    done
}

declare -A WALL SEED WALL_ALL
for backend in sqlite postgres; do
    url=$SQLITE_URL
    [[ "$backend" == postgres ]] && url=$PG_URL
    echo "== $backend: $RUNS runs of seed --count $COUNT"
    walls=() seeds=()
    while read -r wall seed; do
        echo "   run: ${wall}s wall (${seed}s seeding)"
        walls+=("$wall")
        seeds+=("$seed")
    done < <(time_runs "$backend" "$url")
    [[ ${#walls[@]} -eq "$RUNS" ]] || { echo "$backend: a run failed" >&2; exit 1; }
    WALL[$backend]=$(median "${walls[@]}")
    SEED[$backend]=$(median "${seeds[@]}")
    WALL_ALL[$backend]="${walls[*]}"
done

load_after=$(cut -d' ' -f1-3 /proc/loadavg)

rate() { awk -v n="$COUNT" -v s="$1" 'BEGIN { printf "%.0f", n / s }'; }

# Machine and versions.
cpu=$(lscpu | grep 'Model name' | sed 's/Model name:[[:space:]]*//' | head -n1)
cores=$(nproc)
mem=$(free -g | awk '/^Mem:/ { print $2 " GiB" }')
kernel=$(uname -sr)
pg_version=$(psql_admin -At -c "SHOW server_version")
sqlite_crate=$(grep -A1 '^name = "libsqlite3-sys"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
sqlite_header=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -path "*/libsqlite3-sys-$sqlite_crate/sqlite3/sqlite3.h" 2>/dev/null | head -n1 || true)
if [[ -n "$sqlite_header" ]]; then
    sqlite_version=$(sed -n 's/^#define SQLITE_VERSION[[:space:]]*"\(.*\)"/\1/p' "$sqlite_header")
else
    sqlite_version=unknown
fi
disk=$(df -T "$BENCH_DIR" | awk 'NR == 2 { print $2 }')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"
rustc_version=$(rustc --version)

mkdir -p "$(dirname "$OUT")"
cat >"$OUT" <<EOF
# Seeding benchmark

\`catalog seed --count $COUNT\` into an empty database, release build,
$RUNS runs per backend, each into a freshly created database; the table shows
the median. Generated by \`bash bench/seed.sh\` on $(date -u +%Y-%m-%d).

| backend | products | median wall time | rows/s (wall) | median seeding time | rows/s (seeding) | all runs (wall, s) |
|---|---:|---:|---:|---:|---:|---|
| SQLite (file, WAL, synchronous=NORMAL) | $COUNT | ${WALL[sqlite]} s | $(rate "${WALL[sqlite]}") | ${SEED[sqlite]} s | $(rate "${SEED[sqlite]}") | ${WALL_ALL[sqlite]} |
| PostgreSQL (local, TCP) | $COUNT | ${WALL[postgres]} s | $(rate "${WALL[postgres]}") | ${SEED[postgres]} s | $(rate "${SEED[postgres]}") | ${WALL_ALL[postgres]} |

- *Wall time* is the whole process: start, connect, migrate the empty
  database, generate and insert, \`ANALYZE\`, exit.
- *Seeding time* is the seeder's own report (\`seconds\` in its
  \`seeding done\` log line): generating and loading in batches of 20,000
  (PostgreSQL \`COPY\`, SQLite one transaction each) with the secondary
  indexes dropped, then building the indexes and \`ANALYZE\`.

## Command

\`\`\`sh
# SQLite (the file is deleted before each run)
DATABASE_URL='sqlite://$SQLITE_FILE?mode=rwc' RUST_LOG=info CATALOG_LOG_FORMAT=json \\
    target/release/catalog seed --count $COUNT
# PostgreSQL (DROP DATABASE / CREATE DATABASE $PG_DB before each run)
DATABASE_URL='$PG_URL' RUST_LOG=info CATALOG_LOG_FORMAT=json \\
    target/release/catalog seed --count $COUNT
\`\`\`

Reproduce with \`bash bench/seed.sh\` (\`COUNT\`, \`RUNS\`, \`PG_HOST\`,
\`PG_PORT\`, \`PG_USER\` and \`BENCH_DIR\` override the defaults).

## Machine

| | |
|---|---|
| CPU | $cpu |
| cores (\`nproc\`) | $cores |
| memory (\`free -g\`) | $mem |
| kernel | $kernel |
| PostgreSQL | $pg_version, same machine, default configuration |
| SQLite | $sqlite_version (bundled by libsqlite3-sys $sqlite_crate) |
| SQLite file system | $disk |
| Rust | $rustc_version |
| commit | $commit |
| load average (1, 5, 15 min) before / after the runs | $load_before / $load_after |

The benchmark and the database share the machine's cores.
EOF

echo
echo "SQLite:     median ${WALL[sqlite]} s wall, $(rate "${WALL[sqlite]}") rows/s"
echo "PostgreSQL: median ${WALL[postgres]} s wall, $(rate "${WALL[postgres]}") rows/s"
echo "wrote $OUT"
