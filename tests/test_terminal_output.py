"""`paydown scan`'s text output as a person reads it in a terminal: by priority then file, wrapped to the width,
shared advice said once, a summary that counts, and one-line answers to usage mistakes."""

from __future__ import annotations

import io
import itertools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from paydown.analyzers import ALL_RULES
from paydown.analyzers.config import Config, load_config
from paydown.analyzers.report import render_text
from paydown.analyzers.runner import scan
from paydown.cli import Exit, main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "churn-model"
BIN = Path(sys.executable).parent
HEAD = re.compile(r"^(?P<path>[^\s:][^:]*(?::cell \d+)?):\d+:\d+: (?P<rule>PD\d{3}) ")
ANSI = re.compile(r"\033\[[0-9;]*m")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return int(code), out, err


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("example") / "churn-model"
    shutil.copytree(EXAMPLE, copy)
    return copy


@pytest.fixture(scope="module")
def example_report(example: Path):
    return scan(example, Config(), use_cache=False, jobs=1)


def test_no_line_is_wider_than_80_columns(capsys, example: Path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "scan", str(example), "--no-cache", "-j", "1")
    assert code == Exit.CLEAN
    assert max(len(line) for line in out.splitlines()) <= 80
    assert sum(1 for line in out.splitlines() if HEAD.match(line)) >= 15, "every finding keeps its head"


