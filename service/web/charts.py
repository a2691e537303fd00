"""Server-side SVG charts (debt trend, sprint burndown, sparkline) that need no JavaScript to read."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from paydown.templating import render

from .sprints import Burndown

WIDTH, HEIGHT = 900, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 48, 40, 48


@dataclass(frozen=True)
class TrendPoint:
    """A scan's total estimated effort at the time of its commit."""

    at: datetime
    hours: float
    label: str = ""  # the short commit sha


@dataclass(frozen=True)
class _Frame:
    """Maps days and hours to pixels inside the plot area."""

    first: float
    last: float
    top: float
    width: int = WIDTH
    height: int = HEIGHT

    def x(self, when: date | datetime) -> float:
        span = self.last - self.first or 1.0
        return round(LEFT + (_stamp(when) - self.first) / span * (self.width - LEFT - RIGHT), 1)

    def y(self, hours: float) -> float:
        return round(self.height - BOTTOM - hours / (self.top or 1.0) * (self.height - TOP - BOTTOM), 1)


def number(value: float | None) -> str:
    """Hours as short exact text: 12.5, 3, 0.25 (never 1e+06)."""
    if value is None:
        return ""
    text = f"{round(value, 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def trend_svg(points: Sequence[TrendPoint]) -> str:
    """The total estimated effort of each scan over time."""
    points = sorted(points, key=lambda p: p.at)
    if not points:
        return render("pages/charts/empty.xml", kind="trend")
    top = nice_top(max(p.hours for p in points))
    first, last = _span([p.at for p in points])
    frame = _Frame(first, last, top)
    marks = [{"x": frame.x(p.at), "y": frame.y(p.hours), "day": p.at.date().isoformat(), "hours": number(p.hours),
              "label": p.label, "when": p.at.strftime("%Y-%m-%d %H:%M")} for p in points]
    return render("pages/charts/trend.xml", **_axes(frame, first, last, top), points=marks,
                  path=_path(marks), total=number(points[-1].hours), count=len(points))


def burndown_svg(chart: Burndown) -> str:
    """Remaining effort per day against the ideal line, with scope changes marked."""
    if not chart.days:
        return render("pages/charts/empty.xml", kind="burndown")
    values = [v for d in chart.days for v in (d.remaining, d.ideal, d.scope) if v is not None]
    top = nice_top(max(values, default=0.0))
    first, last = _span([d.day for d in chart.days])
    frame = _Frame(first, last, top)
    remaining = [{"x": frame.x(d.day), "y": frame.y(d.remaining), "day": d.day.isoformat(),
                  "remaining": number(d.remaining), "scope": number(d.scope)}
                 for d in chart.days if d.remaining is not None]
    ideal = [{"x": frame.x(d.day), "y": frame.y(d.ideal), "day": d.day.isoformat(), "ideal": number(d.ideal)}
             for d in chart.days if d.ideal is not None]
    by_day = {d.day: d for d in chart.days}
    changes = [{"x": frame.x(c.day), "y": frame.y(by_day[c.day].remaining or 0.0), "day": c.day.isoformat(),
                "change": c.change, "issue": c.issue_number, "effort": number(c.effort_hours)}
               for c in chart.scope_changes if c.day in by_day]
    due = {"x": frame.x(chart.due), "day": chart.due.isoformat()} if chart.due and chart.due in by_day else None
    return render("pages/charts/burndown.xml", **_axes(frame, first, last, top), remaining=remaining, ideal=ideal,
                  remaining_path=_path(remaining), ideal_path=_path(ideal), changes=changes, due=due,
                  title=chart.title, left_hours=number(chart.remaining), scope=number(chart.starting_scope))


def sparkline_svg(points: Sequence[TrendPoint], *, width: int = 120, height: int = 28) -> str:
    """A small line of the trend for the repositories table; the figures are in its title."""
    points = sorted(points, key=lambda p: p.at)
    if len(points) < 2:
        return ""
    low = min(p.hours for p in points)
    rise = max(p.hours for p in points) - low or 1.0
    first, last = _span([p.at for p in points])
    span = last - first or 1.0
    marks = [{"x": round(2 + (_stamp(p.at) - first) / span * (width - 4), 1),
              "y": round(height - 2 - (p.hours - low) / rise * (height - 4), 1)} for p in points]
    return render("pages/charts/sparkline.xml", width=width, height=height, path=_path(marks),
                  first=number(points[0].hours), last=number(points[-1].hours), count=len(points),
                  end=marks[-1])


def nice_top(value: float) -> float:
    """The smallest 1-2-5 step multiple at or above value, so the y axis ends on a round figure."""
    if value <= 0:
        return 1.0
    step = nice_step(value / 4)
    return round(step * math.ceil(value / step - 1e-9), 10)


def nice_step(raw: float) -> float:
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw - 1e-12)


def _axes(frame: _Frame, first: float, last: float, top: float) -> dict[str, Any]:
    step = nice_step(top / 4)
    y_ticks = [{"y": frame.y(i * step), "label": number(i * step)} for i in range(round(top / step) + 1)]
    days = max(round((last - first) / 86400), 0)
    every = max(1, math.ceil((days + 1) / 7))
    start = date.fromordinal(math.ceil(first / 86400) + date(1970, 1, 1).toordinal())
    x_ticks = []
    day = start
    while _stamp(day) <= last + 1:
        x_ticks.append({"x": frame.x(day), "label": day.isoformat()})
        day += timedelta(days=every)
    if not x_ticks:  # everything happened within one day
        middle = (first + last) / 2
        x_ticks.append({"x": frame.x(datetime.fromtimestamp(middle, UTC)),
                        "label": datetime.fromtimestamp(middle, UTC).date().isoformat()})
    return {"width": frame.width, "height": frame.height, "left": LEFT, "right": frame.width - RIGHT,
            "top": TOP, "bottom": frame.height - BOTTOM, "y_ticks": y_ticks, "x_ticks": x_ticks}


def _span(moments: Sequence[date | datetime]) -> tuple[float, float]:
    first, last = _stamp(min(moments)), _stamp(max(moments))
    if last - first < 86400:
        middle = (first + last) / 2
        return middle - 43200, middle + 43200
    # Whole days, so the date ticks fall on the days the points belong to.
    return math.floor(first / 86400) * 86400.0, math.ceil(last / 86400) * 86400.0


def _stamp(when: date | datetime) -> float:
    if isinstance(when, datetime):
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    return float((when - date(1970, 1, 1)).days * 86400)


def _path(marks: Sequence[dict[str, Any]]) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{m['x']},{m['y']}" for i, m in enumerate(marks))
