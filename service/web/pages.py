"""The web page: repositories, each one's ranked debt backlog and trend, cleanup-sprint burndowns, exports, login."""

from __future__ import annotations

import csv
import hmac
import io
import json
import secrets
from collections.abc import Callable, Iterable, Sequence
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Blueprint, Response, redirect, request, session, url_for
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from paydown.templating import render

from ..github import GitHubError, GitHubOAuth, Unauthorized
from ..policy import CSP, STORE_KEY, security_headers
from ..store import BacklogItem, JobFailure, Repository, Scan, Sprint
from . import charts
from .access import (
    ACCESS_TTL_SECONDS,
    SETTINGS_KEY,
    Viewer,
    _callback_url,
    _db,
    _end_session,
    _guarded,
    _not_found,
    _oauth_ready,
    _page,
    _repository,
    _settings,
    _start_session,
    _visible,
    safe_next,
)
from .sprints import Burndown, burndown

__all__ = [
    "ACCESS_TTL_SECONDS", "CSP", "CSV_FORMULA_START", "SETTINGS_KEY", "SORTS", "STATES", "STORE_KEY", "Viewer",
    "backlog", "backlog_csv", "backlog_json", "bp", "burndown_csv", "burndown_json", "csv_cell", "favicon", "login",
    "login_callback", "logout", "repositories", "sprint", "stylesheet", "to_csv",
]

bp = Blueprint("web", __name__)
bp.after_request(security_headers)  # the app adds them too; this keeps them on an app made of this blueprint alone

STATES = ("open", "sprint", "fixed", "dismissed", "all")
_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2}
SORTS: dict[str, tuple[Callable[[BacklogItem], Any], bool]] = {  # key, descending by default
    "priority": (lambda i: (_RANK.get(i.priority, 0), i.score, i.interest_hours_per_month), True),
    "score": (lambda i: i.score, True),
    "effort": (lambda i: i.effort_hours, True),
    "interest": (lambda i: i.interest_hours_per_month, True),
    "risk": (lambda i: (_RANK.get(i.risk, 0), i.score), True),
    "kind": (lambda i: (i.kind, i.path, i.line), False),
    "path": (lambda i: (i.path, i.line), False),
    "state": (lambda i: (i.state, i.milestone_number or 0), False),
}
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# ---------------------------------------------------------------- login


@bp.get("/login")
def login() -> Any:
    settings = _settings()
    if not _oauth_ready(settings):
        return redirect(url_for("web.repositories"))
    state = secrets.token_urlsafe(32)
    session["oauth_state"] = state
    session["next"] = safe_next(request.args.get("next"), url_for("web.repositories"))
    return redirect(GitHubOAuth(settings).authorize_url(state=state, redirect_uri=_callback_url(settings)))


@bp.get("/login/callback")
def login_callback() -> Any:
    settings = _settings()
    if not _oauth_ready(settings):
        return _not_found()
    expected, given = session.pop("oauth_state", None), request.args.get("state", "")
    if not expected or not given or not hmac.compare_digest(str(expected), given):
        return _page("pages/error.html", 403, reason="state")
    code = request.args.get("code")
    if not code:
        return _page("pages/error.html", 400, reason="code")
    oauth = GitHubOAuth(settings)
    try:
        token = oauth.exchange_code(code, redirect_uri=_callback_url(settings), state=given)
        user = oauth.user(token)
    except Unauthorized:
        return _page("pages/error.html", 403, reason="denied")
    except GitHubError:
        return _page("pages/error.html", 502, reason="github")
    target = safe_next(session.get("next"), url_for("web.repositories"))
    _start_session(user.login, token)  # a fresh session: nothing from before survives; the token stays server-side
    return redirect(target)


@bp.post("/logout")
def logout() -> Any:
    """POST only: with GET another site could sign a viewer out through an image; a cross-site POST carries no
    SameSite=Lax cookie."""
    _end_session()
    return redirect(url_for("web.repositories"))


@bp.get("/assets/paydown.css")
def stylesheet() -> Response:
    return _asset("pages/paydown.css", "text/css")


@bp.get("/assets/favicon.svg")
def favicon() -> Response:
    return _asset("pages/favicon.svg", "image/svg+xml")


def _asset(name: str, mimetype: str) -> Response:
    response = Response(render(name), mimetype=mimetype)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# ---------------------------------------------------------------- pages


@bp.get("/")
@_guarded(export=False)
def repositories(viewer: Viewer) -> Response:
    with _db() as db:
        rows = [_summary(db, repo) for repo in _visible(db, viewer)]
    return _page("pages/repositories.html", rows=rows, viewer=viewer)


