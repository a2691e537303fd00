"""RQ jobs: importable functions of ids, coalesced per logical key, retried on transient GitHub failures.

The webhook turns deliveries into `JobRequest`s and calls `enqueue`. Each request has a logical key ("scan:o/r",
"review:o/r#12"): the newest arguments for a key are kept in Redis and at most one job per key waits in a queue,
so ten pushes in a row scan only the newest head. A job reads the newest arguments when it starts. Every write
a job makes is idempotent (the store's unique rows, the GitHub adapter's compare-before-write), so a job that
runs again after its worker was killed does no harm.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import redis
from redis.client import Pipeline
from rq import Callback, Retry, get_current_job
from rq.job import Job

from .. import backlog, review
from .. import store as db
from ..github import TRANSIENT_ERRORS, GitHubApp, GitHubError, InstallationClient
from ..logs import fields
from ..settings import Settings
from ..store import CheckRun, Installation, Repository, Scan
from . import scanning
from .queues import KEY_PREFIX, JobLock, Queues, connect, job_is_live, queues_for, release_owned

log = logging.getLogger("paydown.jobs")


@dataclass(frozen=True)
class JobRequest:
    """Work a delivery asks for: `kind` names the job, `key` is the logical work it coalesces on."""

    kind: str
    key: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobKind:
    """A kind of job: the function a worker runs and the queue it waits in. `JOBS`, at the end of this module,
    lists them all."""

    name: str
    queue: str
    function: Callable[..., Any]


def _latest_key(key: str) -> str:
    return f"{KEY_PREFIX}latest:{key}"


def _pending_key(key: str) -> str:
    return f"{KEY_PREFIX}pending:{key}"


class AlreadyQueued(Exception):
    """`enqueue_once` found its `once` key: this work was queued before."""


ENQUEUE_ATTEMPTS = 10  # a transaction runs again when a key it read changed meanwhile (another intake, a job start)
LATEST_SECONDS = 7 * 24 * 3600


def enqueue(queues: Queues, request: JobRequest, *, delivery_id: str, settings: Settings | None = None) -> str | None:
    """Queue the request, or fold it into the live job already waiting for the same key. Returns the new job's id,
    or None when it coalesced. Raises redis.RedisError when Redis fails (then nothing was written)."""
    return enqueue_once(queues, [request], delivery_id=delivery_id, settings=settings)[0]


def enqueue_once(queues: Queues, requests: list[JobRequest], *, delivery_id: str, settings: Settings | None = None,
                 once: str | None = None, once_seconds: int = 0) -> list[str | None]:
    """Queue each request, or fold it into the live job already waiting for its key, in one Redis transaction
    with the newest arguments, the pending markers and, with `once`, a key saying this work is queued.

    All of it is written or none of it: a failure leaves no pending marker without its job and no `once` key
    without its jobs, so GitHub's redelivery is queued and the repository's next push is not folded into nothing.
    A marker naming a job that is over or gone counts as absent. Returns each request's new job id (None: it
    coalesced); raises AlreadyQueued when `once` exists, and redis.RedisError when Redis fails.
    """
    with queues.connection.pipeline() as pipe:
        for _ in range(ENQUEUE_ATTEMPTS):
            try:
                return _enqueue_watched(pipe, queues, requests, delivery_id, settings, once, once_seconds)
            except redis.WatchError:
                continue
    raise redis.WatchError(f"pending markers kept changing during {ENQUEUE_ATTEMPTS} attempts to enqueue")


def _enqueue_watched(pipe: Pipeline, queues: Queues, requests: list[JobRequest], delivery_id: str,
                     settings: Settings | None, once: str | None, once_seconds: int) -> list[str | None]:
    markers = list(dict.fromkeys(_pending_key(request.key) for request in requests))
    pipe.watch(*markers, *([once] if once else []))  # any change to these before EXEC makes the transaction retry
    if once is not None and pipe.exists(once):
        raise AlreadyQueued(once)
    waiting = {marker: _live_job(pipe, marker) for marker in markers}
    pipe.multi()
    job_ids: list[str | None] = []
    for request in requests:
        marker = _pending_key(request.key)
        pipe.set(_latest_key(request.key), json.dumps(request.kwargs), ex=LATEST_SECONDS)
        if waiting[marker] is not None:
            job_ids.append(None)
            continue
        job_id = waiting[marker] = f"{request.kind}-{uuid.uuid4().hex}"
        _add_job(pipe, queues, request, job_id, delivery_id, settings)
        job_ids.append(job_id)
    if once is not None:
        pipe.set(once, "queued", ex=once_seconds)
    pipe.execute()
    for request, queued in zip(requests, job_ids, strict=True):
        if queued is None:
            log.info("coalesced", extra=fields(key=request.key, delivery=delivery_id))
    return job_ids


def _live_job(pipe: Pipeline, marker: str) -> str | None:
    """The job a pending marker names, when it still waits or runs; None for no marker or a stale one."""
    raw = pipe.get(marker)
    if raw is None:
        return None
    job_id = raw.decode() if isinstance(raw, bytes) else str(raw)
    if job_is_live(pipe, job_id):
        return job_id
    log.info("pending marker names a job that is over; queueing anew", extra=fields(marker=marker, job=job_id))
    return None


def _add_job(pipe: Pipeline, queues: Queues, request: JobRequest, job_id: str, delivery_id: str,
             settings: Settings | None) -> None:
    kind = JOBS[request.kind]
    timeout = (settings.job_timeout_seconds if settings else 1800)
    retry = Retry(max=len(settings.retry_intervals), interval=list(settings.retry_intervals)) if settings \
        else Retry(max=3, interval=[10, 60, 300])
    pipe.set(_pending_key(request.key), job_id, ex=2 * timeout + 600)
    queues.by_name(kind.queue).enqueue_call(
        kind.function,  # RQ stores its dotted name; paydown.service.jobs.<name> (the earlier one) resolves too
        kwargs={"key": request.key, **request.kwargs},
        job_id=job_id,
        timeout=timeout,
        retry=retry,
        on_failure=Callback(record_failure),
        meta={"delivery_id": delivery_id, "kind": request.kind, "key": request.key},
        failure_ttl=30 * 24 * 3600,
        pipeline=pipe,
    )


def _take_latest(key: str, given: dict[str, Any]) -> dict[str, Any]:
    """Clear this key's pending marker, then read the newest arguments for it. An intake folding arguments into this
    job watches the marker, so one whose transaction ends after the marker is gone queues a job of its own."""
    conn = context().redis
    conn.delete(_pending_key(key))
    raw = conn.get(_latest_key(key))
    if not raw:
        return given
    try:
        newest = json.loads(raw)
    except ValueError:
        return given
    return {**given, **newest} if isinstance(newest, dict) else given


# ---------------------------------------------------------------- the worker's context


@dataclass
class JobContext:
    settings: Settings
    store: db.Store
    redis: redis.Redis
    app: GitHubApp
    queues: Queues

    def client(self, installation_id: int) -> InstallationClient:
        return self.app.installation(installation_id)


_context: JobContext | None = None


def init_worker(settings: Settings, *, store: db.Store | None = None, connection: redis.Redis | None = None,
                app: GitHubApp | None = None) -> JobContext:
    """The one set-up of a worker process: its settings, store, Redis and GitHub App, built once (RQ forks a work
    horse per job; they inherit it). `paydown worker` calls it; a job run without it sets up from the environment."""
    global _context
    connection = connection if connection is not None else connect(settings)
    if store is None:
        store = db.Store(settings.database_url)
        store.migrate()
    # RQ forks a work horse per job: the child must open its own database connections, never share the parent's.
    os.register_at_fork(after_in_child=lambda: store.engine.dispose(close=False))
    _context = JobContext(settings, store, connection, app or GitHubApp(settings), queues_for(connection))
    return _context


def context() -> JobContext:
    if _context is None:
        return init_worker(Settings.from_env())
    return _context


def reset_context() -> None:
    global _context
    if _context is not None:
        _context.app.close()
    _context = None


@contextmanager
def repository_lock(name: str, timeout: float) -> Iterator[None]:
    """Two syncs of one repository never run at once (the backlog and review writes would race). The lock belongs
    to the running job: if its work horse is killed, the retry or the next job takes it over (see JobLock)."""
    job = get_current_job()
    with JobLock(context().redis, name, owner=job.id if job is not None else None).held(wait=timeout):
        yield


def _sync_lock(repository: str) -> str:
    return repository


def _review_lock(repository: str, pull_number: int) -> str:
    return f"{repository}#{pull_number}"


def _release_locks(connection: redis.Redis, job: Job, kwargs: dict[str, Any]) -> None:
    repository = kwargs.get("repository")
    if not isinstance(repository, str):
        return
    names = [_sync_lock(repository)]
    if kwargs.get("pull_number"):
        names.append(_review_lock(repository, int(kwargs["pull_number"])))
    try:
        release_owned(connection, names, job.id)
    except redis.RedisError:  # they expire on their own within a minute
        log.warning("could not release a failed job's locks", extra=fields(job=job.id))


def _job_meta() -> dict[str, Any]:
    job = get_current_job()
    return dict(job.meta) if job is not None else {}


def _permanent(kind: str, repository: str | None, sha: str | None, err: Exception) -> None:
    """A failure that retrying cannot fix (access lost, validation): record it and end the job cleanly."""
    job = get_current_job()
    with context().store.session() as session:
        db.record_job_failure(session, job_id=job.id if job else "inline", job_kind=kind, repository=repository,
                              commit_sha=sha, reason=str(err), retrying=False)
    log.warning("job ended without retry", extra=fields(kind=kind, repository=repository, reason=str(err)))


def record_failure(job: Job, connection: redis.Redis, exc_type: type, exc: BaseException, tb: Any) -> None:
    """RQ's failure callback, for a job that raised and for an abandoned job (its whole worker gone): release the
    locks it held, keep the reason, and complete a review's check run or fail a scan when no retry is left.

    RQ does not call it when only a work horse is killed under a live worker; then the retry (or the next job)
    takes the lock over at once (JobLock) and fails the scan the killed attempt left (`_note_scanning`)."""
    retrying = bool(job.retries_left)
    kwargs = job.kwargs or {}
    kind = job.meta.get("kind", "?")
    reason = f"{exc_type.__name__}: {exc}" if str(exc) else exc_type.__name__
    _release_locks(connection, job, kwargs)  # the attempt is over: nothing waits for a lock it held
    ctx = context()
    with ctx.store.session() as session:
        db.record_job_failure(session, job_id=job.id, job_kind=kind, repository=kwargs.get("repository"),
                              commit_sha=kwargs.get("sha") or kwargs.get("head_sha"), reason=reason,
                              retrying=retrying)
    log.error("job failed", extra=fields(kind=kind, job=job.id, retrying=retrying))
    if retrying:
        return
    if kind == "scan":
        _fail_unfinished_scan(ctx, {**kwargs, "sha": _scanned_by(connection, job) or kwargs.get("sha")}, reason)
    if kind != "review":
        return
    try:
        _fail_review_check(ctx, kwargs, reason)
    except Exception:
        log.exception("could not complete the check run of a failed review")


class WorkHorseKilled(Exception):
    """The process running a job died from a signal (the OOM killer, SIGKILL) or exited without finishing it."""


def horse_killed(job: Job, pid: int, status: int, rusage: Any) -> None:
    """RQ's handler for a work horse that died under a live worker, where RQ runs no failure callback: the same
    bookkeeping as a failure (locks released, the reason kept, the scan failed when no retry is left)."""
    how = (f"killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
           else f"exited with status {os.WEXITSTATUS(status)}" if os.WIFEXITED(status) else f"ended ({status})")
    try:
        record_failure(job, job.connection, WorkHorseKilled, WorkHorseKilled(f"the job's process was {how}"), None)
    except Exception:  # RQ calls this in the worker itself, unguarded: a raise here would end the worker
        log.exception("could not record a killed job", extra=fields(job=job.id))


def _fail_unfinished_scan(ctx: JobContext, kwargs: dict[str, Any], reason: str) -> None:
    """A scan job out of retries (timed out, its worker killed): its scan says why instead of "running"."""
    with ctx.store.session() as session:
        repo = db.repository_by_name(session, kwargs.get("repository") or "")
        scan = db.scan_by_sha(session, repo.id, kwargs.get("sha") or "") if repo is not None else None
        if scan is not None and scan.status != "succeeded":
            db.fail_scan(session, scan.id, reason)


# ---------------------------------------------------------------- jobs


def _repository_row(session: Any, client: InstallationClient, installation_id: int, full_name: str) -> Any:
    repo = db.repository_by_name(session, full_name)
    if repo is None or repo.installation_id != installation_id:
        repo = db.upsert_repository(session, client.get_repository(full_name), installation_id)
    return repo


def _installed(session: Any, installation_id: int) -> bool:

    installation = session.get(Installation, installation_id)
    return installation is not None and not installation.suspended


def _guarded(kind: str, repository: str | None, sha: str | None, work: Callable[[], Any]) -> Any:
    try:
        return work()
    except TRANSIENT_ERRORS:
        raise  # RQ's Retry reschedules the job with backoff
    except (GitHubError, scanning.ScanFailed) as err:  # access lost, validation, a refused archive
        _permanent(kind, repository, sha, err)
        return None


def run_scan(key: str, installation_id: int, repository: str, sha: str, ref: str | None = None,
             trigger: str = "push") -> int | None:
    """Scan one commit of a repository's default branch, update the findings' lifecycle and the backlog."""
    args = _take_latest(key, {"installation_id": installation_id, "repository": repository, "sha": sha,
                              "ref": ref, "trigger": trigger})
    _note_scanning(args["repository"], args["sha"])
    return _guarded("scan", args["repository"], args["sha"], lambda: _scan(**args))


def _scanning_key(job_id: str) -> str:
    return f"{KEY_PREFIX}scanning:{job_id}"


def _note_scanning(repository: str, sha: str) -> None:
    """Keep which commit this attempt of the job scans (in its own key: RQ re-saves a retried job's meta from the
    worker's copy, which never saw the horse's). When an earlier attempt (its horse killed, or a transient failure)
    left another commit's scan unfinished and this one scans a newer commit, that scan is failed."""
    job = get_current_job()
    if job is None:
        return
    conn, key = context().redis, _scanning_key(job.id)
    earlier = cast("bytes | None", conn.get(key))  # the connection answers bytes
    if earlier and earlier.decode() != sha:
        _fail_unfinished_scan(context(), {"repository": repository, "sha": earlier.decode()},
                              db.superseded_reason(sha))
    conn.set(key, sha, ex=2 * int(job.timeout or 1800) + 600)


