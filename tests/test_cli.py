"""The command line: formats, output file, exit codes, rule selection, baselines, `rules` and `explain`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from paydown.analyzers import ALL_RULES, rule_by_id
from paydown.analyzers.finding import Priority
from paydown.cli import Exit, main

LOOSE = {"requirements.txt": "numpy>=1.2\n"}
LOW_PRIORITY_REQUIREMENT = "requests>=2\n"
FINDING_KEYS = {"rule", "kind", "message", "path", "line", "end_line", "symbol", "fingerprint", "impact",
                "locations"}
REPO_ROOT = Path(__file__).resolve().parents[1]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return int(code), out, err


def scan_json(capsys: pytest.CaptureFixture[str], root: Path, *extra: str) -> dict:
    code, out, err = run(capsys, "scan", str(root), "--format", "json", "--no-cache", "-j", "1", *extra)
    assert code == Exit.CLEAN, err
    return json.loads(out)


def found(report: dict) -> set[tuple[str, str, int]]:
    return {(f["rule"], f["path"], f["line"]) for f in report["findings"]}


@pytest.fixture
def loose_repo(tmp_path: Path, make_repo) -> Path:
    return make_repo(tmp_path, {**LOOSE, "app/main.py": "import numpy\n\nprint(numpy.__version__)\n"})


@pytest.fixture
def clean_repo(tmp_path: Path, make_repo) -> Path:
    return make_repo(tmp_path, {"requirements.txt": "numpy==1.26.4\n", "app/main.py": "x = 1\n"})


def the_rule(report: dict):
    assert report["findings"], "the fixture repository should give a finding"
    rule = rule_by_id(report["findings"][0]["rule"])
    assert rule is not None
    return rule


# --- formats -------------------------------------------------------------------------------------------------

def test_json_report_has_the_documented_shape(capsys, loose_repo: Path) -> None:
    report = scan_json(capsys, loose_repo)
    assert {"version", "root", "findings", "errors", "stats"} <= set(report)
    assert report["errors"] == []
    assert ("requirements.txt", 1) in {(f["path"], f["line"]) for f in report["findings"]}
    for finding in report["findings"]:
        assert set(finding) >= FINDING_KEYS, FINDING_KEYS - set(finding)
        assert re.fullmatch(r"PD\d{3}", finding["rule"])
        assert finding["kind"] == rule_by_id(finding["rule"]).kind.value
        assert finding["message"] and finding["fingerprint"]
        assert finding["end_line"] >= finding["line"]
        assert finding["impact"]["priority"] in {p.value for p in Priority}
        primary = finding["locations"][0]
        assert (primary["path"], primary["line"]) == (finding["path"], finding["line"])


def summary_of(out: str) -> str:
    """The closing summary: the last paragraph of the text report, its wrapped lines joined."""
    return " ".join(line.strip() for line in out.rstrip("\n").split("\n\n")[-1].splitlines())


def test_text_report_groups_by_priority_and_ends_with_a_summary(capsys, loose_repo: Path) -> None:
    code, out, _ = run(capsys, "scan", str(loose_repo), "--no-cache", "-j", "1")
    assert code == Exit.CLEAN
    lines = out.splitlines()
    assert lines[0].endswith("priority: 1 finding"), "a heading per priority"
    assert lines[2].startswith("requirements.txt:1:1: PD201 "), "the ruff-like head starts the finding"
    assert re.match(r"\d+ findings? \(\d+ high, \d+ medium, \d+ low\): 1 unpinned-dependency; [\d.]+ h estimated "
                    r"effort; 0 files with errors; \d+ files scanned$", summary_of(out)), summary_of(out)
    assert "\033[" not in out, "no ANSI colour when stdout is not a terminal"


def test_text_report_of_a_clean_repo(capsys, clean_repo: Path) -> None:
    code, out, _ = run(capsys, "scan", str(clean_repo), "--no-cache", "-j", "1")
    assert code == Exit.CLEAN
    assert out.splitlines()[0].startswith("0 findings")


def test_sarif_format_is_sarif(capsys, loose_repo: Path) -> None:
    code, out, _ = run(capsys, "scan", str(loose_repo), "--format", "sarif", "--no-cache", "-j", "1")
    assert code == Exit.CLEAN
    sarif = json.loads(out)
    assert sarif["version"] == "2.1.0"
    assert sarif["runs"][0]["results"]


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_output_file_receives_the_report(capsys, loose_repo: Path, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"report.{fmt}"
    code, out, _ = run(capsys, "scan", str(loose_repo), "--format", fmt, "--output", str(target), "--no-cache")
    assert code == Exit.CLEAN
    assert out == ""
    text = target.read_text(encoding="utf-8")
    if fmt == "text":
        assert "requirements.txt" in text and "\033[" not in text
    else:
        assert json.loads(text)


# --- exit codes ----------------------------------------------------------------------------------------------

def test_exit_0_on_a_clean_repo_even_with_fail_on(capsys, clean_repo: Path) -> None:
    assert run(capsys, "scan", str(clean_repo), "--fail-on", "low", "--no-cache")[0] == Exit.CLEAN


def test_exit_0_with_findings_and_no_fail_on(capsys, loose_repo: Path) -> None:
    assert run(capsys, "scan", str(loose_repo), "--no-cache")[0] == Exit.CLEAN


def test_exit_1_with_fail_on_low_and_a_finding(capsys, loose_repo: Path) -> None:
    assert run(capsys, "scan", str(loose_repo), "--fail-on", "low", "--no-cache")[0] == Exit.DEBT_AT_THRESHOLD


def test_fail_on_compares_priorities(capsys, tmp_path: Path, make_repo) -> None:
    # A loose pin of a package that does not move numbers is below high priority.
    root = make_repo(tmp_path, {"requirements.txt": LOW_PRIORITY_REQUIREMENT})
    report = scan_json(capsys, root)
    priorities = {Priority(f["impact"]["priority"]) for f in report["findings"]}
    assert priorities and Priority.HIGH not in priorities, priorities
    assert run(capsys, "scan", str(root), "--fail-on", "high", "--no-cache")[0] == Exit.CLEAN
    lowest = min(priorities, key=lambda p: p.rank)
    assert run(capsys, "scan", str(root), "--fail-on", lowest.value, "--no-cache")[0] == Exit.DEBT_AT_THRESHOLD


def test_fail_on_from_the_configuration(capsys, tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {**LOOSE, ".paydown.toml": 'fail_on = "low"\n'})
    assert run(capsys, "scan", str(root), "--no-cache")[0] == Exit.DEBT_AT_THRESHOLD


def test_exit_2_on_an_unknown_option(capsys, loose_repo: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["scan", str(loose_repo), "--no-such-option"])
    assert exit_info.value.code == Exit.USAGE_OR_FATAL
    assert "--no-such-option" in capsys.readouterr().err


def test_exit_2_on_a_missing_folder(capsys, tmp_path: Path) -> None:
    code, out, err = run(capsys, "scan", str(tmp_path / "nowhere"))
    assert code == Exit.USAGE_OR_FATAL
    assert err.strip() == f"paydown: no such file or folder: {tmp_path / 'nowhere'}" and out == ""
    assert "configuration" not in err


def test_a_missing_file_among_files_exits_2(capsys, loose_repo: Path) -> None:
    code, out, err = run(capsys, "scan", str(loose_repo / "requirements.txt"), str(loose_repo / "gone.py"))
    assert code == Exit.USAGE_OR_FATAL
    assert "no such file or folder" in err and "gone.py" in err and out == ""


def test_scan_without_a_path_scans_the_current_folder(capsys, loose_repo: Path, monkeypatch) -> None:
    monkeypatch.chdir(loose_repo)
    report = json.loads(run(capsys, "scan", "--format", "json", "--no-cache", "-j", "1")[1])
    assert ("requirements.txt", 1) in {(f["path"], f["line"]) for f in report["findings"]}


@pytest.mark.parametrize("flag", ["--select", "--ignore"])
def test_exit_2_on_an_unknown_rule_name(capsys, loose_repo: Path, flag: str) -> None:
    code, _, err = run(capsys, "scan", str(loose_repo), flag, "no-such-rule")
    assert code == Exit.USAGE_OR_FATAL
    assert "no-such-rule" in err


def test_exit_2_on_a_broken_config_naming_file_and_key(capsys, tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {**LOOSE, ".paydown.toml": "colour = true\n"})
    code, out, err = run(capsys, "scan", str(root), "--no-cache")
    assert code == Exit.USAGE_OR_FATAL
    assert ".paydown.toml" in err and "colour" in err
    assert out == ""


def test_exit_2_on_invalid_toml(capsys, tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {**LOOSE, ".paydown.toml": "exclude = [\n"})
    code, _, err = run(capsys, "scan", str(root), "--no-cache")
    assert code == Exit.USAGE_OR_FATAL
    assert ".paydown.toml" in err


def test_exit_2_on_an_unreadable_baseline(capsys, loose_repo: Path, tmp_path: Path) -> None:
    (tmp_path / "baseline.json").write_text("{not json", encoding="utf-8")
    code, _, err = run(capsys, "scan", str(loose_repo), "--baseline", str(tmp_path / "baseline.json"))
    assert code == Exit.USAGE_OR_FATAL
    assert "baseline.json" in err


def test_help_states_the_exit_codes(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["scan", "--help"])
    assert exit_info.value.code == 0
    assert "exit codes" in capsys.readouterr().out


# --- selection -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("by", ["id", "name", "kind"])
def test_select_by_id_name_or_kind_keeps_the_finding(capsys, loose_repo: Path, by: str) -> None:
    rule = the_rule(scan_json(capsys, loose_repo))
    key = {"id": rule.id, "name": rule.name, "kind": rule.kind.value}[by]
    report = scan_json(capsys, loose_repo, "--select", key)
    assert report["findings"] and all(f["rule"] == rule.id or by == "kind" for f in report["findings"])
    assert all(f["kind"] == rule.kind.value for f in report["findings"])


@pytest.mark.parametrize("by", ["id", "name", "kind"])
def test_ignore_by_id_name_or_kind_drops_the_finding(capsys, loose_repo: Path, by: str) -> None:
    rule = the_rule(scan_json(capsys, loose_repo))
    key = {"id": rule.id, "name": rule.name, "kind": rule.kind.value}[by]
    report = scan_json(capsys, loose_repo, "--ignore", key)
    assert rule.id not in {f["rule"] for f in report["findings"]}
    if by == "kind":
        assert report["findings"] == []


def test_select_another_kind_drops_the_finding(capsys, loose_repo: Path) -> None:
    report = scan_json(capsys, loose_repo, "--select", "dead-flag")
    assert report["findings"] == []


def test_select_accepts_a_comma_separated_list(capsys, loose_repo: Path) -> None:
    rule = the_rule(scan_json(capsys, loose_repo))
    report = scan_json(capsys, loose_repo, "--select", f"dead-flag,{rule.id}")
    assert rule.id in {f["rule"] for f in report["findings"]}


# --- baselines -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_baseline_hides_known_findings_and_shows_new_ones(capsys, tmp_path: Path, make_repo, fmt: str) -> None:
    root = make_repo(tmp_path, LOOSE)
    saved = tmp_path / f"baseline.{fmt}"
    assert run(capsys, "scan", str(root), "--format", fmt, "-o", str(saved), "--no-cache")[0] == Exit.CLEAN

    known = scan_json(capsys, root, "--baseline", str(saved))
    assert known["findings"] == []
    assert known["stats"]["baseline_hidden"] >= 1
    assert run(capsys, "scan", str(root), "--baseline", str(saved), "--fail-on", "low",
               "--no-cache")[0] == Exit.CLEAN

    (root / "requirements.txt").write_text("# twenty\n" * 20 + "numpy>=1.2\npandas\n", encoding="utf-8")
    new = scan_json(capsys, root, "--baseline", str(saved))
    assert {(f["path"], f["line"]) for f in new["findings"]} == {("requirements.txt", 22)}


def test_baseline_that_is_not_a_report_is_an_error(capsys, loose_repo: Path, tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text("[1, 2]", encoding="utf-8")
    assert run(capsys, "scan", str(loose_repo), "--baseline", str(tmp_path / "other.json"))[0] == 2


# --- rules and explain ---------------------------------------------------------------------------------------

def test_rules_lists_every_rule(capsys) -> None:
    code, out, _ = run(capsys, "rules")
    assert code == Exit.CLEAN
    listed = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert listed == {rule.id for rule in ALL_RULES}
    for rule in ALL_RULES:
        assert rule.name in out


@pytest.mark.parametrize("name", ["PD201", *[rule.id for rule in ALL_RULES], *[rule.name for rule in ALL_RULES]])
def test_explain_prints_the_fixed_headings(capsys, name: str) -> None:
    code, out, _ = run(capsys, "explain", name)
    assert code == Exit.CLEAN
    lines = out.splitlines()
    headings = ["What it finds", "Why it is debt", "Example", "Use instead"]
    positions = [lines.index(heading) for heading in headings]
    assert positions == sorted(positions)
    rule = rule_by_id(name)
    assert lines[0].startswith(rule.id)
    assert rule.example.strip().splitlines()[0].strip() in out


def test_explain_an_unknown_rule_exits_2(capsys) -> None:
    code, out, err = run(capsys, "explain", "PD999")
    assert code == Exit.USAGE_OR_FATAL
    assert "PD999" in err and out == ""


def test_a_command_is_required(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == Exit.USAGE_OR_FATAL


# --- a real process ------------------------------------------------------------------------------------------

def _paydown_command() -> list[str]:
    script = Path(sys.executable).parent / "paydown"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "paydown"]


def test_installed_command_runs_a_scan(loose_repo: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PAYDOWN_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([*_paydown_command(), "scan", str(loose_repo), "--format", "json", "-j", "1",
                           "--fail-on", "low"], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == Exit.DEBT_AT_THRESHOLD, done.stderr
    report = json.loads(done.stdout)
    assert ("requirements.txt", 1) in {(f["path"], f["line"]) for f in report["findings"]}


def test_python_dash_m_paydown_exits_2_on_usage_errors(tmp_path: Path) -> None:
    env = {**os.environ, "PAYDOWN_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "paydown", "scan", str(tmp_path), "--bogus"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 2
    assert "--bogus" in done.stderr
    done = subprocess.run([sys.executable, "-m", "paydown", "scan", str(tmp_path / "missing")],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 2
    assert "missing" in done.stderr


def test_text_output_of_a_real_process_has_no_colour(loose_repo: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PAYDOWN_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([*_paydown_command(), "scan", str(loose_repo), "-j", "1"], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "\033[" not in done.stdout
    assert "requirements.txt" in done.stdout