@bp.get("/repos/<path:full_name>")
@_guarded(export=False)
def backlog(viewer: Viewer, full_name: str) -> Response:
    with _db() as db:
        repo = _repository(db, viewer, full_name)
        if repo is None:
            return _not_found()
        view = _backlog_view(db, repo)
        points = _trend(db, repo)
        sprints = list(db.scalars(select(Sprint).where(Sprint.repository_id == repo.id)
                                  .order_by(Sprint.created_at.desc())))
        context = {"repo": _repo_view(repo), **view, "trend": Markup(charts.trend_svg(points)),
                   "link": _linker(repo.full_name, view["filters"]),
                   "points": points, "sprints": [_sprint_view(s) for s in sprints], **_troubles(db, repo)}
    return _page("pages/backlog.html", **context)


def _troubles(db: Session, repo: Repository) -> dict[str, Any]:
    """What went wrong lately: the newest scan when it failed, and the last jobs that ended without their work."""
    newest = db.scalars(select(Scan).where(Scan.repository_id == repo.id).order_by(Scan.queued_at.desc(),
                                                                                   Scan.id.desc())).first()
    failures = db.scalars(select(JobFailure).where(JobFailure.repository == repo.full_name, ~JobFailure.retrying)
                          .order_by(JobFailure.failed_at.desc()).limit(5)).all()
    failed = newest if newest is not None and newest.status == "failed" else None
    return {"failed_scan": {"sha": failed.commit_sha, "error": failed.error or ""} if failed else None,
            "failures": [{"kind": f.job_kind, "sha": f.commit_sha or "", "reason": f.reason,
                          "at": f.failed_at.strftime("%Y-%m-%d %H:%M UTC")} for f in failures]}


@bp.get("/repos/<path:full_name>/backlog.json")
@_guarded(export=True)
def backlog_json(viewer: Viewer, full_name: str) -> Response:
    with _db() as db:
        repo = _repository(db, viewer, full_name)
        if repo is None:
            return _not_found()
        view = _backlog_view(db, repo)
        body = {"repository": repo.full_name, "commit": view["sha"], "filters": view["filters"],
                "totals": view["totals"], "items": [_export_row(row) for row in view["items"]]}
    return _download(json.dumps(body, indent=2), "application/json", f"{_file_stem(repo)}-backlog.json")


@bp.get("/repos/<path:full_name>/backlog.csv")
@_guarded(export=True)
def backlog_csv(viewer: Viewer, full_name: str) -> Response:
    with _db() as db:
        repo = _repository(db, viewer, full_name)
        if repo is None:
            return _not_found()
        rows = [_export_row(row) for row in _backlog_view(db, repo)["items"]]
    columns = ["rank", "kind", "title", "path", "line", "effort_hours", "risk", "interest_hours_per_month",
               "priority", "score", "state", "issue_number", "milestone_number", "url"]
    return _download(to_csv(columns, rows), "text/csv", f"{_file_stem(repo)}-backlog.csv")


@bp.get("/repos/<path:full_name>/sprints/<int:number>")
@_guarded(export=False)
def sprint(viewer: Viewer, full_name: str, number: int) -> Response:
    with _db() as db:
        found = _sprint_of(db, viewer, full_name, number)
        if found is None:
            return _not_found()
        repo, row, chart = found
        items = db.scalars(select(BacklogItem).where(BacklogItem.repository_id == repo.id,
                                                     BacklogItem.milestone_number == number))
        sha = _latest_sha(db, repo)
        context: dict[str, Any] = {"repo": _repo_view(repo), "sprint": _sprint_view(row), "chart": chart,
                   "svg": Markup(charts.burndown_svg(chart)),
                   "items": [_item_view(repo, sha, i, {}) for i in sorted(items, key=_sort_key("priority"),
                                                                         reverse=True)],
                   "milestone_url": _github(repo, f"milestone/{number}")}
    return _page("pages/sprint.html", **context)


@bp.get("/repos/<path:full_name>/sprints/<int:number>/burndown.json")
@_guarded(export=True)
def burndown_json(viewer: Viewer, full_name: str, number: int) -> Response:
    with _db() as db:
        found = _sprint_of(db, viewer, full_name, number)
        if found is None:
            return _not_found()
        repo, _, chart = found
        body = {"repository": repo.full_name, **chart.to_dict()}
    return _download(json.dumps(body, indent=2), "application/json", f"{_file_stem(repo)}-sprint-{number}.json")


