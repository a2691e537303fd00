"""The one GitHub adapter: App auth, paydown's verbs over PyGithub, and GitHub's errors as a small hierarchy.

CONTRACT (written before the implementation; the implementer keeps every name and signature below, may add
private helpers and optional keyword arguments, and must not rename anything other modules import).

Every API call goes through one PyGithub `Requester` per client with PyGithub's own retries and pacing switched
off: `_Transport` applies paydown's policy instead (idempotent requests retried on 5xx/reset/timeout, POSTs
never blindly; rate-limit waits with a cap; one re-authentication on 401; a gap between writes). Only the
tarball download uses `requests` directly, because PyGithub's requester cannot follow a redirect to another
port of the same host (it asserts the port) and forwards Authorization to it.
"""

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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import github
import github.Auth
import jwt
import requests
from github.GithubException import GithubException
from github.Requester import Requester

from .settings import Settings

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


def _redact_manifest_code(record: logging.LogRecord) -> bool:
    """A manifest code turns into an App's key and secrets for whoever sends it first: no URL logs it."""
    if isinstance(record.args, tuple):
        record.args = tuple(_MANIFEST_CODE_IN_URL.sub(r"\1(code)", arg) if isinstance(arg, str) else arg
                            for arg in record.args)
    return True


logging.getLogger("github.Requester").addFilter(_redact_requester_log)
logging.getLogger("urllib3.connectionpool").addFilter(_redact_manifest_code)

# ---------------------------------------------------------------- errors


class GitHubError(Exception):
    """GitHub said no. `status` is the HTTP status (0 when no answer came)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class Unauthorized(GitHubError):
    """401: bad JWT or token (the token is re-minted once before this is raised)."""


class Forbidden(GitHubError):
    """403 that is not a rate limit: a missing permission ("Resource not accessible by integration"),
    a suspended installation, an archived repository. Never retried."""

    def __init__(self, message: str, status: int = 403, permission: str | None = None) -> None:
        super().__init__(message, status)
        self.permission = permission  # e.g. "issues=write", from x-accepted-github-permissions


class NotFound(GitHubError):
    """404: the repository, issue or installation is gone, or the App lost access to it. Never retried."""


class Gone(GitHubError):
    """410: e.g. issues are disabled on the repository."""


class ValidationFailed(GitHubError):
    """422 with GitHub's message (a review comment outside the diff, a label that exists, ...)."""

    def __init__(self, message: str, status: int = 422, errors: Sequence[Any] = ()) -> None:
        super().__init__(message, status)
        self.errors = tuple(errors)  # GitHub's `errors` list as sent (dicts with resource/field/code, or strings)

    @property
    def codes(self) -> set[str]:
        return {str(err.get("code")) for err in self.errors if isinstance(err, dict) and err.get("code")}


class RateLimited(GitHubError):
    """Primary or secondary rate limit that lasts longer than the adapter is willing to wait in-process.
    Transient: the job should be retried by RQ after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float, status: int = 403) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


class GitHubUnavailable(GitHubError):
    """5xx, connection reset or timeout after the adapter's own bounded retries. Transient."""


class TarballTooLarge(GitHubError):
    """The archive passed the size cap while streaming; nothing more was read."""


TRANSIENT_ERRORS: tuple[type[GitHubError], ...] = (RateLimited, GitHubUnavailable)

# ---------------------------------------------------------------- records (plain frozen data, no PyGithub objects)


@dataclass(frozen=True)
class InstallationRecord:
    id: int
    account_login: str
    account_type: str  # "User" or "Organization"
    suspended: bool = False


@dataclass(frozen=True)
class RepoRecord:
    id: int
    full_name: str
    default_branch: str
    private: bool
    archived: bool = False
    has_issues: bool = True


@dataclass(frozen=True)
class IssueRecord:
    number: int
    title: str
    body: str
    state: str  # open, closed
    state_reason: str | None  # completed, not_planned, reopened, duplicate, None
    labels: tuple[str, ...]
    milestone_number: int | None
    user_login: str
    html_url: str
    is_pull_request: bool = False


@dataclass(frozen=True)
class LabelRecord:
    name: str
    color: str
    description: str


@dataclass(frozen=True)
class CommentRecord:
    id: int
    body: str
    user_login: str


@dataclass(frozen=True)
class MilestoneRecord:
    number: int
    title: str
    state: str
    created_at: datetime
    due_on: date | None
    closed_at: datetime | None


@dataclass(frozen=True)
class PullRecord:
    number: int
    state: str
    draft: bool
    head_sha: str
    head_ref: str
    head_repo_full_name: str | None  # None when the fork was deleted
    base_sha: str
    base_ref: str
    html_url: str


