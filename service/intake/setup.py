"""One-click GitHub App registration (GitHub's manifest flow), served only while no App is configured."""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from flask import Blueprint, Response, current_app, request, session, url_for

from paydown.templating import render

from ..github import AppCredentials, GitHubApp, GitHubError, NotFound, ValidationFailed
from ..policy import CSP, SETTINGS_KEY, security_headers
from ..settings import APP_FILE, APP_KEY_FILE, Settings
from .manifest import app_manifest

bp = Blueprint("setup", __name__)
log = logging.getLogger("paydown.setup")

STATE_KEY = "setup_state"
_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?")
_CODE = re.compile(r"[A-Za-z0-9_.-]{1,200}")


def _settings() -> Settings:
    return current_app.config[SETTINGS_KEY]


def _page(view: str, status: int = 200, **context: Any) -> Response:
    body = render("pages/setup.html", url_for=url_for, login=None, can_login=False, local_mode=True, view=view,
                  **context)
    return Response(body, status, mimetype="text/html")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@bp.before_request
def _only_without_an_app() -> Response | None:
    if not _settings().app_configured:
        return None
    body = render("pages/not_found.html", url_for=url_for, login=None, can_login=False, local_mode=False)
    return Response(body, 404, mimetype="text/html")


@bp.after_request
def _security_headers(response: Response) -> Response:
    # The forms post the manifest to GitHub's web host: the page's one allowed destination besides itself.
    origin = _origin(_settings().github_web_url)
    response.headers.setdefault("Content-Security-Policy", CSP.replace("form-action 'self'",
                                                                       f"form-action 'self' {origin}"))
    return security_headers(response)


@bp.get("/setup")
def setup() -> Response:
    """What will be registered, and a form posting the manifest to GitHub for an account or an organization."""
    settings = _settings()
    if (settings.data_dir / APP_FILE).exists():
        return _page("saved", path=str(settings.data_dir / APP_FILE))
    org = request.args.get("org", "").strip()
    if org and not _LOGIN.fullmatch(org):
        return _form(settings, "", status=400, bad_org=True)
    return _form(settings, org)


def _form(settings: Settings, org: str, *, status: int = 200, bad_org: bool = False) -> Response:
    state = session.get(STATE_KEY) or secrets.token_urlsafe(32)  # one per browser, so two tabs both work
    session[STATE_KEY] = state
    manifest = setup_manifest(settings)
    web, query = settings.github_web_url.rstrip("/"), urlencode({"state": state})
    org_action = f"{web}/organizations/{quote(org, safe='')}/settings/apps/new?{query}" if org else None
    return _page("form", status, manifest=manifest, manifest_json=json.dumps(manifest), org=org, bad_org=bad_org,
                 personal_action=f"{web}/settings/apps/new?{query}", org_action=org_action,
                 github_web_url=web, data_dir=str(settings.data_dir),
                 elsewhere=_origin(request.host_url) != _origin(settings.public_url))


def setup_manifest(settings: Settings) -> dict[str, Any]:
    """The App manifest, with GitHub sending the browser back to this page's callback."""
    base = settings.public_url.rstrip("/")
    return {**app_manifest(settings, url=base, webhook_url=f"{base}/webhook"),
            "redirect_url": f"{base}/setup/callback"}


@bp.get("/setup/callback")
def callback() -> Response:
    """GitHub's redirect after it created the App: convert the code once, save the credentials, say restart."""
    settings = _settings()
    expected, given = session.pop(STATE_KEY, None), request.args.get("state", "")
    if not expected or not given or not hmac.compare_digest(str(expected), given):
        return _page("refused", 403)
    code = request.args.get("code", "")
    if not _CODE.fullmatch(code):
        return _page("no_code", 400)
    if (settings.data_dir / APP_FILE).exists():
        return _page("saved", 409, path=str(settings.data_dir / APP_FILE))
    try:
        with GitHubApp(settings) as app:
            credentials = app.convert_manifest(code)
    except (NotFound, ValidationFailed):
        return _page("spent", 400)
    except GitHubError as err:
        log.warning("converting the App manifest failed: %s", err)
        return _page("github", 502)
    path = save_app(settings.data_dir, credentials)
    log.info("registered the GitHub App %s (id %d); saved in %s", credentials.slug, credentials.app_id, path)
    return _page("registered", slug=credentials.slug, html_url=credentials.html_url, app_id=credentials.app_id,
                 path=str(path), install_url=f"{credentials.html_url.rstrip('/')}/installations/new")


def save_app(data_dir: Path, credentials: AppCredentials) -> Path:
    """`github-app.pem` then `github-app.json` (what Settings.from_env reads), each private and whole."""
    data_dir.mkdir(parents=True, exist_ok=True)
    _write_private(data_dir / APP_KEY_FILE, credentials.pem.strip() + "\n")
    saved = {"app_id": credentials.app_id, "slug": credentials.slug, "html_url": credentials.html_url,
             "webhook_secret": credentials.webhook_secret, "client_id": credentials.client_id,
             "client_secret": credentials.client_secret}
    path = data_dir / APP_FILE
    _write_private(path, json.dumps(saved, indent=2) + "\n")
    return path


def _write_private(path: Path, text: str) -> None:
    """A 0600 temporary file renamed into place: a reader sees the old file or the whole new one."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