@bp.get("/repos/<path:full_name>/sprints/<int:number>/burndown.csv")
@_guarded(export=True)
def burndown_csv(viewer: Viewer, full_name: str, number: int) -> Response:
    with _db() as db:
        found = _sprint_of(db, viewer, full_name, number)
        if found is None:
            return _not_found()
        repo, _, chart = found
    rows = [{"day": d.day.isoformat(), "remaining_hours": d.remaining, "ideal_hours": d.ideal,
             "scope_hours": d.scope} for d in chart.days]
    return _download(to_csv(["day", "remaining_hours", "ideal_hours", "scope_hours"], rows), "text/csv",
                     f"{_file_stem(repo)}-sprint-{number}.csv")


# ---------------------------------------------------------------- views of the data


def _sprint_of(db: Session, viewer: Viewer, full_name: str, number: int) -> tuple[Repository, Sprint, Burndown] | None:
    repo = _repository(db, viewer, full_name)
    if repo is None:
        return None
    row = db.scalar(select(Sprint).where(Sprint.repository_id == repo.id, Sprint.milestone_number == number))
    return (repo, row, burndown(row)) if row is not None else None


def _backlog_view(db: Session, repo: Repository) -> dict[str, Any]:
    args = request.args
    kind, path = args.get("kind", ""), args.get("path", "").strip()
    state = args.get("state", "open") if args.get("state", "open") in STATES else "open"
    sort = args.get("sort", "priority") if args.get("sort") in SORTS else "priority"
    descending = SORTS[sort][1] if args.get("dir") not in ("asc", "desc") else args.get("dir") == "desc"
    every = list(db.scalars(select(BacklogItem).where(BacklogItem.repository_id == repo.id)))
    shown = [i for i in every if (not kind or i.kind == kind) and _in_state(i, state) and (not path or path in i.path)]
    shown.sort(key=_sort_key(sort), reverse=descending)
    sha = _latest_sha(db, repo)
    sprints = {s.milestone_number: s for s in db.scalars(select(Sprint).where(Sprint.repository_id == repo.id))}
    return {
        "items": [{**_item_view(repo, sha, item, sprints), "rank": n} for n, item in enumerate(shown, 1)],
        "totals": _totals(shown),
        "open_hours": round(sum(i.effort_hours for i in every if i.state == "open"), 2),
        "kinds": sorted({i.kind for i in every}),
        "filters": {"kind": kind, "state": state, "path": path, "sort": sort, "dir": "desc" if descending else "asc"},
        "sha": sha,
        "count": len(every),
    }


def _linker(full_name: str, filters: dict[str, str]) -> Callable[..., str]:
    """URLs of this backlog with some filters changed; defaults are left out so links stay short."""
    defaults = {"kind": "", "state": "open", "path": "", "sort": "priority"}

    def link(endpoint: str = "web.backlog", **changes: str) -> str:
        merged = {**filters, **changes}
        if "sort" in changes and "dir" not in changes:
            merged["dir"] = _flip(filters, changes["sort"])
        if merged.get("dir") == ("desc" if SORTS[merged.get("sort") or "priority"][1] else "asc"):
            merged.pop("dir")
        query: dict[str, Any] = {k: v for k, v in merged.items() if v and v != defaults.get(k)}
        return url_for(endpoint, full_name=full_name, **query)

    return link


def _flip(filters: dict[str, str], sort: str) -> str:
    """Clicking the column the list is sorted by reverses it; another column starts in its natural order."""
    natural = "desc" if SORTS[sort][1] else "asc"
    if filters.get("sort") != sort:
        return natural
    return "asc" if filters.get("dir") == "desc" else "desc"


def _in_state(item: BacklogItem, state: str) -> bool:
    if state == "all":
        return True
    if state == "sprint":
        return item.state == "open" and item.milestone_number is not None
    return item.state == state


def _sort_key(sort: str) -> Callable[[BacklogItem], Any]:
    return SORTS[sort][0]


def _totals(items: Sequence[BacklogItem]) -> list[dict[str, Any]]:
    kinds: dict[str, list[BacklogItem]] = {}
    for item in items:
        kinds.setdefault(item.kind, []).append(item)
    rows = [{"kind": kind, "count": len(group), "effort_hours": round(sum(i.effort_hours for i in group), 2),
             "interest_hours_per_month": round(sum(i.interest_hours_per_month for i in group), 2)}
            for kind, group in sorted(kinds.items())]
    return [*rows, {"kind": "", "count": len(items), "effort_hours": round(sum(i.effort_hours for i in items), 2),
                    "interest_hours_per_month": round(sum(i.interest_hours_per_month for i in items), 2)}]


