"""Issue 24's web-facing defects: security headers on every answer, the redirect after sign-in, the viewer's
GitHub token kept server-side."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text, update

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
    from paydown.service.intake import create_app

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
    from paydown.service.web import safe_next

    assert safe_next(target) == "/"
    assert safe_next(target, "/home") == "/home"


@pytest.mark.parametrize("target", GOOD_NEXT)
def test_a_path_on_this_site_is_kept(target: str) -> None:
    from paydown.service.web import safe_next

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


# ---------------------------------------------------------------- the viewer's GitHub token stays on the server

TOKEN = "gho_alice"  # what the stand-in GitHub hands out for alice (test_web's oauth_app)


def log_in(client: Any, fake_github: Any) -> Any:
    done = finish_login(client, fake_github, client.get("/login"))
    assert done.status_code == 302 and done.headers["Location"] == "/"
    return done


def cookie_text(value: str) -> str:
    """What anyone holding the cookie can read: its payload, base64-decoded (and inflated when compressed)."""
    compressed = value.startswith(".")
    payload = value.lstrip(".").split(".")[0]
    data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return (zlib.decompress(data) if compressed else data).decode("utf-8")


def session_cookie(response: Any) -> str:
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    assert len(headers) == 1, headers
    return headers[0]


def web_session_rows(app: Any) -> list[dict[str, Any]]:
    from paydown.service import store as db

    with db.get_store(app).engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(text("SELECT * FROM web_sessions"))]


def test_the_session_cookie_does_not_carry_the_token(login_app: Any, fake_github: Any) -> None:
    client = login_app.test_client()
    header = session_cookie(log_in(client, fake_github))
    value = header.split(";", 1)[0].removeprefix("session=")
    readable = cookie_text(value)
    assert json.loads(readable)  # the decoding above is what a reader of the cookie gets
    assert TOKEN not in readable and TOKEN not in value and "gho_" not in readable
    assert "HttpOnly" in header and "SameSite=Lax" in header
    assert client.get("/").status_code == 200  # and the viewer is signed in


def test_the_token_is_stored_encrypted_and_the_session_id_only_as_a_hash(login_app: Any, fake_github: Any) -> None:
    from paydown.service import store as db
    from paydown.service.policy import SESSION_LIFETIME

    client = login_app.test_client()
    before = datetime.now(UTC)
    value = session_cookie(log_in(client, fake_github)).split(";", 1)[0].removeprefix("session=")
    [row] = web_session_rows(login_app)
    assert row["login"] == "alice"
    assert TOKEN not in str(row) and row["encrypted_token"]
    sid = json.loads(cookie_text(value))["sid"]
    assert row["id"] == hashlib.sha256(sid.encode()).hexdigest() and sid not in str(row)
    with db.get_store(login_app).session() as session:
        stored = db.live_web_session(session, row["id"], idle=timedelta(hours=1))
        assert stored is not None
        assert before + SESSION_LIFETIME <= stored.expires_at <= datetime.now(UTC) + SESSION_LIFETIME
    assert timedelta(hours=8) >= SESSION_LIFETIME
    assert login_app.permanent_session_lifetime == SESSION_LIFETIME


def test_a_cookie_replayed_after_logout_is_refused(login_app: Any, fake_github: Any) -> None:
    client = login_app.test_client()
    log_in(client, fake_github)
    copied = client.get_cookie("session").value
    assert client.get("/repos/octo-org/widgets").status_code == 200
    assert client.post("/logout").status_code == 302

    thief = login_app.test_client()
    thief.set_cookie("session", copied)
    page = thief.get("/repos/octo-org/widgets")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login?next=")
    assert thief.get("/repos/octo-org/widgets/backlog.json").status_code == 401
    assert web_session_rows(login_app) == []


@pytest.mark.parametrize("column", ["expires_at", "last_seen_at"])
def test_an_expired_or_idle_session_is_refused(login_app: Any, fake_github: Any, column: str) -> None:
    from paydown.service.web import SESSION_IDLE

    client = login_app.test_client()
    log_in(client, fake_github)
    assert client.get("/").status_code == 200
    [row] = web_session_rows(login_app)
    past = {"expires_at": datetime.now(UTC) - timedelta(seconds=1),
            "last_seen_at": datetime.now(UTC) - SESSION_IDLE - timedelta(seconds=1)}[column]
    with _store(login_app).session() as session:
        session.execute(update(_web_session_model()).where(_web_session_model().id == row["id"])
                        .values({column: past}))
    page = client.get("/")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    assert client.get("/repos/octo-org/widgets/backlog.json").status_code == 401
    assert web_session_rows(login_app) == []


def test_a_session_github_no_longer_accepts_is_ended(login_app: Any, fake_github: Any) -> None:
    from paydown.service.web import ACCESS_TTL_SECONDS

    client = login_app.test_client()
    log_in(client, fake_github)
    [row] = web_session_rows(login_app)
    with _store(login_app).session() as session:  # the repository list is due to be asked again
        session.execute(update(_web_session_model()).where(_web_session_model().id == row["id"])
                        .values(repos_at=datetime.now(UTC) - timedelta(seconds=ACCESS_TTL_SECONDS + 1)))
    fake_github.users["alice"].token = "gho_revoked"  # the viewer revoked paydown's access at GitHub
    assert client.get("/").status_code == 302
    assert web_session_rows(login_app) == []


def test_the_session_cookie_is_secure_on_an_https_site(login_app: Any, service_queues: Any) -> None:
    from paydown.service.intake import create_app

    settings = dataclasses.replace(login_app.config["PAYDOWN_SETTINGS"], public_url="https://paydown.example.org")
    app = create_app(settings, store=_store(login_app), queues=service_queues)
    header = session_cookie(app.test_client().get("/login", base_url="https://paydown.example.org"))
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header


def _store(app: Any) -> Any:
    from paydown.service import store as db

    return db.get_store(app)


def _web_session_model() -> Any:
    from paydown.service.store import WebSession

    return WebSession


def test_sign_out_takes_a_post_only(login_app: Any, fake_github: Any) -> None:
    """A GET (an image or a link on another site) cannot sign a viewer out."""
    client = login_app.test_client()
    log_in(client, fake_github)
    assert client.get("/logout").status_code == 405
    assert client.get("/repos/octo-org/widgets").status_code == 200
    assert len(web_session_rows(login_app)) == 1
    assert client.post("/logout").status_code == 302
    assert web_session_rows(login_app) == []
