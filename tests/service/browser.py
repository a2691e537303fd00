"""Fixtures for the web page's tests: a seeded store, a minimal app around `web.bp`, a live server and Chromium."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from paydown.service.settings import Settings
from paydown.service.store import BacklogItem, Repository, Scan, Sprint, SprintEvent

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
XSS = "<script>window.__xss=1</script>"
REPO_ROOT = Path(__file__).resolve().parents[2]

# (key, kind, title, path, line, effort, risk, interest, priority, score, state, issue, milestone)
ITEMS: tuple[tuple[Any, ...], ...] = (
    ("flag-a", "dead-flag", "Flag `use_v2` is set but never read", "src/flags.py", 10, 2.0, "high", 3.0, "high",
     6.0, "open", 11, 4),
    ("pins-b", "unpinned-dependency", "requirements.txt: 3 dependencies are not pinned", "requirements.txt", 1, 1.0,
     "low", 0.5, "low", 0.5, "open", None, None),
    ("clone-c", "duplicated-feature-logic", XSS, "src/features/a.py", 5, 4.0, "medium", 2.0, "medium", 1.5,
     "open", 12, 4),
    ("input-d", "undocumented-input", "data/raw.csv is read but not declared", "src/features/load.py", 3, 1.5,
     "medium", 1.0, "medium", 1.33, "fixed", None, None),
    ("flag-e", "dead-flag", "=HYPERLINK(\"http://evil.invalid\",\"x\")", "src/x.py", 1, 0.5, "low", 0.1, "low", 0.2,
     "dismissed", None, None),
)
SCANS = ((6, 20.0), (3, 15.5), (1, 7.0))  # (days ago, total effort)


def sprint_start() -> date:
    return datetime.now(UTC).date() - timedelta(days=6)


def expected_burndown() -> dict[str, Any]:
    """The remaining effort per day of the seeded sprint: A 2 h + C 4 h on day 0, A closed day 2, G 1 h added day 3
    (a scope change), A reopened day 4; due on day 8; today is day 6, so days 7 and 8 have no figure yet."""
    start = sprint_start()
    remaining = [6, 6, 4, 5, 7, 7, 7]
    ideal = [6, 5.25, 4.5, 3.75, 3, 2.25, 1.5, 0.75, 0]
    return {"remaining": {(start + timedelta(days=i)).isoformat(): r for i, r in enumerate(remaining)},
            "ideal": {(start + timedelta(days=i)).isoformat(): v for i, v in enumerate(ideal)},
            "change_day": (start + timedelta(days=3)).isoformat()}


def sha(n: int) -> str:
    return f"{n:040x}"


def seed_repository(store: Any, full_name: str, *, local_path: str | None = None, github_id: int | None = None,
                    sprint: bool = True) -> int:
    """A repository with three scans, the five ITEMS and (optionally) sprint 4 with known events."""
    now = datetime.now(UTC)
    with store.session() as session:
        repo = Repository(full_name=full_name, local_path=local_path, github_id=github_id)
        session.add(repo)
        session.flush()
        for n, (ago, hours) in enumerate(SCANS, 1):
            when = now - timedelta(days=ago)
            session.add(Scan(repository_id=repo.id, commit_sha=sha(n + repo.id * 100), trigger="push",
                             status="succeeded", committed_at=when, finished_at=when, total_effort_hours=hours))
        for key, kind, title, path, line, effort, risk, interest, prio, score, state, issue, ms in ITEMS:
            session.add(BacklogItem(repository_id=repo.id, key=key, kind=kind, title=title, path=path, line=line,
                                    effort_hours=effort, risk=risk, interest_hours_per_month=interest,
                                    priority=prio, score=score, state=state, issue_number=issue,
                                    milestone_number=ms))
        if sprint:
            _seed_sprint(session, repo.id)
        return repo.id


def _seed_sprint(session: Any, repo_id: int) -> None:
    start = datetime.combine(sprint_start(), datetime.min.time(), UTC)
    row = Sprint(repository_id=repo_id, milestone_number=4, title="Sprint <4> cleanup", state="open",
                 created_at=start + timedelta(hours=9), due_on=sprint_start() + timedelta(days=8))
    for issue, event, effort, day in ((11, "added", 2.0, 0), (12, "added", 4.0, 0), (11, "closed", 2.0, 2),
                                      (13, "added", 1.0, 3), (11, "reopened", 2.0, 4)):
        row.events.append(SprintEvent(issue_number=issue, event=event, effort_hours=effort,
                                      at=start + timedelta(days=day, hours=10)))
    session.add(row)


def local_settings(tmp_path: Path) -> Settings:
    """No GitHub App: the dashboard of local scans, no login."""
    return Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'data' / 'paydown.db'}",
                    secret_key="test-secret-key")


def web_app(settings: Settings, store: Any) -> Any:
    """The smallest app around the blueprint: the keys the app factory provides (PAYDOWN_SETTINGS, paydown.store)."""
    from flask import Flask

    from paydown.service.web import pages as web

    app = Flask("paydown-web-test")
    app.config.update(SECRET_KEY=settings.secret_key, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      TESTING=True, **{web.SETTINGS_KEY: settings})
    app.extensions[web.STORE_KEY] = store
    app.register_blueprint(web.bp)
    return app


@dataclass
class LiveServer:
    url: str


@contextmanager
def live_server(app: Any) -> Iterator[LiveServer]:
    """The app on a real werkzeug server on 127.0.0.1, in a thread, shut down and joined on exit."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="paydown-web", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def browser_available() -> bool:
    return CHROMIUM.exists()


def require_browser() -> None:
    """Skip without Chromium on a developer's machine; on CI a missing browser fails the run."""
    if browser_available():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing on CI: install Debian's chromium (the README's test command does)")
    pytest.skip(f"{CHROMIUM} is not installed")


@contextmanager
def chromium() -> Iterator[Any]:
    """A fresh headless Chromium (its own user-data dir) driven by Playwright; yields a browser context."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="paydown-chromium-")
    try:
        with sync_playwright() as driver:
            context = driver.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 900})
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def screenshot_dir() -> Path:
    """Where screenshots go: $PAYDOWN_SCREENSHOTS, else `<repo>/.screenshots/` (git-ignored, never committed)."""
    folder = Path(os.environ.get("PAYDOWN_SCREENSHOTS") or REPO_ROOT / ".screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
