"""A point's day as a small inline SVG: the highest value of each bucket, and the limit line.

Inline SVG because the board must work on a plant network without internet (no chart
library, no external asset). Each bucket shows its maximum, not its mean: a short peak is
what the floor must not miss. The query groups in SQLite, so a 1 Hz day (86,400 rows) costs
one indexed scan and at most ``BUCKETS`` rows in Python.
"""

from __future__ import annotations

import html
import sqlite3
from dataclasses import dataclass

BUCKETS = 144  # 10-minute buckets over a day
WIDTH, HEIGHT = 300.0, 60.0


@dataclass(frozen=True, slots=True)
class DayCurve:
    start: float
    end: float
    points: list[tuple[float, float]]  # (bucket start time, max value)


def day_curve(conn: sqlite3.Connection, point: str, quantity: str, start: float,
              end: float, buckets: int = BUCKETS) -> DayCurve:
    """Per bucket the maximum good (or uncertain) value of ``point``'s ``quantity``."""
    width = (end - start) / buckets
    rows = conn.execute(
        "SELECT CAST((time - ?) / ? AS INTEGER) AS b, MAX(value) FROM readings "
        "WHERE point = ? AND quantity = ? AND time >= ? AND time < ? AND value IS NOT NULL "
        "AND quality != 'bad' GROUP BY b ORDER BY b",
        (start, width, point, quantity, start, end)).fetchall()
    return DayCurve(start, end, [(start + int(b) * width, float(v)) for b, v in rows])


def svg(curve: DayCurve, limit: float | None, *, label: str, limit_label: str = "") -> str:
    """The curve scaled to the larger of its peak and 1.25 x the limit; the limit dashed red.

    A gap longer than two buckets breaks the line: no data is not drawn as a straight line.
    """
    top = max([v for _, v in curve.points] + ([limit * 1.25] if limit else []) + [1e-9])
    span = curve.end - curve.start

    def xy(t: float, v: float) -> str:
        x = (t - curve.start) / span * WIDTH
        y = HEIGHT - max(v, 0.0) / top * (HEIGHT - 4)
        return f"{x:.1f},{y:.1f}"

    lines: list[list[str]] = []
    gap = 2.5 * span / BUCKETS
    last: float | None = None
    for t, v in curve.points:
        if last is None or t - last > gap:
            lines.append([])
        lines[-1].append(xy(t, v))
        last = t
    parts = [f'<svg class="curve" viewBox="0 0 {WIDTH:g} {HEIGHT:g}" '
             'preserveAspectRatio="none" role="img" '
             f'aria-label="{html.escape(label)}">',
             f'<rect width="{WIDTH:g}" height="{HEIGHT:g}" class="bg"/>']
    if limit:
        y = HEIGHT - limit / top * (HEIGHT - 4)
        parts.append(f'<line class="limit" x1="0" x2="{WIDTH:g}" y1="{y:.1f}" y2="{y:.1f}">'
                     f'<title>{html.escape(limit_label)}</title></line>')
    for line in lines:
        if len(line) == 1:
            x, y_ = line[0].split(",")
            parts.append(f'<circle class="data" cx="{x}" cy="{y_}" r="1.5"/>')
        else:
            parts.append(f'<polyline class="data" points="{" ".join(line)}"/>')
    parts.append("</svg>")
    return "".join(parts)