@dataclass(frozen=True)
class PullFile:
    filename: str
    status: str  # added, removed, modified, renamed, copied, changed, unchanged
    patch: str | None  # None for binary or too-large diffs
    previous_filename: str | None = None


@dataclass(frozen=True)
class ReviewCommentRecord:
    id: int
    path: str
    line: int | None
    side: str | None
    body: str
    user_login: str
    in_reply_to_id: int | None
    commit_id: str


@dataclass(frozen=True)
class CheckRunRecord:
    id: int
    name: str
    head_sha: str
    status: str
    conclusion: str | None


@dataclass(frozen=True)
class Annotation:
    path: str
    start_line: int
    end_line: int
    annotation_level: str  # notice, warning, failure
    message: str
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "start_line": self.start_line, "end_line": self.end_line,
                "annotation_level": self.annotation_level, "message": self.message,
                **({"title": self.title} if self.title else {})}


@dataclass(frozen=True)
class ReviewCommentDraft:
    path: str
    line: int
    body: str
    side: str = "RIGHT"


@dataclass(frozen=True)
class OAuthUser:
    id: int
    login: str


@dataclass(frozen=True)
class AppCredentials:
    """A GitHub App GitHub has just created from paydown's manifest: everything paydown needs to act as it."""

    app_id: int
    slug: str
    html_url: str
    pem: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    client_id: str
    client_secret: str = field(repr=False)


@dataclass
class RequestLog:
    """What the adapter sent, for logs and the check-run summary (writes counted by method)."""

    writes: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    reads: int = 0



# ---------------------------------------------------------------- the transport: one requester under paydown's policy

_USER_AGENT = "paydown"
_PER_PAGE = 100
_MAX_PAGES = 1000
_TIMEOUT_SECONDS = 30
_MAX_BACKOFF_SECONDS = 30.0
_ANNOTATIONS_PER_REQUEST = 50
_JWT_BACKDATE_SECONDS = 60
_JWT_LIFETIME_SECONDS = 540
_TOKEN_MARGIN_SECONDS = 60.0
_SKEW_TOLERANCE_SECONDS = 30.0
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


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _same_text(a: str | None, b: str | None) -> bool:
    return (a or "").replace("\r\n", "\n") == (b or "").replace("\r\n", "\n")


# ---------------------------------------------------------------- GitHub's JSON to records


def _login(user: Any) -> str:
    return str(user.get("login") or "") if isinstance(user, dict) else ""


def _repo_record(data: dict[str, Any]) -> RepoRecord:
    return RepoRecord(id=int(data["id"]), full_name=str(data["full_name"]),
                      default_branch=str(data.get("default_branch") or "main"), private=bool(data.get("private")),
                      archived=bool(data.get("archived")), has_issues=bool(data.get("has_issues", True)))


def _issue_record(data: dict[str, Any]) -> IssueRecord:
    milestone = data.get("milestone")
    return IssueRecord(
        number=int(data["number"]), title=str(data.get("title") or ""), body=str(data.get("body") or ""),
        state=str(data.get("state") or "open"), state_reason=data.get("state_reason"),
        labels=tuple(str(label["name"] if isinstance(label, dict) else label) for label in data.get("labels") or ()),
        milestone_number=int(milestone["number"]) if isinstance(milestone, dict) else None,
        user_login=_login(data.get("user")), html_url=str(data.get("html_url") or ""),
        is_pull_request="pull_request" in data)


def _label_record(data: dict[str, Any]) -> LabelRecord:
    return LabelRecord(name=str(data["name"]), color=str(data.get("color") or ""),
                       description=str(data.get("description") or ""))


def _comment_record(data: dict[str, Any]) -> CommentRecord:
    return CommentRecord(id=int(data["id"]), body=str(data.get("body") or ""), user_login=_login(data.get("user")))


def _milestone_record(data: dict[str, Any]) -> MilestoneRecord:
    due = _parse_time(data.get("due_on"))
    return MilestoneRecord(number=int(data["number"]), title=str(data.get("title") or ""),
                           state=str(data.get("state") or "open"),
                           created_at=_parse_time(data.get("created_at")) or datetime.fromtimestamp(0, UTC),
                           due_on=due.date() if due else None, closed_at=_parse_time(data.get("closed_at")))


