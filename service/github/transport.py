"""The adapter's HTTP machinery: PyGithub's requester under paydown's retry, rate-limit and pacing policy."""

from __future__ import annotations

import email.utils
import json
import logging
import os
import re
import threading
import time
import urllib.parse
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import github
import github.Auth
import requests
from github.GithubException import GithubException
from github.Requester import Requester

from ..settings import Settings
from .records import (
    Forbidden,
    GitHubError,
    GitHubUnavailable,
    Gone,
    NotFound,
    RateLimited,
    RequestLog,
    Unauthorized,
    ValidationFailed,
)

log = logging.getLogger("paydown.github")


_MANIFEST_CODE_IN_URL = re.compile(r"(/app-manifests/)[^/?#]+")


def _redact_requester_log(record: logging.LogRecord) -> bool:
    """PyGithub's DEBUG line carries request and response bodies (a minted token, an OAuth secret, a new App's
    key) and the URL (a manifest code): drop them."""
    if isinstance(record.args, tuple) and len(record.args) == 9:
        args = list(record.args)
        args[5] = args[8] = "(body omitted)"
        record.args = tuple(args)
    return _redact_manifest_code(record)


# A secret in a query string: the tarball's redirect to codeload carries `?token=...`, OAuth URLs a code or secret.
_SECRET_IN_QUERY = re.compile(r"([?&](?:token|access_token|code|client_secret)=)[^&#\s\"']+", re.IGNORECASE)


def _redact_url(text: str) -> str:
    return _SECRET_IN_QUERY.sub(r"\1(redacted)", _MANIFEST_CODE_IN_URL.sub(r"\1(code)", text))


def _redact_manifest_code(record: logging.LogRecord) -> bool:
    """A manifest code turns into an App's key and secrets for whoever sends it first, and a query string's token
    (the tarball's redirect to codeload) reads a private repository: no URL logs either."""
    if isinstance(record.args, tuple):
        record.args = tuple(_redact_url(arg) if isinstance(arg, str) else arg for arg in record.args)
    elif isinstance(record.msg, str) and not record.args:
        record.msg = _redact_url(record.msg)
    return True


logging.getLogger("github.Requester").addFilter(_redact_requester_log)
for _name in ("urllib3.connectionpool", "urllib3.poolmanager", "urllib3.util.retry"):  # each logs URLs at DEBUG
    logging.getLogger(_name).addFilter(_redact_manifest_code)

# ---------------------------------------------------------------- the transport: one requester under paydown's policy

_USER_AGENT = "paydown"
_PER_PAGE = 100
_MAX_PAGES = 1000
_TIMEOUT_SECONDS = 30
_MAX_BACKOFF_SECONDS = 30.0
_TARBALL_CHUNK_BYTES = 64 * 1024
_TARBALL_TIMEOUT = (10.0, 60.0)  # connect, and each read
_MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_WRITE_VERBS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_NETWORK_ERRORS: tuple[type[Exception], ...] = (
    requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError, json.JSONDecodeError,
)


class _Failure(Exception):
    """An answer of status >= 400, or none at all (status 0), before it is mapped to a GitHubError."""

    def __init__(self, status: int, headers: Mapping[str, str], data: Any, cause: str = "") -> None:
        super().__init__(status)
        self.status = status
        self.headers = {str(k).lower(): str(v) for k, v in headers.items()}
        self.data = data
        self.cause = cause


@dataclass
class _Attempts:
    failed: int = 0
    limited: int = 0
    reauthenticated: bool = False


class _CallableJWT(github.Auth.JWT):
    """Bearer auth with a JWT made per request from the (skew-corrected) clock."""

    def __init__(self, make: Callable[[], str]) -> None:
        self._make = make

    @property
    def token(self) -> str:
        return self._make()

    def __repr__(self) -> str:
        return "_CallableJWT(<redacted>)"


