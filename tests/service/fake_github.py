"""A stateful GitHub REST API stand-in on 127.0.0.1 for paydown's service tests (real HTTP, real git, real JWTs).

Manual
======

Start it
--------
::

    from .fake_github import FakeGitHub, fake_github  # noqa: F401  (the fixture, for test files)

    with FakeGitHub() as gh:          # a ThreadingHTTPServer on 127.0.0.1:<free port>, served by a daemon thread
        gh.url                        # "http://127.0.0.1:PORT": PyGithub base_url (no /api/v3) = github_api_url
        gh.web_url                    # html_url base and OAuth pages (defaults to gh.url): Settings.github_web_url
        gh.app_id, gh.private_key_pem # the App: id 4242 and an RSA key made once per process
        gh.slug, gh.bot_login         # "paydown-test", "paydown-test[bot]": author of every write made with a token

``close()`` (or leaving the ``with``) stops the server, ends every connection and joins every thread it started.
Every response carries ``Connection: close`` (HTTP/1.0), so no client keeps a pooled socket to it.

Routes (``{r}`` = ``/repos/{owner}/{repo}``; JWT = App JWT, token = installation or OAuth user token)
-------------------------------------------------------------------------------------------------------
JWT: ``GET /app``, ``GET /app/installations[/{id}]``, ``POST /app/installations/{id}/access_tokens``,
``GET {r}/installation``. Installation token: ``GET /installation/repositories``. Any token: ``GET {r}``,
``GET {r}/tarball[/{ref}]``, ``GET {r}/commits/{ref}``, issues ``GET|POST {r}/issues``, ``GET|PATCH
{r}/issues/{n}``, ``GET|POST {r}/issues/{n}/comments``, ``GET|PATCH|DELETE {r}/issues/comments/{id}``,
``GET|POST|PUT|DELETE {r}/issues/{n}/labels``, ``DELETE {r}/issues/{n}/labels/{name}``, ``GET|POST {r}/labels``,
``GET|PATCH|DELETE {r}/labels/{name}``, ``GET {r}/milestones[/{n}]``, ``GET {r}/pulls[/{n}]``,
``GET {r}/pulls/{n}/files``, ``GET|POST {r}/pulls/{n}/reviews``, ``GET|POST {r}/pulls/{n}/comments``,
``POST {r}/pulls/{n}/comments/{id}/replies``, ``GET|PATCH|DELETE {r}/pulls/comments/{id}``, ``POST
{r}/check-runs`` (installation token only), ``GET|PATCH {r}/check-runs/{id}``, ``GET {r}/check-runs/{id}/annotations``,
``GET {r}/commits/{ref}/check-runs``. OAuth user token: ``GET /user``, ``GET /user/installations``,
``GET /user/installations/{id}/repositories``. No auth: ``GET /rate_limit``, ``GET /login/oauth/authorize``,
``POST /login/oauth/access_token``, ``GET /_codeload/...``, ``POST /app-manifests/{code}/conversions``; web
pages: ``POST /settings/apps/new`` and ``POST /organizations/{org}/settings/apps/new`` (the manifest flow's form).
Commit statuses are not served.

Add state (helpers take the lock and log no request)
-----------------------------------------------------
- ``gh.add_installation(id, account="octo-org", account_type="Organization") -> dict``;
  ``gh.suspend_installation(id)`` (token mints and token use answer 403 "This installation has been suspended"),
  ``gh.unsuspend_installation(id)``, ``gh.remove_installation(id)`` (404 on mint, 401 for its tokens).
- ``gh.add_repo("octo-org/widgets", git_dir, installation_id, default_branch="main", private=False,
  has_issues=True, archived=False) -> dict``: backed by a real git repository (``git_dir`` may be None for a repo
  that only serves ``set_tarball`` overrides). ``gh.set_repo(full_name, archived=..., has_issues=..., ...)``.
- Issues: ``gh.add_issue(full_name, title, body, labels=(), user="alice", state="open", state_reason=None,
  milestone=None) -> FakeIssue``; ``gh.edit_issue(full_name, number, **fields)``; ``gh.delete_issue(...)`` (then
  404); ``gh.issue(full_name, number) -> FakeIssue``; ``gh.issue_list(full_name, state="all")`` (no pull requests).
- Comments: ``gh.add_comment(full_name, number, body, user="alice") -> FakeComment``,
  ``gh.comments(full_name, number)``. Labels: ``gh.add_label(full_name, name, color="ededed", description="")``,
  ``gh.labels(full_name) -> dict[name, FakeLabel]``.
- Milestones: ``gh.add_milestone(full_name, title, due_on=date|None, created_at=datetime|None, state="open",
  description="") -> number``.
- Pulls: ``gh.add_pull(full_name, number, base_sha, head_sha, head_ref="feature", base_ref="main",
  head_full_name=None, draft=False, fork_deleted=False) -> FakePull``; ``gh.move_head(full_name, number, sha)``.
  ``GET /pulls/{n}/files`` is ``git diff base...head`` of the real repo; reviews and single comments are checked
  against those hunks (``line``+``side``; ``position`` is accepted and noted in ``gh.deprecations``).
  ``gh.review_comments(full_name, number)``, ``gh.reviews(full_name, number)``.
- Check runs: ``gh.check_runs: dict[id, FakeCheckRun]`` (``.status``, ``.conclusion``, ``.output``,
  ``.annotations``, ``.annotation_batches`` = annotations per request); ``gh.check_runs_for(full_name, sha=None)``.
- Tarballs: ``GET /repos/{o}/{r}/tarball/{ref}`` answers 302 to ``{gh.codeload_url or gh.url}/_codeload/{o}/{r}/
  legacy.tar.gz/{sha}``, which streams ``git archive --format=tar.gz --prefix={o}-{r}-{sha7}/ {sha}``.
  ``gh.set_tarball(full_name, sha_or_ref, data)`` serves ``bytes`` or a ``Callable[[], Iterator[bytes]]`` (lazy:
  bombs, slow streams) instead; ``gh.tarball_rate = bytes_per_second`` throttles. ``gh.codeload_requests`` lists
  the headers (lowercased keys) of every codeload request. ``RecordingServer(body)`` is a second host for the
  cross-host redirect test (``gh.codeload_url = other.url``; ``other.requests``).
- OAuth: ``gh.add_user(login, token=None, installations=(ids), repos=None|(full_names)) -> FakeUser``
  (``repos=None``: every repo of those installations). ``GET /login/oauth/authorize`` 302s straight back to
  ``redirect_uri?code=..&state=..`` for ``gh.oauth_next_user`` (or ``?login=`` in the URL), else serves a tiny HTML
  page with one link per user. ``POST /login/oauth/access_token`` (JSON answer with ``Accept: application/json``,
  else form-encoded). Set ``gh.oauth_client_id`` / ``gh.oauth_client_secret`` to make it check them.
- App manifests: ``POST /settings/apps/new`` (or ``/organizations/{org}/settings/apps/new``) reads the form field
  ``manifest`` (JSON) and the ``state`` query parameter, appends ``{"manifest", "org", "state"}`` to
  ``gh.manifests``, and 302s straight to ``redirect_url?code=..&state=..`` (no confirmation page); a form without
  a JSON manifest holding ``url`` and ``redirect_url`` gets a 422 HTML page. ``gh.add_manifest_code(code,
  manifest=None, org=None) -> dict`` registers a code directly and returns the answer its conversion will give. ``POST
  /app-manifests/{code}/conversions`` answers 201 once per code (GitHub's shape: id, slug, pem, webhook_secret,
  client_id, client_secret, ...: the App is this server's own, ``gh.app_id`` with ``gh.private_key_pem``, so it
  works here at once), then 404.
- Knobs: ``gh.token_ttl`` (seconds, default 3600), ``gh.token_length`` (total length; None: varies per mint, never 40),
  ``gh.token_format = "stateless"`` (GitHub's new ``ghs_APPID_<JWT>`` tokens, ~200 chars with ``_`` and ``.``),
  ``gh.clock`` (a ``time.time``-like callable used for JWT and token expiry), ``gh.token_mints`` ([(id, time)]),
  ``gh.jwt_claims`` (claims of every JWT accepted).

Inject faults
-------------
``gh.fail(method, path_pattern, kind, times=1, **options) -> Fault``; ``method`` "GET"/"POST"/... or None for any,
``path_pattern`` a regex searched (``re.search``) in the request path as sent (no query; still percent-encoded).
``times=None`` means forever; the first matching fault with answers left wins. ``Fault.hits`` counts the answers it
made. Kinds and options:

- ``status``: ``status=502`` (any code), ``body=`` (dict/str; default GitHub's error JSON), ``headers=``,
  ``location=`` (for 301/302).
- ``reset``: the connection is closed (RST) without an answer.
- ``slow``: ``seconds=`` of sleep, then the normal answer.
- ``primary_rate_limit``: ``status=403`` (or 429), ``reset_in=2``; ``x-ratelimit-remaining: 0`` and
  ``x-ratelimit-reset``; with ``hold=True`` (default) every request before the reset time is limited as well.
- ``secondary_rate_limit``: ``status=403`` (or 429), ``retry_after=None|seconds`` (the ``retry-after`` header).
- ``forbidden_integration``: 403 "Resource not accessible by integration", no ``x-ratelimit-*`` headers.
- ``after_success``: performs the request, then answers ``status=502`` (the ambiguous POST); with
  ``then="reset"`` it hangs up instead of answering.

``gh.clear_faults()`` drops them all.

Read the log
------------
``gh.requests``: every request, in arrival order, as ``LoggedRequest(method, path, query, json, headers, status,
monotonic, wall, fault)`` (headers with lowercased keys; status 0 when the connection was reset).
``gh.writes()``: POST/PATCH/PUT/DELETE except token mints, the OAuth code exchange and the App manifest flow.
``gh.count(method=None, path_pattern=None, status=None)``, ``gh.clear_log()``; ``gh.errors`` (tracebacks of bugs in
this server, answered as 500) and ``gh.unhandled`` ("METHOD /path" of requests no route serves, answered 404 like
GitHub): when a test fails oddly, assert both are empty.

Errors use GitHub's JSON shape (``message``, ``documentation_url``, ``errors``, ``status``) with GitHub's texts;
normal answers carry ``x-ratelimit-limit/remaining/reset/used/resource`` and
``Content-Type: application/json; charset=utf-8``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import math
import os
import re
import secrets
import socket
import string
import struct
import subprocess
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

APP_ID = 4242
SLUG = "paydown-test"
BODY_LIMIT = 65536
OUTPUT_LIMIT = 65535
MAX_ANNOTATIONS = 50
MAX_PULL_FILES = 3000
DOCS = "https://docs.github.com/rest"
SECONDARY_MESSAGE = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
INTEGRATION_MESSAGE = "Resource not accessible by integration"
SUSPENDED_MESSAGE = "This installation has been suspended"
ARCHIVED_MESSAGE = "Repository was archived so is read-only."
ISSUES_DISABLED_MESSAGE = "Issues are disabled for this repo"
RATE_LIMIT = 5000
TOKEN_MINT_PATH = re.compile(r"^/app/installations/\d+/access_tokens$")
MANIFEST_FLOW_PATH = re.compile(r"^(?:/app-manifests/[^/]+/conversions|(?:/organizations/[^/]+)?/settings/apps/new)$")
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
STATE_REASONS = frozenset({"completed", "not_planned", "duplicate", "reopened"})
CHECK_STATUSES = frozenset({"queued", "in_progress", "completed", "waiting", "requested", "pending"})
CHECK_CONCLUSIONS = frozenset({"action_required", "cancelled", "failure", "neutral", "success", "skipped",
                               "stale", "timed_out"})
ANNOTATION_LEVELS = frozenset({"notice", "warning", "failure"})
GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"}
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@cache
def app_private_key() -> tuple[str, Any]:
    """One RSA key per process (PEM text, public key object): generating one costs ~50 ms."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, key.public_key()


def iso(ts: float | datetime | date | None) -> str | None:
    """GitHub's timestamp format (UTC, seconds, trailing Z)."""
    if ts is None:
        return None
    if isinstance(ts, datetime):
        ts = ts.timestamp() if ts.tzinfo else ts.replace(tzinfo=UTC).timestamp()
    elif isinstance(ts, date):
        ts = datetime(ts.year, ts.month, ts.day, 7, 0, tzinfo=UTC).timestamp()  # GitHub stores due_on at 07:00Z
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


# ---------------------------------------------------------------- public records


class ApiError(Exception):
    """An answer in GitHub's error shape."""

    def __init__(self, status: int, message: str, errors: list[Any] | None = None, *,
                 headers: dict[str, str] | None = None, docs: str = DOCS, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.errors, self.headers = status, message, errors, headers or {}
        self.docs, self.extra = docs, extra

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, **self.extra}
        if self.errors is not None:
            out["errors"] = self.errors
        out["documentation_url"] = self.docs
        out["status"] = str(self.status)
        return out


def validation_failed(resource: str, field_name: str, code: str = "custom", message: str | None = None) -> ApiError:
    error = {"resource": resource, "code": code, "field": field_name}
    if message:
        error["message"] = message
    return ApiError(422, "Validation Failed", [error])


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    body: bytes
    monotonic: float
    wall: float
    status: int = 0
    fault: str | None = None


@dataclass
class Fault:
    method: str | None
    pattern: re.Pattern[str]
    kind: str
    times: int | None
    options: dict[str, Any]
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return (self.method is None or self.method == method) and self.pattern.search(path) is not None


@dataclass
class FakeInstallation:
    id: int
    account: str
    account_type: str
    account_id: int
    created_at: float
    suspended_at: float | None = None
    removed: bool = False


@dataclass
class FakeLabel:
    id: int
    name: str
    color: str
    description: str = ""
    default: bool = False


@dataclass
class FakeIssue:
    number: int
    id: int
    title: str
    body: str | None
    user: str
    created_at: float
    updated_at: float
    state: str = "open"
    state_reason: str | None = None
    labels: list[str] = field(default_factory=list)
    milestone: int | None = None
    assignees: list[str] = field(default_factory=list)
    closed_at: float | None = None
    is_pull: bool = False
    locked: bool = False


