"""Inline suppression: `# paydown: ignore[...]` on the finding's line, applied once by the runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paydown.analyzers import rule_by_id
from paydown.analyzers.config import Config
from paydown.analyzers.runner import scan


def _scan(root: Path):
    return scan(root, Config(), use_cache=False, jobs=1)


@pytest.fixture
def rule(tmp_path: Path, make_repo):
    root = make_repo(tmp_path, {"requirements.txt": "numpy>=1.2\n"}, name="probe")
    report = _scan(root)
    assert [(f.location.path, f.location.line) for f in report.findings] == [("requirements.txt", 1)]
    return rule_by_id(report.findings[0].rule_id)


@pytest.mark.parametrize("how", ["id", "name", "kind", "bare", "list", "spaced"])
def test_a_suppression_comment_hides_the_finding(tmp_path: Path, make_repo, rule, how: str) -> None:
    comment = {
        "id": f"# paydown: ignore[{rule.id}]",
        "name": f"# paydown: ignore[{rule.name}]",
        "kind": f"# paydown: ignore[{rule.kind.value}]",
        "bare": "# paydown: ignore",
        "list": f"# paydown: ignore[PD999, {rule.id}]",
        "spaced": f"#paydown:ignore[ {rule.id} ]",
    }[how]
    root = make_repo(tmp_path, {"requirements.txt": f"numpy>=1.2  {comment}\npandas>=2\n"})
    report = _scan(root)
    lines = {(f.location.path, f.location.line) for f in report.findings}
    assert ("requirements.txt", 1) not in lines
    assert ("requirements.txt", 2) in lines, "a suppression covers its own line only"
    assert report.stats["suppressed"] == 1


def test_a_suppression_naming_another_rule_does_not_hide(tmp_path: Path, make_repo, rule) -> None:
    other = "PD101" if rule.id != "PD101" else "PD301"
    root = make_repo(tmp_path, {"requirements.txt": f"numpy>=1.2  # paydown: ignore[{other}]\n"})
    report = _scan(root)
    assert [(f.location.path, f.location.line) for f in report.findings] == [("requirements.txt", 1)]
    assert report.stats["suppressed"] == 0


def test_suppressed_findings_are_counted(tmp_path: Path, make_repo, rule) -> None:
    root = make_repo(tmp_path, {"requirements.txt": (
        f"numpy>=1.2  # paydown: ignore[{rule.id}]\n"
        "pandas>=2  # paydown: ignore\n"
        "scipy>=1\n"
    )})
    report = _scan(root)
    assert {f.location.line for f in report.findings} == {3}
    assert report.stats["suppressed"] == 2


def test_an_ordinary_comment_does_not_suppress(tmp_path: Path, make_repo, rule) -> None:
    root = make_repo(tmp_path, {"requirements.txt": "numpy>=1.2  # paydown is great; ignore this comment\n"})
    assert len(_scan(root).findings) == 1


def test_a_suppression_on_a_notebook_magic_line_hides_it(tmp_path: Path, make_repo) -> None:
    def notebook(line: str) -> str:
        return json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                                      "source": ["import pandas\n", line]}],
                           "metadata": {}, "nbformat": 4, "nbformat_minor": 5})

    probe = _scan(make_repo(tmp_path, {"plain.ipynb": notebook("%pip install pandas\n")}, name="nb-probe"))
    assert [(f.location.path, f.location.cell, f.location.line) for f in probe.findings] == [("plain.ipynb", 1, 2)]
    magic_rule = probe.findings[0].rule_id
    root = make_repo(tmp_path, {"plain.ipynb": notebook("%pip install pandas\n"),
                                "hushed.ipynb": notebook(f"%pip install pandas  # paydown: ignore[{magic_rule}]\n")})
    report = _scan(root)
    assert [(f.location.path, f.location.cell, f.location.line) for f in report.findings] == [("plain.ipynb", 1, 2)]
    assert report.stats["suppressed"] == 1
