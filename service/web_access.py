"""Who looks at the web page: the GitHub login's helpers, the viewer's repositories, and the guard of every page."""

from __future__ import annotations

import json
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Response, current_app, redirect, request, session, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from paydown.templating import render

from . import charts
from .github import GitHubError, GitHubOAuth, Unauthorized
from .models import Repository
from .settings import Settings

SETTINGS_KEY, STORE_KEY = "PAYDOWN_SETTINGS", "paydown.store"  # app.config / app.extensions, set by the factory
ACCESS_TTL_SECONDS = 300  # how long the viewer's repository list is trusted before GitHub is asked again
NEXT_MAX_LENGTH = 2048  # a longer "next" is not a page of this site


@dataclass(frozen=True)
class Viewer:
    mode: str  # local (no App: local scans, no login), github (logged in), closed (App without OAuth client)
    login: str | None = None
    repos: frozenset[str] = frozenset()


def _settings() -> Settings:
    return current_app.config[SETTINGS_KEY]


def _db() -> Any:
    return current_app.extensions[STORE_KEY].session()


def _oauth_ready(settings: Settings) -> bool:
    return settings.app_configured and bool(settings.oauth_client_id and settings.oauth_client_secret)


# ---------------------------------------------------------------- access


def _viewer() -> Viewer | None:
    """Who is looking and what they may see; None when they must log in first."""
    settings = _settings()
    if not settings.app_configured:
        return Viewer("local")
    if not _oauth_ready(settings):
        return Viewer("closed")
    user, token = session.get("user"), session.get("token")
    if not user or not token:
        return None
    cached = session.get("repos")
    if cached is None or time.time() - float(session.get("repos_at", 0)) > ACCESS_TTL_SECONDS:
        try:
            cached = _known(GitHubOAuth(settings).accessible_repositories(token))
        except Unauthorized:
            session.clear()
            return None
        session["repos"], session["repos_at"] = cached, time.time()
    return Viewer("github", str(user), frozenset(cached))


def _known(names: Iterable[str]) -> list[str]:
    """Only the accessible repositories paydown has data for, so the session cookie stays small."""
    wanted = set(names)
    if not wanted:
        return []
    with _db() as db:
        return sorted(db.scalars(select(Repository.full_name).where(Repository.full_name.in_(wanted),
                                                                    Repository.local_path.is_(None))))


def _visible(db: Session, viewer: Viewer) -> list[Repository]:
    query = select(Repository).order_by(Repository.full_name)
    if viewer.mode == "local":
        return list(db.scalars(query.where(Repository.local_path.is_not(None))))
    if viewer.mode == "github" and viewer.repos:
        return list(db.scalars(query.where(Repository.full_name.in_(viewer.repos),
                                           Repository.local_path.is_(None))))
    return []


def _repository(db: Session, viewer: Viewer, full_name: str) -> Repository | None:
    repo = db.scalar(select(Repository).where(Repository.full_name == full_name))
    if repo is None:
        return None
    if viewer.mode == "local":
        return repo if repo.is_local else None
    return repo if viewer.mode == "github" and not repo.is_local and full_name in viewer.repos else None


def _guarded(export: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Pages send a viewer who is not logged in to /login; exports answer 401."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(**kwargs: Any) -> Any:
            try:
                viewer = _viewer()
            except GitHubError:
                return _page("pages/error.html", 502, reason="github")
            if viewer is None and export:
                return Response(json.dumps({"error": "login required"}), 401, mimetype="application/json")
            if viewer is None:
                return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
            return view(viewer, **kwargs)

        return wrapper

    return decorate


def _page(name: str, status: int = 200, **context: Any) -> Response:
    settings = _settings()
    body = render(name, url_for=url_for, hours=charts.number, login=session.get("user"),
                  can_login=_oauth_ready(settings), local_mode=not settings.app_configured, **context)
    return Response(body, status, mimetype="text/html")


def _not_found() -> Response:
    return _page("pages/not_found.html", 404)


# ---------------------------------------------------------------- login


def _callback_url(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + url_for("web.login_callback")


def safe_next(target: object, default: str = "/") -> str:
    """`target` when it is a path on this site, else `default`: where the browser goes after signing in.

    Browsers drop tabs and newlines from a URL, strip leading spaces and control characters, read a backslash
    as a slash, and take `//host` as another site; so `/%09/evil.example` (a tab) would leave the site. A target
    is kept only when it, and its percent-decoded form, starts with exactly one "/", has no backslash, and has
    no control, format or whitespace character other than a plain space.
    """
    if not isinstance(target, str) or len(target) > NEXT_MAX_LENGTH:
        return default
    decoded = target
    for _ in range(3):  # a value decoded once more on its way must not turn hostile either
        decoded, before = unquote(decoded), decoded
        if decoded == before:
            break
    for form in (target, decoded):
        if not form.startswith("/") or form.startswith("//") or "\\" in form or any(map(_unsafe, form)):
            return default
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else default


def _unsafe(char: str) -> bool:
    """A control, format, separator or whitespace character (Unicode's C* and Z* categories), but a plain space."""
    return char != " " and (char.isspace() or unicodedata.category(char)[0] in "CZ")
