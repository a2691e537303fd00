"""One-click App registration: /setup posts the manifest to (the stand-in) GitHub, the callback converts the code
once and saves the App privately, and the next start reads it; refused states, spent codes, a configured App."""

from __future__ import annotations

import html
import http.client
import json
import logging
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from paydown.service.github import (
    AppCredentials,
    GitHubApp,
    GitHubUnavailable,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from paydown.service.intake import create_app
from paydown.service.settings import Settings
from paydown.service.store import Store

from .fake_github import FakeGitHub

PUBLIC = "http://127.0.0.1:8765"
FORM = re.compile(r'<form class="filters" method="post" action="([^"]+)" data-form="(personal|organization)">\s*'
                  r'<input type="hidden" name="manifest" value="([^"]+)">')


@pytest.fixture
def settings(tmp_path: Path, fake_github: FakeGitHub) -> Settings:
    """No App: what `paydown serve` has before registration."""
    return Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'paydown.db'}",
                    github_api_url=fake_github.url, github_web_url=fake_github.url, public_url=PUBLIC,
                    write_gap_seconds=0.0, rate_limit_min_wait_seconds=0.1)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = Store(settings.database_url)
    opened.migrate()
    yield opened
    opened.dispose()


@pytest.fixture
def client(settings: Settings, store: Store, service_queues: Any) -> Any:
    app = create_app(settings, store=store, queues=service_queues)
    app.config["TESTING"] = True
    return app.test_client()


def forms(body: str) -> dict[str, tuple[str, str]]:
    """data-form -> (action, manifest JSON), as a browser would read them."""
    return {kind: (html.unescape(action), html.unescape(manifest)) for action, kind, manifest in FORM.findall(body)}


