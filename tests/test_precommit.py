"""The pre-commit hook: `paydown scan FILE...` analyses the whole repository and reports only findings located in
the named files, as `.pre-commit-hooks.yaml` runs it on the staged files."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from paydown.cli import Exit

from .conftest import GIT_ENV

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FILES = {
    "requirements.txt": "numpy>=1.2\n",
    "settings.py": "USE_NEW_ENCODER = False\n",
    "features.py": ("from settings import USE_NEW_ENCODER\n\n\ndef build(x):\n    if USE_NEW_ENCODER:\n"
                    "        return x + 1\n    return x\n"),
}


@pytest.fixture
def hook() -> dict:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    return next(h for h in hooks if h["id"] == "paydown")


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "commit.gpgsign=false", *args], cwd=root, env={**os.environ, **GIT_ENV},
                   check=True, capture_output=True)


def _run_hook(hook: dict, root: Path, files: list[str], *extra: str) -> subprocess.CompletedProcess[str]:
    """What pre-commit does: the entry, the hook's args, then the staged files, from the repository's top."""
    command = [*shlex.split(hook["entry"]), *hook.get("args", []), *extra, *files]
    command[0] = str(BIN / command[0])
    return subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300, check=False)


def test_the_hook_is_declared_for_pre_commit(hook: dict) -> None:
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is True
    assert shlex.split(hook["entry"])[:2] == ["paydown", "scan"]


def test_the_hook_reports_only_the_staged_files_findings(hook: dict, tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, FILES)
    whole = _run_hook(hook, root, [], "--format", "json")
    assert {f["path"] for f in json.loads(whole.stdout)["findings"]} >= {"requirements.txt", "settings.py"}

    (root / "serve").mkdir()
    (root / "serve" / "requirements.txt").write_text("pandas>=2\nflask\n", encoding="utf-8")
    _git(root, "add", "serve/requirements.txt")
    done = _run_hook(hook, root, ["serve/requirements.txt"], "--format", "json")
    assert done.returncode == Exit.DEBT_AT_THRESHOLD, done.stderr
    report = json.loads(done.stdout)
    assert {(f["path"], f["line"]) for f in report["findings"]} == {("serve/requirements.txt", 1),
                                                                     ("serve/requirements.txt", 2)}
    assert "serve/requirements.txt:1:1: PD201" in done.stderr, "the hook's output says what failed it"


def test_a_finding_is_reported_by_its_primary_location_only(hook: dict, tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, FILES)
    whole = json.loads(_run_hook(hook, root, [], "--format", "json").stdout)
    switch = next(f for f in whole["findings"] if f["path"] == "settings.py")
    assert any(loc["path"] == "features.py" for loc in switch["locations"]), "the read is a related location"
    done = _run_hook(hook, root, ["features.py"], "--format", "json")
    assert done.returncode == Exit.CLEAN, done.stderr
    assert json.loads(done.stdout)["findings"] == []
    assert _run_hook(hook, root, ["settings.py"]).returncode == Exit.DEBT_AT_THRESHOLD


def test_files_from_a_subfolder_are_judged_with_the_whole_repository(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, FILES)
    done = subprocess.run([str(BIN / "paydown"), "scan", "../requirements.txt", "--format", "json"],
                          cwd=_mkdir(root / "sub"),
                          capture_output=True, text=True, timeout=300, check=False)
    report = json.loads(done.stdout)
    assert Path(report["root"]) == root.resolve()
    assert {f["path"] for f in report["findings"]} == {"requirements.txt"}


def test_files_outside_git_are_judged_with_their_common_parent(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    for rel, text in FILES.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")
    done = subprocess.run([str(BIN / "paydown"), "scan", str(folder / "requirements.txt"), str(folder / "features.py"),
                           "--format", "json"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          check=False)
    report = json.loads(done.stdout)
    assert Path(report["root"]) == folder.resolve()
    assert {f["path"] for f in report["findings"]} == {"requirements.txt"}


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path
