"""The dashboard's charts as SVG drawn by the server (nothing fetched, nothing run in the
browser): a heat strip of openings per location per hour over 7 days, a histogram of the time
from opening to booking, the deposit funnel and deliveries by status. Pure functions of their
figures; presentation attributes only (the page's CSP allows no inline styles)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from markupsafe import Markup

from slotqueue.projections.wording import local_time

BLUES = ("#e8eef4", "#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c")
STATUS_COLOURS = {"delivered": "#2e7d32", "sent": "#66bb6a", "queued": "#90a4ae",
                  "sending": "#42a5f5", "failed": "#c62828", "suppressed": "#8d6e63",
                  "unknown": "#f9a825"}
BUCKETS = ((1, "< 1 s"), (5, "1-5 s"), (30, "5-30 s"), (120, "30 s-2 min"),
           (600, "2-10 min"), (3600, "10-60 min"), (float("inf"), "≥ 1 h"))
HOURS = 7 * 24


def _svg(width: int, height: int, title: str, body: Sequence[str]) -> Markup:
    return Markup(  # noqa: S704 - every label is escaped below
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title>'
        + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 11) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="#1f2933">{escape(text)}</text>')


def _shade(count: int, most: int) -> str:
    if count <= 0 or most <= 0:
        return BLUES[0]
    return BLUES[min(len(BLUES) - 1, 1 + (count - 1) * (len(BLUES) - 1) // most)]


def openings_heat(series: dict[str, dict[datetime, int]], now: datetime, tz: str) -> Markup:
    """One row per location, one cell per hour of the last 7 days (local days marked)."""
    zone, label_w, cell, row_h = ZoneInfo(tz), 130, 4, 18
    start = now.astimezone(zone).replace(minute=0, second=0, microsecond=0) - timedelta(
        hours=HOURS - 1)
    hours = [start + timedelta(hours=i) for i in range(HOURS)]
    most = max((c for counts in series.values() for c in counts.values()), default=0)
    body, height = [], 24 + row_h * max(len(series), 1)
    for i, hour in enumerate(hours):
        if hour.hour == 0:
            x = label_w + i * cell
            body += [f'<line x1="{x}" y1="14" x2="{x}" y2="{height}" stroke="#7b8794"/>',
                     _text(x + 2, 11, f"{hour:%a} {hour.day}", size=10)]
    for r, (name, counts) in enumerate(sorted(series.items())):
        y = 18 + r * row_h
        body.append(_text(0, y + 11, f"{name[:18]} ({sum(counts.values())})"))
        by_hour = {h.astimezone(zone): c for h, c in counts.items()}
        for i, hour in enumerate(hours):
            n = by_hour.get(hour, 0)
            body.append(f'<rect x="{label_w + i * cell}" y="{y}" width="{cell}" '
                        f'height="{row_h - 4}" fill="{_shade(n, most)}"><title>'
                        f'{escape(name)}, {escape(local_time(hour, tz))}: {n}</title></rect>')
    if not series:
        body.append(_text(label_w, 34, "no openings in the last 7 days"))
    return _svg(label_w + HOURS * cell + 4, height, "Openings per location per hour, last 7 "
                "days", body)


def buckets(seconds: Sequence[float]) -> list[tuple[str, int]]:
    counts = [0] * len(BUCKETS)
    for value in seconds:
        counts[next(i for i, (upper, _) in enumerate(BUCKETS) if value < upper)] += 1
    return [(label, counts[i]) for i, (_, label) in enumerate(BUCKETS)]


def histogram(rows: Sequence[tuple[str, int]], title: str) -> Markup:
    """Vertical bars, one per bucket, with its count above it."""
    width, height, bar_w, base = 70 * len(rows), 170, 46, 140
    most = max((n for _, n in rows), default=0) or 1
    body = [f'<line x1="0" y1="{base}" x2="{width}" y2="{base}" stroke="#7b8794"/>']
    for i, (label, n) in enumerate(rows):
        x, h = 12 + i * 70, round(110 * n / most)
        body += [f'<rect x="{x}" y="{base - h}" width="{bar_w}" height="{h}" fill="#3182bd">'
                 f"<title>{escape(label)}: {n}</title></rect>",
                 _text(x + bar_w / 2, base - h - 4, str(n), "middle"),
                 _text(x + bar_w / 2, base + 16, label, "middle", 10)]
    return _svg(width, height, title, body)


def hbars(rows: Sequence[tuple[str, int, str]], title: str, of: int | None = None) -> Markup:
    """Horizontal bars (label, count, colour); with `of`, each also as a share of it."""
    label_w, bar_max, row_h = 120, 300, 26
    most = max((n for _, n, _ in rows), default=0) or 1
    body = []
    for i, (label, n, colour) in enumerate(rows):
        y, w = 4 + i * row_h, round(bar_max * n / most)
        share = f" ({100 * n / of:.0f}%)" if of else ""
        body += [_text(0, y + 14, label),
                 f'<rect x="{label_w}" y="{y}" width="{max(w, 1)}" height="{row_h - 8}" '
                 f'fill="{colour}"><title>{escape(label)}: {n}{share}</title></rect>',
                 _text(label_w + max(w, 1) + 6, y + 14, f"{n}{share}")]
    return _svg(label_w + bar_max + 90, 8 + row_h * max(len(rows), 1), title, body)


def funnel(required: int, paid: int, booked: int) -> Markup:
    return hbars([("deposit asked", required, "#6baed6"), ("paid", paid, "#3182bd"),
                  ("booked", booked, "#08519c")], "Deposit conversion", of=required or None)


def by_status(counts: dict[str, int]) -> Markup:
    order = [s for s in STATUS_COLOURS if s in counts] + sorted(set(counts) - set(STATUS_COLOURS))
    return hbars([(s, counts[s], STATUS_COLOURS.get(s, "#7b8794")) for s in order],
                 "Deliveries by status")
