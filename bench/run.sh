#!/usr/bin/env bash
# `just bench [seed|latency|cache|scale|writes|writes-ab|bulk|bulk-baseline|ab-rows]`: runs the benchmarks and rewrites their
# reports under docs/benchmarks/. With no argument, runs them all but writes-ab (which needs
# BASE_BIN, a binary from before the change log: see bench/writes-ab.sh) and ab-rows (BASE_BIN
# and NEW_BIN alternated on the scale database; prints a table, writes no report).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
case "${1:-all}" in
    seed) bash seed.sh ;;
    cache) bash cache.sh ;;
    latency) bash latency.sh ;;
    scale) bash scale.sh ;;
    writes) bash writes.sh ;;
    writes-ab) bash writes-ab.sh ;;
    bulk) bash bulk.sh ;;
    bulk-baseline) bash bulk-baseline.sh ;;
    ab-rows) bash ab-rows.sh ;;
    all) bash seed.sh && bash latency.sh && bash cache.sh && bash scale.sh && bash writes.sh && bash bulk.sh ;;
    *) echo "usage: just bench [seed|latency|cache|scale|writes|writes-ab|bulk|bulk-baseline|ab-rows]" >&2; exit 2 ;;
esac