def _pull_record(data: dict[str, Any]) -> PullRecord:
    head, base = data.get("head") or {}, data.get("base") or {}
    head_repo = head.get("repo")
    return PullRecord(number=int(data["number"]), state=str(data.get("state") or "open"),
                      draft=bool(data.get("draft")), head_sha=str(head.get("sha") or ""),
                      head_ref=str(head.get("ref") or ""),
                      head_repo_full_name=str(head_repo["full_name"]) if isinstance(head_repo, dict) else None,
                      base_sha=str(base.get("sha") or ""), base_ref=str(base.get("ref") or ""),
                      html_url=str(data.get("html_url") or ""))


def _pull_file(data: dict[str, Any]) -> PullFile:
    return PullFile(filename=str(data["filename"]), status=str(data.get("status") or "modified"),
                    patch=data.get("patch"), previous_filename=data.get("previous_filename"))


def _review_comment_record(data: dict[str, Any]) -> ReviewCommentRecord:
    line = data.get("line")
    return ReviewCommentRecord(id=int(data["id"]), path=str(data.get("path") or ""),
                               line=int(line) if line is not None else None, side=data.get("side"),
                               body=str(data.get("body") or ""), user_login=_login(data.get("user")),
                               in_reply_to_id=data.get("in_reply_to_id"), commit_id=str(data.get("commit_id") or ""))


def _check_run_record(data: dict[str, Any]) -> CheckRunRecord:
    return CheckRunRecord(id=int(data["id"]), name=str(data.get("name") or ""),
                          head_sha=str(data.get("head_sha") or ""), status=str(data.get("status") or ""),
                          conclusion=data.get("conclusion"))


def _installation_record(data: dict[str, Any]) -> InstallationRecord:
    account = data.get("account") or {}
    return InstallationRecord(id=int(data["id"]), account_login=_login(account),
                              account_type=str(account.get("type") or "User"),
                              suspended=data.get("suspended_at") is not None)


def _app_credentials(data: Any) -> AppCredentials:
    fields = ("id", "slug", "html_url", "pem", "client_id", "client_secret")
    missing = [name for name in fields if not isinstance(data, dict) or not data.get(name)]
    if missing:
        raise GitHubError(f"POST /app-manifests/(code)/conversions: GitHub's answer has no {', '.join(missing)}", 201)
    return AppCredentials(app_id=int(data["id"]), slug=str(data["slug"]), html_url=str(data["html_url"]),
                          pem=str(data["pem"]), webhook_secret=str(data.get("webhook_secret") or ""),
                          client_id=str(data["client_id"]), client_secret=str(data["client_secret"]))


# ---------------------------------------------------------------- the App and one installation


@dataclass
class _Token:
    value: str = field(repr=False)
    refresh_at: float  # time.monotonic() after which a new token is minted


