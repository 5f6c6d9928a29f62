#!/usr/bin/env bash
# `just bench [seed|latency|cache|scale|writes]`: runs the benchmarks and rewrites their reports
# under docs/benchmarks/. With no argument, runs them all.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
case "${1:-all}" in
    seed) bash seed.sh ;;
    cache) bash cache.sh ;;
    latency) bash latency.sh ;;
    scale) bash scale.sh ;;
    writes) bash writes.sh ;;
    all) bash seed.sh && bash latency.sh && bash cache.sh && bash scale.sh && bash writes.sh ;;
    *) echo "usage: just bench [seed|latency|cache|scale|writes]" >&2; exit 2 ;;
esac