def _scanned_by(connection: redis.Redis, job: Job) -> str | None:
    try:
        raw = cast("bytes | None", connection.get(_scanning_key(job.id)))
    except redis.RedisError:
        return None
    return raw.decode() if raw else None


def _scan(installation_id: int, repository: str, sha: str, ref: str | None, trigger: str) -> int | None:
    ctx = context()
    with ctx.store.session() as session:
        if not _installed(session, installation_id):
            log.info("scan skipped: installation gone", extra=fields(repository=repository))
            return None
    client = ctx.client(installation_id)
    with ctx.store.session() as session:
        repo = _repository_row(session, client, installation_id, repository)
        session.expunge(repo)
    scan_id = scanning.scan_commit(ctx.store, client, repo, sha, ctx.settings, trigger=trigger, ref=ref)
    with ctx.store.session() as session:
        scan = db.scan_by_sha(session, repo.id, sha)
        repo_row = db.repository_by_name(session, repository)
        if scan is None or repo_row is None:  # the repository was forgotten (uninstalled) while it was scanned
            raise LookupError(f"{repository} is no longer in the store after its scan of {sha}")
        db.update_lifecycle(session, repo_row, scan)
        stale = db.supersede_unfinished(session, scan)
    if stale:
        log.info("unfinished older scans failed", extra=fields(repository=repository, scans=stale, sha=sha))
    _sync_backlog(ctx, client, repository, scan_id)
    return scan_id