class GitHubApp:
    """The App itself: JWT auth, installation tokens (cached, re-minted before they expire), installations."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] | None = None, retry_backoff_seconds: float = 0.5) -> None:
        self.settings = settings
        self.token_mints = 0
        self._clock = clock or time.time
        self._sleep = sleep or time.sleep
        self._backoff = retry_backoff_seconds
        self._skew = 0.0  # server time minus our clock, learnt from a 401's Date header
        self._lock = threading.RLock()
        self._tokens: dict[int, _Token] = {}
        self._clients: dict[int, InstallationClient] = {}
        self._bot_login: str | None = None
        self._transport = self._new_transport(_CallableJWT(self._jwt), reauthenticate=self._learn_skew)

    def _new_transport(self, auth: github.Auth.Auth, *, reauthenticate: Callable[[Mapping[str, str]], bool],
                       log: RequestLog | None = None) -> _Transport:
        return _Transport(self.settings, self.settings.github_api_url, auth, clock=self._now, sleep=self._sleep,
                          backoff=self._backoff, log=log, reauthenticate=reauthenticate)

    def __enter__(self) -> GitHubApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection (the App's and its installation clients')."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
        self._transport.close()

    # ------------------------------------------------------------ JWT and installation tokens

    def _now(self) -> float:
        return self._clock() + self._skew

    def _jwt(self) -> str:
        if not self.settings.app_configured:
            raise GitHubError("no GitHub App is configured (PAYDOWN_GITHUB_APP_ID and its private key)")
        now = int(self._now())
        payload = {"iat": now - _JWT_BACKDATE_SECONDS, "exp": now + _JWT_LIFETIME_SECONDS,
                   "iss": str(self.settings.github_app_id)}
        try:
            return jwt.encode(payload, str(self.settings.github_private_key), algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError):
            raise GitHubError("the App's private key cannot sign a JWT (is it the App's RSA key?)") from None

    def _learn_skew(self, headers: Mapping[str, str]) -> bool:
        """After a 401 to a JWT: when GitHub's clock differs from ours, sign with GitHub's time and try again."""
        server = _server_time(headers)
        if server is None:
            return False
        skew = server - self._clock()
        if abs(skew - self._skew) < _SKEW_TOLERANCE_SECONDS:
            return False
        log.warning("our clock is %.0f s off GitHub's: JWTs are now signed with GitHub's time", -skew)
        self._skew = skew
        return True

    def _token(self, installation_id: int) -> str:
        with self._lock:
            cached = self._tokens.get(installation_id)
            if cached is not None and time.monotonic() < cached.refresh_at:
                return cached.value
            return self._mint(installation_id)

    def _mint(self, installation_id: int) -> str:
        # Minting is safe to repeat and creates no content: retried like a GET, not paced like a write.
        headers, data = self._transport.json("POST", f"/app/installations/{int(installation_id)}/access_tokens",
                                             idempotent=True, write=False)
        value, expires = str(data["token"]), _parse_time(data.get("expires_at"))
        now = _server_time(headers) or self._now()
        lifetime = expires.timestamp() - now if expires else 3600.0
        # A margin so a token never expires mid-request, small enough that short-lived tokens are still reused.
        margin = min(_TOKEN_MARGIN_SECONDS, max(lifetime, 0.0) / 4)
        self._tokens[installation_id] = _Token(value, time.monotonic() + lifetime - margin)
        self.token_mints += 1
        log.info("minted an installation token for %d (valid %.0f s)", installation_id, lifetime)
        return value

    def _token_rejected(self, installation_id: int) -> bool:
        with self._lock:
            self._tokens.pop(installation_id, None)
        return True

    # ------------------------------------------------------------ the App's own calls

    def bot_login(self) -> str:
        """`<slug>[bot]`: the author of everything paydown writes (GET /app, cached)."""
        if self._bot_login is None:
            _, data = self._transport.json("GET", "/app")
            self._bot_login = f"{data['slug']}[bot]"
        return self._bot_login

    def convert_manifest(self, code: str) -> AppCredentials:
        """The App GitHub created from paydown's manifest (POST /app-manifests/{code}/conversions, no
        authentication). Works without a configured App. Sent once, never again: a code converts only once."""
        if not code or len(code) > 200:
            raise ValueError("a manifest code is 1 to 200 characters")
        # Not sent again after any failure, a rate limit included: the user starts over with a fresh code.
        once = replace(self.settings, request_retries=0, rate_limit_max_wait_seconds=0.0)
        transport = _Transport(once, self.settings.github_api_url, None, clock=self._now, sleep=self._sleep,
                               backoff=self._backoff, pace_writes=False)
        try:
            _, data = transport.json("POST", f"/app-manifests/{urllib.parse.quote(code, safe='')}/conversions",
                                     idempotent=False, write=False, shown_path="/app-manifests/(code)/conversions")
        finally:
            transport.close()
        return _app_credentials(data)

    def get_installation(self, installation_id: int) -> InstallationRecord:
        _, data = self._transport.json("GET", f"/app/installations/{int(installation_id)}")
        return _installation_record(data)

    def list_installation_repositories(self, installation_id: int) -> list[RepoRecord]:
        return self.installation(installation_id).list_repositories()

    def installation(self, installation_id: int) -> InstallationClient:
        """A client acting as that installation (token minted lazily, shared per installation)."""
        with self._lock:
            client = self._clients.get(installation_id)
            if client is None:
                client = self._clients[installation_id] = InstallationClient(self, installation_id)
            return client

    def forget_installation(self, installation_id: int) -> None:
        """Drop the cached token (installation deleted or suspended)."""
        with self._lock:
            self._tokens.pop(installation_id, None)
            client = self._clients.pop(installation_id, None)
        if client is not None:
            client.close()


class InstallationClient:
    """paydown's verbs on one installation's repositories. Every write is paced (`write_gap_seconds`) and an
    `ensure_*` verb compares before it writes: nothing changed, nothing sent."""

    installation_id: int
    log: RequestLog

    def __init__(self, app: GitHubApp, installation_id: int) -> None:
        self.installation_id = installation_id
        self.log = RequestLog()
        self._app = app
        self._t = app._new_transport(_CallableToken(lambda: app._token(installation_id)), log=self.log,
                                     reauthenticate=lambda _headers: app._token_rejected(installation_id))

    def close(self) -> None:
        self._t.close()

    def bot_login(self) -> str:
        """The App's `<slug>[bot]` login: the author of what this client writes."""
        return self._app.bot_login()

    def list_repositories(self) -> list[RepoRecord]:
        """The repositories this installation can access (GET /installation/repositories)."""
        return [_repo_record(r) for r in self._t.pages("/installation/repositories", key="repositories")]

    # repository and code
    def get_repository(self, full_name: str) -> RepoRecord:
        _, data = self._t.json("GET", _repo(full_name))
        return _repo_record(data)

    def head_sha(self, full_name: str, ref: str) -> str:
        """The commit SHA a branch, tag or SHA names now (GET /repos/{o}/{r}/commits/{ref})."""
        _, data = self._t.json("GET", f"{_repo(full_name)}/commits/{urllib.parse.quote(ref, safe='')}")
        return str(data["sha"])

    def download_tarball(self, full_name: str, sha: str, dest: Path, max_bytes: int) -> Path:
        """Stream the tarball of exactly `sha` to the file `dest` (created), at most `max_bytes` (else
        TarballTooLarge). Follows GitHub's 302 to codeload without forwarding Authorization to another host."""
        path = f"{_repo(full_name)}/tarball/{urllib.parse.quote(sha, safe='')}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._t.run("GET", path, lambda: self._stream_tarball(path, dest, max_bytes), idempotent=True,
                        write=False)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        return dest

    def _stream_tarball(self, path: str, dest: Path, max_bytes: int) -> None:
        # `requests` directly (a PyGithub dependency), for this download only: PyGithub's requester cannot follow
        # a redirect to another port, and it keeps Authorization when only the port differs. The token comes from
        # the App's token cache like every other request's.
        api = _origin(self._t.base_url)
        url = self._t.base_url + path
        with requests.Session() as session:
            for _ in range(_MAX_REDIRECTS + 1):
                headers = {"User-Agent": _USER_AGENT, "Accept": "application/vnd.github+json"}
                if _origin(url) == api:
                    headers["Authorization"] = f"token {self._app._token(self.installation_id)}"
                with session.get(url, headers=headers, stream=True, allow_redirects=False,
                                 timeout=_TARBALL_TIMEOUT) as response:
                    location = response.headers.get("location")
                    if response.status_code in _REDIRECTS and location:
                        url = urllib.parse.urljoin(url, location)
                        continue
                    if response.status_code >= 300:
                        raise _Failure(response.status_code, response.headers, _json_or_none(response))
                    _write_capped(response, dest, max_bytes)
                    return
        raise GitHubError(f"GET {_short(path)}: more than {_MAX_REDIRECTS} redirects")

    # issues, labels, comments, milestones
    def list_issues(self, full_name: str, *, labels: Sequence[str] = (), state: str = "all") -> list[IssueRecord]:
        """One paginated listing (never the search API); pull requests are left out."""
        params: dict[str, Any] = {"state": state}
        if labels:
            params["labels"] = ",".join(labels)
        items = self._t.pages(f"{_repo(full_name)}/issues", params=params)
        return [_issue_record(item) for item in items if "pull_request" not in item]

    def get_issue(self, full_name: str, number: int) -> IssueRecord:
        _, data = self._t.json("GET", f"{_repo(full_name)}/issues/{int(number)}")
        return _issue_record(data)

    def create_issue(self, full_name: str, *, title: str, body: str, labels: Sequence[str],
                     marker: str) -> IssueRecord:
        """Create an issue. `marker` is a string the body contains: if the POST fails ambiguously (5xx,
        reset), the adapter lists open and closed issues for the marker before sending again, so no duplicate."""
        if not marker or marker not in body:
            raise ValueError("create_issue needs a marker that the body contains")
        payload = {"title": title, "body": body, "labels": list(labels)}
        retries = self._app.settings.request_retries
        for attempt in range(retries + 1):
            try:
                _, data = self._t.json("POST", f"{_repo(full_name)}/issues", body=payload)
                return _issue_record(data)
            except GitHubUnavailable:
                found = self._issue_with_marker(full_name, labels, marker)
                if found is not None:
                    log.info("%s: the issue was created after all (#%d), not sending again", full_name, found.number)
                    return found
                if attempt == retries:
                    raise
            self._app._sleep(min(self._app._backoff * 2 ** attempt, _MAX_BACKOFF_SECONDS))
        raise AssertionError("unreachable")

    def _issue_with_marker(self, full_name: str, labels: Sequence[str], marker: str) -> IssueRecord | None:
        found = [issue for issue in self.list_issues(full_name, labels=labels, state="all") if marker in issue.body]
        return min(found, key=lambda issue: issue.number) if found else None

    def ensure_issue(self, full_name: str, current: IssueRecord, *, title: str | None = None,
                     body: str | None = None, labels: Sequence[str] | None = None, state: str | None = None,
                     state_reason: str | None = None) -> IssueRecord:
        """PATCH only the given fields that differ from `current` (labels compared as sets); no call when
        none differ. Returns the issue as it now is."""
        changes = _issue_changes(current, title=title, body=body, labels=labels, state=state,
                                 state_reason=state_reason)
        if not changes:
            return current
        _, data = self._t.json("PATCH", f"{_repo(full_name)}/issues/{current.number}", body=changes)
        return _issue_record(data)

    def list_labels(self, full_name: str) -> list[LabelRecord]:
        return [_label_record(item) for item in self._t.pages(f"{_repo(full_name)}/labels")]

    def ensure_label(self, full_name: str, name: str, *, color: str, description: str,
                     existing: Sequence[LabelRecord] | None = None) -> bool:
        """Create the label if missing, update colour/description if different; True when it wrote.
        `existing` (from list_labels) saves a listing per label."""
        color = color.lstrip("#").lower()
        labels = list(existing) if existing is not None else self.list_labels(full_name)
        found = next((label for label in labels if label.name.lower() == name.lower()), None)
        if found is None:
            try:
                self._t.json("POST", f"{_repo(full_name)}/labels",
                             body={"name": name, "color": color, "description": description})
                return True
            except ValidationFailed as err:
                if "already_exists" not in err.codes:
                    raise
            except GitHubUnavailable:
                pass  # maybe created after all: look, then compare
            found = self._get_label(full_name, name)
        if found.color.lower() == color and found.description == description:
            return False
        self._t.json("PATCH", _label_path(full_name, found.name), body={"color": color, "description": description})
        return True

    def _get_label(self, full_name: str, name: str) -> LabelRecord:
        _, data = self._t.json("GET", _label_path(full_name, name))
        return _label_record(data)

    def list_comments(self, full_name: str, number: int) -> list[CommentRecord]:
        items = self._t.pages(f"{_repo(full_name)}/issues/{int(number)}/comments")
        return [_comment_record(item) for item in items]

    def create_comment(self, full_name: str, number: int, body: str) -> CommentRecord:
        _, data = self._t.json("POST", f"{_repo(full_name)}/issues/{int(number)}/comments", body={"body": body})
        return _comment_record(data)

    def ensure_comment(self, full_name: str, number: int, body: str, *, marker: str) -> CommentRecord:
        """The bot's comment containing `marker`, created or edited to `body`; no write when it is equal."""
        if not marker or marker not in body:
            raise ValueError("ensure_comment needs a marker that the body contains")
        found = self._own_comment(full_name, number, marker)
        if found is not None and _same_text(found.body, body):
            return found
        if found is not None:
            _, data = self._t.json("PATCH", f"{_repo(full_name)}/issues/comments/{found.id}", body={"body": body})
            return _comment_record(data)
        try:
            return self.create_comment(full_name, number, body)
        except GitHubUnavailable:
            found = self._own_comment(full_name, number, marker)
            if found is None:
                raise
            return found

    def _own_comment(self, full_name: str, number: int, marker: str) -> CommentRecord | None:
        bot = self._app.bot_login()
        mine = (c for c in self.list_comments(full_name, number) if c.user_login == bot and marker in c.body)
        return next(mine, None)

    def list_milestones(self, full_name: str, *, state: str = "all") -> list[MilestoneRecord]:
        items = self._t.pages(f"{_repo(full_name)}/milestones", params={"state": state})
        return [_milestone_record(item) for item in items]

    # pull requests
    def get_pull(self, full_name: str, number: int) -> PullRecord:
        _, data = self._t.json("GET", f"{_repo(full_name)}/pulls/{int(number)}")
        return _pull_record(data)

    def list_pull_files(self, full_name: str, number: int) -> list[PullFile]:
        return [_pull_file(item) for item in self._t.pages(f"{_repo(full_name)}/pulls/{int(number)}/files")]

    def list_review_comments(self, full_name: str, number: int) -> list[ReviewCommentRecord]:
        items = self._t.pages(f"{_repo(full_name)}/pulls/{int(number)}/comments")
        return [_review_comment_record(item) for item in items]

    def create_review(self, full_name: str, number: int, *, commit_sha: str,
                      comments: Sequence[ReviewCommentDraft], body: str = "", event: str = "COMMENT") -> int:
        """One review with line comments anchored by `line` + `side`. Returns the review id."""
        payload: dict[str, Any] = {
            "commit_id": commit_sha, "event": event,
            "comments": [{"path": c.path, "line": c.line, "side": c.side, "body": c.body} for c in comments]}
        if body:
            payload["body"] = body
        _, data = self._t.json("POST", f"{_repo(full_name)}/pulls/{int(number)}/reviews", body=payload)
        return int(data["id"])

    def reply_to_review_comment(self, full_name: str, number: int, comment_id: int,
                                body: str) -> ReviewCommentRecord:
        _, data = self._t.json("POST", f"{_repo(full_name)}/pulls/{int(number)}/comments",
                               body={"body": body, "in_reply_to": int(comment_id)})
        return _review_comment_record(data)

    # check runs
    def create_check_run(self, full_name: str, *, head_sha: str, name: str, status: str = "in_progress",
                         title: str = "", summary: str = "", external_id: str = "",
                         annotations: Sequence[Annotation] = (), conclusion: str | None = None) -> CheckRunRecord:
        """Create a check run; more than 50 annotations go on in PATCHes that append."""
        batches = _batches(annotations)
        payload: dict[str, Any] = {"name": name, "head_sha": head_sha, "status": status}
        if conclusion is not None:
            payload["conclusion"] = conclusion
        if external_id:
            payload["external_id"] = external_id
        if title or summary or batches:
            payload["output"] = _output(title, summary, None, batches[0] if batches else ())
        try:
            _, data = self._t.json("POST", f"{_repo(full_name)}/check-runs", body=payload)
        except GitHubUnavailable:
            found = self._check_run_with_external_id(full_name, head_sha, name, external_id)
            if found is None:
                raise
            data = found
        record = _check_run_record(data)
        for batch in batches[1:]:
            self._t.json("PATCH", f"{_repo(full_name)}/check-runs/{record.id}",
                         body={"output": _output(title, summary, None, batch)})
        return record

    def _check_run_with_external_id(self, full_name: str, head_sha: str, name: str,
                                    external_id: str) -> dict[str, Any] | None:
        if not external_id:
            return None
        runs = self._t.pages(f"{_repo(full_name)}/commits/{urllib.parse.quote(head_sha, safe='')}/check-runs",
                             params={"check_name": name}, key="check_runs")
        return next((run for run in runs if run.get("external_id") == external_id), None)

    def update_check_run(self, full_name: str, check_run_id: int, *, status: str | None = None,
                         conclusion: str | None = None, title: str | None = None, summary: str | None = None,
                         text: str | None = None, annotations: Sequence[Annotation] = ()) -> None:
        """Update a check run; annotations are sent in batches of 50 (PATCHes append)."""
        path = f"{_repo(full_name)}/check-runs/{int(check_run_id)}"
        batches = _batches(annotations)
        if batches and (title is None or summary is None):
            # GitHub wants the output's title and summary with every batch of annotations.
            _, current = self._t.json("GET", path)
            output = current.get("output") or {}
            title = str(output.get("title") or "") if title is None else title
            summary = str(output.get("summary") or "") if summary is None else summary
        payload: dict[str, Any] = {k: v for k, v in (("status", status), ("conclusion", conclusion)) if v is not None}
        if title is not None or summary is not None or text is not None or batches:
            payload["output"] = _output(title or "", summary or "", text, batches[0] if batches else ())
        if not payload:
            return
        self._t.json("PATCH", path, body=payload)
        for batch in batches[1:]:
            self._t.json("PATCH", path, body={"output": _output(title or "", summary or "", text, batch)})

    def list_check_runs(self, full_name: str, ref: str, *, name: str | None = None) -> list[CheckRunRecord]:
        params = {"check_name": name} if name else {}
        runs = self._t.pages(f"{_repo(full_name)}/commits/{urllib.parse.quote(ref, safe='')}/check-runs",
                             params=params, key="check_runs")
        app_id = self._app.settings.github_app_id
        return [_check_run_record(run) for run in runs
                if (run.get("app") or {}).get("id", app_id) == app_id]


