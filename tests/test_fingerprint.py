"""Fingerprints come from content: they survive moved lines and reformatting, and change with identity."""

from __future__ import annotations

from pathlib import Path

import pytest

from paydown.analyzers import runner
from paydown.analyzers.base import Analyzer
from paydown.analyzers.config import Config
from paydown.analyzers.finding import (
    AnalysisResult,
    Impact,
    Kind,
    Location,
    Risk,
    Rule,
    fingerprint,
    new_finding,
    normalize_anchor,
)
from paydown.analyzers.runner import analyze, scan
from paydown.analyzers.snapshot import RepoSnapshot, SourceFile, take_snapshot


def _prints(root: Path) -> dict[tuple[str, str], str]:
    """(path, symbol) -> fingerprint, asserting the pairs are unique."""
    report = scan(root, Config(), use_cache=False, jobs=1)
    assert report.errors == []
    prints = {(f.location.path, f.symbol): f.fingerprint for f in report.findings}
    assert len(prints) == len(report.findings)
    return prints


def _one(root: Path) -> tuple[str, int]:
    report = scan(root, Config(), use_cache=False, jobs=1)
    assert len(report.findings) == 1, [f.to_dict() for f in report.findings]
    return report.findings[0].fingerprint, report.findings[0].location.line


def test_inserting_twenty_lines_above_keeps_the_fingerprint(tmp_path: Path, make_repo) -> None:
    before, line = _one(make_repo(tmp_path, {"requirements.txt": "numpy>=1.2\n"}, name="before"))
    after, moved = _one(make_repo(tmp_path, {"requirements.txt": "# a comment\n" * 20 + "numpy>=1.2\n"},
                                  name="after"))
    assert (line, moved) == (1, 21)
    assert after == before


@pytest.mark.parametrize("variant", ["numpy >= 1.2\n", "numpy>=1.2   # loose on purpose\n", "numpy>=1.2 \n",
                                     "\n\nnumpy>=1.2\n"])
def test_reformatting_a_requirement_keeps_the_fingerprint(tmp_path: Path, make_repo, variant: str) -> None:
    before, _ = _one(make_repo(tmp_path, {"requirements.txt": "numpy>=1.2\n"}, name="before"))
    after, _ = _one(make_repo(tmp_path, {"requirements.txt": variant}, name="after"))
    assert after == before


def test_reformatting_pyproject_keeps_the_fingerprint(tmp_path: Path, make_repo) -> None:
    head = '[project]\nname = "demo"\nversion = "1"\n'
    one_line = head + 'dependencies = ["numpy>=1.2", "requests==2.31.0"]\n'
    spread = head + '# the runtime dependencies\ndependencies = [\n    "requests==2.31.0",\n\n    "numpy >= 1.2",\n]\n'
    before, line = _one(make_repo(tmp_path, {"pyproject.toml": one_line}, name="before"))
    after, moved = _one(make_repo(tmp_path, {"pyproject.toml": spread}, name="after"))
    assert (line, moved) == (4, 8)
    assert after == before


def test_renaming_the_package_changes_the_fingerprint(tmp_path: Path, make_repo) -> None:
    before, _ = _one(make_repo(tmp_path, {"requirements.txt": "numpy>=1.2\n"}, name="before"))
    after, _ = _one(make_repo(tmp_path, {"requirements.txt": "scipy>=1.2\n"}, name="after"))
    assert after != before


def test_moving_to_another_file_changes_the_fingerprint(tmp_path: Path, make_repo) -> None:
    before, _ = _one(make_repo(tmp_path, {"requirements.txt": "numpy>=1.2\n"}, name="before"))
    after, _ = _one(make_repo(tmp_path, {"requirements/base.txt": "numpy>=1.2\n"}, name="after"))
    assert after != before


def test_fingerprints_are_deterministic(tmp_path: Path, make_repo) -> None:
    files = {"requirements.txt": "numpy>=1.2\npandas\nscipy<2\n"}
    first = _prints(make_repo(tmp_path, files, name="one"))
    assert first == _prints(make_repo(tmp_path, files, name="two"))
    assert len(set(first.values())) == len(first)


# --- identical anchors in one scope: a fake analyzer pins the numbering -------------------------------------

