# shellcheck shell=bash
# Shared by the benchmark scripts (sourced, not run).

# The benchmarks measure the server's queries from one address at full
# speed: the per-client rate limit and the load shedder (docs/operations.md)
# would measure themselves instead. Every server they start inherits this.
export CATALOG_RATE_LIMIT=off CATALOG_MAX_INFLIGHT_EXPENSIVE=off

# Installs wrk from Debian's package when it is missing.
ensure_wrk() {
    command -v wrk >/dev/null && return 0
    echo "installing wrk (Debian package)" >&2
    apt-get install -y -q wrk >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
}

# wrk prints 812.00us / 1.23ms / 1.02s; this prints milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else print v }'
}

# Requests/s, p50 and p99 (ms) of a wrk --latency report on stdin.
wrk_summary() {
    local out
    out=$(cat)
    echo "$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$out") $(to_ms "$(awk '$1=="50%" {print $2}' <<<"$out")") $(to_ms "$(awk '$1=="99%" {print $2}' <<<"$out")")"
}

log() { printf '== %s\n' "$*" >&2; }

# psql_db DB ARGS...: psql on database DB at PG_HOST:PG_PORT as PG_USER,
# quiet, stopping at the first error.
psql_db() {
    local db=$1
    shift
    PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 \
        -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$db" "$@"
}

# The median of the numbers given as arguments ("-" for none).
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
        else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# wait_healthy PID BASE LOG: waits up to 60 s for BASE/health to answer;
# fails with the server's LOG when the process PID exits first.
wait_healthy() {
    local pid=$1 base=$2 logfile=$3
    for _ in $(seq 600); do
        curl -fs -o /dev/null "$base/health" && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$logfile" >&2; die "the server exited"; }
        sleep 0.1
    done
    die "the server did not answer /health in 60 s; see $logfile"
}

# The server's log filter while measuring: warnings, and the search index's
# progress (`search index: built`, `ready`: catalog_search_memory up to
# 8b2b59c, catalog_domain::search_index after the index became a domain
# port), never a line or a span per request. (EnvFilter matches targets by
# prefix: `catalog=info` would also let through catalog_http's line per
# request and catalog_domain's instrumented spans.)
# shellcheck disable=SC2034 # read by the scripts that source this file
SERVER_LOG_FILTER="warn,catalog_search_memory=info,catalog_domain::search_index=info"

# has_search_index BIN: whether the binary has the in-process search index
# (CATALOG_SEARCH_INDEX=memory, its default): it then logs `search index: ready`.
has_search_index() { grep -aqF 'search index: ready' "$1"; }

# wait_search_index PID BASE LOG [SECONDS]: waits up to SECONDS (600) until
# the server's search index is ready: the line `search index: ready` in its
# LOG (RUST_LOG must let it through: SERVER_LOG_FILTER), or
# BASE/health reporting `checks.search_index` "ready" (API.md; binaries
# that do not report it yet leave the log line). Fails when the server exits
# or time runs out.
wait_search_index() {
    local pid=$1 base=$2 logfile=$3 limit=${4:-600} end
    end=$((SECONDS + limit))
    while [ "$SECONDS" -lt "$end" ]; do
        sed 's/\x1b\[[0-9;]*m//g' "$logfile" | grep -F 'search index: ready' >/dev/null && return 0
        [ "$(curl -fs "$base/health" 2>/dev/null | jq -r '.checks.search_index // empty' 2>/dev/null)" = ready ] && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$logfile" >&2; die "the server exited while building its search index"; }
        sleep 0.2
    done
    die "the search index was not ready after $limit s; see $logfile"
}