def _issue_changes(current: IssueRecord, *, title: str | None, body: str | None, labels: Sequence[str] | None,
                   state: str | None, state_reason: str | None) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if title is not None and title != current.title:
        changes["title"] = title
    if body is not None and not _same_text(body, current.body):
        changes["body"] = body
    if labels is not None and {n.lower() for n in labels} != {n.lower() for n in current.labels}:
        changes["labels"] = list(labels)
    if state is not None and state != current.state:
        changes["state"] = state
    # A reason matters when the state changes, or for a closed issue (completed vs not planned).
    closed = (state or current.state) == "closed"
    if state_reason is not None and ("state" in changes or (closed and state_reason != current.state_reason)):
        changes["state_reason"] = state_reason
    return changes


def _label_path(full_name: str, name: str) -> str:
    return f"{_repo(full_name)}/labels/{urllib.parse.quote(name, safe='')}"


def _batches(annotations: Sequence[Annotation]) -> list[list[dict[str, Any]]]:
    items = [a.to_dict() for a in annotations]
    return [items[i:i + _ANNOTATIONS_PER_REQUEST] for i in range(0, len(items), _ANNOTATIONS_PER_REQUEST)]


def _output(title: str, summary: str, text: str | None, annotations: Sequence[dict[str, Any]]) -> dict[str, Any]:
    output: dict[str, Any] = {"title": title, "summary": summary}
    if text is not None:
        output["text"] = text
    if annotations:
        output["annotations"] = list(annotations)
    return output


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _write_capped(response: requests.Response, dest: Path, max_bytes: int) -> None:
    declared = _number(response.headers.get("content-length"))
    if declared is not None and declared > max_bytes:
        raise TarballTooLarge(f"the archive is {declared:.0f} bytes, more than the cap of {max_bytes}", 200)
    written = 0
    with dest.open("wb") as out:
        for chunk in response.iter_content(chunk_size=_TARBALL_CHUNK_BYTES):
            written += len(chunk)
            if written > max_bytes:
                raise TarballTooLarge(f"the archive passed the cap of {max_bytes} bytes", 200)
            out.write(chunk)