class _CallableToken(github.Auth.Auth):
    """`token` auth whose value comes from the installation token cache at each request."""

    def __init__(self, get: Callable[[], str]) -> None:
        self._get = get

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        return self._get()

    @property
    def _masked_token(self) -> str:
        return "token (removed)"

    def __repr__(self) -> str:
        return "_CallableToken(<redacted>)"


class _Transport:
    """One PyGithub requester with paydown's policy: bounded retries of idempotent requests, rate-limit waits
    (or RateLimited), one re-authentication on 401, and at least `write_gap_seconds` between writes. Requests
    of one transport are serial."""

    def __init__(self, settings: Settings, base_url: str, auth: github.Auth.Auth | None, *,
                 clock: Callable[[], float], sleep: Callable[[float], None], backoff: float,
                 log: RequestLog | None = None, reauthenticate: Callable[[Mapping[str, str]], bool] | None = None,
                 pace_writes: bool = True) -> None:
        self.settings = settings
        self.base_url = base_url.rstrip("/")
        self.log = log if log is not None else RequestLog()
        self._auth = auth
        self._clock = clock
        self._sleep = sleep
        self._backoff = backoff
        self._reauthenticate = reauthenticate
        self._pace_writes = pace_writes
        self._lock = threading.RLock()
        self._last_write = float("-inf")
        self._creates: deque[float] = deque()  # when each content-creating request (POST) was sent
        self._github = self._new_github()
        self._pid = os.getpid()
        # A transport dropped without close() still closes its sockets (no ResourceWarning at garbage collection).
        weakref.finalize(self, self._github.close)

    def _new_github(self) -> github.Github:
        # PyGithub's GithubRetry would retry POSTs on 5xx (duplicates) and its pacing sleeps unseen: both off.
        return github.Github(base_url=self.base_url, auth=self._auth, retry=None, timeout=_TIMEOUT_SECONDS,
                             user_agent=_USER_AGENT, per_page=_PER_PAGE, seconds_between_requests=None,
                             seconds_between_writes=None)

    @property
    def requester(self) -> Requester:
        if os.getpid() != self._pid:
            # A forked RQ work horse must not share the parent's keep-alive sockets; the old ones are left alone.
            self._github, self._pid = self._new_github(), os.getpid()
            weakref.finalize(self, self._github.close)
        return self._github.requester

    def close(self) -> None:
        with self._lock:
            self._github.close()

    # ------------------------------------------------------------ sending

    def json(self, verb: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None,
             headers: Mapping[str, str] | None = None, idempotent: bool | None = None,
             write: bool | None = None, shown_path: str | None = None) -> tuple[dict[str, Any], Any]:
        """One JSON request under the policy; returns (lower-cased response headers, decoded body).
        `shown_path` stands for `path` in logs and errors when the path itself holds a secret."""

        def send() -> tuple[dict[str, Any], Any]:
            try:
                return self.requester.requestJsonAndCheck(verb, path, parameters=dict(params or {}) or None,
                                                          headers=dict(headers or {}), input=body)
            except GithubException as exc:
                raise _Failure(exc.status, exc.headers or {}, exc.data) from None
            except (RuntimeError, AssertionError):
                # PyGithub refuses redirects and links to another host or port this way.
                raise _Failure(-1, {}, {"message": "GitHub pointed to another host"}) from None

        return self.run(verb, shown_path or path, send,
                        idempotent=verb != "POST" if idempotent is None else idempotent,
                        write=verb in _WRITE_VERBS if write is None else write)

    def run(self, verb: str, path: str, send: Callable[[], Any], *, idempotent: bool, write: bool) -> Any:
        attempts = _Attempts()
        while True:
            try:
                return self._once(verb, send, write)
            except _Failure as exc:
                failure = exc
            # Outside the except block, so the error raised names GitHub's answer, not the internal _Failure.
            wait = self._decide(f"{verb} {_short(path)}", failure, attempts, idempotent)
            if wait > 0:
                self._sleep(wait)

    def _once(self, verb: str, send: Callable[[], Any], write: bool) -> Any:
        with self._lock:
            if write:
                self._pace()
            if verb == "POST" and self._pace_writes:
                self._budget()
                self._creates.append(time.monotonic())
            try:
                return send()
            except _NETWORK_ERRORS as exc:
                raise _Failure(0, {}, None, cause=type(exc).__name__) from None
            finally:
                self._count(verb, write)
                if write:
                    self._last_write = time.monotonic()

    def _pace(self) -> None:
        gap = self.settings.write_gap_seconds if self._pace_writes else 0.0
        wait = self._last_write + gap - time.monotonic()
        if wait > 0:
            self._sleep(wait)

    def _budget(self) -> None:
        """GitHub's content-creation limits (about 80 per minute, 500 per hour) are met before GitHub enforces
        them: wait for the minute window, and stop with RateLimited (the job is rescheduled) for the hour's."""
        now = time.monotonic()
        while self._creates and self._creates[0] <= now - 3600:
            self._creates.popleft()
        per_hour, per_minute = self.settings.creates_per_hour, self.settings.creates_per_minute
        if len(self._creates) >= per_hour:
            wait = self._creates[-per_hour] + 3600 - now
            if wait > self.settings.rate_limit_max_wait_seconds:
                raise RateLimited(f"paydown's own budget: {per_hour} content-creating requests in the last hour; "
                                  f"next in {wait:.0f} s", retry_after=wait, status=0)
            self._sleep(wait)
        recent = [t for t in self._creates if t > time.monotonic() - 60]
        if len(recent) >= per_minute:
            self._sleep(max(0.0, recent[-per_minute] + 60 - time.monotonic()))

    def _count(self, verb: str, write: bool) -> None:
        if not write:
            self.log.reads += 1
            return
        self.log.writes += 1
        self.log.by_method[verb] = self.log.by_method.get(verb, 0) + 1

    def _decide(self, where: str, failure: _Failure, attempts: _Attempts, idempotent: bool) -> float:
        """Seconds to wait before sending again, or raise the mapped error."""
        if failure.status == 401 and not attempts.reauthenticated and self._reauthenticate is not None:
            attempts.reauthenticated = True
            if self._reauthenticate(failure.headers):
                log.info("%s: 401, sending again with fresh credentials", where)
                return 0.0
        wait = _rate_limit_wait(failure, attempts.limited, self.settings, self._server_now(failure.headers))
        if wait is not None:
            return self._limited(where, failure, attempts, wait)
        if failure.status == 0 or failure.status >= 500:
            return self._unavailable(where, failure, attempts, idempotent)
        raise _mapped_error(where, failure)

    def _limited(self, where: str, failure: _Failure, attempts: _Attempts, wait: float) -> float:
        attempts.limited += 1
        if wait > self.settings.rate_limit_max_wait_seconds or attempts.limited > self.settings.request_retries:
            raise RateLimited(f"{where}: GitHub's rate limit ({_message(failure.data) or failure.status}); "
                              f"try again in {wait:.0f} s", retry_after=wait, status=failure.status)
        log.warning("%s: rate limited (%s), waiting %.1f s", where, failure.status, wait)
        return wait

    def _unavailable(self, where: str, failure: _Failure, attempts: _Attempts, idempotent: bool) -> float:
        what = failure.cause or f"{failure.status} {_message(failure.data)}".strip()
        if not idempotent:
            raise GitHubUnavailable(f"{where}: {what} (not sent again: it may have been applied)", failure.status)
        if attempts.failed >= self.settings.request_retries:
            raise GitHubUnavailable(f"{where}: {what} after {attempts.failed + 1} attempts", failure.status)
        wait = min(self._backoff * 2 ** attempts.failed, _MAX_BACKOFF_SECONDS)
        attempts.failed += 1
        log.warning("%s: %s, attempt %d, sending again in %.2f s", where, what, attempts.failed, wait)
        return wait

    def _server_now(self, headers: Mapping[str, str]) -> float:
        server = _server_time(headers)
        return self._clock() if server is None else server

    # ------------------------------------------------------------ listings

    def pages(self, path: str, *, params: Mapping[str, Any] | None = None, key: str | None = None) -> Iterator[Any]:
        """Every item of a paginated listing, following `Link: rel="next"` on the API's own origin only."""
        url: str = path
        query: dict[str, Any] | None = {**(params or {}), "per_page": _PER_PAGE}
        for _ in range(_MAX_PAGES):
            headers, data = self.json("GET", url, params=query)
            items = (data or {}).get(key) if key else data
            yield from items or []
            url_next = _next_link(headers.get("link", ""))
            if url_next is None:
                return
            if _origin(url_next) != _origin(self.base_url):
                raise GitHubError(f"GET {_short(path)}: a page link points to another host")
            url, query = url_next, None
        raise GitHubError(f"GET {_short(path)}: more than {_MAX_PAGES} pages")