RULE = Rule(id="PD199", name="test-flag", kind=Kind.DEAD_FLAG, summary="s", why="w", example="e", fix="f")
IMPACT = Impact(effort_hours=1.0, risk=Risk.LOW, risk_reason="test", interest_hours_per_month=0.1)


def _fake_analyzer(anchors: list[tuple[int, str, str]]) -> Analyzer:
    def find_fake(snapshot: RepoSnapshot, config: Config) -> AnalysisResult:
        return AnalysisResult([new_finding(RULE, Location("app.py", line), symbol="flag", message="m",
                                           impact=IMPACT, anchor=anchor, scope=scope)
                               for line, scope, anchor in anchors])

    return Analyzer(name="fake", version="1", rules=(RULE,), find=find_fake)


def _fake_scan(monkeypatch, anchors: list[tuple[int, str, str]]) -> list[str]:
    monkeypatch.setattr(runner, "ANALYZERS", (_fake_analyzer(anchors),))
    snapshot = RepoSnapshot(Path("/nowhere"), files={"app.py": SourceFile("app.py", "x\n" * 100, False)})
    report = analyze(snapshot, Config(), jobs=1, use_cache=False)
    return [f.fingerprint for f in sorted(report.findings, key=lambda f: f.location.line)]


def test_identical_anchors_in_one_scope_get_distinct_fingerprints(monkeypatch) -> None:
    prints = _fake_scan(monkeypatch, [(3, "train", "use_x"), (7, "train", "use_x"), (9, "train", "use_x")])
    assert len(set(prints)) == 3
    assert prints[0] == fingerprint(RULE.id, "app.py", "train", "use_x"), "the first keeps the plain print"


def test_numbering_follows_source_order_not_report_order(monkeypatch) -> None:
    forward = _fake_scan(monkeypatch, [(3, "train", "use_x"), (7, "train", "use_x")])
    backward = _fake_scan(monkeypatch, [(7, "train", "use_x"), (3, "train", "use_x")])
    assert forward == backward
    moved = _fake_scan(monkeypatch, [(23, "train", "use_x"), (27, "train", "use_x")])
    assert moved == forward


def test_identical_anchors_in_different_scopes_differ_without_numbering(monkeypatch) -> None:
    prints = _fake_scan(monkeypatch, [(3, "train", "use_x"), (7, "serve", "use_x")])
    assert prints == [fingerprint(RULE.id, "app.py", "train", "use_x"),
                      fingerprint(RULE.id, "app.py", "serve", "use_x")]
    assert prints[0] != prints[1]


def test_duplicate_requirement_lines_get_distinct_fingerprints(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"requirements.txt": "numpy>=1.2\nnumpy>=1.2\n"})
    report = scan(root, Config(), use_cache=False, jobs=1)
    prints = [f.fingerprint for f in report.findings if f.location.path == "requirements.txt"]
    assert len(prints) == len(set(prints)), "no two findings share a fingerprint"


# --- the fingerprint function itself ------------------------------------------------------------------------

def test_normalised_anchor_folds_white_space_and_comments() -> None:
    spaced, tight = "flag  =  parser.add_argument( '--x' )", "flag=parser.add_argument('--x')"
    assert normalize_anchor(spaced) == normalize_anchor(tight)
    assert normalize_anchor("x = 1  # note\ny = 2") == normalize_anchor("x=1\ny=2")
    assert normalize_anchor("a = 1") != normalize_anchor("a = 2")


def test_fingerprint_depends_on_rule_path_scope_and_anchor() -> None:
    base = fingerprint("PD101", "a.py", "mod.f", "x")
    assert base == fingerprint("PD101", "a.py", "mod.f", " x ")
    assert len({base, fingerprint("PD102", "a.py", "mod.f", "x"), fingerprint("PD101", "b.py", "mod.f", "x"),
                fingerprint("PD101", "a.py", "mod.g", "x"), fingerprint("PD101", "a.py", "mod.f", "y")}) == 5


def test_snapshot_of_a_moved_requirement_reads_the_new_line(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"requirements.txt": "\n" * 5 + "numpy>=1.2\n"})
    assert take_snapshot(root).files["requirements.txt"].line_text(6) == "numpy>=1.2"
