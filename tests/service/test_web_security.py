"""Issue 24's web-facing defects: security headers on every answer, the redirect after sign-in, the viewer's
GitHub token kept server-side."""

from __future__ import annotations

from typing import Any

import pytest

HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options",
           "Cache-Control")


def assert_security_headers(response: Any) -> None:
    missing = [name for name in HEADERS if not response.headers.get(name)]
    assert not missing, (response.status_code, missing)
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


# ---------------------------------------------------------------- security headers on every response


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/", 200),
    ("GET", "/no/such/page", 404),
    ("GET", "/repos/octo-org/none", 404),
    ("GET", "/healthz", 200),
    ("GET", "/webhook", 405),
    ("POST", "/webhook", 401),  # no signature
    ("POST", "/healthz", 405),
    ("GET", "/assets/paydown.css", 200),
    ("GET", "/assets/favicon.svg", 200),
    ("GET", "/static/nothing.css", 404),
])
def test_every_answer_carries_the_security_headers(client: Any, method: str, path: str, status: int) -> None:
    response = client.open(path, method=method)
    assert response.status_code == status
    assert_security_headers(response)


def test_a_healthz_answer_stays_uncached_and_assets_keep_their_own_caching(client: Any) -> None:
    assert client.get("/healthz").headers["Cache-Control"] == "no-store"
    assert client.get("/assets/paydown.css").headers["Cache-Control"] == "public, max-age=300"


def test_a_server_error_carries_the_security_headers(service_settings: Any, service_store: Any,
                                                     service_queues: Any) -> None:
    from paydown.service.app import create_app

    app = create_app(service_settings, store=service_store, queues=service_queues)

    def broken() -> str:
        raise RuntimeError("boom")

    app.add_url_rule("/broken", "broken", broken)
    response = app.test_client().get("/broken")  # not TESTING: the error is answered, not raised
    assert response.status_code == 500
    assert_security_headers(response)