def _rate_limit_wait(failure: _Failure, limited: int, settings: Settings, now: float) -> float | None:
    """How long GitHub asks us to wait, or None when the answer is not a rate limit."""
    if failure.status not in (403, 429):
        return None
    headers, message = failure.headers, _message(failure.data).lower()
    retry_after = _number(headers.get("retry-after"))
    if retry_after is not None:
        return max(retry_after, 0.0)
    reset = _number(headers.get("x-ratelimit-reset"))
    if headers.get("x-ratelimit-remaining") == "0" and reset is not None:
        return max(reset - now, 0.0)
    secondary = ("secondary rate limit" in message or Requester.isRateLimitError(message)
                 or failure.status == 429 or headers.get("x-ratelimit-remaining") == "0")
    if not secondary:
        return None
    return settings.rate_limit_min_wait_seconds * 2 ** limited


def _mapped_error(where: str, failure: _Failure) -> GitHubError:
    status, message = failure.status, _message(failure.data)
    text = f"{where}: {status} {message}".rstrip() if status > 0 else f"{where}: {message}"
    if status == 401:
        return Unauthorized(text, status)
    if status == 403:
        permission = failure.headers.get("x-accepted-github-permissions") or None
        if permission:
            text += f" (the App needs the permission {permission})"
        return Forbidden(text, status, permission=permission)
    if status == 404:
        return NotFound(text, status)
    if status == 410:
        return Gone(text, status)
    if status == 422:
        errors = (failure.data.get("errors") if isinstance(failure.data, dict) else None) or []
        details = "; ".join(_error_text(err) for err in errors)
        return ValidationFailed(f"{text} ({details})" if details else text, status, errors=errors)
    return GitHubError(text, max(status, 0))


def _error_text(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)[:200]
    parts = [str(error[k]) for k in ("resource", "field", "code") if error.get(k)]
    return " ".join(parts + ([str(error["message"])[:200]] if error.get("message") else []))


def _message(data: Any) -> str:
    if isinstance(data, dict):
        return str(data.get("message") or "")[:300]
    return ""


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _server_time(headers: Mapping[str, str]) -> float | None:
    value = headers.get("date")
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def _next_link(header: str) -> str | None:
    for part in header.split(","):
        url, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", ""):
            return url.strip().strip("<>")
    return None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def _short(path: str) -> str:
    """The path of a URL without host or query (which may carry a signed token)."""
    return urllib.parse.urlsplit(path).path or path


def _repo(full_name: str) -> str:
    owner, sep, name = full_name.partition("/")
    if not sep or not owner or not name or "/" in name:
        raise ValueError(f"not an owner/name repository name: {full_name!r}")
    return f"/repos/{urllib.parse.quote(owner, safe='')}/{urllib.parse.quote(name, safe='')}"
