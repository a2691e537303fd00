"""The Flask app factory: settings, store and queues wired once; the webhook and web blueprints; a health check."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import tempfile
from pathlib import Path

import redis
from flask import Flask, Response, current_app

from .. import store as db
from ..jobs import Queues
from ..jobs import queues as queue
from ..policy import SESSION_LIFETIME, SETTINGS_KEY, security_headers
from ..settings import Settings
from ..store import Store
from . import webhook

log = logging.getLogger("paydown.app")

SECRET_KEY_FILE = "secret_key"


def create_app(settings: Settings | None = None, *, store: Store | None = None,
               queues: Queues | None = None) -> Flask:
    """A configured app. Without `store`/`queues` it opens (and migrates) the settings' database and Redis."""
    settings = settings if settings is not None else Settings.from_env()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=_secret_key(settings),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,  # also how long a signed cookie is accepted at all
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        DEBUG=False,
        **{SETTINGS_KEY: settings},
    )
    db.init_app(app, store if store is not None else _open_store(settings))
    queue.init_app(app, queues if queues is not None else queue.queues_for(queue.connect(settings)))
    app.add_url_rule("/healthz", "healthz", healthz)
    app.after_request(security_headers)  # every answer: pages, errors (404, 405, 500), /healthz, /webhook, static
    # web blueprint: registered by register_blueprints()
    register_blueprints(app)
    return app


def register_blueprints(app: Flask) -> None:
    """The webhook always; the web page (and the App registration page) when its module is present."""
    app.register_blueprint(webhook.bp)
    web_module = f"{__package__.rpartition('.')[0]}.web"  # paydown.service.web
    try:
        from .. import web
    except ModuleNotFoundError as err:
        if err.name != web_module:
            raise
        log.info("web page module not present; serving the webhook only")
        return
    app.register_blueprint(web.bp)
    from . import setup

    app.register_blueprint(setup.bp)


def healthz() -> Response:
    """200 when the database and Redis answer and waiting jobs have a live worker; 503 naming the part that does
    not (never how it is reached)."""
    queues = queue.get_queues(current_app)
    redis_up = queues.ping()
    parts = {
        "database": "ok" if db.get_store(current_app).ping() else "unavailable",
        "redis": "ok" if redis_up else "unavailable",
        "workers": "ok" if redis_up and not _stalled(queues) else "unavailable",
    }
    status = 200 if all(state == "ok" for state in parts.values()) else 503
    return Response(json.dumps(parts), status, mimetype="application/json",
                    headers={"Cache-Control": "no-store"})


def _stalled(queues: Queues) -> bool:
    try:
        return queues.stalled()
    except redis.RedisError:
        return True


def _open_store(settings: Settings) -> Store:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.database_url)
    store.migrate()
    return store


def _secret_key(settings: Settings) -> str:
    """The configured key, or one generated on first start and kept private in the data folder, so sessions
    survive a restart and every process of this installation signs with the same key."""
    if settings.secret_key:
        return settings.secret_key
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / SECRET_KEY_FILE
    if not path.exists():
        _publish_secret_key(path)
    return _read_secret_key(path)


def _publish_secret_key(path: Path) -> None:
    """Write the key to a private temporary file, then link it into place: a process starting at the same time
    sees either no file or the whole key, and the first link wins."""
    fd, temp = tempfile.mkstemp(prefix=".secret_key-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(32) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        os.unlink(temp)


def _read_secret_key(path: Path) -> str:
    if path.is_symlink():
        raise RuntimeError(f"{path} is a symbolic link; refusing to use it as the secret key")
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable secret key; delete it to have a new one made")
    return key
