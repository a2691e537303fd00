"""Inline suppression: `# paydown: ignore[...]` on the finding's line, applied once by the runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paydown.analyzers import ALL_RULES, rule_by_id
from paydown.analyzers.config import Config
from paydown.analyzers.runner import scan
from paydown.cli import Exit, main


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


# --- hygiene: suppressions that name nothing paydown knows, or silence nothing, are warnings -----------------

def _warnings(report) -> set[tuple[str, int, str]]:
    return {(w.path, w.line, w.reason) for w in report.warnings}


def test_names_in_a_suppression_match_in_any_case(tmp_path: Path, make_repo, rule) -> None:
    root = make_repo(tmp_path, {"requirements.txt": (f"numpy>=1.2  # paydown: ignore[{rule.id.lower()}]\n"
                                                     f"pandas>=2  # paydown: ignore[{rule.name.upper()}]\n")})
    report = _scan(root)
    assert report.findings == [] and report.warnings == []


def test_an_unknown_rule_in_a_suppression_warns(tmp_path: Path, make_repo, rule) -> None:
    root = make_repo(tmp_path, {"requirements.txt": "numpy>=1.2  # paydown: ignore[PD2O1]\n"})
    report = _scan(root)
    assert _warnings(report) == {("requirements.txt", 1, "unknown-suppression")}
    assert "PD2O1" in report.warnings[0].message
    assert [(f.location.path, f.location.line) for f in report.findings] == [("requirements.txt", 1)]


def test_an_unused_suppression_warns_and_a_used_one_does_not(tmp_path: Path, make_repo, rule) -> None:
    root = make_repo(tmp_path, {"requirements.txt": (f"numpy>=1.2  # paydown: ignore[{rule.id}]\n"
                                                     f"pandas==2.0  # paydown: ignore[{rule.id}]\n"),
                                "app.py": "x = 1  # paydown: ignore\n"})
    report = _scan(root)
    assert _warnings(report) == {("requirements.txt", 2, "unused-suppression"), ("app.py", 1, "unused-suppression")}


def test_a_suppression_quoted_in_a_python_string_is_not_one(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"app.py": 'EXAMPLE = "numpy>=1.2  # paydown: ignore[PD999]"\n'})
    assert _scan(root).warnings == []


def test_a_suppression_of_a_rule_left_out_by_select_is_not_called_unused(tmp_path: Path, make_repo, rule) -> None:
    other = next(r for r in ALL_RULES if r.kind is not rule.kind)
    root = make_repo(tmp_path, {"requirements.txt": f"pandas==2.0  # paydown: ignore[{rule.id}]\n"})
    report = scan(root, Config(select=(other.id,)), use_cache=False, jobs=1)
    assert report.warnings == []


def test_warnings_reach_the_json_report_the_text_and_sarif(capsys, tmp_path: Path, make_repo, rule) -> None:
    root = make_repo(tmp_path, {"requirements.txt": "numpy==1.26.4  # paydown: ignore[PD2O1]\n"})
    assert main(["scan", str(root), "--format", "json", "-j", "1"]) == Exit.CLEAN
    report = json.loads(capsys.readouterr().out)
    assert {"version", "root", "findings", "errors", "stats", "warnings"} <= set(report)
    assert [(w["path"], w["line"], w["reason"]) for w in report["warnings"]] == [
        ("requirements.txt", 1, "unknown-suppression")]
    assert main(["scan", str(root), "-j", "1"]) == Exit.CLEAN
    text = capsys.readouterr().out
    assert "1 warning\n" in text and "requirements.txt:1: unknown-suppression:" in text
    assert main(["scan", str(root), "--format", "sarif", "-j", "1"]) == Exit.CLEAN
    notifications = json.loads(capsys.readouterr().out)["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert [(n["descriptor"]["id"], n["locations"][0]["physicalLocation"]["region"]["startLine"])
            for n in notifications] == [("unknown-suppression", 1)]
