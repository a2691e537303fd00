"""GitHub's webhook: verify the signature, parse, route to job requests, enqueue; nothing else in the request."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import parse_qs

import redis
from flask import Blueprint, Response, current_app, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge

from .. import store as db
from ..jobs import KEY_PREFIX, AlreadyQueued, JobRequest, enqueue_once, get_queues
from ..logs import fields
from ..policy import CHECK_NAME, SETTINGS_KEY
from ..settings import Settings

log = logging.getLogger("paydown.webhook")

bp = Blueprint("webhook", __name__)

SEEN_SECONDS = 7 * 24 * 3600
READ_CHUNK = 64 * 1024
ZERO_SHA = "0" * 40
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_EVENT_NAME = re.compile(r"^[a-z0-9_]{1,64}$")
_FULL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
_SHA = re.compile(r"^[0-9a-f]{40}$")


class BadDelivery(Exception):
    """A delivery paydown will not take: `status` is the HTTP answer, `reason` a short public text."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Event:
    name: str
    action: str | None
    delivery_id: str
    payload: dict[str, Any]


# ---------------------------------------------------------------- sansio: signature, parsing, routing


def signature_of(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secret: str) -> bool:
    """True when `header` is GitHub's `X-Hub-Signature-256` of `body` under `secret` (constant-time compare)."""
    if not header or not secret:
        return False
    return hmac.compare_digest(signature_of(body, secret).encode("ascii"), header.strip().encode("utf-8", "replace"))


class HeaderItems(Protocol):
    """A delivery's headers as anything listing them: a dict, or Flask's request.headers."""

    def items(self) -> Iterable[tuple[str, str]]: ...


def parse_event(headers: HeaderItems, body: bytes) -> Event:
    """The event in a (verified) delivery. Raises BadDelivery(415) for a content type GitHub does not send,
    BadDelivery(400) for missing headers or a body that is not a JSON object.

    Both content types GitHub offers are accepted: application/json and form-encoded `payload=<json>`."""
    lower = {key.lower(): value for key, value in headers.items()}
    name, delivery_id = lower.get("x-github-event", "").strip(), lower.get("x-github-delivery", "").strip()
    if not name or not _EVENT_NAME.match(name):
        raise BadDelivery(400, "missing or malformed X-GitHub-Event header")
    if not delivery_id or not _DELIVERY_ID.match(delivery_id):
        raise BadDelivery(400, "missing or malformed X-GitHub-Delivery header")
    payload = _payload(lower.get("content-type", ""), body)
    action = payload.get("action")
    return Event(name, action if isinstance(action, str) else None, delivery_id, payload)


