"""Small inline SVG charts for the reports: no plotting library, no script, nothing fetched.

The scales, ticks and labels are worked out here; the markup is in ``templates/*.svg.j2``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dr_drill.core.report.rendering import TEMPLATES

WIDTH, HEIGHT = 680, 230
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 30, 40
_PLOT_BOTTOM, _PLOT_HEIGHT = HEIGHT - _BOTTOM, HEIGHT - _TOP - _BOTTOM
PASS_COLOUR, FAIL_COLOUR, LINE_COLOUR, TARGET_COLOUR = "#1a7f37", "#cf222e", "#0969da", "#bc4c00"

# Positions every chart shares, in SVG user units.
_CANVAS = {
    "width": WIDTH,
    "height": HEIGHT,
    "left": _LEFT,
    "right": WIDTH - _RIGHT,
    "top": _TOP,
    "bottom": _PLOT_BOTTOM,
    "middle": f"{_TOP + _PLOT_HEIGHT / 2:.1f}",
    "value_x": _LEFT - 6,
    "date_y": _PLOT_BOTTOM + 16,
}


@dataclass(frozen=True)
class Point:
    """One drill on a chart: when, the measured value (None when not measured), and whether it passed."""

    at: datetime
    value: float | None
    passed: bool


@dataclass(frozen=True)
class _Gridline:
    """A horizontal gridline at ``y`` and the value it marks, written at ``label_y``."""

    y: str
    label_y: str
    label: str


@dataclass(frozen=True)
class _Tick:
    """A date under the x axis."""

    x: str
    anchor: str
    label: str


@dataclass(frozen=True)
class _Target:
    """The target: a dashed line at ``y``, labelled at ``label_y``."""

    y: str
    label_y: str
    label: str
    colour: str


@dataclass(frozen=True)
class _Mark:
    """One drill: a dot where it was measured, a cross on the x axis where not; ``x, y`` is where the mark starts."""

    measured: bool
    x: str
    y: str | int
    colour: str
    label: str


@dataclass(frozen=True)
class _Bar:
    """One day's bar of the pass-rate chart."""

    x: str
    y: str
    width: str
    height: str
    colour: str
    label: str


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _x_scale(start: datetime, end: datetime) -> Callable[[datetime], float]:
    span = max((end - start).total_seconds(), 1.0)
    inner = WIDTH - _LEFT - _RIGHT
    return lambda at: _LEFT + inner * (at - start).total_seconds() / span


def _frame(
    title: str, y_label: str, y_max: float, start: datetime, end: datetime, y_min: float = 0.0
) -> dict[str, Any]:
    """Return what every chart draws: its title, the axes, five gridlines with their values, and dates."""
    gridlines = []
    for step in range(5):
        value = y_min + (y_max - y_min) * step / 4
        y = _PLOT_BOTTOM - _PLOT_HEIGHT * step / 4
        gridlines.append(_Gridline(f"{y:.1f}", f"{y + 4:.1f}", _fmt(value)))
    x_of = _x_scale(start, end)
    days = max((end - start).days, 1)
    count = min(days, 6)
    ticks = []
    for step in range(count + 1):
        at = start + timedelta(seconds=(end - start).total_seconds() * step / count)
        anchor = "start" if step == 0 else "end" if step == count else "middle"
        ticks.append(_Tick(f"{x_of(at):.1f}", anchor, f"{at:%Y-%m-%d}"))
    return {"canvas": _CANVAS, "title": title, "y_label": y_label, "gridlines": gridlines, "ticks": ticks}


def time_series(
    title: str, y_label: str, points: list[Point], target: float | None, start: datetime, end: datetime
) -> str:
    """Return an SVG of measured values over time, the target as a dashed line, unmeasured drills as crosses."""
    measured = [p.value for p in points if p.value is not None]
    y_max = max([*measured, target or 0.0, 1.0]) * 1.15
    y_min = min([*measured, 0.0]) * 1.15  # below zero only for a backup stamped after the drill started
    x_of = _x_scale(start, end)

    def y_of(value: float) -> float:
        return _PLOT_BOTTOM - _PLOT_HEIGHT * (value - y_min) / (y_max - y_min)

    target_line = None
    if target is not None:
        y = y_of(target)
        target_line = _Target(f"{y:.1f}", f"{y - 4:.1f}", f"target {_fmt(target)}", TARGET_COLOUR)
    line = " ".join(f"{x_of(p.at):.1f},{y_of(p.value):.1f}" for p in points if p.value is not None)
    marks = []
    for p in points:
        label = f"{p.at:%Y-%m-%d %H:%M} " + ("not measured" if p.value is None else _fmt(p.value))
        if p.value is None:
            marks.append(_Mark(False, f"{x_of(p.at) - 4:.1f}", _PLOT_BOTTOM - 4, FAIL_COLOUR, label))
        else:
            colour = PASS_COLOUR if p.passed else FAIL_COLOUR
            marks.append(_Mark(True, f"{x_of(p.at):.1f}", f"{y_of(p.value):.1f}", colour, label))
    return TEMPLATES.get_template("time_series.svg.j2").render(
        **_frame(title, y_label, y_max, start, end, y_min),
        target=target_line,
        line=line,
        line_colour=LINE_COLOUR,
        marks=marks,
    )


def daily_pass_rate(title: str, days: list[tuple[datetime, int, int]], start: datetime, end: datetime) -> str:
    """Return an SVG bar per day: the share of drills that passed (bars of days with a failure are red)."""
    x_of = _x_scale(start, end)
    width = max(2.0, min(24.0, (WIDTH - _LEFT - _RIGHT) / max((end - start).days + 1, 1) * 0.7))
    bars = []
    for day, passed, total in days:
        height = max(_PLOT_HEIGHT * (100.0 * passed / total) / 100.0, 1.5)
        bars.append(
            _Bar(
                x=f"{x_of(day) - width / 2:.1f}",
                y=f"{_PLOT_BOTTOM - height:.1f}",
                width=f"{width:.1f}",
                height=f"{height:.1f}",
                colour=PASS_COLOUR if passed == total else FAIL_COLOUR,
                label=f"{day:%Y-%m-%d}: {passed} of {total} passed",
            )
        )
    return TEMPLATES.get_template("daily_pass_rate.svg.j2").render(
        **_frame(title, "% passed", 100.0, start, end), bars=bars
    )
