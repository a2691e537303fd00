"""One generated test per declared case of every registered rule (Fixit's VALID/INVALID)."""

from __future__ import annotations

from pathlib import Path

import pytest

from paydown.analyzers import ANALYZERS
from paydown.analyzers.config import Config
from paydown.analyzers.finding import Case, Rule
from paydown.analyzers.runner import scan

CASES = [
    pytest.param(rule, case, id=f"{rule.id}-{case.name}")
    for analyzer in ANALYZERS
    for rule in analyzer.rules
    for case in rule.cases
]


def test_cases_are_collected() -> None:
    assert CASES, "no rule declares any case"


@pytest.mark.parametrize(("rule", "case"), CASES)
def test_case(rule: Rule, case: Case, tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, dict(case.files))
    report = scan(root, Config(), use_cache=False, jobs=1)
    checked = {rule.id} | {rule_id for rule_id, _, _ in case.expect}
    found = {(f.rule_id, f.location.path, f.location.line) for f in report.findings if f.rule_id in checked}
    assert found == set(case.expect), f"errors: {[e.to_dict() for e in report.errors]}"