@dataclass
class FakeComment:
    id: int
    issue_number: int
    body: str
    user: str
    created_at: float
    updated_at: float


@dataclass
class FakeMilestone:
    number: int
    id: int
    title: str
    state: str
    description: str
    due_on: date | None
    created_at: float
    updated_at: float
    closed_at: float | None = None


@dataclass
class FakePull:
    number: int
    id: int
    base_sha: str
    head_sha: str
    head_ref: str
    base_ref: str
    head_full_name: str | None
    draft: bool
    state: str = "open"
    fork_deleted: bool = False
    heads: list[str] = field(default_factory=list)


@dataclass
class FakeReview:
    id: int
    number: int
    user: str
    body: str
    state: str
    commit_id: str
    submitted_at: float | None


@dataclass
class FakeReviewComment:
    id: int
    number: int
    review_id: int
    path: str
    line: int | None
    side: str | None
    start_line: int | None
    start_side: str | None
    position: int | None
    commit_id: str
    body: str
    user: str
    diff_hunk: str
    created_at: float
    updated_at: float
    in_reply_to_id: int | None = None
    subject_type: str = "line"
    original_line: int | None = None
    original_start_line: int | None = None
    original_position: int | None = None
    original_commit_id: str = ""


@dataclass
class FakeCheckRun:
    id: int
    full_name: str
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    external_id: str
    details_url: str | None
    started_at: float | None
    completed_at: float | None
    check_suite_id: int
    output: dict[str, Any] = field(default_factory=lambda: {"title": None, "summary": None, "text": None})
    annotations: list[dict[str, Any]] = field(default_factory=list)
    annotation_batches: list[int] = field(default_factory=list)


@dataclass
class FakeUser:
    login: str
    id: int
    token: str
    installations: list[int]
    repos: set[str] | None


@dataclass
class FakeRepo:
    id: int
    full_name: str
    owner: str
    name: str
    owner_type: str
    git_dir: Path | None
    installation_id: int
    default_branch: str
    private: bool
    has_issues: bool
    archived: bool
    created_at: float
    issues: dict[int, FakeIssue] = field(default_factory=dict)
    labels: dict[str, FakeLabel] = field(default_factory=dict)  # keyed by lowercased name
    milestones: dict[int, FakeMilestone] = field(default_factory=dict)
    comments: dict[int, FakeComment] = field(default_factory=dict)
    pulls: dict[int, FakePull] = field(default_factory=dict)
    reviews: dict[int, FakeReview] = field(default_factory=dict)
    review_comments: dict[int, FakeReviewComment] = field(default_factory=dict)
    check_runs: dict[int, FakeCheckRun] = field(default_factory=dict)
    tarballs: dict[str, bytes | Callable[[], Iterator[bytes]]] = field(default_factory=dict)
    diff_cache: dict[tuple[str, str], list[_DiffFile]] = field(default_factory=dict)
    check_suites: dict[str, int] = field(default_factory=dict)


@dataclass
class _DiffFile:
    """One file of a pull request: GitHub's JSON plus the lines a review comment may anchor to."""

    filename: str
    status: str
    additions: int
    deletions: int
    sha: str
    patch: str | None
    previous_filename: str | None
    right: dict[int, tuple[int, int]]  # new-file line -> (hunk index, position)
    left: dict[int, tuple[int, int]]  # old-file line -> (hunk index, position)


@dataclass
class _Auth:
    kind: str  # "none", "jwt", "installation", "user"
    installation_id: int | None = None
    login: str | None = None


@dataclass
class _Req:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    raw: bytes
    headers: dict[str, str]
    params: dict[str, str]
    auth: _Auth
    repo: FakeRepo | None = None


@dataclass
class _Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterable[bytes] | None = None
    content_type: str = "application/json; charset=utf-8"
    rate_headers: bool = True


# ---------------------------------------------------------------- HTTP plumbing shared by both servers


