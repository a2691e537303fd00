"""The pull-request review: classifying a head's findings against its base, the line comments and twin warnings,
the `paydown` check run, and their texts."""

from __future__ import annotations

from .apply import review_pull_request
from .checks import fail_check_run, start_check_run, supersede_check_run

__all__ = [
    "fail_check_run",
    "review_pull_request",
    "start_check_run",
    "supersede_check_run",
]
