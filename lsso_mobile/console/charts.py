"""Charts as server-rendered SVG: no script, no chart library, nothing fetched; colours come from classes
in console.css (the CSP allows no inline style). Every chart is drawn next to a table with the same
numbers, so a screen reader or a printout loses nothing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 44
MAX_LABELS = 16  # at most this many category labels under the bars (every k-th beyond)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    css: str  # a class of console.css that colours it: s0 ... s9, or an outcome (sent, failed, ...)


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at least ``value`` (a readable top for the axis)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:,.1f}"


def stacked_bars(categories: Sequence[str], series: Sequence[Series], label: str) -> Markup:
    """Vertical bars, one per category, each stacked from the series' values (bottom up, in order)."""
    count = max(len(categories), 1)
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    top = nice_ceiling(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    band = plot_w / count
    bar = max(1.0, min(band * 0.7, 56.0))
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
    ]
    for tick in range(5):
        value = top * tick / 4
        y = TOP + plot_h - plot_h * tick / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_number(value)}</text>')
    every = max(1, math.ceil(len(categories) / MAX_LABELS))
    for i, category in enumerate(categories):
        x = LEFT + band * i + (band - bar) / 2
        base = float(TOP + plot_h)
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            h = plot_h * value / top
            base -= h
            parts.append(
                f'<rect class="{escape(s.css)}" x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}">'
                f"<title>{escape(category)} · {escape(s.name)}: {_number(value)}</title></rect>"
            )
        if i % every == 0:
            parts.append(
                f'<text class="axis" x="{x + bar / 2:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">'
                f"{escape(category)}</text>"
            )
    parts.append(f'<line class="base" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>')
    parts.append("</svg>")
    legend = "".join(
        f'<li><span class="swatch {escape(s.css)}"></span>{escape(s.name)}</li>' for s in series if any(s.values)
    )
    # Every text and class above went through escape(); numbers are formatted here.
    return Markup(f'<figure class="chart-box">{"".join(parts)}<ul class="legend">{legend}</ul></figure>')  # noqa: S704
