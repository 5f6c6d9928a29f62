#!/usr/bin/env python3
"""Horizontal bar chart of the median p99 latency per scenario, as SVG.

Reads the per-run TSV that bench/scale.sh writes (columns: scenario, run,
tool, requests_per_s, p50_ms, p99_ms, non_2xx, errors, target, description)
and draws one bar per scenario on a logarithmic millisecond axis, with the
scenario's p99 target (a `p99<=N` condition of its target) as a marker on its bar. Python 3
standard library only.

Usage: python3 bench/chart.py [IN.tsv [OUT.svg]]
       (defaults: docs/benchmarks/scale.tsv, docs/benchmarks/scale-p99.svg)
"""

import csv
import math
import statistics
import sys
from xml.sax.saxutils import escape

WIDTH = 960
MARGIN_LEFT = 24
MARGIN_RIGHT = 110  # room for the value after the longest bar
TOP = 78
ROW = 54  # a label line above each bar, the target under it
BAR_H = 16
AXIS_H = 46

MET = "#2e8540"
MISSED = "#c0392b"
NO_TARGET = "#6b8cae"
TEXT = "#1f2328"
MUTED = "#57606a"
GRID = "#d0d7de"


def number(value):
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v >= 0 else None


def read_scenarios(path):
    """Scenarios in file order: (description, median p99, p99 target or None, runs)."""
    order, rows = [], {}
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            name = r["scenario"]
            if name not in rows:
                order.append(name)
                desc = (r.get("description") or name).replace("**", "")
                rows[name] = {"desc": desc, "target": r.get("target", ""), "p99": [], "failed": 0}
            rows[name]["failed"] += int(number(r.get("non_2xx")) or 0) + int(number(r.get("errors")) or 0)
            p99 = number(r.get("p99_ms"))
            if p99 is not None:
                rows[name]["p99"].append(p99)
    out = []
    for name in order:
        r = rows[name]
        if not r["p99"]:
            continue
        target = None
        # A target may hold several conditions, space-separated (rps>=3000 p99<=30 solo99<=2).
        for cond in r["target"].split():
            if cond.startswith("p99<="):
                target = number(cond[len("p99<="):])
        desc = r["desc"]
        if r["failed"]:
            # Latencies of failed responses say nothing about the scenario.
            desc += f" — {r['failed']:,} failed responses"
            target = target if target is not None else 0.0
        out.append((desc, statistics.median(r["p99"]), target, len(r["p99"])))
    return out


def fmt_ms(v):
    if v >= 100:
        return f"{v:,.0f} ms"
    if v >= 10:
        return f"{v:.1f} ms"
    if v >= 1:
        return f"{v:.2f} ms"
    return f"{v:.3f} ms"


def tick_label(v):
    return f"{v:g} ms" if v < 1000 else f"{v / 1000:g} s"