def _sync_backlog(ctx: JobContext, client: InstallationClient, repository: str, scan_id: int) -> None:

    with repository_lock(_sync_lock(repository), ctx.settings.job_timeout_seconds), \
            ctx.store.session() as session:
        scan = session.get(Scan, scan_id)
        repo = db.repository_by_name(session, repository)
        if repo is None or scan is None or repo.lifecycle_scan_id != scan.id:
            # The lifecycle already reflects a newer commit (a late replay): its own job syncs the backlog.
            log.info("backlog sync skipped: a newer scan is applied", extra=fields(repository=repository))
            return
        backlog.sync_backlog(session, client, repo, scan, scanning.repo_config(scan), ctx.settings,
                             bot_login=client.bot_login())


def run_install(key: str, installation_id: int, repositories: list[str] | None = None) -> list[str]:
    """Record an installation and its repositories, and queue a scan of each default branch's head."""
    _take_latest(key, {})
    # An installation deleted while this job waited answers 404/401: recorded, not retried.
    return _guarded("install", None, None, lambda: _install(installation_id, repositories)) or []


def _install(installation_id: int, repositories: list[str] | None) -> list[str]:
    ctx = context()
    record = ctx.app.get_installation(installation_id)
    repos = ctx.app.list_installation_repositories(installation_id)
    client = ctx.client(installation_id)
    queued: list[str] = []
    with ctx.store.session() as session:
        db.upsert_installation(session, record)
        for repo in repos:
            db.upsert_repository(session, repo, installation_id)
    wanted = set(repositories) if repositories else None
    for repo in repos:
        if wanted is not None and repo.full_name not in wanted:
            continue
        sha = client.head_sha(repo.full_name, repo.default_branch)
        request = JobRequest("scan", f"scan:{repo.full_name}", {
            "installation_id": installation_id, "repository": repo.full_name, "sha": sha,
            "ref": f"refs/heads/{repo.default_branch}", "trigger": "installation"})
        job_id = enqueue(ctx.queues, request, delivery_id=_job_meta().get("delivery_id", ""), settings=ctx.settings)
        queued.append(job_id or f"coalesced:{repo.full_name}")
    return queued