def post_to_github(action: str, manifest_json: str) -> tuple[int, str]:
    """What the browser does with the form: POST it to GitHub; GitHub's redirect is returned, not followed."""
    parts = urlsplit(action)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request("POST", f"{parts.path}?{parts.query}", body=urlencode({"manifest": manifest_json}),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Location") or ""
    finally:
        conn.close()


def start(client: Any, org: str = "") -> tuple[str, str]:
    """Open /setup, submit the (personal or organization) form to GitHub: (code, state) of GitHub's redirect."""
    page = client.get(f"/setup?org={org}" if org else "/setup")
    assert page.status_code == 200
    action, manifest_json = forms(page.get_data(as_text=True))["organization" if org else "personal"]
    status, location = post_to_github(action, manifest_json)
    assert status == 302
    assert location.startswith(f"{PUBLIC}/setup/callback?")
    query = parse_qs(urlsplit(location).query)
    return query["code"][0], query["state"][0]


def callback(client: Any, code: str, state: str) -> Any:
    return client.get("/setup/callback?" + urlencode({"code": code, "state": state}))


def conversions(gh: FakeGitHub) -> list[Any]:
    return [r for r in gh.requests if r.method == "POST" and r.path.startswith("/app-manifests/")]


def test_the_page_shows_what_will_be_registered_and_posts_the_manifest_to_github(
        client: Any, fake_github: FakeGitHub) -> None:
    response = client.get("/setup")
    body = response.get_data(as_text=True)

    assert response.status_code == 200
    found = forms(body)
    assert set(found) == {"personal"}  # the organization form appears once an organization is named
    action, manifest_json = found["personal"]
    with client.session_transaction() as session:
        state = session["setup_state"]
    assert len(state) >= 40
    assert action == f"{fake_github.url}/settings/apps/new?state={state}"
    manifest = json.loads(manifest_json)
    assert manifest["default_permissions"] == {"contents": "read", "metadata": "read", "issues": "write",
                                               "pull_requests": "write", "checks": "write"}
    assert manifest["default_events"] == ["push", "pull_request", "issues", "milestone", "check_run", "check_suite"]
    assert manifest["redirect_url"] == f"{PUBLIC}/setup/callback"
    assert manifest["hook_attributes"] == {"url": f"{PUBLIC}/webhook", "active": True}
    assert manifest["callback_urls"] == [f"{PUBLIC}/login/callback"]
    assert manifest["url"] == PUBLIC and manifest["public"] is False
    assert re.findall(r'<tr data-permission="([a-z_]+)"><td>[a-z_]+</td><td>([a-z]+)</td>', body) == [
        ("contents", "read"), ("metadata", "read"), ("issues", "write"), ("pull_requests", "write"),
        ("checks", "write")]
    assert "<code>milestone</code>" in body and "<script" not in body
    assert f"Open this page at <a href=\"{PUBLIC}/setup\">" in body  # the test client is not at PUBLIC
    csp = response.headers["Content-Security-Policy"]
    assert f"form-action 'self' {fake_github.url};" in csp and "script-src" not in csp
    assert "default-src 'none'" in csp
    assert client.get("/setup").get_data(as_text=True).count(f"state={state}") == 1  # the same state on reload
    assert fake_github.requests == []  # nothing is sent to GitHub by showing the page


def test_registering_saves_the_app_privately_and_the_next_start_uses_it(
        client: Any, settings: Settings, fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    code, state = start(client)

    response = callback(client, code, state)
    body = response.get_data(as_text=True)

    assert response.status_code == 200, body
    assert f"The App “{fake_github.slug}” is registered" in body
    assert f'href="{fake_github.web_url}/apps/{fake_github.slug}"' in body
    assert f'href="{fake_github.web_url}/apps/{fake_github.slug}/installations/new"' in body
    assert "Restart <code>paydown serve</code>" in body
    saved_path, key_path = settings.data_dir / "github-app.json", settings.data_dir / "github-app.pem"
    assert stat.S_IMODE(saved_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    saved = json.loads(saved_path.read_text())
    assert set(saved) == {"app_id", "slug", "html_url", "webhook_secret", "client_id", "client_secret"}
    assert saved["app_id"] == fake_github.app_id and saved["slug"] == fake_github.slug
    assert key_path.read_text() == fake_github.private_key_pem.strip() + "\n"
    assert len(saved["webhook_secret"]) == 40 and len(saved["client_secret"]) == 40
    for secret in (saved["webhook_secret"], saved["client_secret"], "PRIVATE KEY"):
        assert secret not in body and secret not in caplog.text
    assert code not in caplog.text
    assert [p.name for p in settings.data_dir.iterdir() if p.name.startswith(".")] == []  # no temporary left
    sent = conversions(fake_github)
    assert [(r.path, r.status, "authorization" in r.headers) for r in sent] == [
        (f"/app-manifests/{code}/conversions", 201, False)]
    assert [(m["state"], m["org"], m["manifest"]["redirect_url"]) for m in fake_github.manifests] == [
        (state, None, f"{PUBLIC}/setup/callback")]

    restarted = Settings.from_env({"PAYDOWN_DATA_DIR": str(settings.data_dir),
                                   "PAYDOWN_GITHUB_API_URL": fake_github.url})
    assert restarted.app_configured and restarted.github_app_id == fake_github.app_id
    assert restarted.webhook_secret == saved["webhook_secret"]
    assert (restarted.oauth_client_id, restarted.oauth_client_secret) == (saved["client_id"],
                                                                          saved["client_secret"])
    with GitHubApp(restarted) as app:
        assert app.bot_login() == fake_github.bot_login
    assert fake_github.jwt_claims[-1]["iss"] == str(fake_github.app_id)

    # Before the restart the page says an App is saved; the spent state cannot be used twice.
    again = client.get("/setup")
    assert again.status_code == 200 and "An App is saved already" in again.get_data(as_text=True)
    assert forms(again.get_data(as_text=True)) == {}
    assert callback(client, code, state).status_code == 403
    assert len(conversions(fake_github)) == 1
    assert fake_github.errors == [] and fake_github.unhandled == []


def test_an_organization_is_named_in_githubs_address(client: Any, settings: Settings,
                                                     fake_github: FakeGitHub) -> None:
    bad = client.get("/setup?org=not/a login")
    assert bad.status_code == 400 and "organization" not in forms(bad.get_data(as_text=True))

    page = client.get("/setup?org=octo-org").get_data(as_text=True)
    with client.session_transaction() as session:
        state = session["setup_state"]
    assert forms(page)["organization"][0] == f"{fake_github.url}/organizations/octo-org/settings/apps/new?state={state}"
    assert 'name="org" value="octo-org"' in page

    code, returned = start(client, org="octo-org")
    assert returned == state
    assert callback(client, code, state).status_code == 200
    assert [m["org"] for m in fake_github.manifests] == ["octo-org"]
    assert json.loads((settings.data_dir / "github-app.json").read_text())["app_id"] == fake_github.app_id


def test_a_state_that_does_not_match_converts_nothing(client: Any, settings: Settings, fake_github: FakeGitHub,
                                                      service_queues: Any, store: Store) -> None:
    code, state = start(client)

    wrong = callback(client, code, state[:-2] + "xx")
    assert wrong.status_code == 403 and "Registration refused" in wrong.get_data(as_text=True)
    stranger = create_app(settings, store=store, queues=service_queues).test_client()  # no session at all
    assert callback(stranger, code, state).status_code == 403
    assert client.get("/setup/callback?code=" + code).status_code == 403

    assert conversions(fake_github) == []
    assert not (settings.data_dir / "github-app.json").exists()
    assert not (settings.data_dir / "github-app.pem").exists()


def test_a_spent_code_is_a_clear_error_and_saves_nothing(client: Any, settings: Settings,
                                                         fake_github: FakeGitHub) -> None:
    code, state = start(client)
    with GitHubApp(settings) as app:
        app.convert_manifest(code)  # someone used the code first

    response = callback(client, code, state)
    body = response.get_data(as_text=True)

    assert response.status_code == 400
    assert "a code works once, within an hour" in body and "Nothing was saved" in body
    assert [r.status for r in conversions(fake_github)] == [201, 404]
    assert not (settings.data_dir / "github-app.json").exists()
    assert not (settings.data_dir / "github-app.pem").exists()


def test_github_failing_the_conversion_is_not_retried(client: Any, settings: Settings,
                                                      fake_github: FakeGitHub) -> None:
    code, state = start(client)
    fault = fake_github.fail("POST", r"^/app-manifests/", "status", times=None, status=502)

    response = callback(client, code, state)

    assert response.status_code == 502 and "GitHub did not answer" in response.get_data(as_text=True)
    assert fault.hits == 1  # sent once: a code works once
    assert not (settings.data_dir / "github-app.json").exists()


def test_the_page_is_gone_once_an_app_is_configured(app: Any, fake_github: FakeGitHub) -> None:
    client = app.test_client()
    for path in ("/setup", "/setup?org=octo-org", "/setup/callback?code=abc&state=def"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "manifest" not in response.get_data(as_text=True)
    assert fake_github.requests == []


# ---------------------------------------------------------------- the adapter's conversion


def test_convert_manifest_returns_the_new_app_without_showing_its_secrets(
        settings: Settings, fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    answer = fake_github.add_manifest_code("code-123", {"name": "paydown", "url": PUBLIC,
                                                        "default_permissions": {"issues": "write"},
                                                        "default_events": ["issues"]})
    assert answer["permissions"] == {"metadata": "read", "issues": "write"} and answer["events"] == ["issues"]

    with GitHubApp(settings) as app:
        credentials = app.convert_manifest("code-123")
        with pytest.raises(NotFound) as spent:
            app.convert_manifest("code-123")

    assert credentials == AppCredentials(
        app_id=fake_github.app_id, slug=fake_github.slug, html_url=f"{fake_github.web_url}/apps/{fake_github.slug}",
        pem=fake_github.private_key_pem, webhook_secret=answer["webhook_secret"], client_id=answer["client_id"],
        client_secret=answer["client_secret"])
    shown = repr(credentials)
    assert "PRIVATE KEY" not in shown and answer["webhook_secret"] not in shown
    assert answer["client_secret"] not in shown and answer["client_id"] in shown
    assert spent.value.status == 404
    assert str(spent.value) == "POST /app-manifests/(code)/conversions: 404 Not Found"
    for secret in ("code-123", answer["webhook_secret"], answer["client_secret"], "PRIVATE KEY"):
        assert secret not in caplog.text
    assert "/app-manifests/(code)/conversions" in caplog.text  # PyGithub's debug line was there, redacted


@pytest.mark.parametrize(("fault", "error"), [
    ({"status": 422, "body": {"message": "Validation Failed", "errors": [{"resource": "Integration",
                                                                          "code": "custom",
                                                                          "field": "name"}]}},
     ValidationFailed),
    ({"status": 503}, GitHubUnavailable),
    ({"status": 429}, RateLimited),  # a rate limit: not waited out and sent again either
])
def test_convert_manifest_maps_errors_and_sends_once(settings: Settings, fake_github: FakeGitHub,
                                                     fault: dict[str, Any], error: type[Exception]) -> None:
    fake_github.add_manifest_code("code-456")
    injected = fake_github.fail("POST", r"^/app-manifests/", "status", times=None, **fault)

    never_wait = GitHubApp(settings, sleep=lambda _s: pytest.fail("convert_manifest waited to send again"))
    with never_wait as app, pytest.raises(error) as caught:
        app.convert_manifest("code-456")

    assert injected.hits == 1
    assert "code-456" not in str(caught.value)
