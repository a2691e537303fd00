"""How long a line has been unchanged, from `git blame`; quietly nothing when there is no usable git history."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

GIT_TIMEOUT_SECONDS = 10.0
MAX_BLAMES = 50


def _is_work_tree(root: Path) -> bool:
    try:
        done = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=root, capture_output=True,
                              text=True, timeout=GIT_TIMEOUT_SECONDS, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and done.stdout.strip() == "true"


def _blame_time(root: Path, path: str, line: int) -> int | None:
    try:
        done = subprocess.run(
            ["git", "blame", "--porcelain", "-L", f"{line},{line}", "--", path], cwd=root, capture_output=True,
            text=True, timeout=GIT_TIMEOUT_SECONDS, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0 or not done.stdout:
        return None
    lines = done.stdout.splitlines()
    if lines[0].startswith("0" * 40):
        return None  # not committed yet
    for entry in lines:
        if entry.startswith("committer-time "):
            return int(entry.split()[1])
    return None


def unchanged_days(root: Path, lines: list[tuple[str, int]], now: float | None = None) -> dict[tuple[str, int], int]:
    """Days since each (path, line) last changed, for the lines git can date."""
    if not lines or not _is_work_tree(root):
        return {}
    now = time.time() if now is None else now
    ages = {}
    for path, line in lines[:MAX_BLAMES]:
        stamp = _blame_time(root, path, line)
        if stamp is not None:
            ages[(path, line)] = int((now - stamp) // 86400)
    return ages