def run_forget_installation(key: str, installation_id: int, suspended: bool = False) -> list[str]:
    """Installation deleted: purge its repositories' data. Suspended: keep the data, stop working for it."""
    _take_latest(key, {})
    ctx = context()
    ctx.app.forget_installation(installation_id)
    with ctx.store.session() as session:
        if suspended:

            installation = session.get(Installation, installation_id)
            if installation is not None:
                installation.suspended = True
            return []
        return db.forget_installation(session, installation_id)


def run_forget_repositories(key: str, installation_id: int, repositories: list[str]) -> int:
    _take_latest(key, {})
    with context().store.session() as session:
        return sum(db.forget_repository(session, name) for name in repositories)


def run_review(key: str, installation_id: int, repository: str, pull_number: int, head_sha: str) -> Any:
    """Review a pull request's head against its base: line comments on new debt, and the check run."""
    args = _take_latest(key, {"installation_id": installation_id, "repository": repository,
                              "pull_number": pull_number, "head_sha": head_sha})
    return _guarded("review", args["repository"], args["head_sha"], lambda: _review(**args))


def _review(installation_id: int, repository: str, pull_number: int, head_sha: str) -> Any:

    ctx = context()
    with ctx.store.session() as session:
        if not _installed(session, installation_id):
            log.info("review skipped: installation gone", extra=fields(repository=repository))
            return None
    client = ctx.client(installation_id)
    with ctx.store.session() as session:
        repo = _repository_row(session, client, installation_id, repository)
        check_run_id = review.start_check_run(session, client, repo, head_sha, pull_number)
        session.expunge(repo)
    try:
        pull = client.get_pull(repository, pull_number)
        if pull.head_sha != head_sha:
            return _superseded(ctx, client, repo, head_sha)
        head_id = scanning.scan_commit(ctx.store, client, repo, head_sha, ctx.settings, trigger="pull_request")
        base_id = scanning.scan_commit(ctx.store, client, repo, pull.base_sha, ctx.settings, trigger="pull_request")
        if client.get_pull(repository, pull_number).head_sha != head_sha:
            return _superseded(ctx, client, repo, head_sha)

        with repository_lock(_review_lock(repository, pull_number), ctx.settings.job_timeout_seconds), \
                ctx.store.session() as session:
            head, base = session.get_one(Scan, head_id), session.get_one(Scan, base_id)
            return review.review_pull_request(session, client, session.get_one(Repository, repo.id), pull, head, base,
                                              scanning.repo_config(head), ctx.settings, check_run_id=check_run_id)
    except TRANSIENT_ERRORS:
        raise
    except Exception as err:
        with ctx.store.session() as session:
            review.fail_check_run(session, client, session.merge(repo), head_sha, _reason(err))
        raise


