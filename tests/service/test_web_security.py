"""Issue 24's web-facing defects: security headers on every answer, the redirect after sign-in, the viewer's
GitHub token kept server-side."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from .test_web import authorize, oauth_app  # noqa: F401  (oauth_app: a fixture, used through login_app)

HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options",
           "Cache-Control")


@pytest.fixture
def login_app(request: pytest.FixtureRequest) -> Any:
    """test_web's app with the GitHub login (OAuth) on the stand-in GitHub: alice may see octo-org/widgets."""
    return request.getfixturevalue("oauth_app")


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


# ---------------------------------------------------------------- where the browser goes after sign-in

HOSTILE_NEXT = [
    None, 42, "", "evil.example", "https://evil.example", "http:/evil.example", "javascript:alert(1)",
    "//evil.example", "///evil.example", "//", "/\\evil.example", "\\\\evil.example", "/\\/evil.example",
    "/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "/\r\nSet-Cookie:x=1", "\t//evil.example",
    " //evil.example", "/\x00/evil.example", "/\x7f/evil.example", "/\x85/evil.example",
    "/%09/evil.example", "/%0a/evil.example", "/%0D/evil.example", "/%2F/evil.example", "/%2f%2fevil.example",
    "/%5Cevil.example", "%2F%2Fevil.example", "/%2509/evil.example", "/%252F/evil.example",
    "/\u00a0/evil.example", "/\u2028/evil.example", "/\u3000/evil.example", "/\u200b/evil.example",
    "/\ufeff/evil.example", "\u3000//evil.example", "/" + "a" * 5000,
]
GOOD_NEXT = [
    "/", "/repos/octo/churn?kind=x", "/repos/octo-org/widgets/sprints/4",
    "/repos/octo/churn?kind=dead-flag&state=all&path=src%2Ffeatures&sort=effort&dir=asc",
    "/repos/local:/srv/projects/churn", "/repos/local:/srv/my projects/caf\u00e9", "/repos/octo/churn#items",
]


@pytest.mark.parametrize("target", HOSTILE_NEXT, ids=lambda value: repr(value)[:40])
def test_a_next_that_could_leave_the_site_becomes_the_home_page(target: object) -> None:
    from paydown.service.web_access import safe_next

    assert safe_next(target) == "/"
    assert safe_next(target, "/home") == "/home"


@pytest.mark.parametrize("target", GOOD_NEXT)
def test_a_path_on_this_site_is_kept(target: str) -> None:
    from paydown.service.web_access import safe_next

    assert safe_next(target) == target


@pytest.mark.parametrize("query", ["/%09/evil.example", "/%0a/evil.example", "/%0d/evil.example",
                                   "/%5C/evil.example", "%2F%2Fevil.example", "/%E3%80%80/evil.example"])
def test_sign_in_never_redirects_off_site(login_app: Any, fake_github: Any, query: str) -> None:
    client = login_app.test_client()
    start = client.get(f"/login?next={query}")
    assert start.status_code == 302
    with client.session_transaction() as stored:
        assert stored["next"] == "/"  # refused where it is stored
    done = finish_login(client, fake_github, start)
    assert (done.status_code, done.headers["Location"]) == (302, "/")


def test_a_hostile_next_already_in_the_session_is_refused_after_the_callback(login_app: Any,
                                                                               fake_github: Any) -> None:
    client = login_app.test_client()
    start = client.get("/login")
    with client.session_transaction() as stored:  # as a session from before the fix would hold it
        stored["next"] = "/\t/evil.example"
    done = finish_login(client, fake_github, start)
    assert (done.status_code, done.headers["Location"]) == (302, "/")


def test_sign_in_returns_to_the_page_asked_for(login_app: Any, fake_github: Any) -> None:
    client = login_app.test_client()
    start = client.get("/login?next=/repos/octo-org/widgets%3Fkind%3Ddead-flag")
    done = finish_login(client, fake_github, start)
    assert (done.status_code, done.headers["Location"]) == (302, "/repos/octo-org/widgets?kind=dead-flag")


def finish_login(client: Any, fake_github: Any, start: Any) -> Any:
    back = urlsplit(authorize(fake_github, start.headers["Location"]))
    assert back.path == "/login/callback"
    return client.get(f"{back.path}?{back.query}")
