"""A stand-in package index on 127.0.0.1 speaking the PEP 691 JSON simple API, recording what it was asked."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

# Each project's files: (filename, yanked, requires-python). Newest-first traps: a yanked release, a
# pre-release, a release needing a newer Python than the example's requires-python (>=3.10).
PROJECTS: dict[str, list[tuple[str, bool | str, str | None]]] = {
    "pandas": [("pandas-1.5.3.tar.gz", False, ">=3.8"), ("pandas-2.2.3-cp310-cp310-manylinux_2_17_x86_64.whl",
                                                            False, ">=3.9"),
               ("pandas-2.3.0.tar.gz", "broken wheels", ">=3.9"), ("pandas-3.0.0rc1.tar.gz", False, ">=3.10")],
    "scikit-learn": [("scikit_learn-1.5.2.tar.gz", False, ">=3.9"), ("scikit_learn-1.6.0.tar.gz", False, ">=3.11")],
    "numpy": [("numpy-1.26.4.tar.gz", False, ">=3.9"), ("numpy-2.0.0.tar.gz", False, ">=3.9")],
    "flask": [("flask-3.1.0-py3-none-any.whl", False, ">=3.9"), ("flask-3.0.3.tar.gz", False, None)],
    "pyarrow": [("pyarrow-13.0.0.tar.gz", False, None), ("pyarrow-17.0.0.tar.gz", False, ">=3.8")],
    "s3fs": [("s3fs-2024.10.0.tar.gz", False, ">=3.8")],
    "sqlalchemy": [("SQLAlchemy-2.0.36.tar.gz", False, ">=3.7"), ("SQLAlchemy-3.0.0b1.tar.gz", False, ">=3.9")],
    "pytest": [("pytest-8.3.4-py3-none-any.whl", False, ">=3.8")],
    "xgboost": [("xgboost-2.1.3.tar.gz", False, ">=3.8"), ("xgboost-3.0.0.dev1.tar.gz", False, ">=3.10")],
    "seaborn": [("seaborn-0.13.2-py3-none-any.whl", False, ">=3.8")],
    "torch": [("torch-2.5.0.tar.gz", False, None), ("torch-2.6.0rc2.tar.gz", False, None)],
}


class StandInIndex:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.asked: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/simple/"


def _handler(index: StandInIndex) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            name = self.path.removeprefix("/simple/").strip("/")
            index.asked.append(name)
            files = PROJECTS.get(name)
            if files is None or "application/vnd.pypi.simple.v1+json" not in self.headers.get("Accept", ""):
                self.send_error(404)
                return
            body = json.dumps({"meta": {"api-version": "1.1"}, "name": name, "files": [
                {"filename": filename, "url": f"https://files.invalid/{filename}", "hashes": {},
                 "yanked": yanked, **({"requires-python": python} if python else {})}
                for filename, yanked, python in files]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def _serving(make_handler: Callable[[Any], type[BaseHTTPRequestHandler]], stand_in: Any) -> Iterator[None]:
    """Serve `stand_in`'s handler on a free loopback port for the test, then stop the server and its thread."""
    stand_in.server.RequestHandlerClass = make_handler(stand_in)
    thread = threading.Thread(target=stand_in.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stand_in.server.shutdown()
        stand_in.server.server_close()
        thread.join()


@pytest.fixture
def package_index() -> Iterator[StandInIndex]:
    index = StandInIndex(ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler))
    with _serving(_handler, index):
        yield index


# The stand-in GitHub's tags: (owner/repo, ref) -> commit.
TAGS = {("actions/checkout", "v4"): "11bd71901bbe5b1630ceea73d27597364c9af683",
        ("actions/setup-python", "v5"): "0b93645e9fea7318ecaed2b359559ac225c90a2b",
        ("github/codeql-action", "v3"): "df409f7d9260372bd5f19e5b04e83cb3c43714ae"}


class StandInGitHub(StandInIndex):
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def _github_handler(github: StandInGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            github.asked.append(f"{self.path} {self.headers.get('Authorization', '')}".strip())
            parts = self.path.strip("/").split("/")
            sha = TAGS.get((f"{parts[1]}/{parts[2]}", parts[4])) if len(parts) == 5 and parts[3] == "commits" \
                else None
            if sha is None or self.headers.get("Accept") != "application/vnd.github.sha":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.github.sha")
            self.send_header("Content-Length", "40")
            self.end_headers()
            self.wfile.write(sha.encode())

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def github_api() -> Iterator[StandInGitHub]:
    github = StandInGitHub(ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler))
    with _serving(_github_handler, github):
        yield github