def _item_view(repo: Repository, sha: str | None, item: BacklogItem, sprints: dict[int, Sprint]) -> dict[str, Any]:
    in_sprint = item.state == "open" and item.milestone_number is not None
    sprint_row = sprints.get(item.milestone_number) if item.milestone_number is not None else None
    return {
        "item": item,
        "state": "sprint" if in_sprint else item.state,
        "sprint_title": sprint_row.title if sprint_row is not None else None,
        "code_url": _github(repo, f"blob/{sha}/{quote(item.path)}#L{item.line}") if sha else None,
        "issue_url": _github(repo, f"issues/{item.issue_number}") if item.issue_number else None,
    }


def _export_row(row: dict[str, Any]) -> dict[str, Any]:
    item: BacklogItem = row["item"]
    return {"rank": row["rank"], "kind": item.kind, "title": item.title, "path": item.path, "line": item.line,
            "effort_hours": item.effort_hours, "risk": item.risk,
            "interest_hours_per_month": item.interest_hours_per_month, "priority": item.priority,
            "score": item.score, "state": row["state"], "issue_number": item.issue_number,
            "milestone_number": item.milestone_number, "url": row["code_url"]}


def _github(repo: Repository, rest: str) -> str | None:
    """A link into the repository on GitHub; local repositories have none, and only http(s) is ever linked."""
    if repo.is_local:
        return None
    base = _settings().github_web_url.rstrip("/")
    if urlsplit(base).scheme not in ("http", "https"):
        return None
    return f"{base}/{quote(repo.full_name)}/{rest}"


def _repo_view(repo: Repository) -> dict[str, Any]:
    name = PurePosixPath(repo.local_path).name or repo.local_path if repo.local_path else repo.full_name
    return {"full_name": repo.full_name, "name": name, "local_path": repo.local_path,
            "url": (_github(repo, "") or "").rstrip("/") or None}


def _sprint_view(row: Sprint) -> dict[str, Any]:
    return {"number": row.milestone_number, "title": row.title, "state": row.state, "due_on": row.due_on,
            "created_at": row.created_at, "closed_at": row.closed_at}


def _history(db: Session, repo: Repository) -> list[Scan]:
    """The repository's succeeded scans of its branch (not pull requests), oldest first."""
    scans = db.scalars(select(Scan).where(Scan.repository_id == repo.id, Scan.status == "succeeded",
                                          Scan.trigger != "pull_request"))
    branch = [s for s in scans if s.ref is None or s.ref.removeprefix("refs/heads/") == repo.default_branch]
    return sorted(branch, key=lambda s: (s.committed_at or s.finished_at or s.queued_at, s.id))


def _trend(db: Session, repo: Repository) -> list[charts.TrendPoint]:
    return [charts.TrendPoint(s.committed_at or s.finished_at or s.queued_at, s.total_effort_hours, _short(s))
            for s in _history(db, repo)]


def _short(scan: Scan) -> str:
    return "working tree" if scan.commit_sha.startswith("worktree") else scan.commit_sha[:7]


def _latest_sha(db: Session, repo: Repository) -> str | None:
    history = [s for s in _history(db, repo) if not s.commit_sha.startswith("worktree")]
    return history[-1].commit_sha if history else None


def _summary(db: Session, repo: Repository) -> dict[str, Any]:
    items = list(db.scalars(select(BacklogItem).where(BacklogItem.repository_id == repo.id,
                                                      BacklogItem.state == "open")))
    points = _trend(db, repo)
    delta = round(points[-1].hours - points[-2].hours, 2) if len(points) > 1 else None
    return {"repo": _repo_view(repo), "open_items": len(items),
            "open_hours": round(sum(i.effort_hours for i in items), 2),
            "last_scan": points[-1].at if points else None, "scans": len(points), "delta": delta,
            "sparkline": Markup(charts.sparkline_svg(points))}


def _file_stem(repo: Repository) -> str:
    name = _repo_view(repo)["name"]
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name.replace("/", "-")) or "repository"


def _download(body: str, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


def csv_cell(value: object) -> object:
    """A spreadsheet would run a cell starting with = + - @ as a formula: such text gets a leading quote."""
    if isinstance(value, str) and value.startswith(CSV_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def to_csv(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([csv_cell(row.get(column)) for column in columns] for row in rows)
    return out.getvalue()