def test_a_real_process_in_a_pipe_wraps_at_100(example: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    done = subprocess.run([str(BIN / "paydown"), "scan", str(example)], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    widths = [len(line) for line in done.stdout.splitlines()]
    assert max(widths) <= 100 < max(len(line) for line in done.stdout.replace("\n    ", " ").splitlines())
    assert max(widths) > 80, "pipes get 100 columns, not a narrow default"
    assert done.stderr == "", "no progress line when stderr is not a terminal"


def test_colour_does_not_count_towards_the_width(example_report) -> None:
    text = render_text(example_report, colour=True, width=60)
    assert "\033[" in text
    assert max(len(ANSI.sub("", line)) for line in text.splitlines()) <= 60


def test_the_head_stays_whole_on_the_first_line(example_report) -> None:
    for width in (60, 80):
        heads = [line for line in render_text(example_report, width=width).splitlines() if HEAD.match(line)]
        assert len(heads) == len(example_report.findings), width
    # narrower than a head itself: the width still wins
    assert max(len(line) for line in render_text(example_report, width=40).splitlines()) <= 40


def test_findings_are_grouped_by_priority_high_first_then_by_file(example_report) -> None:
    lines = render_text(example_report, width=100).splitlines()
    sections = [line for line in lines if re.fullmatch(r"(High|Medium|Low) priority: \d+ findings?", line)]
    assert [s.split()[0] for s in sections] == ["High", "Medium", "Low"]
    starts = [lines.index(s) for s in sections] + [len(lines)]
    for (start, end), priority in zip(itertools.pairwise(starts), ("high", "medium", "low"), strict=True):
        paths = [HEAD.match(line)["path"] for line in lines[start:end] if HEAD.match(line)]
        assert paths == sorted(paths, key=lambda p: p.split(":cell")[0]), priority
        expected = {f.location.path for f in example_report.findings if f.impact.priority.value == priority}
        assert {p.split(":cell")[0] for p in paths} == expected


def test_advice_shared_by_a_group_is_said_once(example_report) -> None:
    text = " ".join(render_text(example_report, width=1000).split())
    pinned = [f for f in example_report.findings if f.rule_id == "PD201" and f.location.path == "requirements.txt"]
    assert len(pinned) >= 4
    assert text.count("or add it to a lock file") < len(pinned)
    assert re.search(r"\d+ PD201 unpinned-dependency findings in requirements\.txt: pin an exact version", text)
    assert "requirements.txt:1:1: PD201 pandas is not pinned: lower bound only (>=1.5) effort" in text


def test_the_summary_counts_by_priority_kind_effort_and_files_with_errors(example_report) -> None:
    last = render_text(example_report, width=1000).splitlines()[-1]
    findings = example_report.findings
    assert last.startswith(f"{len(findings)} findings (")
    for kind in {f.kind.value for f in findings}:
        assert f"{sum(1 for f in findings if f.kind.value == kind)} {kind}" in last
    assert f"{sum(f.impact.effort_hours for f in findings):g} h estimated effort" in last
    assert "0 files with errors" in last


def test_baseline_says_how_many_known_findings_it_hid(capsys, example: Path, tmp_path: Path) -> None:
    saved = tmp_path / "baseline.json"
    assert run(capsys, "scan", str(example), "--format", "json", "-o", str(saved), "-j", "1")[0] == Exit.CLEAN
    code, out, _ = run(capsys, "scan", str(example), "--baseline", str(saved), "-j", "1")
    assert code == Exit.CLEAN
    total = len(scan(example, Config(), jobs=1).findings)
    assert f"{total} known findings hidden by the baseline" in out
    assert out.splitlines()[-1].startswith("0 findings")


def test_fail_on_says_which_findings_reached_the_level(capsys, example: Path, example_report) -> None:
    code, out, err = run(capsys, "scan", str(example), "--fail-on", "high", "-j", "1", "--format", "json")
    assert code == Exit.DEBT_AT_THRESHOLD
    high = [f for f in example_report.findings if f.impact.priority.value == "high"]
    lines = err.splitlines()
    assert lines[0] == f"{len(high)} findings reach --fail-on high:"
    listed = {(m["path"], m["rule"]) for line in lines[1:] if (m := HEAD.match(line.strip()))}
    assert listed == {(f.location.path, f.rule_id) for f in high}
    assert out.startswith("{"), "the report on stdout stays machine-readable"


def test_statistics_counts_findings_per_rule(capsys, example: Path, example_report) -> None:
    code, out, _ = run(capsys, "scan", str(example), "--statistics", "-j", "1")
    assert code == Exit.CLEAN
    rows = [line.split() for line in out.splitlines() if re.match(r"\s*\d+\s+PD\d{3}\s", line)]
    counts = {row[1]: int(row[0]) for row in rows}
    assert counts == {r: sum(1 for f in example_report.findings if f.rule_id == r)
                      for r in {f.rule_id for f in example_report.findings}}
    assert not any(HEAD.match(line) for line in out.splitlines()), "statistics instead of the findings"


def test_quiet_prints_the_findings_only(capsys, example: Path, example_report) -> None:
    code, out, _ = run(capsys, "scan", str(example), "--quiet", "-j", "1")
    assert code == Exit.CLEAN
    lines = out.splitlines()
    assert sum(1 for line in lines if HEAD.match(line)) == len(example_report.findings)
    assert all(HEAD.match(line) or line.startswith("    ") for line in lines), "no headings, no summary"


def test_history_outside_git_says_so_in_one_line(capsys, tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "requirements.txt").write_text("numpy\n", encoding="utf-8")
    code, out, err = run(capsys, "scan", str(tmp_path / "plain"), "--save", "--history", "3")
    assert code == Exit.USAGE_OR_FATAL
    assert err.splitlines() == [f"paydown: --history reads git history, and {tmp_path / 'plain'} is not in a git "
                                "repository"]
    assert out == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_shown_on_a_terminal_only(capsys, tmp_path: Path, make_repo, monkeypatch) -> None:
    root = make_repo(tmp_path, {"a.py": "x = 1\n", "b.py": "y = 2\n"})
    run(capsys, "scan", str(root), "--no-cache", "-j", "1")
    assert capsys.readouterr().err == ""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["scan", str(root), "--no-cache", "-j", "1"]) == Exit.CLEAN
    shown = terminal.getvalue()
    assert "parsing 1/2 files" in shown and "parsing 2/2 files" in shown
    assert shown.endswith("\r\033[K"), "the progress line is erased before the report"


@pytest.mark.parametrize("argv", [("explain", "pd301"), ("explain", "Duplicated-Preprocessing")])
def test_explain_takes_ids_and_names_in_any_case(capsys, argv: tuple[str, ...]) -> None:
    code, out, _ = run(capsys, *argv)
    assert code == Exit.CLEAN and out.startswith("PD301 ")


def test_select_and_config_take_names_in_any_case(capsys, tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"requirements.txt": "numpy>=1.2\n", "app.py": "import numpy\n",
                                ".paydown.toml": "ignore = ['PD101']\n[rules.pd201]\nenabled = true\n"})
    code, out, err = run(capsys, "scan", str(root), "--select", "pd201,Unpinned-Dependency", "--quiet", "-j", "1")
    assert code == Exit.CLEAN, err
    assert "requirements.txt:1:1: PD201" in out
    code, out, err = run(capsys, "scan", str(root), "--ignore", "UNPINNED-DEPENDENCY", "--quiet", "-j", "1")
    assert code == Exit.CLEAN, err
    assert "PD201" not in out


def test_saving_fewer_past_scans_than_asked_says_why(capsys, tmp_path: Path, make_repo, monkeypatch) -> None:
    pytest.importorskip("sqlalchemy")
    root = make_repo(tmp_path, {"requirements.txt": "numpy==1.26.4\n"})
    monkeypatch.setenv("PAYDOWN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PAYDOWN_DATABASE_URL", f"sqlite:///{tmp_path / 'paydown.db'}")
    code, _, err = run(capsys, "scan", str(root), "--save", "--history", "3", "-j", "1")
    assert code == Exit.CLEAN, err
    assert "saved 1 of the 3 past scans asked for: only 1 commit changed" in " ".join(err.split())


def test_the_readme_shows_real_output_of_the_example() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("From\n`paydown scan examples/churn-model`", 1)[1]
    shown = section.split("```text\n", 1)[1].split("\n```", 1)[0]
    head, _, tail = shown.partition("\n...\n")
    actual = render_text(scan(EXAMPLE, load_config(EXAMPLE, ALL_RULES), jobs=1), width=100)
    assert actual.startswith(head + "\n")
    assert actual.rstrip("\n").endswith(tail.strip("\n"))
