# Shared by the benchmark scripts (sourced, not run).

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
