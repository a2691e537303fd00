"""paydown's analyzers; ``ANALYZERS`` is the explicit registry every part of paydown reads."""

from __future__ import annotations

from . import data_inputs, dependencies, duplication, feature_flags
from .base import Analyzer
from .finding import Rule

ANALYZERS: tuple[Analyzer, ...] = (
    feature_flags.ANALYZER,
    dependencies.ANALYZER,
    duplication.ANALYZER,
    data_inputs.ANALYZER,
)

ALL_RULES: tuple[Rule, ...] = tuple(rule for analyzer in ANALYZERS for rule in analyzer.rules)


def rule_by_id(rule_id: str) -> Rule | None:
    """The rule with this id or name, in any case (`pd301`, `Duplicated-Preprocessing`)."""
    wanted = rule_id.strip().lower()
    for rule in ALL_RULES:
        if wanted in (rule.id.lower(), rule.name.lower()):
            return rule
    return None