def render(scenarios):
    values = [p for _, p, _, _ in scenarios] + [t for _, _, t, _ in scenarios if t]  # 0.0: failed, no marker
    positive = [v for v in values if v > 0] or [1.0]
    lo = 10 ** math.floor(math.log10(min(positive) * 0.8))
    hi = 10 ** math.ceil(math.log10(max(positive) * 1.25))
    if hi / lo < 100:
        hi = lo * 100
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT

    def x(v):
        v = max(v, lo)
        return MARGIN_LEFT + plot_w * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    height = TOP + ROW * len(scenarios) + AXIS_H
    bottom = TOP + ROW * len(scenarios)
    runs = max((n for *_, n in scenarios), default=0)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif" font-size="13">',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="{MARGIN_LEFT}" y="28" font-size="18" font-weight="bold" fill="{TEXT}">'
        "p99 latency per scenario</text>",
        f'<text x="{MARGIN_LEFT}" y="48" fill="{MUTED}">median of {runs} run{"s" if runs != 1 else ""} '
        "per scenario; logarithmic axis; shorter is better</text>",
    ]
    # Legend.
    lx = MARGIN_LEFT
    for color, label in ((MET, "target met"), (MISSED, "missed, or errors"), (NO_TARGET, "no p99 target")):
        out.append(f'<rect x="{lx}" y="58" width="12" height="12" fill="{color}"/>')
        out.append(f'<text x="{lx + 17}" y="69" fill="{TEXT}">{label}</text>')
        lx += 140
    out.append(f'<line x1="{lx + 6}" y1="56" x2="{lx + 6}" y2="72" stroke="{TEXT}" stroke-width="2.5"/>')
    out.append(f'<text x="{lx + 14}" y="69" fill="{TEXT}">p99 target</text>')

    # Grid: every power of ten, lighter lines at 2 and 5.
    decade = lo
    while decade <= hi * 1.0001:
        for m in (1, 2, 5):
            v = decade * m
            if v > hi * 1.0001:
                break
            gx = x(v)
            major = m == 1
            style = 'stroke-width="1"' if major else 'stroke-width="0.6" stroke-dasharray="3,3"'
            out.append(
                f'<line x1="{gx:.1f}" y1="{TOP - 6}" x2="{gx:.1f}" y2="{bottom}" stroke="{GRID}" {style}/>'
            )
            if major or hi / lo <= 1000:
                out.append(
                    f'<text x="{gx:.1f}" y="{bottom + 18}" text-anchor="middle" fill="{MUTED}" '
                    f'font-size="{12 if major else 10}">{tick_label(v)}</text>'
                )
        decade *= 10
    out.append(
        f'<text x="{MARGIN_LEFT + plot_w / 2:.0f}" y="{bottom + 38}" text-anchor="middle" fill="{MUTED}">'
        "p99 latency (ms, log scale)</text>"
    )

    for i, (desc, p99, target, _) in enumerate(scenarios):
        top = TOP + ROW * i
        bar_y = top + 20
        if target is None:
            color = NO_TARGET
        else:
            color = MET if p99 <= target and "failed responses" not in desc else MISSED
        out.append(f'<text x="{MARGIN_LEFT}" y="{top + 13}" fill="{TEXT}">{escape(desc)}</text>')
        bx = x(p99)
        out.append(
            f'<rect x="{MARGIN_LEFT}" y="{bar_y}" width="{max(bx - MARGIN_LEFT, 2):.1f}" '
            f'height="{BAR_H}" fill="{color}"><title>{escape(desc)}: {fmt_ms(p99)}</title></rect>'
        )
        # The value goes after the bar, or after the target marker when the
        # marker would cross it.
        vx = bx + 6
        if target and bx - 2 <= x(target) <= bx + 8 * len(fmt_ms(p99)):
            vx = max(bx, x(target)) + 7
        out.append(
            f'<text x="{vx:.1f}" y="{bar_y + 12}" fill="{TEXT}" font-weight="bold">{fmt_ms(p99)}</text>'
        )
        if target:
            tx = x(target)
            out.append(
                f'<line x1="{tx:.1f}" y1="{bar_y - 4}" x2="{tx:.1f}" y2="{bar_y + BAR_H + 4}" '
                f'stroke="{TEXT}" stroke-width="2.5"><title>target: p99 ≤ {target:g} ms</title></line>'
            )
            out.append(
                f'<text x="{max(tx, MARGIN_LEFT + 45):.1f}" y="{bar_y + BAR_H + 14}" text-anchor="middle" fill="{MUTED}" '
                f'font-size="11">target ≤ {target:g} ms</text>'
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv):
    src = argv[1] if len(argv) > 1 else "docs/benchmarks/scale.tsv"
    dst = argv[2] if len(argv) > 2 else "docs/benchmarks/scale-p99.svg"
    scenarios = read_scenarios(src)
    if not scenarios:
        print(f"chart.py: no p99 values in {src}", file=sys.stderr)
        return 1
    with open(dst, "w", encoding="utf-8") as f:
        f.write(render(scenarios))
    print(f"wrote {dst} ({len(scenarios)} scenarios)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
