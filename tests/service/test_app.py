"""The app factory: it honours the settings, keeps a private secret key, reports health, hides internals."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import paydown.service
from paydown.service import store as db
from paydown.service.intake import app_manifest, create_app, register_blueprints
from paydown.service.jobs import Queues, queues_for
from paydown.service.jobs import queues as queue
from paydown.service.settings import Settings
from paydown.service.store import Store

SECRET = "hook-secret-value"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'paydown.db'}",
                    webhook_secret=SECRET, secret_key="configured-secret-key-0123456789abcdef")


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = Store(settings.database_url)
    opened.migrate()
    yield opened
    opened.dispose()


@pytest.fixture
def queues(redis_conn: Any) -> Queues:
    return queues_for(redis_conn)


def test_the_factory_honours_the_settings(settings: Settings, store: Store, queues: Queues) -> None:
    app = create_app(settings, store=store, queues=queues)
    assert app.config["SECRET_KEY"] == settings.secret_key
    assert app.config["PAYDOWN_SETTINGS"] is settings
    assert app.config["MAX_CONTENT_LENGTH"] == 25 * 1024 * 1024
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert app.debug is False
    assert db.get_store(app) is store
    assert queue.get_queues(app) is queues
    rules = {rule.rule: rule.methods for rule in app.url_map.iter_rules()}
    assert "POST" in rules["/webhook"]
    assert "GET" in rules["/healthz"]
    secure = create_app(replace(settings, public_url="https://paydown.example.org", max_body_bytes=1000),
                        store=store, queues=queues)
    assert secure.config["SESSION_COOKIE_SECURE"] is True
    assert secure.config["MAX_CONTENT_LENGTH"] == 1000


def test_without_a_store_and_queues_it_opens_and_migrates_its_own(settings: Settings, redis_conn: Any) -> None:
    own = replace(settings, redis_url=f"unix://{redis_conn.socket_file}")
    app = create_app(own)
    try:
        assert app.test_client().get("/healthz").json == {"database": "ok", "redis": "ok", "workers": "ok"}
        with db.get_store(app).session() as session:
            assert db.delivery_seen(session, "nothing") is False
    finally:
        db.get_store(app).dispose()
        queue.get_queues(app).connection.close()


def test_a_secret_key_is_made_once_and_kept_private(settings: Settings, store: Store, queues: Queues) -> None:
    unset = replace(settings, secret_key=None)
    first = create_app(unset, store=store, queues=queues).config["SECRET_KEY"]
    path = settings.data_dir / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 64
    assert path.read_text().strip() == first
    path.chmod(0o644)
    assert create_app(unset, store=store, queues=queues).config["SECRET_KEY"] == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in settings.data_dir.iterdir()) == ["secret_key"]  # no temporary left behind


def test_an_unusable_secret_key_file_is_refused(settings: Settings, store: Store, queues: Queues) -> None:
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "secret_key").write_text("short\n")
    with pytest.raises(RuntimeError, match="no usable secret key"):
        create_app(replace(settings, secret_key=None), store=store, queues=queues)


def test_healthz_names_the_failing_part_and_nothing_else(settings: Settings, store: Store, queues: Queues,
                                                         tmp_path: Path) -> None:
    assert create_app(settings, store=store, queues=queues).test_client().get("/healthz").json == {
        "database": "ok", "redis": "ok", "workers": "ok"}
    folder = tmp_path / "secret-folder-name"
    folder.mkdir()
    broken = Store(f"sqlite:///{folder}")  # a folder is no database file
    try:
        response = create_app(settings, store=broken, queues=queues).test_client().get("/healthz")
    finally:
        broken.dispose()
    assert response.status_code == 503
    assert response.json == {"database": "unavailable", "redis": "ok", "workers": "ok"}
    assert "secret-folder-name" not in response.get_data(as_text=True)


def test_healthz_is_503_while_jobs_wait_and_no_worker_is_alive(settings: Settings, store: Store,
                                                              queues: Queues) -> None:
    from rq import Worker

    client = create_app(settings, store=store, queues=queues).test_client()
    queues.scans.enqueue("paydown.service.jobs.run_scan", 1)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json == {"database": "ok", "redis": "ok", "workers": "unavailable"}
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    registered = Worker(queues.all(), connection=queues.connection)
    registered.pid = dead.pid  # a worker SIGKILLed on this host: registered until its heartbeat expires, yet dead
    registered.register_birth()
    assert client.get("/healthz").status_code == 503
    live = Worker(queues.all(), connection=queues.connection)  # this test's own process, alive
    live.register_birth()
    assert client.get("/healthz").json == {"database": "ok", "redis": "ok", "workers": "ok"}
    live.register_death()
    registered.register_death()
    queues.scans.empty()
    assert client.get("/healthz").status_code == 200  # nothing waits: no worker needed


def test_error_pages_show_no_traceback_or_secret(settings: Settings, store: Store, queues: Queues) -> None:
    app = create_app(settings, store=store, queues=queues)
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError(f"failed with {SECRET} and {settings.secret_key}")

    client = app.test_client()
    response = client.get("/boom")
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert SECRET not in text and str(settings.secret_key) not in text
    assert "Traceback" not in text and "RuntimeError" not in text
    missing = client.get("/no-such-page")
    assert missing.status_code == 404
    assert SECRET not in missing.get_data(as_text=True)


def test_register_blueprints_adds_the_web_page_when_present(settings: Settings, store: Store, queues: Queues,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(settings, store=store, queues=queues)
    assert set(app.blueprints) == {"webhook", "web", "setup"}
    monkeypatch.delattr(paydown.service, "web", raising=False)
    monkeypatch.setitem(sys.modules, "paydown.service.web", None)
    bare = create_app(settings, store=store, queues=queues)
    assert set(bare.blueprints) == {"webhook"}
    with pytest.raises(ValueError):  # registering twice under one name is Flask's error, not silently ignored
        register_blueprints(bare)


def test_app_manifest(settings: Settings) -> None:
    manifest = app_manifest(settings, url="https://paydown.example.org/", webhook_url="https://hooks.example.org/wh")
    assert manifest == {
        "name": "paydown",
        "url": "https://paydown.example.org",
        "description": manifest["description"],
        "public": False,
        "hook_attributes": {"url": "https://hooks.example.org/wh", "active": True},
        "redirect_url": "https://paydown.example.org/",
        "callback_urls": ["https://paydown.example.org/login/callback"],
        "request_oauth_on_install": False,
        "setup_on_update": False,
        "default_permissions": {"contents": "read", "metadata": "read", "issues": "write", "pull_requests": "write",
                                "checks": "write"},
        "default_events": ["push", "pull_request", "issues", "milestone", "check_run", "check_suite"],
    }
    assert manifest["description"]
    defaults = app_manifest(replace(settings, public_url="http://127.0.0.1:8000"), name='pay"down <x>')
    assert defaults["name"] == 'pay"down <x>'
    assert defaults["hook_attributes"]["url"] == "http://127.0.0.1:8000/webhook"
    assert json.loads(json.dumps(defaults)) == defaults
