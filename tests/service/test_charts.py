"""The server-side SVG charts: well-formed, accessible, escaped, and carrying exact figures in data attributes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime

from paydown.service.store import Sprint, SprintEvent
from paydown.service.web import TrendPoint, burndown, burndown_svg, nice_top, number, sparkline_svg, trend_svg

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on anything that is not well-formed XML


def test_trend_svg_has_one_titled_point_per_scan_with_its_figures() -> None:
    points = [TrendPoint(datetime(2026, 3, d, 9, tzinfo=UTC), hours, f"abc{d}def") for d, hours in
              ((4, 12.5), (1, 20.0), (9, 7.25))]
    root = parse(trend_svg(points))

    assert root.get("role") == "img"
    assert root.get("aria-label") == "Debt trend: 3 scans, latest total 7.25 hours of estimated effort"
    circles = root.findall(f".//{SVG}circle[@class='point']")
    assert [(c.get("data-day"), c.get("data-hours"), c.get("data-commit")) for c in circles] == [
        ("2026-03-01", "20", "abc1def"), ("2026-03-04", "12.5", "abc4def"), ("2026-03-09", "7.25", "abc9def")]
    assert [c.findtext(f"{SVG}title") for c in circles] == [
        "2026-03-01 09:00 · abc1def: 20 h", "2026-03-04 09:00 · abc4def: 12.5 h", "2026-03-09 09:00 · abc9def: 7.25 h"]
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "Estimated effort (hours)" in texts and "Commit date" in texts
    assert "Total estimated effort per scan" in texts  # the legend
    assert "2026-03-01" in texts and "0" in texts and "20" in texts  # dates on x, hours on y
    # later scans are further right; more debt is higher up (smaller y)
    xs = [float(c.get("cx")) for c in circles]
    ys = [float(c.get("cy")) for c in circles]
    assert xs == sorted(xs) and ys[0] < ys[1] < ys[2]


def test_burndown_svg_carries_remaining_ideal_scope_changes_and_escapes_the_title() -> None:
    sprint = Sprint(milestone_number=2, title='<script>alert("x")</script> & co', state="open",
                    created_at=datetime(2026, 3, 1, 9, tzinfo=UTC), due_on=date(2026, 3, 5))
    for n, (issue, kind, effort, day) in enumerate([(1, "added", 6.0, 1), (2, "added", 2.0, 1), (1, "closed", 6, 2),
                                                    (3, "added", 1.5, 3)], 1):
        sprint.events.append(SprintEvent(id=n, issue_number=issue, event=kind, effort_hours=effort,
                                         at=datetime(2026, 3, day, 12, tzinfo=UTC)))
    svg = burndown_svg(burndown(sprint, today=date(2026, 3, 4)))
    root = parse(svg)

    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert root.findtext(f"{SVG}title") == 'Burndown of <script>alert("x")</script> & co'
    remaining = {c.get("data-day"): c.get("data-remaining") for c in root.iter(f"{SVG}circle")
                 if c.get("class") == "remaining"}
    assert remaining == {"2026-03-01": "8", "2026-03-02": "2", "2026-03-03": "3.5", "2026-03-04": "3.5"}
    ideal = {c.get("data-day"): c.get("data-ideal") for c in root.iter(f"{SVG}circle") if c.get("class") == "ideal"}
    assert ideal == {"2026-03-01": "8", "2026-03-02": "6", "2026-03-03": "4", "2026-03-04": "2", "2026-03-05": "0"}
    changes = [(p.get("data-day"), p.get("data-change"), p.get("data-issue"), p.get("data-effort"),
                p.findtext(f"{SVG}title")) for p in root.iter(f"{SVG}path") if p.get("class") == "scope-change"]
    assert changes == [("2026-03-03", "added", "3", "1.5", "2026-03-03: #3 added (1.5 h)")]
    titles = [c.findtext(f"{SVG}title") for c in root.iter(f"{SVG}circle") if c.get("class") == "remaining"]
    assert titles[2] == "2026-03-03: 3.5 h remaining of 9.5 h in the sprint"
    legend = [t.text for t in root.iter(f"{SVG}text")]
    assert {"Remaining effort", "Ideal", "Scope change (item added or removed)", "due 2026-03-05"} <= set(legend)
    assert root.get("aria-label") == ('Burndown of <script>alert("x")</script> & co: started with 8 hours, '
                                      "3.5 hours remaining, 1 scope change")


def test_empty_charts_and_sparklines_say_so() -> None:
    assert parse(trend_svg([])).get("aria-label") == "No scans yet"
    assert sparkline_svg([TrendPoint(datetime(2026, 1, 1, tzinfo=UTC), 3.0)]) == ""
    spark = parse(sparkline_svg([TrendPoint(datetime(2026, 1, d, tzinfo=UTC), h) for d, h in ((1, 9.0), (2, 4.5))]))
    assert (spark.get("data-first"), spark.get("data-last")) == ("9", "4.5")
    assert spark.get("aria-label") == "Trend over 2 scans: from 9 to 4.5 hours"


def test_numbers_and_axis_tops_are_round() -> None:
    assert [number(v) for v in (12.5, 3.0, 0.25, 1234567.0, 0.0, 2.005)] == ["12.5", "3", "0.25", "1234567", "0",
                                                                              "2"]
    assert [nice_top(v) for v in (0, 0.3, 7.25, 14, 20, 101)] == [1.0, 0.3, 8.0, 15.0, 20.0, 150.0]
