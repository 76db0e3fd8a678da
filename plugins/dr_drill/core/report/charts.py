"""Small inline SVG charts for the reports: no plotting library, no script, nothing fetched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

WIDTH, HEIGHT = 680, 230
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 30, 40
PASS_COLOUR, FAIL_COLOUR, LINE_COLOUR, TARGET_COLOUR = "#1a7f37", "#cf222e", "#0969da", "#bc4c00"


@dataclass(frozen=True)
class Point:
    """One drill on a chart: when, the measured value (None when not measured), and whether it passed."""

    at: datetime
    value: float | None
    passed: bool


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _x_scale(start: datetime, end: datetime):
    span = max((end - start).total_seconds(), 1.0)
    inner = WIDTH - _LEFT - _RIGHT
    return lambda at: _LEFT + inner * (at - start).total_seconds() / span


def _frame(title: str, y_label: str, y_max: float, start: datetime, end: datetime, y_min: float = 0.0) -> list[str]:
    bottom, inner_h = HEIGHT - _BOTTOM, HEIGHT - _TOP - _BOTTOM
    parts = [
        f'<text x="{_LEFT}" y="18" font-size="14" font-weight="600">{escape(title)}</text>',
        f'<text x="12" y="{_TOP + inner_h / 2:.1f}" font-size="11" transform="rotate(-90 12 {_TOP + inner_h / 2:.1f})"'
        f' text-anchor="middle">{escape(y_label)}</text>',
        f'<line x1="{_LEFT}" y1="{bottom}" x2="{WIDTH - _RIGHT}" y2="{bottom}" stroke="#888"/>',
        f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{bottom}" stroke="#888"/>',
    ]
    for step in range(5):
        value = y_min + (y_max - y_min) * step / 4
        y = bottom - inner_h * step / 4
        parts.append(f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{WIDTH - _RIGHT}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{_fmt(value)}</text>')
    x_of = _x_scale(start, end)
    days = max((end - start).days, 1)
    ticks = min(days, 6)
    for step in range(ticks + 1):
        at = start + timedelta(seconds=(end - start).total_seconds() * step / ticks)
        anchor = "start" if step == 0 else "end" if step == ticks else "middle"
        parts.append(
            f'<text x="{x_of(at):.1f}" y="{bottom + 16}" font-size="10" text-anchor="{anchor}">{at:%Y-%m-%d}</text>'
        )
    return parts


def time_series(
    title: str, y_label: str, points: list[Point], target: float | None, start: datetime, end: datetime
) -> str:
    """Return an SVG of measured values over time, the target as a dashed line, unmeasured drills as crosses."""
    measured = [p.value for p in points if p.value is not None]
    y_max = max([*measured, target or 0.0, 1.0]) * 1.15
    y_min = min([*measured, 0.0]) * 1.15  # below zero only for a backup stamped after the drill started
    bottom, inner_h = HEIGHT - _BOTTOM, HEIGHT - _TOP - _BOTTOM
    x_of = _x_scale(start, end)

    def y_of(value: float) -> float:
        return bottom - inner_h * (value - y_min) / (y_max - y_min)

    parts = _frame(title, y_label, y_max, start, end, y_min)
    if target is not None:
        y = y_of(target)
        parts.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{WIDTH - _RIGHT}" y2="{y:.1f}" stroke="{TARGET_COLOUR}"'
            ' stroke-dasharray="6 4" stroke-width="1.5"/>'
        )
        parts.append(
            f'<text x="{WIDTH - _RIGHT}" y="{y - 4:.1f}" font-size="10" text-anchor="end"'
            f' fill="{TARGET_COLOUR}">target {_fmt(target)}</text>'
        )
    line = " ".join(f"{x_of(p.at):.1f},{y_of(p.value):.1f}" for p in points if p.value is not None)
    if line:
        parts.append(f'<polyline points="{line}" fill="none" stroke="{LINE_COLOUR}" stroke-width="1.5"/>')
    for p in points:
        x = x_of(p.at)
        colour = PASS_COLOUR if p.passed else FAIL_COLOUR
        label = escape(f"{p.at:%Y-%m-%d %H:%M} " + ("not measured" if p.value is None else _fmt(p.value)))
        if p.value is None:
            parts.append(
                f'<path d="M{x - 4:.1f},{bottom - 4} l8,-8 m0,8 l-8,-8" stroke="{FAIL_COLOUR}" stroke-width="2">'
                f"<title>{label}</title></path>"
            )
        else:
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y_of(p.value):.1f}" r="3.5" fill="{colour}"><title>{label}</title></circle>'
            )
    return _svg(title, parts)


def daily_pass_rate(title: str, days: list[tuple[datetime, int, int]], start: datetime, end: datetime) -> str:
    """Return an SVG bar per day: the share of drills that passed (bars of days with a failure are red)."""
    bottom, inner_h = HEIGHT - _BOTTOM, HEIGHT - _TOP - _BOTTOM
    x_of = _x_scale(start, end)
    width = max(2.0, min(24.0, (WIDTH - _LEFT - _RIGHT) / max((end - start).days + 1, 1) * 0.7))
    parts = _frame(title, "% passed", 100.0, start, end)
    for day, passed, total in days:
        rate = 100.0 * passed / total
        height = inner_h * rate / 100.0
        colour = PASS_COLOUR if passed == total else FAIL_COLOUR
        label = escape(f"{day:%Y-%m-%d}: {passed} of {total} passed")
        parts.append(
            f'<rect x="{x_of(day) - width / 2:.1f}" y="{bottom - max(height, 1.5):.1f}" width="{width:.1f}"'
            f' height="{max(height, 1.5):.1f}" fill="{colour}"><title>{label}</title></rect>'
        )
    return _svg(title, parts)


def _svg(title: str, parts: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}"'
        f' role="img" aria-label="{escape(title)}" font-family="sans-serif">' + "".join(parts) + "</svg>"
    )
