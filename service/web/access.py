"""Who looks at the web page: the GitHub login's helpers and sessions, the viewer's repositories, and the guard
of every page.

A signed-in viewer's cookie (Flask's, signed but readable) holds only a random session id. The store keeps the
session under the id's SHA-256, with the viewer's GitHub token encrypted by a key derived from the app's secret
key; signing out deletes it, and it ends after SESSION_LIFETIME, or SESSION_IDLE without use.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import Any
from urllib.parse import unquote, urlsplit

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Response, current_app, g, redirect, request, session, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from paydown.templating import render

from .. import store as db
from ..github import GitHubError, GitHubOAuth, Unauthorized
from ..policy import SESSION_LIFETIME, SETTINGS_KEY
from ..settings import Settings
from ..store import Repository, WebSession, utcnow
from . import charts

ACCESS_TTL_SECONDS = 300  # how long the viewer's repository list is trusted before GitHub is asked again
SESSION_IDLE = timedelta(hours=2)  # a sign-in unused this long ends (SESSION_LIFETIME: it ends anyway)
SESSION_ID_KEY = "sid"  # the one entry of a signed-in viewer in their cookie
TOKEN_KEY_LABEL = b"paydown web session token v1"  # HKDF's info: this key is for nothing else
_G_SESSION = "paydown_web_session"  # flask.g: the viewer's stored session, looked up once per request
NEXT_MAX_LENGTH = 2048  # a longer "next" is not a page of this site


@dataclass(frozen=True)
class Viewer:
    mode: str  # local (no App: local scans, no login), github (logged in), closed (App without OAuth client)
    login: str | None = None
    repos: frozenset[str] = frozenset()


def _settings() -> Settings:
    return current_app.config[SETTINGS_KEY]


def _db() -> Any:
    return db.get_store(current_app).session()


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
    row = _signed_in()
    if row is None:
        return None
    repos = row.repos
    if repos is None or row.repos_at is None or (utcnow() - row.repos_at).total_seconds() > ACCESS_TTL_SECONDS:
        token = _token(row)
        if token is None:
            _end_session()
            return None
        try:
            repos = _known(GitHubOAuth(settings).accessible_repositories(token))
        except Unauthorized:  # the viewer revoked paydown's access, or the token expired
            _end_session()
            return None
        with _db() as store_session:
            db.remember_viewer_repos(store_session, row.id, repos)
    return Viewer("github", row.login, frozenset(repos))


def _known(names: Iterable[str]) -> list[str]:
    """Only the accessible repositories paydown has data for."""
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
    row = _signed_in()
    body = render(name, url_for=url_for, hours=charts.number, login=row.login if row is not None else None,
                  can_login=_oauth_ready(settings), local_mode=not settings.app_configured, **context)
    return Response(body, status, mimetype="text/html")


def _not_found() -> Response:
    return _page("pages/not_found.html", 404)


# ---------------------------------------------------------------- login


def _callback_url(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + url_for("web.login_callback")


def _secret_key() -> str | bytes:
    key = current_app.secret_key
    if key is None:  # the factory always sets one; an app built another way must too
        raise RuntimeError("the app has no SECRET_KEY: sign-ins cannot be kept")
    return key


def token_cipher(secret_key: str | bytes) -> Fernet:
    """The cipher of viewers' GitHub tokens at rest: Fernet, its key HKDF-SHA256 of the app's secret key and a
    fixed label (so it is no other key derived from the secret key)."""
    secret = secret_key.encode() if isinstance(secret_key, str) else secret_key
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=TOKEN_KEY_LABEL).derive(secret)
    return Fernet(base64.urlsafe_b64encode(key))


def session_hash(session_id: str) -> str:
    """The store's id of a session: the SHA-256 of the id in the cookie, so the table alone signs nobody in."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def _start_session(login: str, token: str) -> None:
    """After a sign-in: any session before is ended, and the cookie gets a new random id (no fixation)."""
    _end_session()
    session_id = secrets.token_urlsafe(32)
    encrypted = token_cipher(_secret_key()).encrypt(token.encode()).decode("ascii")
    with _db() as store_session:
        db.open_web_session(store_session, session_hash(session_id), login=login, encrypted_token=encrypted,
                            expires_at=utcnow() + SESSION_LIFETIME)
    session[SESSION_ID_KEY] = session_id
    g.pop(_G_SESSION, None)


def _end_session() -> None:
    """Sign out: the stored session is deleted (a copy of the cookie stops working) and the cookie emptied."""
    session_id = session.get(SESSION_ID_KEY)
    if isinstance(session_id, str) and session_id:
        with _db() as store_session:
            db.close_web_session(store_session, session_hash(session_id))
    session.clear()
    setattr(g, _G_SESSION, None)


def _signed_in() -> WebSession | None:
    """The viewer's stored session while it lasts, else None (and the cookie's stale id is dropped)."""
    if _G_SESSION in g:
        return g.get(_G_SESSION)
    row = None
    session_id = session.get(SESSION_ID_KEY)
    if session_id is not None:
        if isinstance(session_id, str):
            with _db() as store_session:
                row = db.live_web_session(store_session, session_hash(session_id), idle=SESSION_IDLE)
        if row is None:
            session.pop(SESSION_ID_KEY, None)
    setattr(g, _G_SESSION, row)
    return row


def _token(row: WebSession) -> str | None:
    """The viewer's GitHub token; None when it cannot be decrypted (the secret key changed: sign in again) or
    was encrypted longer than SESSION_LIFETIME ago (Fernet's own timestamp, whatever the row's expiry says)."""
    cipher = token_cipher(_secret_key())
    try:
        return cipher.decrypt(row.encrypted_token.encode("ascii"), ttl=int(SESSION_LIFETIME.total_seconds())).decode()
    except InvalidToken:
        return None


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
