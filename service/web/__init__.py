"""The web page: repositories, backlogs, trends and sprint burndowns behind a GitHub sign-in, its access rules and
charts, and local mode (`paydown scan --save`, `paydown serve` without an App)."""

from __future__ import annotations

from .access import ACCESS_TTL_SECONDS, SESSION_IDLE, safe_next
from .charts import TrendPoint, burndown_svg, nice_top, number, sparkline_svg, trend_svg
from .local import LocalScanError, save_from_cli, save_history, save_local_scan, worktree_sha
from .pages import bp, csv_cell, to_csv
from .sprints import burndown, on_issue_event, on_milestone_event, parse_time

__all__ = [
    "ACCESS_TTL_SECONDS",
    "SESSION_IDLE",
    "LocalScanError",
    "TrendPoint",
    "bp",
    "burndown",
    "burndown_svg",
    "csv_cell",
    "nice_top",
    "number",
    "on_issue_event",
    "on_milestone_event",
    "parse_time",
    "safe_next",
    "save_from_cli",
    "save_history",
    "save_local_scan",
    "sparkline_svg",
    "to_csv",
    "trend_svg",
    "worktree_sha",
]