class _Server(ThreadingHTTPServer):
    """Tracks its connection threads and sockets so close() can end them all (no leaked thread or socket)."""

    daemon_threads = True

    def __init__(self, owner: Any, handler: type[BaseHTTPRequestHandler]) -> None:
        self.owner = owner
        self.live: dict[threading.Thread, socket.socket] = {}
        self.live_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._serve_one, args=(request, client_address), daemon=True,
                                  name=f"fake-github-conn-{self.server_address[1]}")
        with self.live_lock:
            self.live[thread] = request
        thread.start()

    def _serve_one(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self.live_lock:
                self.live.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-answer is normal here (aborted downloads, resets)

    def stop(self, serving: threading.Thread) -> None:
        self.shutdown()
        with self.live_lock:
            live = dict(self.live)
        for sock in live.values():
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in live:
            thread.join(timeout=10)
        self.server_close()
        serving.join(timeout=10)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    timeout = 30
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.owner.handle(self)

    do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_GET


def _start(owner: Any) -> tuple[_Server, threading.Thread]:
    server = _Server(owner, _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                              name=f"fake-github-{server.server_address[1]}")
    thread.start()
    return server, thread


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length > 0 else b""


def _reset(handler: BaseHTTPRequestHandler) -> None:
    """Hang up with a TCP RST and no answer."""
    handler.close_connection = True
    with contextlib.suppress(OSError):
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class RecordingServer:
    """A second host on 127.0.0.1 that records request headers and answers every GET with `body`."""

    def __init__(self, body: bytes = b"", *, status: int = 200, content_type: str = "application/x-gzip") -> None:
        self.body, self.status, self.content_type = body, status, content_type
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server, self._thread = _start(self)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        _read_body(handler)
        with self._lock:
            self.requests.append({"method": handler.command, "path": handler.path,
                                  "headers": {k.lower(): v for k, v in handler.headers.items()}})
        handler.send_response(self.status)
        handler.send_header("Content-Type", self.content_type)
        handler.send_header("Content-Length", str(len(self.body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(self.body)

    def close(self) -> None:
        self._server.stop(self._thread)

    def __enter__(self) -> RecordingServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------- git


def _git(git_dir: Path, *args: str, check: bool = True) -> bytes:
    done = subprocess.run(["git", "-C", str(git_dir), "-c", "core.quotePath=false", *args], capture_output=True,
                          check=check, env={**os.environ, **GIT_ENV})
    return done.stdout


def _diff_files(git_dir: Path, base: str, head: str) -> list[_DiffFile]:
    spec = f"{base}...{head}"
    raw = _git(git_dir, "diff", "--raw", "-z", "-M", "--no-abbrev", spec).split(b"\0")
    numstat = _git(git_dir, "diff", "--numstat", "-z", "-M", spec).split(b"\0")
    text = _git(git_dir, "diff", "-M", "--no-color", "--no-ext-diff", "-U3", spec).decode("utf-8", "replace")
    entries = _parse_raw(raw)
    counts = _parse_numstat(numstat)
    blocks = re.split(r"(?m)^(?=diff --git )", text)
    blocks = [b for b in blocks if b.startswith("diff --git ")]
    files = []
    for index, (status, old_sha, new_sha, old, new) in enumerate(entries):
        block = blocks[index] if index < len(blocks) else ""
        patch = _patch_of(block)
        adds, dels = counts[index] if index < len(counts) else (0, 0)
        right, left = _commentable(patch)
        files.append(_DiffFile(
            filename=new, status={"A": "added", "D": "removed", "M": "modified", "R": "renamed",
                                  "C": "copied", "T": "changed"}.get(status[0], "modified"),
            additions=adds, deletions=dels, sha=new_sha if status[0] != "D" else old_sha, patch=patch,
            previous_filename=old if status[0] in "RC" else None, right=right, left=left,
        ))
    return files


def _parse_raw(tokens: list[bytes]) -> list[tuple[str, str, str, str, str]]:
    out, i = [], 0
    while i < len(tokens) and tokens[i].startswith(b":"):
        meta = tokens[i].decode().split()
        status = meta[4]
        if status[0] in "RC":
            old, new = tokens[i + 1].decode("utf-8", "replace"), tokens[i + 2].decode("utf-8", "replace")
            i += 3
        else:
            old = new = tokens[i + 1].decode("utf-8", "replace")
            i += 2
        out.append((status, meta[2], meta[3], old, new))
    return out


def _parse_numstat(tokens: list[bytes]) -> list[tuple[int, int]]:
    out, i = [], 0
    while i < len(tokens) and tokens[i]:
        adds, dels, path = tokens[i].decode("utf-8", "replace").split("\t", 2)
        i += 1 if path else 3  # a rename: empty path, then old and new names as their own tokens
        out.append((int(adds) if adds.isdigit() else 0, int(dels) if dels.isdigit() else 0))
    return out


def _patch_of(block: str) -> str | None:
    start = block.find("\n@@")
    if start < 0:
        return None
    return block[start + 1:].rstrip("\n")


def _commentable(patch: str | None) -> tuple[dict[int, tuple[int, int]], dict[int, tuple[int, int]]]:
    """Lines a review comment may use: RIGHT = added or context lines of the new file, LEFT = removed or context."""
    right: dict[int, tuple[int, int]] = {}
    left: dict[int, tuple[int, int]] = {}
    if not patch:
        return right, left
    hunk, old, new = -1, 0, 0
    for position, line in enumerate(patch.split("\n")):
        match = _HUNK.match(line)
        if match:
            hunk, old, new = hunk + 1, int(match.group(1)), int(match.group(3))
            continue
        if line.startswith("\\"):
            continue
        if line.startswith("+"):
            right[new] = (hunk, position)
            new += 1
        elif line.startswith("-"):
            left[old] = (hunk, position)
            old += 1
        else:
            right[new], left[old] = (hunk, position), (hunk, position)
            old, new = old + 1, new + 1
    return right, left


# ---------------------------------------------------------------- the server


Handler = Callable[[_Req], _Reply]


class FakeGitHub:
    """The GitHub stand-in. See the module docstring for the manual."""

    def __init__(self, *, app_id: int = APP_ID, slug: str = SLUG, token_ttl: float = 3600.0,
                 token_length: int | None = None) -> None:
        self.app_id, self.slug = app_id, slug
        self.bot_login = f"{slug}[bot]"
        self.private_key_pem, self._public_key = app_private_key()
        self.token_ttl, self.token_length = token_ttl, token_length
        self.token_format = "classic"
        self.clock: Callable[[], float] = time.time
        self.lock = threading.RLock()
        self.installations: dict[int, FakeInstallation] = {}
        self.repos: dict[str, FakeRepo] = {}  # keyed by lowercased full_name
        self.users: dict[str, FakeUser] = {}
        self.check_runs: dict[int, FakeCheckRun] = {}
        self.tokens: dict[str, tuple[int, float]] = {}  # token -> (installation id, expires at)
        self.token_mints: list[tuple[int, float]] = []
        self.jwt_claims: list[dict[str, Any]] = []
        self.requests: list[LoggedRequest] = []
        self.codeload_requests: list[dict[str, str]] = []
        self.deprecations: list[str] = []
        self.errors: list[str] = []
        self.unhandled: list[str] = []
        self.faults: list[Fault] = []
        self.tarball_rate: int | None = None
        self.codeload_url: str | None = None
        self.oauth_client_id: str | None = None
        self.oauth_client_secret: str | None = None
        self.oauth_next_user: str | None = None
        self._oauth_codes: dict[str, dict[str, Any]] = {}
        self.manifests: list[dict[str, Any]] = []
        self._manifest_codes: dict[str, dict[str, Any]] = {}
        self._codeload_tokens: dict[str, float] = {}
        self._limited_until = 0.0
        self._rate_used = 0
        self._rate_window = 0.0
        self._ids = 1000
        self._user_ids: dict[str, int] = {self.bot_login: 90000 + app_id}
        self._stop = threading.Event()
        self._routes = self._route_table()
        self._server, self._thread = _start(self)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.web_url = self.url

    # -------------------------------------------------------- lifecycle

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._server.stop(self._thread)

    def __enter__(self) -> FakeGitHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    # -------------------------------------------------------- state helpers

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _user_id(self, login: str) -> int:
        if login not in self._user_ids:
            self._user_ids[login] = 1 + int(hashlib.sha256(login.encode()).hexdigest()[:6], 16)
        return self._user_ids[login]

    def add_installation(self, installation_id: int, account: str = "octo-org",
                         account_type: str = "Organization") -> dict[str, Any]:
        with self.lock:
            inst = FakeInstallation(installation_id, account, account_type, self._user_id(account), self.clock())
            self.installations[installation_id] = inst
            return self._installation_json(inst)

    def suspend_installation(self, installation_id: int) -> None:
        with self.lock:
            self.installations[installation_id].suspended_at = self.clock()

    def unsuspend_installation(self, installation_id: int) -> None:
        with self.lock:
            self.installations[installation_id].suspended_at = None

    def remove_installation(self, installation_id: int) -> None:
        with self.lock:
            self.installations[installation_id].removed = True
            for token in [t for t, (i, _) in self.tokens.items() if i == installation_id]:
                del self.tokens[token]

    def add_repo(self, full_name: str, git_dir: Path | None, installation_id: int, default_branch: str = "main",
                 private: bool = False, has_issues: bool = True, archived: bool = False) -> dict[str, Any]:
        owner, name = full_name.split("/")
        with self.lock:
            inst = self.installations.get(installation_id)
            repo = FakeRepo(
                id=self._next_id(), full_name=full_name, owner=owner, name=name,
                owner_type=inst.account_type if inst else "Organization",
                git_dir=Path(git_dir) if git_dir is not None else None, installation_id=installation_id,
                default_branch=default_branch, private=private, has_issues=has_issues, archived=archived,
                created_at=self.clock())
            self.repos[full_name.lower()] = repo
            return self._repo_json(repo)

    def set_repo(self, full_name: str, **fields: Any) -> None:
        """Change a repository's flags (archived, has_issues, private, default_branch, installation_id)."""
        with self.lock:
            repo = self.repo(full_name)
            for key, value in fields.items():
                if not hasattr(repo, key):
                    raise AttributeError(key)
                setattr(repo, key, value)

    def repo(self, full_name: str) -> FakeRepo:
        return self.repos[full_name.lower()]

    def add_label(self, full_name: str, name: str, color: str = "ededed", description: str = "") -> FakeLabel:
        with self.lock:
            label = FakeLabel(self._next_id(), name, color, description)
            self.repo(full_name).labels[name.lower()] = label
            return label

    def labels(self, full_name: str) -> dict[str, FakeLabel]:
        with self.lock:
            return {label.name: label for label in self.repo(full_name).labels.values()}

    def add_issue(self, full_name: str, title: str, body: str | None = "", labels: Iterable[str] = (),
                  user: str = "alice", state: str = "open", state_reason: str | None = None,
                  milestone: int | None = None) -> FakeIssue:
        with self.lock:
            repo = self.repo(full_name)
            issue = self._new_issue(repo, title, body, user)
            issue.labels = self._label_names(repo, labels)
            issue.milestone = milestone
            if state == "closed":
                issue.state, issue.state_reason, issue.closed_at = "closed", state_reason or "completed", self.clock()
            return issue

    def edit_issue(self, full_name: str, number: int, **fields: Any) -> FakeIssue:
        """Set FakeIssue fields directly (title, body, state, state_reason, labels, milestone, user, ...)."""
        with self.lock:
            repo = self.repo(full_name)
            issue = repo.issues[number]
            for key, value in fields.items():
                if key == "labels":
                    value = self._label_names(repo, value)
                if not hasattr(issue, key):
                    raise AttributeError(key)
                setattr(issue, key, value)
            if fields.get("state") == "closed" and issue.closed_at is None:
                issue.closed_at = self.clock()
            if fields.get("state") == "open":
                issue.closed_at = None
            issue.updated_at = self.clock()
            return issue

    def delete_issue(self, full_name: str, number: int) -> None:
        with self.lock:
            self.repo(full_name).issues.pop(number)

    def issue(self, full_name: str, number: int) -> FakeIssue:
        with self.lock:
            return self.repo(full_name).issues[number]

    def issue_list(self, full_name: str, state: str = "all") -> list[FakeIssue]:
        """Issues (not pull requests) by number."""
        with self.lock:
            issues = [i for i in self.repo(full_name).issues.values() if not i.is_pull]
            return sorted((i for i in issues if state in ("all", i.state)), key=lambda i: i.number)

    def add_comment(self, full_name: str, number: int, body: str, user: str = "alice") -> FakeComment:
        with self.lock:
            repo = self.repo(full_name)
            now = self.clock()
            comment = FakeComment(self._next_id(), number, body, user, now, now)
            repo.comments[comment.id] = comment
            return comment

    def comments(self, full_name: str, number: int) -> list[FakeComment]:
        with self.lock:
            return [c for c in self.repo(full_name).comments.values() if c.issue_number == number]

    def add_milestone(self, full_name: str, title: str, due_on: date | None = None,
                      created_at: datetime | float | None = None, state: str = "open",
                      description: str = "") -> int:
        with self.lock:
            repo = self.repo(full_name)
            number = max(repo.milestones, default=0) + 1
            created = created_at.timestamp() if isinstance(created_at, datetime) else created_at or self.clock()
            repo.milestones[number] = FakeMilestone(number, self._next_id(), title, state, description, due_on,
                                                    created, created, created if state == "closed" else None)
            return number

    def add_pull(self, full_name: str, number: int, base_sha: str, head_sha: str, head_ref: str = "feature",
                 base_ref: str = "main", head_full_name: str | None = None, draft: bool = False,
                 fork_deleted: bool = False, title: str = "A pull request", user: str = "alice") -> FakePull:
        with self.lock:
            repo = self.repo(full_name)
            if number in repo.issues:
                raise ValueError(f"#{number} exists in {full_name}")
            issue = self._new_issue(repo, title, "", user, number=number)
            issue.is_pull = True
            pull = FakePull(number, self._next_id(), base_sha, head_sha, head_ref, base_ref, head_full_name, draft,
                            fork_deleted=fork_deleted, heads=[head_sha])
            repo.pulls[number] = pull
            return pull

    def move_head(self, full_name: str, number: int, sha: str) -> None:
        with self.lock:
            pull = self.repo(full_name).pulls[number]
            pull.head_sha = sha
            pull.heads.append(sha)

    def reviews(self, full_name: str, number: int) -> list[FakeReview]:
        with self.lock:
            return [r for r in self.repo(full_name).reviews.values() if r.number == number]

    def review_comments(self, full_name: str, number: int) -> list[FakeReviewComment]:
        with self.lock:
            return [c for c in self.repo(full_name).review_comments.values() if c.number == number]

    def check_runs_for(self, full_name: str, sha: str | None = None) -> list[FakeCheckRun]:
        with self.lock:
            runs = self.repo(full_name).check_runs.values()
            return [r for r in runs if sha is None or r.head_sha == sha]

    def set_tarball(self, full_name: str, sha: str, data: bytes | Callable[[], Iterator[bytes]]) -> None:
        with self.lock:
            self.repo(full_name).tarballs[sha] = data

    def add_user(self, login: str, token: str | None = None, installations: Iterable[int] = (),
                 repos: Iterable[str] | None = None) -> FakeUser:
        with self.lock:
            user = FakeUser(login, self._user_id(login), token or "gho_" + _random_token(36), list(installations),
                            None if repos is None else {r.lower() for r in repos})
            self.users[login] = user
            return user

    def add_manifest_code(self, code: str, manifest: dict[str, Any] | None = None,
                          org: str | None = None) -> dict[str, Any]:
        """A one-time code for `POST /app-manifests/{code}/conversions`; returns the answer it will give."""
        with self.lock:
            answer = self._converted_app(manifest or {}, org)
            self._manifest_codes[code] = answer
            return answer

    # -------------------------------------------------------- faults and the log

    def fail(self, method: str | None, path_pattern: str, kind: str, times: int | None = 1,
             **options: Any) -> Fault:
        kinds = {"status", "reset", "slow", "primary_rate_limit", "secondary_rate_limit", "forbidden_integration",
                 "after_success"}
        if kind not in kinds:
            raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(kinds)}")
        fault = Fault(method.upper() if method else None, re.compile(path_pattern), kind, times, options)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()
            self._limited_until = 0.0

    def writes(self) -> list[LoggedRequest]:
        with self.lock:
            return [r for r in self.requests if r.method in WRITE_METHODS and not TOKEN_MINT_PATH.match(r.path)
                    and r.path != "/login/oauth/access_token" and not MANIFEST_FLOW_PATH.match(r.path)]

    def count(self, method: str | None = None, path_pattern: str | None = None, status: int | None = None) -> int:
        pattern = re.compile(path_pattern) if path_pattern else None
        with self.lock:
            return sum(1 for r in self.requests
                       if (method is None or r.method == method.upper())
                       and (pattern is None or pattern.search(r.path))
                       and (status is None or r.status == status))

    def clear_log(self) -> None:
        with self.lock:
            self.requests.clear()
            self.codeload_requests.clear()
            self.token_mints.clear()
            self.deprecations.clear()

    # -------------------------------------------------------- request handling

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        method, path = handler.command, split.path
        raw = _read_body(handler)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        entry = LoggedRequest(method, path, dict(parse_qsl(split.query, keep_blank_values=True)), _json_or_none(raw),
                              headers, raw, time.monotonic(), time.time())
        with self.lock:
            self.requests.append(entry)
            fault = next((f for f in self.faults if f.matches(method, path)), None)
            if fault:
                fault.hits += 1
                entry.fault = fault.kind
        if fault and fault.kind == "slow":
            self._stop.wait(float(fault.options.get("seconds", 1.0)))
        if fault and fault.kind == "reset":
            _reset(handler)
            return
        reply = self._answer(entry, fault, split.query)
        if fault and fault.kind == "after_success" and fault.options.get("then") == "reset":
            _reset(handler)  # the write happened; the client never hears of it
            return
        entry.status = reply.status
        # the client may hang up mid-answer (an aborted tarball download, a timeout)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, TimeoutError):
            self._send(handler, reply)

    def _answer(self, entry: LoggedRequest, fault: Fault | None, query: str) -> _Reply:
        if fault and fault.kind not in ("slow", "after_success"):
            return self._fault_reply(fault, entry)
        held = self._held_limit(entry)
        if held:
            return held
        try:
            reply = self._route(entry)
        except ApiError as err:
            reply = _Reply(err.status, err.body(), err.headers)
        except Exception as err:
            self.errors.append(traceback.format_exc())
            reply = _Reply(500, {"message": f"Server Error (a bug in fake_github: {err!r})", "documentation_url": DOCS})
        if fault and fault.kind == "after_success":
            close = getattr(reply.stream, "close", None)
            if close:
                close()
            status = int(fault.options.get("status", 502))
            return _Reply(status, fault.options.get("body", {"message": HTTPStatus(status).phrase}))
        return reply

    def _held_limit(self, entry: LoggedRequest) -> _Reply | None:
        with self.lock:
            until = self._limited_until
        if not until or entry.path.startswith(("/_codeload", "/login/oauth")) or self.clock() >= until:
            return None
        entry.fault = "primary_rate_limit (held)"
        return self._primary_reply(403, until, entry)

    def _fault_reply(self, fault: Fault, entry: LoggedRequest) -> _Reply:
        opts = fault.options
        if fault.kind == "status":
            status = int(opts.get("status", 502))
            headers = dict(opts.get("headers", {}))
            if "location" in opts:
                headers["Location"] = opts["location"]
            body = opts.get("body")
            if body is None:
                body = {"message": HTTPStatus(status).phrase, "documentation_url": DOCS, "status": str(status)}
                if "location" in opts:
                    body["url"] = opts["location"]
            return _Reply(status, body, headers)
        if fault.kind == "primary_rate_limit":
            until = math.ceil(self.clock() + float(opts.get("reset_in", 2)))
            if opts.get("hold", True):
                with self.lock:
                    self._limited_until = until
            return self._primary_reply(int(opts.get("status", 403)), until, entry)
        if fault.kind == "secondary_rate_limit":
            headers = {} if opts.get("retry_after") is None else {"retry-after": str(opts["retry_after"])}
            body = {"message": SECONDARY_MESSAGE,
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}
            return _Reply(int(opts.get("status", 403)), body, headers)
        body = {"message": INTEGRATION_MESSAGE, "documentation_url": DOCS, "status": "403"}
        return _Reply(403, body, rate_headers=False)

    def _primary_reply(self, status: int, until: float, entry: LoggedRequest) -> _Reply:
        token = _bearer(entry.headers)
        with self.lock:
            inst = self.tokens.get(token or "", (None, 0))[0]
        who = f"installation ID {inst}" if inst else "127.0.0.1"
        body = {"message": f"API rate limit exceeded for {who}. (But here's the good news: Authenticated "
                           "requests get a higher rate limit. Check out the documentation for more details.)",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}
        headers = {"x-ratelimit-limit": str(RATE_LIMIT), "x-ratelimit-remaining": "0",
                   "x-ratelimit-reset": str(int(until)), "x-ratelimit-used": str(RATE_LIMIT),
                   "x-ratelimit-resource": "core"}
        return _Reply(status, body, headers, rate_headers=False)

    def _send(self, handler: BaseHTTPRequestHandler, reply: _Reply) -> None:
        handler.send_response(reply.status)
        headers = {"Content-Type": reply.content_type, "X-GitHub-Media-Type": "github.v3; format=json",
                   "X-GitHub-Request-Id": secrets.token_hex(8).upper(), "Connection": "close"}
        if reply.rate_headers:
            headers.update(self._rate_headers())
        headers.update(reply.headers)
        payload = b""
        if reply.stream is None and reply.body is not None:
            payload = reply.body if isinstance(reply.body, bytes) else (
                reply.body.encode() if isinstance(reply.body, str) else json.dumps(reply.body).encode())
        if reply.stream is None:
            headers["Content-Length"] = str(len(payload))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        if handler.command == "HEAD":
            return
        if reply.stream is None:
            handler.wfile.write(payload)
            return
        try:
            for chunk in reply.stream:
                handler.wfile.write(chunk)
        finally:
            close = getattr(reply.stream, "close", None)
            if close:
                close()  # ends a `git archive` child at once when the client hung up

    def _rate_headers(self) -> dict[str, str]:
        with self.lock:
            now = self.clock()
            if now >= self._rate_window:
                self._rate_window, self._rate_used = now + 3600, 0
            self._rate_used += 1
            used, reset = self._rate_used, int(self._rate_window)
        return {"x-ratelimit-limit": str(RATE_LIMIT), "x-ratelimit-remaining": str(max(RATE_LIMIT - used, 1)),
                "x-ratelimit-reset": str(reset), "x-ratelimit-used": str(used), "x-ratelimit-resource": "core"}

    def _route(self, entry: LoggedRequest) -> _Reply:
        if entry.body and entry.json is None and _is_json_request(entry):
            raise ApiError(400, "Problems parsing JSON")
        for method, pattern, auth_kind, handler in self._routes:
            match = pattern.fullmatch(entry.path)
            if not match or method != entry.method:
                continue
            params = {k: unquote(v) for k, v in match.groupdict().items()}
            req = _Req(entry.method, entry.path, entry.query, entry.json, entry.body, entry.headers, params,
                       _Auth("none"))
            if auth_kind == "codeload":
                return handler(req)  # streams outside the lock
            with self.lock:
                req.auth = self._authenticate(req, auth_kind)
                if "repo" in params:
                    req.repo = self._repo_access(req)
                return handler(req)
        with self.lock:
            self.unhandled.append(f"{entry.method} {entry.path}")
        raise ApiError(404, "Not Found")

    # -------------------------------------------------------- auth

    def _authenticate(self, req: _Req, kind: str) -> _Auth:
        if kind == "none":
            return _Auth("none")
        token = _bearer(req.headers)
        if kind == "jwt":
            return self._verify_jwt(token)
        if token is None:
            raise ApiError(401, "Requires authentication")
        if token in self.tokens:
            installation_id, expires = self.tokens[token]
            inst = self.installations.get(installation_id)
            if expires <= self.clock() or inst is None or inst.removed:
                raise ApiError(401, "Bad credentials")
            if inst.suspended_at is not None:
                raise ApiError(403, SUSPENDED_MESSAGE)
            return _Auth("installation", installation_id=installation_id)
        user = next((u for u in self.users.values() if u.token == token), None)
        if user is None:
            raise ApiError(401, "Bad credentials")
        return _Auth("user", login=user.login)

    def _verify_jwt(self, token: str | None) -> _Auth:
        if not token or token.count(".") != 2:
            raise ApiError(401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(token, self._public_key, algorithms=["RS256"],
                                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                         "verify_iss": False, "verify_aud": False})
        except jwt.PyJWTError:
            raise ApiError(401, "A JSON web token could not be decoded") from None
        now, iat, exp = self.clock(), claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int | float) or iat > now + 60:
            raise ApiError(401, "'Issued at' claim ('iat') must be an Integer representing the time that the "
                                "assertion was issued")
        if not isinstance(exp, int | float) or exp < now - 60:
            raise ApiError(401, "'Expiration time' claim ('exp') must be a numeric value representing the future "
                                "time at which the assertion expires")
        if exp - iat > 600:
            raise ApiError(401, "'Expiration time' claim ('exp') is too far in the future")
        if str(claims.get("iss")) != str(self.app_id):
            raise ApiError(401, "'Issuer' claim ('iss') must be an Integer")
        self.jwt_claims.append(claims)
        return _Auth("jwt")

    def _repo_access(self, req: _Req) -> FakeRepo:
        repo = self.repos.get(f"{req.params['owner']}/{req.params['repo']}".lower())
        auth = req.auth
        if repo is None:
            raise ApiError(404, "Not Found")
        if auth.kind == "installation" and repo.installation_id != auth.installation_id:
            raise ApiError(404, "Not Found")
        if auth.kind == "user" and repo.full_name.lower() not in self._user_repos(self.users[auth.login or ""]):
            raise ApiError(404, "Not Found")
        if repo.archived and req.method in WRITE_METHODS and auth.kind != "jwt":
            raise ApiError(403, ARCHIVED_MESSAGE)
        return repo

    def _user_repos(self, user: FakeUser) -> set[str]:
        names = {r.full_name.lower() for r in self.repos.values()
                 if r.installation_id in user.installations and self._live(r.installation_id)}
        return names if user.repos is None else names & user.repos

    def _live(self, installation_id: int) -> bool:
        inst = self.installations.get(installation_id)
        return inst is not None and not inst.removed

    def _author(self, req: _Req) -> str:
        return req.auth.login if req.auth.kind == "user" and req.auth.login else self.bot_login

    # -------------------------------------------------------- JSON shapes

    def _user_json(self, login: str, kind: str | None = None) -> dict[str, Any]:
        kind = kind or ("Bot" if login.endswith("[bot]") else "User")
        uid = self._user_id(login)
        return {"login": login, "id": uid, "node_id": _node("U", uid),
                "avatar_url": f"{self.web_url}/avatars/{quote(login)}", "gravatar_id": "",
                "url": f"{self.url}/users/{quote(login)}", "html_url": f"{self.web_url}/{quote(login)}",
                "repos_url": f"{self.url}/users/{quote(login)}/repos", "type": kind, "site_admin": False}

    def _app_json(self) -> dict[str, Any]:
        return {"id": self.app_id, "slug": self.slug, "node_id": _node("A", self.app_id),
                "client_id": self.oauth_client_id or "Iv1.paydowntest", "owner": self._user_json("octo-org",
                                                                                              "Organization"),
                "name": "paydown (test)", "description": "paydown's test App", "external_url": self.web_url,
                "html_url": f"{self.web_url}/apps/{self.slug}", "created_at": "2024-01-01T00:00:00Z",
                "updated_at": "2024-01-01T00:00:00Z", "installations_count": len(self.installations),
                "permissions": {"checks": "write", "contents": "read", "issues": "write", "metadata": "read",
                                "pull_requests": "write"},
                "events": ["check_run", "check_suite", "installation", "issues", "pull_request", "push"]}

    def _installation_json(self, inst: FakeInstallation) -> dict[str, Any]:
        app = self._app_json()
        return {"id": inst.id, "account": self._user_json(inst.account, inst.account_type),
                "repository_selection": "selected",
                "access_tokens_url": f"{self.url}/app/installations/{inst.id}/access_tokens",
                "repositories_url": f"{self.url}/installation/repositories",
                "html_url": f"{self.web_url}/organizations/{inst.account}/settings/installations/{inst.id}",
                "app_id": self.app_id, "app_slug": self.slug, "client_id": app["client_id"],
                "target_id": inst.account_id, "target_type": inst.account_type, "permissions": app["permissions"],
                "events": app["events"], "created_at": iso(inst.created_at), "updated_at": iso(inst.created_at),
                "single_file_name": None, "suspended_at": iso(inst.suspended_at),
                "suspended_by": self._user_json("octo-admin") if inst.suspended_at else None}

    def _repo_json(self, repo: FakeRepo) -> dict[str, Any]:
        api, web = f"{self.url}/repos/{repo.full_name}", f"{self.web_url}/{repo.full_name}"
        created = iso(repo.created_at)
        return {"id": repo.id, "node_id": _node("R", repo.id), "name": repo.name, "full_name": repo.full_name,
                "owner": self._user_json(repo.owner, repo.owner_type), "private": repo.private,
                "visibility": "private" if repo.private else "public", "html_url": web, "description": None,
                "fork": False, "url": api, "archive_url": f"{api}/{{archive_format}}{{/ref}}",
                "issues_url": f"{api}/issues{{/number}}", "labels_url": f"{api}/labels{{/name}}",
                "pulls_url": f"{api}/pulls{{/number}}", "milestones_url": f"{api}/milestones{{/number}}",
                "comments_url": f"{api}/comments{{/number}}", "commits_url": f"{api}/commits{{/sha}}",
                "statuses_url": f"{api}/statuses/{{sha}}", "clone_url": f"{web}.git",
                "git_url": f"{web}.git", "ssh_url": f"git@127.0.0.1:{repo.full_name}.git",
                "created_at": created, "updated_at": created, "pushed_at": created, "size": 1,
                "default_branch": repo.default_branch, "archived": repo.archived, "disabled": False,
                "has_issues": repo.has_issues, "has_projects": True, "has_wiki": True, "has_pages": False,
                "has_downloads": True, "open_issues_count": sum(1 for i in repo.issues.values() if i.state == "open"),
                "topics": [], "language": "Python", "stargazers_count": 0, "watchers_count": 0, "forks_count": 0,
                "permissions": {"admin": False, "maintain": False, "push": False, "triage": False, "pull": True}}

    def _label_json(self, repo: FakeRepo, label: FakeLabel) -> dict[str, Any]:
        return {"id": label.id, "node_id": _node("L", label.id),
                "url": f"{self.url}/repos/{repo.full_name}/labels/{quote(label.name, safe='')}", "name": label.name,
                "color": label.color, "description": label.description or None, "default": label.default}

    def _milestone_json(self, repo: FakeRepo, ms: FakeMilestone) -> dict[str, Any]:
        issues = [i for i in repo.issues.values() if i.milestone == ms.number]
        api = f"{self.url}/repos/{repo.full_name}/milestones/{ms.number}"
        return {"url": api, "html_url": f"{self.web_url}/{repo.full_name}/milestone/{ms.number}",
                "labels_url": f"{api}/labels", "id": ms.id, "node_id": _node("M", ms.id), "number": ms.number,
                "state": ms.state, "title": ms.title, "description": ms.description or None,
                "creator": self._user_json("alice"),
                "open_issues": sum(1 for i in issues if i.state == "open"),
                "closed_issues": sum(1 for i in issues if i.state == "closed"),
                "created_at": iso(ms.created_at), "updated_at": iso(ms.updated_at), "closed_at": iso(ms.closed_at),
                "due_on": iso(ms.due_on)}

    def _issue_json(self, repo: FakeRepo, issue: FakeIssue) -> dict[str, Any]:
        api, web = f"{self.url}/repos/{repo.full_name}", f"{self.web_url}/{repo.full_name}"
        kind = "pull" if issue.is_pull else "issues"
        out = {"id": issue.id, "node_id": _node("I", issue.id), "url": f"{api}/issues/{issue.number}",
               "repository_url": api, "labels_url": f"{api}/issues/{issue.number}/labels{{/name}}",
               "comments_url": f"{api}/issues/{issue.number}/comments",
               "events_url": f"{api}/issues/{issue.number}/events", "html_url": f"{web}/{kind}/{issue.number}",
               "number": issue.number, "state": issue.state, "state_reason": issue.state_reason,
               "title": issue.title, "body": issue.body, "user": self._user_json(issue.user),
               "labels": [self._label_json(repo, repo.labels[n.lower()]) for n in issue.labels
                          if n.lower() in repo.labels],
               "assignee": self._user_json(issue.assignees[0]) if issue.assignees else None,
               "assignees": [self._user_json(a) for a in issue.assignees],
               "milestone": (self._milestone_json(repo, repo.milestones[issue.milestone])
                             if issue.milestone in repo.milestones else None),
               "locked": issue.locked, "active_lock_reason": None,
               "comments": sum(1 for c in repo.comments.values() if c.issue_number == issue.number),
               "closed_at": iso(issue.closed_at), "created_at": iso(issue.created_at),
               "updated_at": iso(issue.updated_at), "closed_by": None, "author_association": "NONE"}
        if issue.is_pull:
            out["pull_request"] = {"url": f"{api}/pulls/{issue.number}", "html_url": f"{web}/pull/{issue.number}",
                                   "diff_url": f"{web}/pull/{issue.number}.diff",
                                   "patch_url": f"{web}/pull/{issue.number}.patch", "merged_at": None}
        return out

    def _comment_json(self, repo: FakeRepo, comment: FakeComment) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}"
        kind = "pull" if comment.issue_number in repo.pulls else "issues"
        return {"id": comment.id, "node_id": _node("C", comment.id), "url": f"{api}/issues/comments/{comment.id}",
                "html_url": f"{self.web_url}/{repo.full_name}/{kind}/{comment.issue_number}"
                            f"#issuecomment-{comment.id}",
                "body": comment.body, "user": self._user_json(comment.user), "created_at": iso(comment.created_at),
                "updated_at": iso(comment.updated_at), "issue_url": f"{api}/issues/{comment.issue_number}",
                "author_association": "NONE"}

    def _branch_json(self, repo: FakeRepo, full_name: str | None, ref: str, sha: str,
                     deleted: bool = False) -> dict[str, Any]:
        if deleted:
            return {"label": f"unknown:{ref}", "ref": ref, "sha": sha, "user": None, "repo": None}
        other = self.repos.get((full_name or repo.full_name).lower())
        if other is not None:
            repo_json = self._repo_json(other)
        else:
            owner, name = (full_name or repo.full_name).split("/")
            repo_json = {**self._repo_json(repo), "id": self._user_id(full_name or "") + 500000, "name": name,
                         "full_name": full_name, "owner": self._user_json(owner), "fork": True,
                         "url": f"{self.url}/repos/{full_name}", "html_url": f"{self.web_url}/{full_name}"}
        owner = repo_json["owner"]["login"]
        return {"label": f"{owner}:{ref}", "ref": ref, "sha": sha, "user": repo_json["owner"], "repo": repo_json}

    def _pull_json(self, repo: FakeRepo, pull: FakePull) -> dict[str, Any]:
        issue = repo.issues[pull.number]
        api, web = f"{self.url}/repos/{repo.full_name}", f"{self.web_url}/{repo.full_name}"
        base = self._issue_json(repo, issue)
        return {**{k: base[k] for k in ("id", "node_id", "number", "state", "title", "body", "user", "labels",
                                         "milestone", "assignee", "assignees", "locked", "created_at", "updated_at",
                                         "closed_at")},
                "id": pull.id, "node_id": _node("P", pull.id), "url": f"{api}/pulls/{pull.number}",
                "html_url": f"{web}/pull/{pull.number}", "diff_url": f"{web}/pull/{pull.number}.diff",
                "patch_url": f"{web}/pull/{pull.number}.patch", "issue_url": f"{api}/issues/{pull.number}",
                "commits_url": f"{api}/pulls/{pull.number}/commits",
                "review_comments_url": f"{api}/pulls/{pull.number}/comments",
                "review_comment_url": f"{api}/pulls/comments{{/number}}",
                "comments_url": f"{api}/issues/{pull.number}/comments",
                "statuses_url": f"{api}/statuses/{pull.head_sha}", "draft": pull.draft, "merged": False,
                "merged_at": None, "merge_commit_sha": None, "mergeable": True, "rebaseable": True,
                "author_association": "NONE", "requested_reviewers": [], "requested_teams": [],
                "head": self._branch_json(repo, pull.head_full_name, pull.head_ref, pull.head_sha, pull.fork_deleted),
                "base": self._branch_json(repo, None, pull.base_ref, pull.base_sha)}

    def _review_json(self, repo: FakeRepo, review: FakeReview) -> dict[str, Any]:
        api, web = f"{self.url}/repos/{repo.full_name}", f"{self.web_url}/{repo.full_name}"
        html_url = f"{web}/pull/{review.number}#pullrequestreview-{review.id}"
        return {"id": review.id, "node_id": _node("V", review.id), "user": self._user_json(review.user),
                "body": review.body, "state": review.state, "html_url": html_url,
                "pull_request_url": f"{api}/pulls/{review.number}",
                "_links": {"html": {"href": html_url}, "pull_request": {"href": f"{api}/pulls/{review.number}"}},
                "submitted_at": iso(review.submitted_at), "commit_id": review.commit_id, "author_association": "NONE"}

    def _review_comment_json(self, repo: FakeRepo, c: FakeReviewComment) -> dict[str, Any]:
        api, web = f"{self.url}/repos/{repo.full_name}", f"{self.web_url}/{repo.full_name}"
        html_url = f"{web}/pull/{c.number}#discussion_r{c.id}"
        out = {"url": f"{api}/pulls/comments/{c.id}", "pull_request_review_id": c.review_id, "id": c.id,
               "node_id": _node("RC", c.id), "diff_hunk": c.diff_hunk, "path": c.path, "position": c.position,
               "original_position": c.original_position, "commit_id": c.commit_id,
               "original_commit_id": c.original_commit_id or c.commit_id, "user": self._user_json(c.user),
               "body": c.body, "created_at": iso(c.created_at), "updated_at": iso(c.updated_at),
               "html_url": html_url, "pull_request_url": f"{api}/pulls/{c.number}", "author_association": "NONE",
               "_links": {"self": {"href": f"{api}/pulls/comments/{c.id}"}, "html": {"href": html_url},
                          "pull_request": {"href": f"{api}/pulls/{c.number}"}},
               "start_line": c.start_line, "original_start_line": c.original_start_line,
               "start_side": c.start_side, "line": c.line, "original_line": c.original_line, "side": c.side,
               "subject_type": c.subject_type}
        if c.in_reply_to_id is not None:
            out["in_reply_to_id"] = c.in_reply_to_id
        return out

    def _check_run_json(self, repo: FakeRepo, run: FakeCheckRun) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}"
        pulls = [{"url": f"{api}/pulls/{p.number}", "id": p.id, "number": p.number,
                  "head": {"ref": p.head_ref, "sha": p.head_sha,
                           "repo": {"id": repo.id, "url": api, "name": repo.name}},
                  "base": {"ref": p.base_ref, "sha": p.base_sha,
                           "repo": {"id": repo.id, "url": api, "name": repo.name}}}
                 for p in repo.pulls.values() if p.head_sha == run.head_sha and p.head_full_name is None]
        return {"id": run.id, "head_sha": run.head_sha, "node_id": _node("CR", run.id),
                "external_id": run.external_id, "url": f"{api}/check-runs/{run.id}",
                "html_url": f"{self.web_url}/{repo.full_name}/runs/{run.id}", "details_url": run.details_url,
                "status": run.status, "conclusion": run.conclusion, "started_at": iso(run.started_at),
                "completed_at": iso(run.completed_at), "name": run.name,
                "output": {"title": run.output.get("title"), "summary": run.output.get("summary"),
                           "text": run.output.get("text"), "annotations_count": len(run.annotations),
                           "annotations_url": f"{api}/check-runs/{run.id}/annotations"},
                "check_suite": {"id": run.check_suite_id}, "app": self._app_json(), "pull_requests": pulls}

    # -------------------------------------------------------- pagination

    def _page(self, req: _Req, items: list[Any], *, wrap: str | None = None, max_per_page: int = 100,
              cap: int | None = None) -> _Reply:
        if cap is not None:
            items = items[:cap]
        per_page = min(max(_int(req.query.get("per_page"), 30), 1), max_per_page)
        page = max(_int(req.query.get("page"), 1), 1)
        last = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        links = []

        def link(n: int, rel: str) -> str:
            return f'<{self.url}{req.path}?{urlencode({**req.query, "page": n})}>; rel="{rel}"'

        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        headers = {"Link": ", ".join(links)} if links else {}
        body = {"total_count": len(items), wrap: chunk} if wrap else chunk
        return _Reply(200, body, headers)

    # -------------------------------------------------------- routes

    def _route_table(self) -> list[tuple[str, re.Pattern[str], str, Handler]]:
        repo = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
        table: list[tuple[str, str, str, Handler]] = [
            ("GET", r"/app", "jwt", self._get_app),
            ("GET", r"/app/installations", "jwt", self._list_app_installations),
            ("GET", r"/app/installations/(?P<id>\d+)", "jwt", self._get_installation),
            ("POST", r"/app/installations/(?P<id>\d+)/access_tokens", "jwt", self._mint_token),
            ("GET", rf"{repo}/installation", "jwt", self._repo_installation),
            ("GET", r"/installation/repositories", "token", self._installation_repos),
            ("GET", r"/rate_limit", "none", self._rate_limit),
            ("GET", r"/user", "token", self._get_user),
            ("GET", r"/user/installations", "token", self._user_installations),
            ("GET", r"/user/installations/(?P<id>\d+)/repositories", "token", self._user_installation_repos),
            ("GET", r"/login/oauth/authorize", "none", self._oauth_authorize),
            ("POST", r"/login/oauth/access_token", "none", self._oauth_token),
            ("POST", r"/settings/apps/new", "none", self._new_app_form),
            ("POST", r"/organizations/(?P<org>[^/]+)/settings/apps/new", "none", self._new_app_form),
            ("POST", r"/app-manifests/(?P<code>[^/]+)/conversions", "none", self._convert_manifest),
            ("GET", r"/_codeload/(?P<o>[^/]+)/(?P<r>[^/]+)/legacy\.tar\.gz/(?P<sha>.+)", "codeload", self._codeload),
            ("GET", repo, "token", self._get_repo),
            ("GET", rf"{repo}/tarball(?:/(?P<ref>.+))?", "token", self._tarball),
            ("GET", rf"{repo}/issues", "token", self._list_issues),
            ("POST", rf"{repo}/issues", "token", self._create_issue),
            ("GET", rf"{repo}/issues/comments/(?P<id>\d+)", "token", self._get_comment),
            ("PATCH", rf"{repo}/issues/comments/(?P<id>\d+)", "token", self._update_comment),
            ("DELETE", rf"{repo}/issues/comments/(?P<id>\d+)", "token", self._delete_comment),
            ("GET", rf"{repo}/issues/(?P<n>\d+)", "token", self._get_issue),
            ("PATCH", rf"{repo}/issues/(?P<n>\d+)", "token", self._update_issue),
            ("GET", rf"{repo}/issues/(?P<n>\d+)/comments", "token", self._list_comments),
            ("POST", rf"{repo}/issues/(?P<n>\d+)/comments", "token", self._create_comment),
            ("GET", rf"{repo}/issues/(?P<n>\d+)/labels", "token", self._issue_labels),
            ("POST", rf"{repo}/issues/(?P<n>\d+)/labels", "token", self._add_issue_labels),
            ("PUT", rf"{repo}/issues/(?P<n>\d+)/labels", "token", self._set_issue_labels),
            ("DELETE", rf"{repo}/issues/(?P<n>\d+)/labels", "token", self._clear_issue_labels),
            ("DELETE", rf"{repo}/issues/(?P<n>\d+)/labels/(?P<name>[^/]+)", "token", self._remove_issue_label),
            ("GET", rf"{repo}/labels", "token", self._list_labels),
            ("POST", rf"{repo}/labels", "token", self._create_label),
            ("GET", rf"{repo}/labels/(?P<name>[^/]+)", "token", self._get_label),
            ("PATCH", rf"{repo}/labels/(?P<name>[^/]+)", "token", self._update_label),
            ("DELETE", rf"{repo}/labels/(?P<name>[^/]+)", "token", self._delete_label),
            ("GET", rf"{repo}/milestones", "token", self._list_milestones),
            ("GET", rf"{repo}/milestones/(?P<n>\d+)", "token", self._get_milestone),
            ("GET", rf"{repo}/pulls", "token", self._list_pulls),
            ("GET", rf"{repo}/pulls/(?P<n>\d+)", "token", self._get_pull),
            ("GET", rf"{repo}/pulls/(?P<n>\d+)/files", "token", self._pull_files),
            ("GET", rf"{repo}/pulls/(?P<n>\d+)/reviews", "token", self._list_reviews),
            ("POST", rf"{repo}/pulls/(?P<n>\d+)/reviews", "token", self._create_review),
            ("GET", rf"{repo}/pulls/(?P<n>\d+)/comments", "token", self._list_review_comments),
            ("POST", rf"{repo}/pulls/(?P<n>\d+)/comments", "token", self._create_review_comment),
            ("POST", rf"{repo}/pulls/(?P<n>\d+)/comments/(?P<id>\d+)/replies", "token", self._reply),
            ("GET", rf"{repo}/pulls/comments/(?P<id>\d+)", "token", self._get_review_comment),
            ("PATCH", rf"{repo}/pulls/comments/(?P<id>\d+)", "token", self._update_review_comment),
            ("DELETE", rf"{repo}/pulls/comments/(?P<id>\d+)", "token", self._delete_review_comment),
            ("POST", rf"{repo}/check-runs", "token", self._create_check_run),
            ("GET", rf"{repo}/check-runs/(?P<id>\d+)", "token", self._get_check_run),
            ("PATCH", rf"{repo}/check-runs/(?P<id>\d+)", "token", self._update_check_run),
            ("GET", rf"{repo}/check-runs/(?P<id>\d+)/annotations", "token", self._list_annotations),
            ("GET", rf"{repo}/commits/(?P<ref>[^/]+)/check-runs", "token", self._check_runs_for_ref),
            ("GET", rf"{repo}/commits/(?P<ref>[^/]+)", "token", self._get_commit),
        ]
        return [(m, re.compile(p), a, h) for m, p, a, h in table]

    # app and installations

    def _get_app(self, req: _Req) -> _Reply:
        return _Reply(200, self._app_json())

    def _installation(self, installation_id: int) -> FakeInstallation:
        inst = self.installations.get(installation_id)
        if inst is None or inst.removed:
            raise ApiError(404, "Not Found")
        return inst

    def _list_app_installations(self, req: _Req) -> _Reply:
        live = [self._installation_json(i) for i in self.installations.values() if not i.removed]
        return self._page(req, live)

    def _get_installation(self, req: _Req) -> _Reply:
        return _Reply(200, self._installation_json(self._installation(int(req.params["id"]))))

    def _mint_token(self, req: _Req) -> _Reply:
        inst = self._installation(int(req.params["id"]))
        if inst.suspended_at is not None:
            raise ApiError(403, SUSPENDED_MESSAGE)
        now = self.clock()
        token = self._new_token(inst.id, now)
        self.tokens[token] = (inst.id, now + self.token_ttl)
        self.token_mints.append((inst.id, now))
        repos = [self._repo_json(r) for r in self.repos.values() if r.installation_id == inst.id]
        return _Reply(201, {"token": token, "expires_at": iso(now + self.token_ttl),
                            "permissions": self._app_json()["permissions"], "repository_selection": "selected",
                            "repositories": repos})

    def _new_token(self, installation_id: int, now: float) -> str:
        if self.token_format == "stateless":  # GitHub's ghs_APPID_JWT format (2026): long, with "_" and "."
            claims = {"iss": str(self.app_id), "sub": str(installation_id), "iat": int(now),
                      "jti": secrets.token_hex(8)}
            return f"ghs_{self.app_id}_" + jwt.encode(claims, secrets.token_hex(16), algorithm="HS256")
        length = self.token_length or secrets.choice([36, 44, 52, 60, 71, 90])  # with "ghs_": never 40
        return "ghs_" + _random_token(length - 4)

    def _repo_installation(self, req: _Req) -> _Reply:
        repo = self.repos.get(f"{req.params['owner']}/{req.params['repo']}".lower())
        if repo is None:
            raise ApiError(404, "Not Found")
        return _Reply(200, self._installation_json(self._installation(repo.installation_id)))

    def _installation_repos(self, req: _Req) -> _Reply:
        if req.auth.kind != "installation":
            raise ApiError(403, INTEGRATION_MESSAGE)
        repos = [self._repo_json(r) for r in self.repos.values() if r.installation_id == req.auth.installation_id]
        return self._page(req, repos, wrap="repositories")

    def _rate_limit(self, req: _Req) -> _Reply:
        with self.lock:
            used, reset = self._rate_used, int(self._rate_window or self.clock() + 3600)
        core = {"limit": RATE_LIMIT, "used": used, "remaining": RATE_LIMIT - used, "reset": reset}
        search = {"limit": 30, "used": 0, "remaining": 30, "reset": reset}
        return _Reply(200, {"resources": {"core": core, "search": search, "graphql": core}, "rate": core})

    # OAuth

    def _get_user(self, req: _Req) -> _Reply:
        if req.auth.kind != "user":
            raise ApiError(403, INTEGRATION_MESSAGE)
        user = self.users[req.auth.login or ""]
        return _Reply(200, {**self._user_json(user.login), "name": user.login.title(), "email": None})

    def _oauth_user(self, req: _Req) -> FakeUser:
        if req.auth.kind != "user":
            raise ApiError(403, INTEGRATION_MESSAGE)
        return self.users[req.auth.login or ""]

    def _user_installations(self, req: _Req) -> _Reply:
        user = self._oauth_user(req)
        insts = [self._installation_json(self.installations[i]) for i in user.installations if self._live(i)]
        return self._page(req, insts, wrap="installations")

    def _user_installation_repos(self, req: _Req) -> _Reply:
        user, installation_id = self._oauth_user(req), int(req.params["id"])
        if installation_id not in user.installations or not self._live(installation_id):
            raise ApiError(404, "Not Found")
        visible = self._user_repos(user)
        repos = [self._repo_json(r) for r in self.repos.values()
                 if r.installation_id == installation_id and r.full_name.lower() in visible]
        return self._page(req, repos, wrap="repositories")

    def _oauth_authorize(self, req: _Req) -> _Reply:
        query = req.query
        if self.oauth_client_id and query.get("client_id") != self.oauth_client_id:
            return _Reply(404, "<h1>404: this OAuth application does not exist</h1>",
                          content_type="text/html; charset=utf-8", rate_headers=False)
        redirect_uri = query.get("redirect_uri", "")
        if not redirect_uri:
            return _Reply(400, "<h1>redirect_uri is required here</h1>", content_type="text/html; charset=utf-8",
                          rate_headers=False)
        login = query.get("login") or self.oauth_next_user
        if login:
            return _Reply(302, b"", {"Location": self._grant(login, redirect_uri, query)}, rate_headers=False)
        links = "".join(f'<li><a href="{html.escape(self._grant(u, redirect_uri, query))}">{html.escape(u)}</a></li>'
                        for u in self.users)
        page = f"<!doctype html><title>Authorize {html.escape(self.slug)}</title><ul>{links}</ul>"
        return _Reply(200, page, content_type="text/html; charset=utf-8", rate_headers=False)

    def _grant(self, login: str, redirect_uri: str, query: dict[str, str]) -> str:
        code = secrets.token_hex(10)
        self._oauth_codes[code] = {"login": login, "redirect_uri": redirect_uri, "expires": self.clock() + 600,
                                   "client_id": query.get("client_id")}
        params = {"code": code, **({"state": query["state"]} if "state" in query else {})}
        return f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(params)}"

    def _oauth_token(self, req: _Req) -> _Reply:
        form = {**req.query, **(req.json if isinstance(req.json, dict) else
                                dict(parse_qsl(req.raw.decode("utf-8", "replace"))))}
        answer = self._exchange(form)
        if "application/json" in req.headers.get("accept", ""):
            return _Reply(200, answer, rate_headers=False)
        return _Reply(200, urlencode(answer), content_type="application/x-www-form-urlencoded; charset=utf-8",
                      rate_headers=False)

    def _exchange(self, form: dict[str, Any]) -> dict[str, Any]:
        uri = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"
        if (self.oauth_client_id and form.get("client_id") != self.oauth_client_id) or (
                self.oauth_client_secret and form.get("client_secret") != self.oauth_client_secret):
            return {"error": "incorrect_client_credentials",
                    "error_description": "The client_id and/or client_secret passed are incorrect.",
                    "error_uri": f"{uri}/#incorrect-client-credentials"}
        grant = self._oauth_codes.pop(str(form.get("code", "")), None)
        if grant is None or grant["expires"] < self.clock() or grant["login"] not in self.users:
            return {"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired.",
                    "error_uri": f"{uri}/#bad-verification-code"}
        if form.get("redirect_uri") and form["redirect_uri"] != grant["redirect_uri"]:
            return {"error": "redirect_uri_mismatch",
                    "error_description": "The redirect_uri MUST match the registered callback URL for this "
                                         "application.", "error_uri": f"{uri}/#redirect-uri-mismatch2"}
        return {"access_token": self.users[grant["login"]].token, "token_type": "bearer", "scope": ""}

    # GitHub App manifests

    def _new_app_form(self, req: _Req) -> _Reply:
        form = dict(parse_qsl(req.raw.decode("utf-8", "replace"), keep_blank_values=True))
        manifest = _json_or_none(form.get("manifest", "").encode())
        if not isinstance(manifest, dict) or not all(isinstance(manifest.get(k), str) and manifest[k]
                                                     for k in ("url", "redirect_url")):
            return _Reply(422, "<h1>Invalid GitHub App manifest</h1>", content_type="text/html; charset=utf-8",
                          rate_headers=False)
        org, state = req.params.get("org"), req.query.get("state")
        self.manifests.append({"manifest": manifest, "org": org, "state": state})
        code = secrets.token_hex(10)
        self._manifest_codes[code] = self._converted_app(manifest, org)
        params = {"code": code, **({"state": state} if state is not None else {})}
        target = manifest["redirect_url"]
        return _Reply(302, b"", {"Location": f"{target}{'&' if '?' in target else '?'}{urlencode(params)}"},
                      content_type="text/html; charset=utf-8", rate_headers=False)

    def _converted_app(self, manifest: dict[str, Any], org: str | None) -> dict[str, Any]:
        app = self._app_json()
        permissions = {"metadata": "read", **(manifest.get("default_permissions") or app["permissions"])}
        return {**app, "name": manifest.get("name") or app["name"],
                "description": manifest.get("description") or app["description"],
                "external_url": manifest.get("url") or app["external_url"],
                "owner": self._user_json(org, "Organization") if org else self._user_json("alice"),
                "permissions": permissions, "events": list(manifest.get("default_events") or app["events"]),
                "installations_count": 0, "client_secret": self.oauth_client_secret or secrets.token_hex(20),
                "webhook_secret": secrets.token_hex(20), "pem": self.private_key_pem}

    def _convert_manifest(self, req: _Req) -> _Reply:
        answer = self._manifest_codes.pop(req.params["code"], None)
        if answer is None:
            raise ApiError(404, "Not Found", docs=f"{DOCS}/apps/apps#create-a-github-app-from-a-manifest")
        return _Reply(201, answer)

    # repository and tarball

    def _get_repo(self, req: _Req) -> _Reply:
        return _Reply(200, self._repo_json(_repo(req)))

    def _resolve(self, repo: FakeRepo, ref: str) -> str | None:
        if ref in repo.tarballs:
            return ref
        if repo.git_dir is None or ref.startswith("-"):
            return None
        out = _git(repo.git_dir, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        return out.decode().strip() or None

    def _tarball(self, req: _Req) -> _Reply:
        repo = _repo(req)
        ref = req.params.get("ref") or repo.default_branch
        sha = self._resolve(repo, ref)
        if sha is None:
            raise ApiError(404, "Not Found")
        location = f"{self.codeload_url or self.url}/_codeload/{repo.owner}/{repo.name}/legacy.tar.gz/{quote(sha)}"
        if repo.private:
            token = secrets.token_urlsafe(24)
            self._codeload_tokens[token] = self.clock() + 300
            location += f"?token={token}"
        return _Reply(302, b"", {"Location": location, "Content-Type": "text/html; charset=utf-8"})

    def _codeload(self, req: _Req) -> _Reply:
        with self.lock:
            self.codeload_requests.append(dict(req.headers))
            repo = self.repos.get(f"{req.params['o']}/{req.params['r']}".lower())
            sha = req.params["sha"]
            if repo is None:
                raise ApiError(404, "Not Found")
            if repo.private and self._codeload_tokens.get(req.query.get("token", ""), 0) < self.clock():
                raise ApiError(404, "Not Found")
            data = repo.tarballs.get(sha)
            if data is None and (repo.git_dir is None or self._resolve(repo, sha) != sha):
                raise ApiError(404, "Not Found")
        headers = {"Content-Disposition": f"attachment; filename={repo.owner}-{repo.name}-{sha[:7]}.tar.gz"}
        if isinstance(data, bytes):
            return _Reply(200, None, {**headers, "Content-Length": str(len(data))},
                          stream=self._paced(iter([data])), content_type="application/x-gzip", rate_headers=False)
        chunks = data() if data is not None else self._archive(repo, sha)
        return _Reply(200, None, headers, stream=self._paced(chunks), content_type="application/x-gzip",
                      rate_headers=False)

    def _archive(self, repo: FakeRepo, sha: str) -> Iterator[bytes]:
        prefix = f"{repo.owner}-{repo.name}-{sha[:7]}/"
        cmd = ["git", "-C", str(repo.git_dir), "archive", "--format=tar.gz", f"--prefix={prefix}", sha]
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              env={**os.environ, **GIT_ENV}) as proc:
            assert proc.stdout is not None
            try:
                while chunk := proc.stdout.read(65536):
                    yield chunk
            finally:
                if proc.poll() is None:
                    proc.kill()

    def _paced(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        try:
            for chunk in chunks:
                rate = self.tarball_rate
                if not rate:
                    yield chunk
                    continue
                step = max(1, rate // 10)
                for start in range(0, len(chunk), step):
                    if self._stop.wait(min(step, len(chunk) - start) / rate):
                        return
                    yield chunk[start:start + step]
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()

    def _get_commit(self, req: _Req) -> _Reply:
        repo = _repo(req)
        sha = self._resolve(repo, req.params["ref"])
        if sha is None or repo.git_dir is None:
            raise validation_failed("Commit", "sha", "invalid", message=f"No commit found for SHA: {req.params['ref']}")
        fmt = "%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B"
        fields = _git(repo.git_dir, "show", "-s", f"--format={fmt}", sha).decode("utf-8", "replace").split("\0")
        api, web = f"{self.url}/repos/{repo.full_name}", f"{self.web_url}/{repo.full_name}"
        return _Reply(200, {
            "sha": sha, "node_id": _node("CM", int(sha[:7], 16)), "url": f"{api}/commits/{sha}",
            "html_url": f"{web}/commit/{sha}", "comments_url": f"{api}/commits/{sha}/comments",
            "commit": {"url": f"{api}/git/commits/{sha}", "message": fields[9].rstrip("\n"),
                       "author": {"name": fields[3], "email": fields[4], "date": fields[5]},
                       "committer": {"name": fields[6], "email": fields[7], "date": fields[8]},
                       "tree": {"sha": fields[1], "url": f"{api}/git/trees/{fields[1]}"}, "comment_count": 0},
            "author": None, "committer": None,
            "parents": [{"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{web}/commit/{p}"}
                        for p in fields[2].split()]})

    # issues

    def _new_issue(self, repo: FakeRepo, title: str, body: str | None, user: str,
                   number: int | None = None) -> FakeIssue:
        now = self.clock()
        number = number or max(repo.issues, default=0) + 1
        issue = FakeIssue(number, self._next_id(), title, body, user, now, now)
        repo.issues[number] = issue
        return issue

    def _label_names(self, repo: FakeRepo, labels: Any) -> list[str]:
        """Label names from strings or {"name": ...}; labels that do not exist yet are created, like GitHub."""
        if isinstance(labels, str):
            labels = [labels]
        names: list[str] = []
        for item in labels or ():
            name = str(item.get("name", "") if isinstance(item, dict) else item).strip()
            if not name:
                continue
            if name.lower() not in repo.labels:
                repo.labels[name.lower()] = FakeLabel(self._next_id(), name, "ededed")
            canonical = repo.labels[name.lower()].name
            if canonical not in names:
                names.append(canonical)
        return names

    def _issues_enabled(self, repo: FakeRepo) -> None:
        if not repo.has_issues:
            raise ApiError(410, ISSUES_DISABLED_MESSAGE)

    def _issue(self, req: _Req) -> FakeIssue:
        repo = _repo(req)
        issue = repo.issues.get(int(req.params["n"]))
        if issue is None:
            if not repo.has_issues:
                raise ApiError(410, ISSUES_DISABLED_MESSAGE)
            raise ApiError(404, "Not Found")
        if not issue.is_pull and not repo.has_issues:
            raise ApiError(410, ISSUES_DISABLED_MESSAGE)
        return issue

    def _list_issues(self, req: _Req) -> _Reply:
        repo, q = _repo(req), req.query
        self._issues_enabled(repo)
        state = q.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise validation_failed("Issue", "state", "invalid")
        wanted = {n.strip().lower() for n in q.get("labels", "").split(",") if n.strip()}
        issues = [i for i in repo.issues.values() if state in ("all", i.state)
                  and wanted <= {n.lower() for n in i.labels}]
        if "creator" in q:
            issues = [i for i in issues if i.user == q["creator"]]
        if "milestone" in q:
            ms = q["milestone"]
            issues = [i for i in issues if (ms == "*" and i.milestone) or (ms == "none" and not i.milestone)
                      or (ms.isdigit() and i.milestone == int(ms))]
        if "since" in q:
            issues = [i for i in issues if iso(i.updated_at) >= q["since"]]  # type: ignore[operator]
        sort = q.get("sort", "created")
        key: Callable[[FakeIssue], Any] = {
            "updated": lambda i: (i.updated_at, i.number),
            "comments": lambda i: (sum(1 for c in repo.comments.values() if c.issue_number == i.number), i.number),
        }.get(sort, lambda i: (i.created_at, i.number))
        issues.sort(key=key, reverse=q.get("direction", "desc") != "asc")
        return self._page(req, [self._issue_json(repo, i) for i in issues])

    def _check_body(self, resource: str, body: Any) -> None:
        if isinstance(body, str) and len(body) > BODY_LIMIT:
            raise validation_failed(resource, "body", message=f"body is too long (maximum is {BODY_LIMIT} characters)")

    def _create_issue(self, req: _Req) -> _Reply:
        repo, data = _repo(req), _object(req)
        self._issues_enabled(repo)
        title = data.get("title")
        if title in (None, ""):
            raise validation_failed("Issue", "title", "missing_field")
        if len(str(title)) > 256:
            raise validation_failed("Issue", "title", message="title is too long (maximum is 256 characters)")
        self._check_body("Issue", data.get("body"))
        milestone = data.get("milestone")
        if milestone is not None and milestone not in repo.milestones:
            raise validation_failed("Issue", "milestone", "invalid")
        issue = self._new_issue(repo, str(title), data.get("body"), self._author(req))
        issue.labels = self._label_names(repo, data.get("labels"))
        issue.milestone = milestone
        issue.assignees = list(data.get("assignees") or ([data["assignee"]] if data.get("assignee") else []))
        return _Reply(201, self._issue_json(repo, issue),
                      {"Location": f"{self.url}/repos/{repo.full_name}/issues/{issue.number}"})

    def _get_issue(self, req: _Req) -> _Reply:
        return _Reply(200, self._issue_json(_repo(req), self._issue(req)))

    def _update_issue(self, req: _Req) -> _Reply:
        repo, data = _repo(req), _object(req)
        issue = self._issue(req)
        self._check_body("Issue", data.get("body"))
        if "title" in data and (data["title"] in (None, "") or len(str(data["title"])) > 256):
            raise validation_failed("Issue", "title", "invalid")
        state, reason = data.get("state"), data.get("state_reason")
        if state not in (None, "open", "closed"):
            raise validation_failed("Issue", "state", "invalid")
        if reason is not None and reason not in STATE_REASONS:
            raise validation_failed("Issue", "state_reason", "invalid")
        if "milestone" in data and data["milestone"] is not None and data["milestone"] not in repo.milestones:
            raise validation_failed("Issue", "milestone", "invalid")
        for key in ("title", "body", "milestone"):
            if key in data:
                setattr(issue, key, str(data[key]) if key == "title" else data[key])
        if "labels" in data:
            issue.labels = self._label_names(repo, data["labels"])
        if "assignees" in data:
            issue.assignees = list(data["assignees"] or [])
        self._apply_state(issue, state, reason)
        issue.updated_at = self.clock()
        return _Reply(200, self._issue_json(repo, issue))

    def _apply_state(self, issue: FakeIssue, state: str | None, reason: str | None) -> None:
        if state == "closed" and issue.state == "open":
            issue.state, issue.closed_at = "closed", self.clock()
            issue.state_reason = reason if reason and reason != "reopened" else "completed"
        elif state == "open" and issue.state == "closed":
            issue.state, issue.state_reason, issue.closed_at = "open", "reopened", None
        elif reason is not None and issue.state == "closed" and reason != "reopened":
            issue.state_reason = reason

    # issue comments

    def _comment(self, req: _Req) -> FakeComment:
        comment = _repo(req).comments.get(int(req.params["id"]))
        if comment is None:
            raise ApiError(404, "Not Found")
        return comment

    def _list_comments(self, req: _Req) -> _Reply:
        repo, issue = _repo(req), self._issue(req)
        comments = [c for c in repo.comments.values() if c.issue_number == issue.number]
        if "since" in req.query:
            comments = [c for c in comments if iso(c.updated_at) >= req.query["since"]]  # type: ignore[operator]
        return self._page(req, [self._comment_json(repo, c) for c in sorted(comments, key=lambda c: c.id)])

    def _create_comment(self, req: _Req) -> _Reply:
        repo, data = _repo(req), _object(req)
        issue = self._issue(req)
        body = data.get("body")
        if not isinstance(body, str) or not body:
            raise validation_failed("IssueComment", "body", "missing_field")
        self._check_body("IssueComment", body)
        now = self.clock()
        comment = FakeComment(self._next_id(), issue.number, body, self._author(req), now, now)
        repo.comments[comment.id] = comment
        issue.updated_at = now
        return _Reply(201, self._comment_json(repo, comment),
                      {"Location": f"{self.url}/repos/{repo.full_name}/issues/comments/{comment.id}"})

    def _get_comment(self, req: _Req) -> _Reply:
        return _Reply(200, self._comment_json(_repo(req), self._comment(req)))

    def _update_comment(self, req: _Req) -> _Reply:
        comment, data = self._comment(req), _object(req)
        body = data.get("body")
        if not isinstance(body, str) or not body:
            raise validation_failed("IssueComment", "body", "missing_field")
        self._check_body("IssueComment", body)
        comment.body, comment.updated_at = body, self.clock()
        return _Reply(200, self._comment_json(_repo(req), comment))

    def _delete_comment(self, req: _Req) -> _Reply:
        comment = self._comment(req)
        del _repo(req).comments[comment.id]
        return _Reply(204)

    # labels

    def _label(self, req: _Req) -> FakeLabel:
        label = _repo(req).labels.get(req.params["name"].lower())
        if label is None:
            raise ApiError(404, "Not Found")
        return label

    def _list_labels(self, req: _Req) -> _Reply:
        repo = _repo(req)
        return self._page(req, [self._label_json(repo, label) for label in repo.labels.values()])

    def _label_fields(self, data: dict[str, Any]) -> tuple[str | None, str | None]:
        color = data.get("color")
        if color is not None:
            color = str(color).lstrip("#")
            if not re.fullmatch(r"[0-9a-fA-F]{6}", color):
                raise validation_failed("Label", "color", "invalid")
        description = data.get("description")
        if description is not None and len(str(description)) > 100:
            raise validation_failed("Label", "description",
                                    message="description is too long (maximum is 100 characters)")
        return color, description

    def _create_label(self, req: _Req) -> _Reply:
        repo, data = _repo(req), _object(req)
        name = str(data.get("name") or "").strip()
        if not name:
            raise validation_failed("Label", "name", "missing_field")
        color, description = self._label_fields(data)
        if name.lower() in repo.labels:
            raise validation_failed("Label", "name", "already_exists")
        label = FakeLabel(self._next_id(), name, color or "ededed", description or "")
        repo.labels[name.lower()] = label
        return _Reply(201, self._label_json(repo, label),
                      {"Location": f"{self.url}/repos/{repo.full_name}/labels/{quote(name, safe='')}"})

    def _get_label(self, req: _Req) -> _Reply:
        return _Reply(200, self._label_json(_repo(req), self._label(req)))

    def _update_label(self, req: _Req) -> _Reply:
        repo, label, data = _repo(req), self._label(req), _object(req)
        color, description = self._label_fields(data)
        new_name = str(data.get("new_name") or data.get("name") or label.name).strip()
        if new_name.lower() != label.name.lower() and new_name.lower() in repo.labels:
            raise validation_failed("Label", "name", "already_exists")
        if new_name != label.name:
            for issue in repo.issues.values():
                issue.labels = [new_name if n == label.name else n for n in issue.labels]
            del repo.labels[label.name.lower()]
            label.name = new_name
            repo.labels[new_name.lower()] = label
        if color is not None:
            label.color = color
        if description is not None:
            label.description = description
        return _Reply(200, self._label_json(repo, label))

    def _delete_label(self, req: _Req) -> _Reply:
        repo, label = _repo(req), self._label(req)
        del repo.labels[label.name.lower()]
        for issue in repo.issues.values():
            issue.labels = [n for n in issue.labels if n != label.name]
        return _Reply(204)

    def _issue_label_list(self, repo: FakeRepo, issue: FakeIssue) -> list[dict[str, Any]]:
        return [self._label_json(repo, repo.labels[n.lower()]) for n in issue.labels if n.lower() in repo.labels]

    def _issue_labels(self, req: _Req) -> _Reply:
        repo, issue = _repo(req), self._issue(req)
        return self._page(req, self._issue_label_list(repo, issue))

    def _labels_in(self, req: _Req) -> Any:
        data = req.json
        return data.get("labels", []) if isinstance(data, dict) else data

    def _add_issue_labels(self, req: _Req) -> _Reply:
        repo, issue = _repo(req), self._issue(req)
        issue.labels = self._label_names(repo, [*issue.labels, *self._label_names(repo, self._labels_in(req))])
        issue.updated_at = self.clock()
        return _Reply(200, self._issue_label_list(repo, issue))

    def _set_issue_labels(self, req: _Req) -> _Reply:
        repo, issue = _repo(req), self._issue(req)
        issue.labels = self._label_names(repo, self._labels_in(req))
        issue.updated_at = self.clock()
        return _Reply(200, self._issue_label_list(repo, issue))

    def _clear_issue_labels(self, req: _Req) -> _Reply:
        issue = self._issue(req)
        issue.labels, issue.updated_at = [], self.clock()
        return _Reply(204)

    def _remove_issue_label(self, req: _Req) -> _Reply:
        repo, issue = _repo(req), self._issue(req)
        name = req.params["name"].lower()
        if name not in {n.lower() for n in issue.labels}:
            raise ApiError(404, "Label does not exist")
        issue.labels = [n for n in issue.labels if n.lower() != name]
        issue.updated_at = self.clock()
        return _Reply(200, self._issue_label_list(repo, issue))

    # milestones

    def _list_milestones(self, req: _Req) -> _Reply:
        repo, state = _repo(req), req.query.get("state", "open")
        items = sorted((m for m in repo.milestones.values() if state in ("all", m.state)),
                       key=lambda m: (iso(m.due_on) or "9999", m.number), reverse=req.query.get("direction") == "desc")
        return self._page(req, [self._milestone_json(repo, m) for m in items])

    def _get_milestone(self, req: _Req) -> _Reply:
        repo = _repo(req)
        ms = repo.milestones.get(int(req.params["n"]))
        if ms is None:
            raise ApiError(404, "Not Found")
        return _Reply(200, self._milestone_json(repo, ms))

    # pull requests

    def _pull(self, req: _Req) -> FakePull:
        pull = _repo(req).pulls.get(int(req.params["n"]))
        if pull is None:
            raise ApiError(404, "Not Found")
        return pull

    def _list_pulls(self, req: _Req) -> _Reply:
        repo, state = _repo(req), req.query.get("state", "open")
        pulls = [p for p in repo.pulls.values() if state in ("all", p.state)]
        return self._page(req, [self._pull_json(repo, p) for p in sorted(pulls, key=lambda p: -p.number)])

    def _get_pull(self, req: _Req) -> _Reply:
        return _Reply(200, self._pull_json(_repo(req), self._pull(req)))

    def _files(self, repo: FakeRepo, base: str, head: str) -> list[_DiffFile]:
        if repo.git_dir is None:
            return []
        key = (base, head)
        if key not in repo.diff_cache:
            repo.diff_cache[key] = _diff_files(repo.git_dir, base, head)
        return repo.diff_cache[key]

    def _pull_files(self, req: _Req) -> _Reply:
        repo, pull = _repo(req), self._pull(req)
        head = pull.head_sha
        web = f"{self.web_url}/{repo.full_name}"
        items = []
        for f in self._files(repo, pull.base_sha, head):
            item: dict[str, Any] = {
                "sha": f.sha, "filename": f.filename, "status": f.status, "additions": f.additions,
                "deletions": f.deletions, "changes": f.additions + f.deletions,
                "blob_url": f"{web}/blob/{head}/{quote(f.filename)}",
                "raw_url": f"{web}/raw/{head}/{quote(f.filename)}",
                "contents_url": f"{self.url}/repos/{repo.full_name}/contents/{quote(f.filename)}?ref={head}"}
            if f.patch is not None:
                item["patch"] = f.patch
            if f.previous_filename is not None:
                item["previous_filename"] = f.previous_filename
            items.append(item)
        return self._page(req, items, cap=MAX_PULL_FILES)

    def _list_reviews(self, req: _Req) -> _Reply:
        repo, pull = _repo(req), self._pull(req)
        reviews = [r for r in repo.reviews.values() if r.number == pull.number]
        return self._page(req, [self._review_json(repo, r) for r in reviews])

    def _review_files(self, repo: FakeRepo, pull: FakePull, commit_id: str | None) -> tuple[str, dict[str, _DiffFile]]:
        commit = commit_id or pull.head_sha
        if commit not in pull.heads:
            raise ApiError(422, "Unprocessable Entity", [f"No commit found for SHA: {commit}"],
                           docs="https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request")
        return commit, {f.filename: f for f in self._files(repo, pull.base_sha, commit)}

    def _anchor(self, files: dict[str, _DiffFile], c: dict[str, Any], note: str) -> dict[str, Any]:
        """Where a review comment lands, or the error GitHub gives (as a list of texts)."""
        path = c.get("path")
        f = files.get(path) if isinstance(path, str) else None
        if f is None:
            raise _Unanchored("Pull request review thread path is invalid and Pull request review thread diff hunk "
                              "can't be blank")
        if c.get("subject_type") == "file":
            return {"path": path, "line": None, "side": None, "start_line": None, "start_side": None,
                    "position": None, "diff_hunk": "", "subject_type": "file"}
        if c.get("position") is not None:
            self.deprecations.append(f"{note}: review comment on {path} uses `position` (closing down; use `line`)")
            return self._by_position(f, c)
        line, side = c.get("line"), str(c.get("side") or "RIGHT").upper()
        lines = f.right if side == "RIGHT" else f.left
        if not isinstance(line, int) or side not in ("RIGHT", "LEFT") or line not in lines:
            raise _Unanchored("Pull request review thread line must be part of the diff and Pull request review "
                              "thread diff hunk can't be blank")
        start, start_side = c.get("start_line"), c.get("start_side")
        if start is not None:
            start_side = str(start_side or side).upper()
            start_lines = f.right if start_side == "RIGHT" else f.left
            if not isinstance(start, int) or start >= line:
                raise _Unanchored("Pull request review thread start line must precede the end line.")
            if start not in start_lines or start_lines[start][0] != lines[line][0]:
                raise _Unanchored("Pull request review thread start line must be part of the same hunk as the line.")
        else:
            start_side = None
        position = lines[line][1]
        return {"path": path, "line": line, "side": side, "start_line": start, "start_side": start_side,
                "position": position, "diff_hunk": _hunk_until(f.patch or "", position), "subject_type": "line"}

    def _by_position(self, f: _DiffFile, c: dict[str, Any]) -> dict[str, Any]:
        position = c.get("position")
        patch_lines = (f.patch or "").split("\n")
        if not isinstance(position, int) or not 1 <= position < len(patch_lines) or \
                patch_lines[position].startswith("@@"):
            raise _Unanchored("Pull request review thread position is invalid and Pull request review thread "
                              "diff hunk can't be blank")
        for line, (_, pos) in f.right.items():
            if pos == position:
                return {"path": f.filename, "line": line, "side": "RIGHT", "start_line": None, "start_side": None,
                        "position": position, "diff_hunk": _hunk_until(f.patch or "", position),
                        "subject_type": "line"}
        line = next(n for n, (_, pos) in f.left.items() if pos == position)
        return {"path": f.filename, "line": line, "side": "LEFT", "start_line": None, "start_side": None,
                "position": position, "diff_hunk": _hunk_until(f.patch or "", position), "subject_type": "line"}

    def _store_comment(self, repo: FakeRepo, pull: FakePull, review_id: int, commit: str, where: dict[str, Any],
                       body: str, user: str, in_reply_to: int | None = None) -> FakeReviewComment:
        now = self.clock()
        comment = FakeReviewComment(
            id=self._next_id(), number=pull.number, review_id=review_id, path=where["path"], line=where["line"],
            side=where["side"], start_line=where["start_line"], start_side=where["start_side"],
            position=where["position"], commit_id=commit, body=body, user=user, diff_hunk=where["diff_hunk"],
            created_at=now, updated_at=now, in_reply_to_id=in_reply_to, subject_type=where["subject_type"],
            original_line=where["line"], original_start_line=where["start_line"],
            original_position=where["position"], original_commit_id=commit)
        repo.review_comments[comment.id] = comment
        return comment

    def _create_review(self, req: _Req) -> _Reply:
        repo, pull, data = _repo(req), self._pull(req), _object(req)
        user = self._author(req)
        docs = "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request"
        event = data.get("event")
        states = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED",
                  None: "PENDING"}
        if event not in states:
            raise validation_failed("PullRequestReview", "event", "invalid")
        body = data.get("body") or ""
        if len(body) > BODY_LIMIT:
            raise ApiError(422, "Unprocessable Entity", [f"Body is too long (maximum is {BODY_LIMIT} characters)"],
                           docs=docs)
        if event == "REQUEST_CHANGES" and not body:
            raise ApiError(422, "Unprocessable Entity", ["Body is required when requesting changes"], docs=docs)
        if event is None and any(r.state == "PENDING" and r.user == user and r.number == pull.number
                                 for r in repo.reviews.values()):
            raise ApiError(422, "Unprocessable Entity", ["User can only have one pending review per pull request"],
                           docs=docs)
        commit, files = self._review_files(repo, pull, data.get("commit_id"))
        drafts = data.get("comments") or []
        anchors = []
        for draft in drafts:
            if not isinstance(draft, dict) or not draft.get("body"):
                raise ApiError(422, "Unprocessable Entity", ["Body can't be blank"], docs=docs)
            if len(str(draft["body"])) > BODY_LIMIT:
                raise ApiError(422, "Unprocessable Entity",
                               [f"Body is too long (maximum is {BODY_LIMIT} characters)"], docs=docs)
            try:
                anchors.append(self._anchor(files, draft, f"POST {req.path}"))
            except _Unanchored as err:
                raise ApiError(422, "Unprocessable Entity", [str(err)], docs=docs) from None
        review = FakeReview(self._next_id(), pull.number, user, body, states[event], commit,
                            None if event is None else self.clock())
        repo.reviews[review.id] = review
        for draft, where in zip(drafts, anchors, strict=True):
            self._store_comment(repo, pull, review.id, commit, where, str(draft["body"]), user)
        return _Reply(200, self._review_json(repo, review))

    def _list_review_comments(self, req: _Req) -> _Reply:
        repo, pull = _repo(req), self._pull(req)
        comments = sorted((c for c in repo.review_comments.values() if c.number == pull.number), key=lambda c: c.id)
        if req.query.get("direction") == "desc":
            comments.reverse()
        return self._page(req, [self._review_comment_json(repo, c) for c in comments])

    def _create_review_comment(self, req: _Req) -> _Reply:
        repo, pull, data = _repo(req), self._pull(req), _object(req)
        body = data.get("body")
        if not isinstance(body, str) or not body:
            raise validation_failed("PullRequestReviewComment", "body", "missing_field")
        self._check_body("PullRequestReviewComment", body)
        if data.get("in_reply_to") is not None:
            return self._reply_to(req, repo, pull, int(data["in_reply_to"]), body)
        if not data.get("commit_id"):
            raise validation_failed("PullRequestReviewComment", "commit_id", "missing_field")
        try:
            commit, files = self._review_files(repo, pull, data["commit_id"])
            where = self._anchor(files, data, f"POST {req.path}")
        except _Unanchored as err:
            raise validation_failed("PullRequestReviewComment", "pull_request_review_thread.line",
                                    message=str(err)) from None
        user = self._author(req)
        review = FakeReview(self._next_id(), pull.number, user, "", "COMMENTED", commit, self.clock())
        repo.reviews[review.id] = review
        comment = self._store_comment(repo, pull, review.id, commit, where, body, user)
        return _Reply(201, self._review_comment_json(repo, comment))

    def _reply(self, req: _Req) -> _Reply:
        repo, pull, data = _repo(req), self._pull(req), _object(req)
        body = data.get("body")
        if not isinstance(body, str) or not body:
            raise validation_failed("PullRequestReviewComment", "body", "missing_field")
        self._check_body("PullRequestReviewComment", body)
        return self._reply_to(req, repo, pull, int(req.params["id"]), body)

    def _reply_to(self, req: _Req, repo: FakeRepo, pull: FakePull, parent_id: int, body: str) -> _Reply:
        parent = repo.review_comments.get(parent_id)
        if parent is None or parent.number != pull.number:
            raise ApiError(404, "Not Found")
        root = repo.review_comments.get(parent.in_reply_to_id or parent.id, parent)
        user = self._author(req)
        review = FakeReview(self._next_id(), pull.number, user, "", "COMMENTED", root.commit_id, self.clock())
        repo.reviews[review.id] = review
        where = {"path": root.path, "line": root.line, "side": root.side, "start_line": root.start_line,
                 "start_side": root.start_side, "position": root.position, "diff_hunk": root.diff_hunk,
                 "subject_type": root.subject_type}
        comment = self._store_comment(repo, pull, review.id, root.commit_id, where, body, user, in_reply_to=root.id)
        return _Reply(201, self._review_comment_json(repo, comment))

    def _review_comment(self, req: _Req) -> FakeReviewComment:
        comment = _repo(req).review_comments.get(int(req.params["id"]))
        if comment is None:
            raise ApiError(404, "Not Found")
        return comment

    def _get_review_comment(self, req: _Req) -> _Reply:
        return _Reply(200, self._review_comment_json(_repo(req), self._review_comment(req)))

    def _update_review_comment(self, req: _Req) -> _Reply:
        comment, data = self._review_comment(req), _object(req)
        body = data.get("body")
        if not isinstance(body, str) or not body:
            raise validation_failed("PullRequestReviewComment", "body", "missing_field")
        self._check_body("PullRequestReviewComment", body)
        comment.body, comment.updated_at = body, self.clock()
        return _Reply(200, self._review_comment_json(_repo(req), comment))

    def _delete_review_comment(self, req: _Req) -> _Reply:
        comment = self._review_comment(req)
        del _repo(req).review_comments[comment.id]
        return _Reply(204)

    # check runs

    def _check_run(self, req: _Req) -> FakeCheckRun:
        run = _repo(req).check_runs.get(int(req.params["id"]))
        if run is None:
            raise ApiError(404, "Not Found")
        return run

    def _check_output(self, output: Any, *, creating: bool) -> dict[str, Any]:
        if output is None:
            return {}
        if not isinstance(output, dict):
            raise _invalid('For \'properties/output\', "output" is not an object.')
        for key in ("title", "summary") if creating else ("summary",):
            if key not in output:
                raise _invalid(f'"{key}" wasn\'t supplied.')
        for key in ("summary", "text"):
            value = output.get(key)
            if isinstance(value, str) and len(value) > OUTPUT_LIMIT:
                raise _invalid(f"Only {OUTPUT_LIMIT} characters are allowed; {len(value)} were supplied.")
        annotations = output.get("annotations") or []
        if len(annotations) > MAX_ANNOTATIONS:
            raise _invalid(f"Only {MAX_ANNOTATIONS} annotations are allowed per request; "
                           f"{len(annotations)} were supplied.")
        for a in annotations:
            missing = [k for k in ("path", "start_line", "end_line", "annotation_level", "message") if k not in a]
            if missing:
                raise _invalid(f'"{missing[0]}" wasn\'t supplied.')
            if a["annotation_level"] not in ANNOTATION_LEVELS:
                raise _invalid(f'"annotation_level" must be one of {", ".join(sorted(ANNOTATION_LEVELS))}.')
        return output

    def _check_status(self, data: dict[str, Any], current: str | None) -> tuple[str, str | None]:
        status, conclusion = data.get("status"), data.get("conclusion")
        if status is not None and status not in CHECK_STATUSES:
            raise _invalid(f'"status" must be one of {", ".join(sorted(CHECK_STATUSES))}.')
        if conclusion is not None and conclusion not in CHECK_CONCLUSIONS:
            raise _invalid(f'"conclusion" must be one of {", ".join(sorted(CHECK_CONCLUSIONS))}.')
        if status is None and conclusion is not None:
            status = "completed"  # GitHub: providing a conclusion sets the status to completed
        if status == "completed" and conclusion is None:
            raise _invalid('No subschema in "oneOf" matched. "conclusion" wasn\'t supplied.')
        if status is not None and status != "completed" and conclusion is not None:
            raise _invalid(f'"conclusion" is not a permitted key when "status" is "{status}".')
        return status or current or "queued", conclusion

    def _create_check_run(self, req: _Req) -> _Reply:
        repo, data = _repo(req), _object(req)
        if req.auth.kind != "installation":
            raise ApiError(403, "You must authenticate via a GitHub App.")
        for key in ("name", "head_sha"):
            if not data.get(key):
                raise _invalid(f'"{key}" wasn\'t supplied.')
        sha = self._resolve(repo, str(data["head_sha"]))
        if sha is None:
            raise validation_failed("CheckRun", "head_sha", "invalid", message=f"No commit found for SHA: "
                                    f"{data['head_sha']}")
        status, conclusion = self._check_status(data, None)
        output = self._check_output(data.get("output"), creating=True)
        now = self.clock()
        suite = repo.check_suites.setdefault(sha, self._next_id())
        run = FakeCheckRun(self._next_id(), repo.full_name, str(data["name"]), sha, status, conclusion,
                           str(data.get("external_id") or ""), data.get("details_url"),
                           _parse_time(data.get("started_at")) or now, None, suite)
        self._apply_output(run, output)
        if status == "completed":
            run.completed_at = _parse_time(data.get("completed_at")) or now
        repo.check_runs[run.id] = run
        self.check_runs[run.id] = run
        return _Reply(201, self._check_run_json(repo, run))

    def _apply_output(self, run: FakeCheckRun, output: dict[str, Any]) -> None:
        for key in ("title", "summary", "text"):
            if key in output:
                run.output[key] = output[key]
        annotations = output.get("annotations") or []
        if annotations:
            run.annotations.extend(dict(a) for a in annotations)
            run.annotation_batches.append(len(annotations))

    def _get_check_run(self, req: _Req) -> _Reply:
        return _Reply(200, self._check_run_json(_repo(req), self._check_run(req)))

    def _update_check_run(self, req: _Req) -> _Reply:
        repo, run, data = _repo(req), self._check_run(req), _object(req)
        status, conclusion = self._check_status(data, run.status)
        output = self._check_output(data.get("output"), creating=False)
        if "name" in data:
            run.name = str(data["name"])
        for key in ("external_id", "details_url"):
            if key in data:
                setattr(run, key, data[key])
        if "started_at" in data:
            run.started_at = _parse_time(data["started_at"])
        run.status = status
        if status == "completed":
            run.conclusion = conclusion or run.conclusion
            run.completed_at = _parse_time(data.get("completed_at")) or run.completed_at or self.clock()
        elif "status" in data:
            run.conclusion, run.completed_at = None, None
        self._apply_output(run, output)
        return _Reply(200, self._check_run_json(repo, run))

    def _list_annotations(self, req: _Req) -> _Reply:
        run = self._check_run(req)
        items = [{"path": a["path"], "start_line": a["start_line"], "end_line": a["end_line"],
                  "start_column": a.get("start_column"), "end_column": a.get("end_column"),
                  "annotation_level": a["annotation_level"], "title": a.get("title"), "message": a["message"],
                  "raw_details": a.get("raw_details"),
                  "blob_href": f"{self.web_url}/{run.full_name}/blob/{run.head_sha}/{quote(a['path'])}"}
                 for a in run.annotations]
        return self._page(req, items)

    def _check_runs_for_ref(self, req: _Req) -> _Reply:
        repo = _repo(req)
        sha = self._resolve(repo, req.params["ref"])
        if sha is None:
            raise validation_failed("Commit", "ref", "invalid", message=f"No commit found for SHA: "
                                    f"{req.params['ref']}")
        runs = sorted((r for r in repo.check_runs.values() if r.head_sha == sha), key=lambda r: -r.id)
        if "check_name" in req.query:
            runs = [r for r in runs if r.name == req.query["check_name"]]
        if "status" in req.query:
            runs = [r for r in runs if r.status == req.query["status"]]
        if req.query.get("filter", "latest") == "latest":
            seen: set[str] = set()
            runs = [r for r in runs if not (r.name in seen or seen.add(r.name))]  # type: ignore[func-returns-value]
        return self._page(req, [self._check_run_json(repo, r) for r in runs], wrap="check_runs")


# ---------------------------------------------------------------- small helpers


class _Unanchored(Exception):
    """A review comment GitHub could not place in the diff (its text is GitHub's)."""


def _invalid(detail: str) -> ApiError:
    return ApiError(422, f"Invalid request.\n\n{detail}",
                    docs="https://docs.github.com/rest/checks/runs#create-a-check-run")


def _repo(req: _Req) -> FakeRepo:
    assert req.repo is not None
    return req.repo


def _object(req: _Req) -> dict[str, Any]:
    if req.json is None:
        return {}
    if not isinstance(req.json, dict):
        raise ApiError(400, "Problems parsing JSON")
    return req.json


def _hunk_until(patch: str, position: int) -> str:
    """GitHub's `diff_hunk`: from the hunk header above the commented line down to that line."""
    lines = patch.split("\n")[: position + 1]
    start = max((i for i, line in enumerate(lines) if line.startswith("@@")), default=0)
    return "\n".join(lines[start:])


def _bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() in ("token", "bearer") and token.strip():
        return token.strip()
    return None


def _json_or_none(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _is_json_request(entry: LoggedRequest) -> bool:
    kind = entry.headers.get("content-type", "")
    return "json" in kind or (not kind and entry.body[:1] in (b"{", b"["))


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _parse_time(value: Any) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise _invalid(f'"{value}" is not a valid ISO 8601 timestamp.') from None


def _node(prefix: str, number: int) -> str:
    return base64.b64encode(f"0{prefix}{number}".encode()).decode()


def _random_token(length: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """A fresh stand-in server per test."""
    with FakeGitHub() as gh:
        yield gh