# ---------------------------------------------------------------- OAuth for the web page (the viewer's own token)


class GitHubOAuth:
    """The OAuth web flow for viewers of the web page and what their token can see."""

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] | None = None,
                 retry_backoff_seconds: float = 0.5) -> None:
        self.settings = settings
        self._sleep = sleep or time.sleep
        self._backoff = retry_backoff_seconds

    def _client(self) -> tuple[str, str]:
        client_id, secret = self.settings.oauth_client_id, self.settings.oauth_client_secret
        if not client_id or not secret:
            raise GitHubError("the GitHub login is not configured (PAYDOWN_GITHUB_CLIENT_ID and _SECRET)")
        return client_id, secret

    def _transport(self, base_url: str, auth: github.Auth.Auth | None) -> _Transport:
        return _Transport(self.settings, base_url, auth, clock=time.time, sleep=self._sleep, backoff=self._backoff,
                          pace_writes=False)

    def authorize_url(self, *, state: str, redirect_uri: str) -> str:
        client_id, _ = self._client()
        query = urllib.parse.urlencode({"client_id": client_id, "redirect_uri": redirect_uri, "state": state,
                                        "allow_signup": "false"})
        return f"{self.settings.github_web_url.rstrip('/')}/login/oauth/authorize?{query}"

    def exchange_code(self, code: str, *, redirect_uri: str, state: str) -> str:
        """The user's access token for an authorization code."""
        client_id, secret = self._client()
        # PyGithub's ApplicationOAuth.get_access_token cannot send redirect_uri: its requester, on the web host.
        transport = self._transport(self.settings.github_web_url, None)
        try:
            _, data = transport.json("POST", "/login/oauth/access_token", headers={"Accept": "application/json"},
                                     body={"client_id": client_id, "client_secret": secret, "code": code,
                                           "redirect_uri": redirect_uri, "state": state},
                                     idempotent=False, write=False)
        finally:
            transport.close()
        if not isinstance(data, dict) or not data.get("access_token"):
            error = str(data.get("error") or "no access_token") if isinstance(data, dict) else "no answer"
            raise Unauthorized(f"GitHub did not accept the authorization code ({error[:100]})", 401)
        return str(data["access_token"])

    def user(self, token: str) -> OAuthUser:
        transport = self._transport(self.settings.github_api_url, github.Auth.Token(token))
        try:
            _, data = transport.json("GET", "/user")
        finally:
            transport.close()
        return OAuthUser(id=int(data["id"]), login=str(data["login"]))

    def accessible_repositories(self, token: str) -> set[str]:
        """full_names the user can see through their installations of this App
        (GET /user/installations, then /user/installations/{id}/repositories)."""
        transport = self._transport(self.settings.github_api_url, github.Auth.Token(token))
        app_id = self.settings.github_app_id
        try:
            installations = [inst for inst in transport.pages("/user/installations", key="installations")
                             if app_id is None or inst.get("app_id", app_id) == app_id]
            return {str(repo["full_name"]) for inst in installations
                    for repo in transport.pages(f"/user/installations/{int(inst['id'])}/repositories",
                                                key="repositories")}
        finally:
            transport.close()