def _reason(err: BaseException) -> str:
    return err.reason if isinstance(err, scanning.ScanFailed) else (str(err) or type(err).__name__)


def _superseded(ctx: JobContext, client: InstallationClient, repo: Any, head_sha: str) -> None:

    with ctx.store.session() as session:
        review.supersede_check_run(session, client, session.merge(repo), head_sha)
    log.info("review dropped: the pull request moved on", extra=fields(repository=repo.full_name))


def _fail_review_check(ctx: JobContext, kwargs: dict[str, Any], reason: str) -> None:

    client = ctx.client(int(kwargs["installation_id"]))
    with ctx.store.session() as session:
        repo = db.repository_by_name(session, kwargs["repository"])
        if repo is not None:
            review.fail_check_run(session, client, repo, kwargs["head_sha"], reason)


def run_rerun(key: str, installation_id: int, repository: str, head_sha: str,
              pull_numbers: list[int] | None = None) -> list[str]:
    """A person asked for the check again: review each pull request of that commit again. A fork's check suite
    names no pull request; the stored check run of that commit knows which one it was."""

    _take_latest(key, {})
    ctx = context()
    delivery = _job_meta().get("delivery_id", "")
    with ctx.store.session() as session:
        repo = db.repository_by_name(session, repository)
        row = session.query(CheckRun).filter_by(repository_id=repo.id, head_sha=head_sha).one_or_none() \
            if repo is not None else None
        if row is not None:
            row.status = "rerequested"  # start_check_run then starts a fresh run for this commit
        numbers = list(pull_numbers or ([row.pull_number] if row is not None and row.pull_number else []))
    queued = []
    for number in numbers:
        request = JobRequest("review", f"review:{repository}#{number}", {
            "installation_id": installation_id, "repository": repository, "pull_number": number,
            "head_sha": head_sha})
        queued.append(enqueue(ctx.queues, request, delivery_id=delivery, settings=ctx.settings) or "coalesced")
    if not numbers:
        log.info("rerun ignored: no pull request known for this commit", extra=fields(repository=repository))
    return queued