def _payload(content_type: str, body: bytes) -> dict[str, Any]:
    mimetype = content_type.split(";", 1)[0].strip().lower()
    if mimetype == "application/x-www-form-urlencoded":
        try:  # GitHub sends one field; the cap keeps a hostile body from making a dictionary of thousands
            values = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10).get("payload")
        except ValueError:
            raise BadDelivery(400, "form-encoded delivery with more than 10 fields") from None
        if not values:
            raise BadDelivery(400, "form-encoded delivery without a payload field")
        body = values[0].encode("utf-8")
    elif mimetype != "application/json":
        raise BadDelivery(415, "expected Content-Type application/json")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise BadDelivery(400, "body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise BadDelivery(400, "body is not a JSON object")
    return payload


Handler = Callable[[Event], Iterable[JobRequest]]


class Router:
    """Handlers per (event, action); `Router(*routers)` composes the per-concern routers (gidgethub style)."""

    def __init__(self, *routers: Router) -> None:
        self._handlers: dict[tuple[str, str | None], list[Handler]] = {}
        for other in routers:
            for key, handlers in other._handlers.items():
                self._handlers.setdefault(key, []).extend(handlers)

    def register(self, event: str, action: str | None = None) -> Callable[[Handler], Handler]:
        """Decorator: call the handler for `event` (any action when `action` is None)."""

        def add(handler: Handler) -> Handler:
            self._handlers.setdefault((event, action), []).append(handler)
            return handler

        return add

    def handles(self, event: Event) -> bool:
        return bool(self._matching(event))

    def route(self, event: Event) -> list[JobRequest]:
        """Every job request the event's handlers ask for (empty: nothing to do)."""
        return [request for handler in self._matching(event) for request in handler(event)]

    def _matching(self, event: Event) -> list[Handler]:
        handlers = list(self._handlers.get((event.name, None), []))
        if event.action is not None:
            handlers += self._handlers.get((event.name, event.action), [])
        return handlers


# ---------------------------------------------------------------- payload fields (never payload URLs)


def installation_id(payload: Mapping[str, Any]) -> int | None:
    installation = payload.get("installation")
    if not isinstance(installation, dict):
        return None
    value = installation.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _checked_name(value: Any) -> str:
    if not isinstance(value, str) or not _FULL_NAME.match(value):
        raise ValueError("repository full_name is malformed")
    return value


def _full_name(payload: Mapping[str, Any]) -> str:
    return _checked_name(payload["repository"]["full_name"])


def _sha(value: Any) -> str:
    if not isinstance(value, str) or not _SHA.match(value):
        raise ValueError("commit sha is malformed")
    return value


def _number(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError("number is malformed")
    return value


def _names(repositories: Any) -> list[str]:
    return sorted({_checked_name(repo["full_name"]) for repo in repositories or []})


def _names_key(names: list[str]) -> str:
    joined = ",".join(names)
    return joined if len(joined) <= 200 else hashlib.sha256(joined.encode()).hexdigest()[:24]


def _pick(value: Any, names: tuple[str, ...]) -> dict[str, Any] | None:
    return {name: value.get(name) for name in names} if isinstance(value, dict) else None


# ---------------------------------------------------------------- handlers, per concern

installations = Router()
scans = Router()
reviews = Router()
sprints = Router()


@installations.register("installation")
def _installation(event: Event) -> list[JobRequest]:
    iid = installation_id(event.payload)
    if event.action in ("created", "new_permissions_accepted", "unsuspend"):
        return [JobRequest("install", f"install:{iid}", {"installation_id": iid})]
    if event.action == "deleted":
        return [JobRequest("forget_installation", f"forget_installation:{iid}", {"installation_id": iid})]
    if event.action == "suspend":
        return [JobRequest("forget_installation", f"forget_installation:{iid}",
                           {"installation_id": iid, "suspended": True})]
    return []


@installations.register("installation_repositories")
def _installation_repositories(event: Event) -> list[JobRequest]:
    iid = installation_id(event.payload)
    if event.action == "added":
        names = _names(event.payload.get("repositories_added"))
        kind = "install"
    elif event.action == "removed":
        names = _names(event.payload.get("repositories_removed"))
        kind = "forget_repositories"
    else:
        return []
    if not names:
        return []
    # Keyed by the repository set, so a pending full install is never narrowed to a few repositories.
    return [JobRequest(kind, f"{kind}:{iid}:{_names_key(names)}", {"installation_id": iid, "repositories": names})]


@scans.register("push")
def _push(event: Event) -> list[JobRequest]:
    payload = event.payload
    repo = payload["repository"]
    ref, after = payload.get("ref"), payload.get("after")
    if payload.get("deleted") or after == ZERO_SHA or not isinstance(repo.get("default_branch"), str):
        return []
    if ref != "refs/heads/" + repo["default_branch"]:
        return []
    name = _full_name(payload)
    return [JobRequest("scan", f"scan:{name}", {"installation_id": installation_id(payload), "repository": name,
                                                 "sha": _sha(after), "ref": ref})]


@reviews.register("pull_request")
def _pull_request(event: Event) -> list[JobRequest]:
    if event.action not in ("opened", "synchronize", "reopened", "ready_for_review"):
        return []
    pull = event.payload["pull_request"]
    if pull.get("state") == "closed":
        return []
    if pull.get("draft") and event.action != "ready_for_review":
        return []
    name, number = _full_name(event.payload), _number(pull["number"])
    return [JobRequest("review", f"review:{name}#{number}", {
        "installation_id": installation_id(event.payload), "repository": name, "pull_number": number,
        "head_sha": _sha(pull["head"]["sha"])})]


def _rerun(event: Event, unit: Mapping[str, Any]) -> list[JobRequest]:
    name, head_sha = _full_name(event.payload), _sha(unit["head_sha"])
    numbers = sorted({_number(pull["number"]) for pull in unit.get("pull_requests") or []})
    return [JobRequest("rerun", f"rerun:{name}:{head_sha}", {
        "installation_id": installation_id(event.payload), "repository": name, "head_sha": head_sha,
        "pull_numbers": numbers})]


@reviews.register("check_run", action="rerequested")
def _check_run_rerequested(event: Event) -> list[JobRequest]:
    run = event.payload["check_run"]
    return _rerun(event, run) if run.get("name") == CHECK_NAME else []


@reviews.register("check_suite", action="rerequested")
def _check_suite_rerequested(event: Event) -> list[JobRequest]:
    return _rerun(event, event.payload["check_suite"])


MILESTONE_FIELDS = ("number", "title", "due_on", "created_at", "state")
ISSUE_ACTIONS = ("opened", "edited", "closed", "reopened", "deleted", "milestoned", "demilestoned", "labeled",
                 "unlabeled")


def _issue(issue: Mapping[str, Any]) -> dict[str, Any]:
    user = issue.get("user")
    return {
        "number": _number(issue["number"]),
        "title": issue.get("title"),
        "state": issue.get("state"),
        "state_reason": issue.get("state_reason"),
        "labels": [label["name"] for label in issue.get("labels") or [] if isinstance(label, dict)],
        "milestone": _pick(issue.get("milestone"), MILESTONE_FIELDS),
        "user": user.get("login") if isinstance(user, dict) else None,
        "body": issue.get("body"),
        "closed_at": issue.get("closed_at"),
        "updated_at": issue.get("updated_at"),
    }


@sprints.register("issues")
def _issues(event: Event) -> list[JobRequest]:
    if event.action not in ISSUE_ACTIONS:
        return []
    milestone = (_pick(event.payload.get("milestone"), MILESTONE_FIELDS)
                 if event.action in ("milestoned", "demilestoned") else None)
    return [JobRequest("issue_event", f"issue_event:{event.delivery_id}", {
        "installation_id": installation_id(event.payload), "repository": _full_name(event.payload),
        "delivery_id": event.delivery_id, "action": event.action, "issue": _issue(event.payload["issue"]),
        "milestone": milestone})]


@sprints.register("milestone")
def _milestone(event: Event) -> list[JobRequest]:
    if event.action not in ("created", "opened", "edited", "closed", "deleted"):
        return []
    milestone = _pick(event.payload["milestone"], ("number", "title", "state", "due_on", "created_at", "closed_at"))
    if milestone is None:
        raise ValueError("milestone is malformed")
    milestone["number"] = _number(milestone["number"])
    return [JobRequest("milestone_event", f"milestone_event:{event.delivery_id}", {
        "installation_id": installation_id(event.payload), "repository": _full_name(event.payload),
        "delivery_id": event.delivery_id, "action": event.action, "milestone": milestone})]


router = Router(installations, scans, reviews, sprints)


# ---------------------------------------------------------------- the Flask view


def _answer(status: int, state: str, **extra: Any) -> Response:
    return Response(json.dumps({"status": state, **extra}), status, mimetype="application/json")


def _read_body(limit: int) -> bytes | None:
    """The raw body, or None when it is larger than `limit` (decided from Content-Length before reading)."""
    length = request.content_length
    if length is not None and length > limit:
        return None
    body = bytearray()
    try:
        # Never more than limit + 1 bytes in memory, whatever the stream (chunked, endless, short reads).
        while len(body) <= limit:
            chunk = request.stream.read(min(READ_CHUNK, limit + 1 - len(body)))
            if not chunk:
                break
            body += chunk
    except RequestEntityTooLarge:
        return None
    return None if len(body) > limit else bytes(body)


def _header_id() -> str:
    return request.headers.get("X-GitHub-Delivery", "")[:64]


def _repository(event: Event) -> str | None:
    repo = event.payload.get("repository")
    name = repo.get("full_name") if isinstance(repo, dict) else None
    return name if isinstance(name, str) else None


def _meta(event: Event) -> dict[str, Any]:
    return {"event": event.name, "action": event.action, "delivery": event.delivery_id,
            "repository": _repository(event), "installation": installation_id(event.payload)}


@bp.post("/webhook")
def receive() -> Response:
    settings: Settings = current_app.config[SETTINGS_KEY]
    length, signature = request.content_length, request.headers.get("X-Hub-Signature-256")
    if length is not None and length > settings.max_body_bytes:
        return _answer(413, "too large")
    if not settings.webhook_secret:
        log.warning("webhook delivery refused: no webhook secret is configured")
        return _answer(401, "bad signature")
    if not signature:  # refused before reading a body nobody signed
        log.warning("webhook delivery without a signature", extra=fields(delivery=_header_id()))
        return _answer(401, "bad signature")
    body = _read_body(settings.max_body_bytes)
    if body is None:
        return _answer(413, "too large")
    if not verify_signature(body, signature, settings.webhook_secret):
        log.warning("webhook signature mismatch", extra=fields(delivery=_header_id()))
        return _answer(401, "bad signature")
    try:
        event = parse_event(request.headers, body)
    except BadDelivery as bad:
        log.info("webhook delivery refused", extra=fields(reason=bad.reason))
        return _answer(bad.status, "refused", reason=bad.reason)
    if event.name == "ping":
        return _answer(200, "pong")
    return _intake(event, settings)


def _intake(event: Event, settings: Settings) -> Response:
    meta = _meta(event)
    if not router.handles(event):
        log.info("webhook event ignored", extra=fields(meta))
        return _answer(202, "ignored")
    if meta["installation"] is None:
        log.info("webhook event without an installation ignored", extra=fields(meta))
        return _answer(202, "ignored")
    try:
        requests = router.route(event)
    except (KeyError, TypeError, ValueError, AttributeError):
        log.warning("webhook payload lacks expected fields", extra=fields(meta))
        return _answer(400, "refused", reason="payload does not have the expected fields")
    if not requests:
        log.info("webhook event ignored", extra=fields(meta))
        return _answer(202, "ignored")
    return _enqueue_once(event, requests, settings, meta)


def _enqueue_once(event: Event, requests: list[JobRequest], settings: Settings, meta: dict[str, Any]) -> Response:
    """Queue the delivery's jobs unless it was queued before. The delivery's claim is written in one Redis
    transaction with its jobs and pending markers, so an intake that fails at any step leaves nothing behind:
    GitHub's redelivery is queued, and the repository's next push is not folded into a job that does not exist."""
    queues = get_queues(current_app)
    claim = f"{KEY_PREFIX}delivery:{event.delivery_id}"
    try:
        with db.get_store(current_app).session(readonly=True) as session:
            seen = db.delivery_seen(session, event.delivery_id)
        if seen:
            log.info("webhook delivery already recorded", extra=fields(meta))
            return _answer(202, "duplicate")
        job_ids = enqueue_once(queues, requests, delivery_id=event.delivery_id, settings=settings, once=claim,
                               once_seconds=SEEN_SECONDS)
    except AlreadyQueued:
        log.info("webhook delivery already taken", extra=fields(meta))
        return _answer(202, "duplicate")
    except (redis.RedisError, SQLAlchemyError) as err:
        log.error("webhook intake failed", extra=fields(meta, error=type(err).__name__))
        return _answer(503, "unavailable")
    except Exception:
        log.exception("webhook intake failed unexpectedly", extra=fields(meta))
        return _answer(500, "error")
    queued = [job_id for job_id in job_ids if job_id is not None]
    _record(event, queued, meta)
    log.info("webhook delivery queued", extra=fields(meta, jobs=queued, coalesced=len(job_ids) - len(queued)))
    return _answer(202, "queued", queued=queued, coalesced=len(job_ids) - len(queued))


def _record(event: Event, job_ids: list[str], meta: dict[str, Any]) -> None:
    """The delivery row, after its jobs are queued; if the database fails now the work is still queued, and the
    Redis claim written with the jobs keeps a redelivery from queueing it twice."""
    try:
        with db.get_store(current_app).session() as session:
            db.record_delivery(session, event.delivery_id, event=event.name, action=event.action,
                               installation_id=meta["installation"], repository=meta["repository"], job_ids=job_ids)
    except SQLAlchemyError:
        log.exception("webhook delivery queued but not recorded", extra=fields(meta))
    _prune_deliveries()


PRUNE_EVERY_SECONDS = 3600


def _prune_deliveries() -> None:
    """Forget delivery rows older than the retention (PAYDOWN_DELIVERY_RETENTION_DAYS, past GitHub's redelivery
    window), at most once an hour across every serve process (a Redis claim), on the request that claims it."""
    settings: Settings = current_app.config[SETTINGS_KEY]
    try:
        if not get_queues(current_app).connection.set(f"{KEY_PREFIX}prune:deliveries", 1, nx=True,
                                                      ex=PRUNE_EVERY_SECONDS):
            return
        with db.get_store(current_app).session() as session:
            pruned = db.prune_deliveries(session, older_than=db.utcnow() - timedelta(
                days=settings.delivery_retention_days))
    except (redis.RedisError, SQLAlchemyError):
        log.exception("old delivery rows not pruned")
        return
    if pruned:
        log.info("old delivery rows pruned", extra=fields(pruned=pruned, days=settings.delivery_retention_days))
