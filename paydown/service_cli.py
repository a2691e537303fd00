"""`paydown serve`, `paydown worker` and `paydown app-manifest`: the GitHub App service's commands."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

log = logging.getLogger("paydown.serve")

SERVICE_COMMANDS = ("serve", "worker", "app-manifest")
# -P: neither the current folder nor a script's folder goes on sys.path, so the worker imports the installed package
# even when started from the repository's root or the image's working folder, whose source `paydown/` (without
# `paydown.analyzers`) `-m` would otherwise import first.
WORKER_COMMAND = (sys.executable, "-P", "-m", "paydown", "worker")


def add_commands(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the web page and the GitHub webhook (and a worker with the "
                                              "embedded Redis)")
    serve.add_argument("--host", help="address to bind (default: PAYDOWN_HOST, or 127.0.0.1 without an App)")
    serve.add_argument("--port", type=int, help="port (default: PAYDOWN_PORT or 8000)")
    serve.add_argument("--no-worker", action="store_true", help="do not start a worker beside the web server")
    worker = commands.add_parser("worker", help="run jobs from the queues (reviews first, then events, then scans)")
    worker.add_argument("--burst", action="store_true", help="stop when the queues are empty")
    manifest = commands.add_parser("app-manifest", help="print the GitHub App manifest for one-click registration")
    manifest.add_argument("--url", help="paydown's public address (default: PAYDOWN_PUBLIC_URL)")


def _logging() -> None:
    logging.basicConfig(level=os.environ.get("PAYDOWN_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the store migrates itself at every start


def run(args: argparse.Namespace) -> int:
    """Run one service command; SettingsError and a missing extra are reported by the caller."""
    from paydown.service.settings import Settings

    settings = Settings.from_env()
    if args.command == "app-manifest":
        from paydown.service.intake import app_manifest

        url = (args.url or settings.public_url).rstrip("/")
        print(json.dumps(app_manifest(settings, url=url, webhook_url=f"{url}/webhook"), indent=2))
        return 0
    _logging()
    if args.command == "worker":
        return _worker(settings, burst=args.burst)
    return _serve(settings, host=args.host, port=args.port, worker=not args.no_worker)


def _worker(settings: Any, *, burst: bool) -> int:
    from rq import Worker

    from paydown.service import jobs

    context = jobs.init_worker(settings)
    # A work horse killed under a live worker (OOM) gets no failure callback from RQ: jobs.horse_killed does it.
    worker = Worker(context.queues.all(), connection=context.redis, work_horse_killed_handler=jobs.horse_killed)
    # The scheduler puts retried jobs back on their queue when their backoff interval has passed.
    worker.work(burst=burst, with_scheduler=True)
    return 0


def _serve(settings: Any, *, host: str | None, port: int | None, worker: bool) -> int:
    from werkzeug.serving import make_server

    from paydown.service.intake import create_app

    if not settings.app_configured and host is None:
        host = "127.0.0.1"  # no login without an App: the page is only for this machine
    host, port = host or settings.host, port or settings.port
    app = create_app(settings)
    server = make_server(host, port, app, threaded=True)  # bind first: a taken port must not leave a worker behind
    supervisor = _WorkerSupervisor() if worker and settings.redis_url is None else None
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(f"paydown: serving on http://{shown}:{server.server_port}/ (Ctrl-C to stop)", flush=True)
    # shutdown() waits for serve_forever() to return, so it must not run on the thread serving (the handler's).
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if supervisor is not None:
            supervisor.stop()
    return 0


class _WorkerSupervisor:
    """Runs serve's worker child and starts a new one when it dies, after a back-off that doubles (1 s to 60 s) while
    children keep dying young and starts again at 1 s after one that ran a minute."""

    FIRST_WAIT, LONGEST_WAIT, HEALTHY_RUN = 1.0, 60.0, 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._child = self._start()
        self._thread = threading.Thread(target=self._watch, name="paydown-worker-supervisor", daemon=True)
        self._thread.start()

    @staticmethod
    def _start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(WORKER_COMMAND, env=os.environ.copy())

    def _watch(self) -> None:
        wait = self.FIRST_WAIT
        while True:
            started = time.monotonic()
            code = self._child.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started >= self.HEALTHY_RUN:
                wait = self.FIRST_WAIT
            log.warning("worker %d exited with code %d; restarting it in %.0f s", self._child.pid, code, wait)
            if self._stopping.wait(wait):
                return
            wait = min(wait * 2, self.LONGEST_WAIT)
            with self._lock:
                if self._stopping.is_set():
                    return
                self._child = self._start()
            log.info("worker restarted as %d", self._child.pid)

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            child = self._child
        child.terminate()
        child.wait(timeout=30)
        self._thread.join(timeout=5)