def run_issue_event(key: str, installation_id: int, repository: str, delivery_id: str, action: str,
                    issue: dict[str, Any], milestone: dict[str, Any] | None = None) -> None:
    """A person changed an issue: dismissal (closed as not planned) and sprint membership."""
    from ..web import sprints  # optional: a webhook-only deployment runs without the web package

    _take_latest(key, {})
    with context().store.session() as session:
        repo = db.repository_by_name(session, repository)
        if repo is None:
            return
        backlog.on_issue_event(session, repo, action, issue)
        sprints.on_issue_event(session, repo, action, issue, delivery_id, milestone=milestone)


def run_milestone_event(key: str, installation_id: int, repository: str, delivery_id: str, action: str,
                        milestone: dict[str, Any]) -> None:
    from ..web import sprints  # optional: a webhook-only deployment runs without the web package

    _take_latest(key, {})
    with context().store.session() as session:
        repo = db.repository_by_name(session, repository)
        if repo is None:
            return
        sprints.on_milestone_event(session, repo, action, milestone, delivery_id)


# ---------------------------------------------------------------- the registry: every kind, its function, its queue

JOBS: dict[str, JobKind] = {kind.name: kind for kind in (
    JobKind("scan", "scans", run_scan),
    JobKind("install", "scans", run_install),
    JobKind("review", "reviews", run_review),
    JobKind("rerun", "reviews", run_rerun),
    JobKind("forget_installation", "events", run_forget_installation),
    JobKind("forget_repositories", "events", run_forget_repositories),
    JobKind("issue_event", "events", run_issue_event),
    JobKind("milestone_event", "events", run_milestone_event),
)}
