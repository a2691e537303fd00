"""Shared fixtures: throw-away git repositories and an isolated fact cache."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

Files = Mapping[str, str | bytes]
MakeRepo = Callable[..., Path]

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Paydown Tests",
    "GIT_AUTHOR_EMAIL": "tests@paydown.invalid",
    "GIT_COMMITTER_NAME": "Paydown Tests",
    "GIT_COMMITTER_EMAIL": "tests@paydown.invalid",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+00:00",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+00:00",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Paydown Tests", "-c", "user.email=tests@paydown.invalid",
         "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false", *args],
        cwd=root, env={**os.environ, **GIT_ENV}, check=True, capture_output=True,
    )


def write_files(root: Path, files: Files) -> None:
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8", newline="")


@pytest.fixture
def make_repo() -> MakeRepo:
    """``make_repo(tmp_path, files)`` writes ``files`` under ``tmp_path/repo`` and commits them with git."""

    def make(tmp_path: Path, files: Files, *, name: str = "repo", commit: bool = True) -> Path:
        root = tmp_path / name
        root.mkdir(parents=True, exist_ok=True)
        write_files(root, files)
        _git(root, "init", "-q")
        if commit:
            _git(root, "add", "-A")
            _git(root, "commit", "-q", "--allow-empty", "-m", "test fixture")
        return root

    return make


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty fact cache, never the user's."""
    folder = tmp_path_factory.mktemp("paydown-cache")
    monkeypatch.setenv("PAYDOWN_CACHE_DIR", str(folder))
    monkeypatch.delenv("NO_COLOR", raising=False)
    return folder
