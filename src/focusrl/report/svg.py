"""Line plots as inline SVG, drawn here in Python: the report needs no plotting library,
no network and no JavaScript to show its curves (a small script only adds hover read-outs)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 380, 210
LEFT, RIGHT, TOP, BOTTOM = 52, 10, 8, 26
MAX_POINTS = 1500
"""Longer series are thinned to about this many points per line."""
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
          "#17becf", "#7f7f7f", "#bcbd22"]


def nice_ticks(lo: float, hi: float, n: int = 4, integer: bool = False) -> list[float]:
    """About n round tick values covering [lo, hi] (whole numbers with `integer`)."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    if integer:
        step = max(1, round(step)) if step >= 1 else 1
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.1e}"
    return f"{v:.4g}"


def _thin(points: Sequence[tuple[float, float]]) -> Sequence[tuple[float, float]]:
    if len(points) <= MAX_POINTS:
        return points
    stride = math.ceil(len(points) / MAX_POINTS)
    return [*points[::stride], points[-1]] if (len(points) - 1) % stride else points[::stride]


def line_plot(series: Sequence[Sequence[tuple[float, float]]], marks: Sequence[float] = (),
              plot_id: str = "") -> str:
    """One SVG: a line per series (colour i = run i), shared axes, and dashed red
    vertical marks at the steps where the doctor flagged this metric."""
    pts = [p for s in series for p in s]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if y1 - y0 <= 1e-12 * abs(y0):  # a constant: centre it
        half = 0.5 * abs(y0) if y0 else 0.5
        y0, y1 = y0 - half, y1 + half
    pad = 0.05 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return TOP + (1 - (y - y0) / (y1 - y0)) * ph

    out = [f'<svg class="plot" id="{escape(plot_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
           f'width="{WIDTH}" height="{HEIGHT}" data-x0="{x0}" data-x1="{x1}" '
           f'data-left="{LEFT}" data-width="{pw}" xmlns="http://www.w3.org/2000/svg">',
           f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="#fafafa" '
           'stroke="#ccc"/>']
    for t in nice_ticks(y0, y1):
        y = sy(t)
        out.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y:.1f}" y2="{y:.1f}" '
                   'stroke="#e4e4e4"/>')
        out.append(f'<text x="{LEFT - 4}" y="{y + 3.5:.1f}" text-anchor="end">{fmt(t)}</text>')
    for t in nice_ticks(x0, x1, 5, integer=True):
        x = sx(t)
        out.append(f'<text x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{fmt(t)}</text>')
    for m in marks:
        if x0 <= m <= x1:
            out.append(f'<line class="mark" x1="{sx(m):.1f}" x2="{sx(m):.1f}" y1="{TOP}" '
                       f'y2="{TOP + ph}" stroke="#d00" stroke-dasharray="4 3"/>')
    for i, s in enumerate(series):
        if not s:
            continue
        color = COLORS[i % len(COLORS)]
        thin = _thin(s)
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in thin)
        out.append(f'<polyline class="line" points="{coords}" fill="none" stroke="{color}" '
                   'stroke-width="1.6"/>')
        if len(thin) <= 30:  # sparse series (evaluations): show the points
            out.extend(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.6" fill="{color}"/>'
                       for x, y in thin)
    out.append(f'<line class="cursor" x1="0" x2="0" y1="{TOP}" y2="{TOP + ph}" '
               'stroke="#888" visibility="hidden"/>')
    out.append("</svg>")
    return "".join(out)
