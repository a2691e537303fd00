"""The webhook: GitHub's signature, the routing table over real payloads, and the intake's faults (forged, replayed,
concurrent, Redis down, oversized, slow downstream) against a live app on real Redis and SQLite."""

from __future__ import annotations

import copy
import hashlib
import hmac
import http.client
import io
import json
import logging
import socket
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import func, select
from werkzeug.serving import make_server

from paydown.service.intake import (
    BadDelivery,
    Event,
    Router,
    create_app,
    parse_event,
    router,
    verify_signature,
    webhook,
)
from paydown.service.jobs import JobRequest, Queues, queues_for
from paydown.service.settings import Settings
from paydown.service.store import Delivery, Store

WEBHOOKS = Path("/work/shared/github/webhooks")
SECRET = "test-webhook-secret"
IID = 4711
SHA = "1" * 40


def payload(name: str, *, installation: int | None = IID) -> dict[str, Any]:
    body = json.loads((WEBHOOKS / f"{name}.json").read_text(encoding="utf-8"))
    if installation is not None:
        body["installation"] = {"id": installation}  # ids in the examples are inconsistent (README)
    return body


def issues_closed() -> dict[str, Any]:
    """octokit has no issues.closed example: derived from issues.reopened as the README there says."""
    body = payload("issues.reopened")
    body["action"] = "closed"
    body["issue"].update(state="closed", state_reason="completed", closed_at="2019-05-16T10:00:00Z")
    return body


def push_default(sha: str = SHA) -> dict[str, Any]:
    body = payload("push.with-installation")
    body.update(ref="refs/heads/master", after=sha, deleted=False, created=False)
    return body


def signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers_for(event: str, body: bytes, *, delivery: str | None = None, secret: str = SECRET,
                content_type: str = "application/json") -> dict[str, str]:
    return {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-Hub-Signature-256": signed(body, secret), "Content-Type": content_type}


def raw(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


# ---------------------------------------------------------------- fixtures (local until conftest's app fits)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'paydown.db'}",
                    github_api_url="http://127.0.0.1:9", webhook_secret=SECRET, secret_key="k" * 32,
                    write_gap_seconds=0)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    db = Store(settings.database_url)
    db.migrate()
    yield db
    db.dispose()


@pytest.fixture
def queues(redis_conn: Any) -> Queues:
    return queues_for(redis_conn)


@pytest.fixture
def hook_app(settings: Settings, store: Store, queues: Queues) -> Any:
    app = create_app(settings, store=store, queues=queues)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def hook_client(hook_app: Any) -> Any:
    return hook_app.test_client()


def queued(queues: Queues) -> int:
    return sum(queue.count for queue in queues.all())


def delivery_rows(store: Store) -> int:
    with store.session(readonly=True) as session:
        return session.scalar(select(func.count()).select_from(Delivery))


def post(client: Any, event: str, body: dict[str, Any] | bytes, **kwargs: Any) -> Any:
    data = body if isinstance(body, bytes) else raw(body)
    return client.post("/webhook", data=data, headers=headers_for(event, data, **kwargs))


# ---------------------------------------------------------------- signature


def test_githubs_published_test_vector() -> None:
    secret, body = "It's a Secret to Everybody", b"Hello, World!"
    good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert webhook.signature_of(body, secret) == good
    assert verify_signature(body, good, secret)
    assert not verify_signature(b"Hello, World?", good, secret)
    assert not verify_signature(body, good[:-1] + "8", secret)
    assert not verify_signature(body, good.removeprefix("sha256="), secret)
    assert not verify_signature(body, "sha1=" + hashlib.sha1(body).hexdigest(), secret)
    assert not verify_signature(body, None, secret)
    assert not verify_signature(body, "", secret)
    assert not verify_signature(body, good, "")
    assert not verify_signature(body, "sha256=\u00e9" + good[8:], secret)


# ---------------------------------------------------------------- parsing


def test_parse_event_reads_headers_case_insensitively_and_both_content_types() -> None:
    body = raw({"action": "opened", "x": 1})
    event = parse_event({"x-github-event": "issues", "X-GITHUB-DELIVERY": "abc-1",
                         "content-type": "application/json; charset=utf-8"}, body)
    assert event == Event("issues", "opened", "abc-1", {"action": "opened", "x": 1})
    form = urlencode({"payload": body.decode()}).encode()
    event = parse_event({"X-GitHub-Event": "issues", "X-GitHub-Delivery": "abc-2",
                         "Content-Type": "application/x-www-form-urlencoded"}, form)
    assert event.payload == {"action": "opened", "x": 1}


@pytest.mark.parametrize(("headers", "body", "status"), [
    ({"X-GitHub-Delivery": "d"}, b"{}", 400),
    ({"X-GitHub-Event": "push"}, b"{}", 400),
    ({"X-GitHub-Event": "push", "X-GitHub-Delivery": "d" * 65}, b"{}", 400),
    ({"X-GitHub-Event": "push", "X-GitHub-Delivery": "d", "Content-Type": "text/plain"}, b"{}", 415),
    ({"X-GitHub-Event": "push", "X-GitHub-Delivery": "d"}, b"{}", 415),
    ({"X-GitHub-Event": "push", "X-GitHub-Delivery": "d", "Content-Type": "application/json"}, b'{"a": ', 400),
    ({"X-GitHub-Event": "push", "X-GitHub-Delivery": "d", "Content-Type": "application/json"}, b"[1]", 400),
    ({"X-GitHub-Event": "push", "X-GitHub-Delivery": "d", "Content-Type": "application/json"}, b"\xff\xfe", 400),
    ({"X-GitHub-Event": "push", "X-GitHub-Delivery": "d", "Content-Type": "application/x-www-form-urlencoded"},
     b"other=1", 400),
])
def test_parse_event_refuses(headers: dict[str, str], body: bytes, status: int) -> None:
    with pytest.raises(BadDelivery) as caught:
        parse_event(headers, body)
    assert caught.value.status == status


# ---------------------------------------------------------------- routing table over the real payloads


def route(name: str, body: dict[str, Any], delivery: str = "d-1") -> list[JobRequest]:
    return router.route(Event(name, body.get("action"), delivery, body))


def _variant(name: str, **changes: Any) -> dict[str, Any]:
    body = payload(name)
    body.update(changes)
    return body


def _draft(name: str, action: str) -> dict[str, Any]:
    body = payload(name)
    body["action"] = action
    body["pull_request"]["draft"] = True
    return body


def _check_run_named(run_name: str) -> dict[str, Any]:
    body = payload("check_run.rerequested")
    body["check_run"]["name"] = run_name
    return body


REVIEW = JobRequest("review", "review:Codertocat/Hello-World#2", {
    "installation_id": IID, "repository": "Codertocat/Hello-World", "pull_number": 2,
    "head_sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821"})
MILESTONE_V1 = {"number": 1, "title": "v1.0", "due_on": "2019-05-23T07:00:00Z", "created_at": "2019-05-15T15:20:17Z",
                "state": "closed"}


REOPENED_TIMES = {"closed_at": "2021-07-05T18:07:10Z", "updated_at": "2021-10-11T16:40:56Z"}


def _issue_event(action: str, *, body: str, state: str = "open", state_reason: str | None = None,
                 milestone: dict[str, Any] | None = None, times: dict[str, Any] = REOPENED_TIMES) -> JobRequest:
    return JobRequest("issue_event", "issue_event:d-1", {
        "installation_id": IID, "repository": "Codertocat/Hello-World", "delivery_id": "d-1", "action": action,
        "issue": {"number": 1, "title": "Spelling error in the README file", "state": state,
                  "state_reason": state_reason, "labels": ["bug"], "milestone": MILESTONE_V1, "user": "Codertocat",
                  "body": body, **times},
        "milestone": milestone})


ROUTES: dict[str, tuple[str, dict[str, Any], list[JobRequest]]] = {
    "installation.created": ("installation", payload("installation.created"),
                             [JobRequest("install", f"install:{IID}", {"installation_id": IID})]),
    "installation.new_permissions_accepted": (
        "installation", _variant("installation.created", action="new_permissions_accepted"),
        [JobRequest("install", f"install:{IID}", {"installation_id": IID})]),
    "installation.unsuspend": ("installation", _variant("installation.created", action="unsuspend"),
                               [JobRequest("install", f"install:{IID}", {"installation_id": IID})]),
    "installation.deleted": ("installation", payload("installation.deleted"), [
        JobRequest("forget_installation", f"forget_installation:{IID}", {"installation_id": IID})]),
    "installation.suspend": ("installation", _variant("installation.deleted", action="suspend"), [
        JobRequest("forget_installation", f"forget_installation:{IID}", {"installation_id": IID, "suspended": True})]),
    "installation_repositories.added": ("installation_repositories", payload("installation_repositories.added"), [
        JobRequest("install", f"install:{IID}:Codertocat/Space",
                   {"installation_id": IID, "repositories": ["Codertocat/Space"]})]),
    "installation_repositories.removed": ("installation_repositories", payload("installation_repositories.removed"), [
        JobRequest("forget_repositories", f"forget_repositories:{IID}:octocat/Hello-World",
                   {"installation_id": IID, "repositories": ["octocat/Hello-World"]})]),
    "push (tag deleted)": ("push", payload("push"), []),
    "push.with-installation (tag deleted)": ("push", payload("push.with-installation"), []),
    "push to the default branch": ("push", push_default(), [JobRequest("scan", "scan:Codertocat/Hello-World", {
        "installation_id": IID, "repository": "Codertocat/Hello-World", "sha": SHA, "ref": "refs/heads/master"})]),
    "push to another branch": ("push", {**push_default(), "ref": "refs/heads/feature"}, []),
    "push deleting the default branch": ("push", {**push_default("0" * 40), "deleted": True}, []),
    "pull_request.opened": ("pull_request", payload("pull_request.opened"), [REVIEW]),
    "pull_request.reopened": ("pull_request", payload("pull_request.reopened"), [REVIEW]),
    "pull_request.synchronize": ("pull_request", payload("pull_request.synchronize"), [REVIEW]),
    "pull_request.closed": ("pull_request", payload("pull_request.closed"), []),
    "pull_request.opened (draft)": ("pull_request", _draft("pull_request.opened", "opened"), []),
    "pull_request.ready_for_review (draft flag still set)": (
        "pull_request", _draft("pull_request.opened", "ready_for_review"), [REVIEW]),
    "pull_request.synchronize on a closed PR": (
        "pull_request", {**payload("pull_request.synchronize"), "pull_request": payload("pull_request.closed")[
            "pull_request"], "action": "synchronize"}, []),
    "check_run.rerequested (another app's run)": ("check_run", payload("check_run.rerequested"), []),
    "check_run.rerequested (paydown)": ("check_run", _check_run_named("paydown"), [
        JobRequest("rerun", "rerun:github/hello-world:d6fde92930d4715a2b49857d24b940956b26d2d3", {
            "installation_id": IID, "repository": "github/hello-world",
            "head_sha": "d6fde92930d4715a2b49857d24b940956b26d2d3", "pull_numbers": []})]),
    "check_suite.requested": ("check_suite", payload("check_suite.requested"), []),
    "check_suite.rerequested": ("check_suite", payload("check_suite.rerequested"), [
        JobRequest("rerun", "rerun:Codertocat/Hello-World:ec26c3e57ca3a959ca5aad62de7213c562f8c821", {
            "installation_id": IID, "repository": "Codertocat/Hello-World",
            "head_sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "pull_numbers": [2]})]),
    "issues.edited": ("issues", payload("issues.edited"), [
        _issue_event("edited", body="It looks like you accidently spelled 'commit' with two 't's.",
                     times={"closed_at": None, "updated_at": "2019-05-15T15:20:18Z"})]),
    "issues.reopened": ("issues", payload("issues.reopened"), [_issue_event("reopened", body="")]),
    "issues.closed (derived)": ("issues", issues_closed(), [
        _issue_event("closed", body="", state="closed", state_reason="completed",
                     times={**REOPENED_TIMES, "closed_at": "2019-05-16T10:00:00Z"})]),
    "issues.milestoned (derived)": ("issues", {**payload("issues.reopened"), "action": "milestoned",
                                               "milestone": payload("issues.reopened")["issue"]["milestone"]},
                                    [_issue_event("milestoned", body="", milestone=MILESTONE_V1)]),
    "issues.transferred": ("issues", _variant("issues.reopened", action="transferred"), []),
    "milestone.closed (derived)": ("milestone", {**payload("issues.reopened"), "action": "closed",
                                                 "milestone": payload("issues.reopened")["issue"]["milestone"]},
                                   [JobRequest("milestone_event", "milestone_event:d-1", {
                                       "installation_id": IID, "repository": "Codertocat/Hello-World",
                                       "delivery_id": "d-1", "action": "closed", "milestone": {
                                           **MILESTONE_V1, "closed_at": "2019-05-15T15:20:18Z"}})]),
    "star.created (not subscribed)": ("star", _variant("issues.reopened", action="created"), []),
}


def test_the_routing_table_covers_every_payload_file() -> None:
    files = {path.stem for path in WEBHOOKS.glob("*.json")} - {"issues.closed.schema"}
    covered = {case.split(" ")[0] for case in ROUTES}
    assert files <= covered, files - covered


@pytest.mark.parametrize("case", list(ROUTES))
def test_routing_table(case: str) -> None:
    name, body, expected = ROUTES[case]
    assert route(name, copy.deepcopy(body)) == expected


def test_handlers_never_follow_payload_urls() -> None:
    body = payload("pull_request.opened")
    for key in ("url", "html_url", "issue_url", "commits_url", "statuses_url"):
        body["pull_request"][key] = "http://evil.invalid/"
    body["repository"]["url"] = "http://evil.invalid/"
    assert route("pull_request", body) == [REVIEW]


def test_malformed_fields_are_refused_not_routed() -> None:
    body = payload("pull_request.opened")
    body["repository"]["full_name"] = "../../etc"
    with pytest.raises(ValueError):
        route("pull_request", body)
    body = push_default("not-a-sha")
    with pytest.raises(ValueError):
        route("push", body)


def test_routers_compose() -> None:
    first, second = Router(), Router()

    @first.register("issues", action="opened")
    def opened(event: Event) -> list[JobRequest]:
        return [JobRequest("a", "a", {})]

    @second.register("issues")
    def any_action(event: Event) -> list[JobRequest]:
        return [JobRequest("b", "b", {})]

    both = Router(first, second)
    assert [r.kind for r in both.route(Event("issues", "opened", "d", {}))] == ["b", "a"]
    assert [r.kind for r in both.route(Event("issues", "closed", "d", {}))] == ["b"]
    assert both.route(Event("push", None, "d", {})) == []


# ---------------------------------------------------------------- the live app


def forged_variants() -> dict[str, dict[str, str] | tuple[bytes, dict[str, str]]]:
    body = raw(payload("pull_request.opened"))
    good = headers_for("pull_request", body)
    no_sig = {k: v for k, v in good.items() if k != "X-Hub-Signature-256"}
    reserialised = json.dumps(json.loads(body), indent=1).encode()
    return {
        "missing": (body, no_sig),
        "wrong secret": (body, headers_for("pull_request", body, secret="not-the-secret")),
        "one byte changed": (body.replace(b'"opened"', b'"openeD"'), good),
        "re-serialised after signing": (reserialised, good),
        "sha1 only": (body, {**no_sig, "X-Hub-Signature": "sha1=" + hmac.new(SECRET.encode(), body,
                                                                             hashlib.sha1).hexdigest()}),
        "empty": (body, {**good, "X-Hub-Signature-256": ""}),
    }


@pytest.mark.parametrize("variant", list(forged_variants()))
def test_forged_deliveries_are_refused_and_leave_nothing(hook_client: Any, queues: Queues, store: Store,
                                                         variant: str) -> None:
    body, headers = forged_variants()[variant]
    response = hook_client.post("/webhook", data=body, headers=headers)
    assert response.status_code == 401
    assert response.json == {"status": "bad signature"}
    assert queued(queues) == 0
    assert delivery_rows(store) == 0
    assert queues.connection.keys("paydown:*") == []


def test_a_valid_delivery_is_queued_and_recorded(hook_client: Any, queues: Queues, store: Store) -> None:
    response = post(hook_client, "pull_request", payload("pull_request.opened"), delivery="d-ok")
    assert response.status_code == 202
    assert response.json["status"] == "queued"
    assert response.json["coalesced"] == 0
    [job_id] = response.json["queued"]
    assert queues.reviews.job_ids == [job_id]
    job = queues.reviews.fetch_job(job_id)
    assert job.kwargs == {"key": "review:Codertocat/Hello-World#2", **REVIEW.kwargs}
    assert job.meta["delivery_id"] == "d-ok"
    with store.session(readonly=True) as session:
        row = session.get(Delivery, "d-ok")
        assert (row.event, row.action, row.installation_id, row.repository, row.job_ids) == (
            "pull_request", "opened", IID, "Codertocat/Hello-World", [job_id])
    assert queues.connection.ttl("paydown:delivery:d-ok") > 24 * 3600


def test_form_encoded_deliveries_are_accepted(hook_client: Any, queues: Queues) -> None:
    body = urlencode({"payload": json.dumps(push_default())}).encode()
    headers = headers_for("push", body, content_type="application/x-www-form-urlencoded")
    response = hook_client.post("/webhook", data=body, headers=headers)
    assert response.status_code == 202
    assert queues.scans.count == 1


def test_a_signed_form_delivery_with_many_fields_is_400_and_queues_nothing(hook_client: Any,
                                                                            queues: Queues) -> None:
    fields = {"payload": json.dumps(push_default()), **{f"extra{n}": "x" for n in range(20)}}  # 21 fields
    body = urlencode(fields).encode()
    headers = headers_for("push", body, content_type="application/x-www-form-urlencoded")
    response = hook_client.post("/webhook", data=body, headers=headers)
    assert response.status_code == 400
    assert sum(queue.count for queue in queues.all()) == 0


def test_wrong_content_type_is_415(hook_client: Any, queues: Queues) -> None:
    response = post(hook_client, "push", raw(push_default()), content_type="text/plain")
    assert response.status_code == 415
    assert queued(queues) == 0


def test_same_delivery_twice_makes_one_job_and_one_row(hook_client: Any, queues: Queues, store: Store) -> None:
    body = raw(payload("pull_request.opened"))
    first = post(hook_client, "pull_request", body, delivery="d-twice")
    second = post(hook_client, "pull_request", body, delivery="d-twice")
    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json == {"status": "duplicate"}
    assert queued(queues) == 1
    assert delivery_rows(store) == 1


def test_recorded_delivery_is_a_duplicate_even_if_redis_forgot_the_claim(hook_client: Any, queues: Queues,
                                                                         store: Store) -> None:
    body = raw(push_default())
    assert post(hook_client, "push", body, delivery="d-old").status_code == 202
    queues.connection.flushall()
    assert post(hook_client, "push", body, delivery="d-old").json == {"status": "duplicate"}
    assert queued(queues) == 0
    assert delivery_rows(store) == 1


@pytest.fixture
def live_server(hook_app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, hook_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def _http_post(address: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    host, port = address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", "/webhook", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_eight_concurrent_posts_of_one_delivery_make_one_job(live_server: str, queues: Queues,
                                                             store: Store) -> None:
    body = raw(payload("pull_request.synchronize"))
    headers = headers_for("pull_request", body, delivery="d-concurrent")
    start = threading.Barrier(8)
    results: list[tuple[int, bytes]] = []

    def send() -> None:
        start.wait()
        results.append(_http_post(live_server, body, headers))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert sorted(status for status, _ in results) == [202] * 8
    answers = sorted(json.loads(text)["status"] for _, text in results)
    assert answers == ["duplicate"] * 7 + ["queued"]
    assert queued(queues) == 1
    assert delivery_rows(store) == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_redis_down_is_503_and_the_redelivery_is_processed(settings: Settings, store: Store,
                                                           queues: Queues) -> None:
    # No client-side retries: redis-py's default (3 retries with backoff) would spend ~3.4 s per command here.
    down = redis.Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=0.5, socket_timeout=0.5,
                       retry=Retry(NoBackoff(), 0))
    body = raw(push_default())
    try:
        app = create_app(settings, store=store, queues=queues_for(down))
        response = post(app.test_client(), "push", body, delivery="d-redis")
        assert response.status_code == 503
        assert delivery_rows(store) == 0
        assert app.test_client().get("/healthz").json == {"database": "ok", "redis": "unavailable",
                                                                "workers": "unavailable"}
    finally:
        down.close()
    app = create_app(settings, store=store, queues=queues)
    response = post(app.test_client(), "push", body, delivery="d-redis")
    assert response.status_code == 202
    assert queues.scans.count == 1
    assert delivery_rows(store) == 1


def test_a_failed_enqueue_releases_the_claim(hook_client: Any, queues: Queues, store: Store,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    body = raw(payload("pull_request.opened"))

    def broken(*args: Any, **kwargs: Any) -> str:
        raise redis.ConnectionError("lost the connection")

    monkeypatch.setattr(webhook, "enqueue_once", broken)
    assert post(hook_client, "pull_request", body, delivery="d-retry").status_code == 503
    assert queues.connection.get("paydown:delivery:d-retry") is None
    monkeypatch.undo()
    assert post(hook_client, "pull_request", body, delivery="d-retry").status_code == 202
    assert queued(queues) == 1
    assert delivery_rows(store) == 1


class CountingZeros(io.RawIOBase):
    """An endless (or `size`-long) body produced lazily, counting what the app reads of it."""

    def __init__(self, size: int | None = None) -> None:
        self.size, self.read_bytes = size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = len(buffer) if self.size is None else min(len(buffer), self.size - self.read_bytes)
        buffer[:left] = bytes(left)
        self.read_bytes += left
        return left


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_26_mb_body_is_413_without_being_read(hook_client: Any, queues: Queues) -> None:
    size = 26 * 1024 * 1024
    stream = CountingZeros(size)
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-big", "Content-Type": "application/json",
               "X-Hub-Signature-256": "sha256=" + "0" * 64}
    before = _rss()
    response = hook_client.post("/webhook", headers=headers,
                                environ_overrides={"wsgi.input": stream, "CONTENT_LENGTH": str(size)})
    assert response.status_code == 413
    assert stream.read_bytes == 0
    assert _rss() - before < 4 << 20
    assert queued(queues) == 0


def test_an_endless_body_without_length_is_cut_at_the_limit(tmp_path: Path, store: Store, queues: Queues) -> None:
    limited = Settings(data_dir=tmp_path / "data", database_url="sqlite://", webhook_secret=SECRET,
                       secret_key="k" * 32, max_body_bytes=1 << 20)
    app = create_app(limited, store=store, queues=queues)
    stream = CountingZeros()
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-endless", "Content-Type": "application/json",
               "X-Hub-Signature-256": "sha256=" + "0" * 64}
    response = app.test_client().post("/webhook", headers=headers, environ_overrides={
        "wsgi.input": stream, "wsgi.input_terminated": True, "CONTENT_LENGTH": ""})
    assert response.status_code == 413
    assert stream.read_bytes <= (1 << 20) + 1 + 64 * 1024


def test_ping_unknown_event_and_unknown_action(hook_client: Any, queues: Queues, store: Store) -> None:
    ping = post(hook_client, "ping", {"zen": "Keep it logically awesome.", "hook_id": 1})
    assert (ping.status_code, ping.json) == (200, {"status": "pong"})
    unknown = post(hook_client, "made_up_event", payload("issues.reopened"))
    assert (unknown.status_code, unknown.json) == (202, {"status": "ignored"})
    action = post(hook_client, "pull_request", payload("pull_request.closed"))
    assert (action.status_code, action.json) == (202, {"status": "ignored"})
    assert queued(queues) == 0
    assert delivery_rows(store) == 0


def test_a_payload_without_installation_is_ignored_with_a_log_line(hook_client: Any, queues: Queues,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="paydown.webhook")
    body = payload("issues.edited", installation=None)
    assert "installation" not in body
    response = post(hook_client, "issues", body, delivery="d-noinst")
    assert (response.status_code, response.json) == (202, {"status": "ignored"})
    assert queued(queues) == 0
    [record] = [r for r in caplog.records if "without an installation" in r.getMessage()]
    assert record.delivery == "d-noinst"
    assert record.repository == "Codertocat/Hello-World"


def test_malformed_json_and_missing_headers_are_400(hook_client: Any, queues: Queues) -> None:
    body = raw(push_default())[:-10]
    assert post(hook_client, "push", body).status_code == 400
    good = raw(push_default())
    headers = headers_for("push", good)
    del headers["X-GitHub-Delivery"]
    assert hook_client.post("/webhook", data=good, headers=headers).status_code == 400
    headers = headers_for("push", good)
    del headers["X-GitHub-Event"]
    assert hook_client.post("/webhook", data=good, headers=headers).status_code == 400
    missing = push_default()
    del missing["repository"]
    assert post(hook_client, "push", missing).status_code == 400
    assert queued(queues) == 0


def test_logs_carry_metadata_never_the_secret_or_body(hook_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = payload("pull_request.opened")
    body["pull_request"]["body"] = "a-very-private-sentence"
    post(hook_client, "pull_request", body, delivery="d-log")
    post(hook_client, "pull_request", body, delivery="d-log2", secret="guess")
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "d-log" in text
    assert SECRET not in text
    assert "a-very-private-sentence" not in text


def test_200_sequential_deliveries_answer_fast_without_calling_github(fake_github: Any, tmp_path: Path,
                                                                      store: Store, queues: Queues) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url="sqlite://", github_api_url=fake_github.url,
                        webhook_secret=SECRET, secret_key="k" * 32)
    client = create_app(settings, store=store, queues=queues).test_client()
    bodies = [("push", push_default(f"{n + 1:040x}")) for n in range(100)]
    bodies += [("pull_request", payload("pull_request.synchronize")) for _ in range(50)]
    bodies += [("issues", payload("issues.reopened")) for _ in range(50)]
    seconds = []
    for event, body in bodies:
        data = raw(body)
        started = time.perf_counter()
        response = client.post("/webhook", data=data, headers=headers_for(event, data))
        seconds.append(time.perf_counter() - started)
        assert response.status_code == 202
    p99 = statistics.quantiles(seconds, n=100)[98]
    print(f"webhook intake: 200 deliveries, median {statistics.median(seconds) * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms")
    assert p99 < 1.0
    assert fake_github.requests == []
    # 100 pushes coalesce into one scan, 50 synchronizes into one review; each issue event is its own job.
    assert (queues.scans.count, queues.reviews.count, queues.events.count) == (1, 1, 50)
    assert delivery_rows(store) == 200


def test_rerun_filter_uses_the_review_check_name() -> None:
    from paydown.service.review import checks

    assert webhook.CHECK_NAME == checks.CHECK_NAME


def test_delivery_rows_past_the_redelivery_window_are_pruned(hook_client: Any, store: Store, queues: Queues) -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    with store.session() as session:
        for n, age in enumerate([40, 31, 29, 1]):
            session.add(Delivery(id=f"old-{n}", event="push", action=None, installation_id=None, repository=None,
                                 job_ids=[], received_at=now - timedelta(days=age)))
    assert post(hook_client, "push", push_default(), delivery="d-new").status_code == 202
    with store.session(readonly=True) as session:
        kept = set(session.scalars(select(Delivery.id)))
    assert kept == {"old-2", "old-3", "d-new"}  # 30 days by default, PAYDOWN_DELIVERY_RETENTION_DAYS


def test_the_delivery_retention_is_a_setting(tmp_path: Path) -> None:
    assert Settings.from_env({"PAYDOWN_DATA_DIR": str(tmp_path)}).delivery_retention_days == 30
    assert Settings.from_env({"PAYDOWN_DATA_DIR": str(tmp_path),
                              "PAYDOWN_DELIVERY_RETENTION_DAYS": "7"}).delivery_retention_days == 7
