"""The one finding model every analyzer shares: rules, locations, impact estimates and fingerprints."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    DEAD_FLAG = "dead-flag"
    UNPINNED_DEPENDENCY = "unpinned-dependency"
    DUPLICATED_FEATURE_LOGIC = "duplicated-feature-logic"
    UNDOCUMENTED_INPUT = "undocumented-input"


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def weight(self) -> int:
        return {"low": 1, "medium": 2, "high": 4}[self.value]


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return {"low": 0, "medium": 1, "high": 2}[self.value]


# Priority score thresholds; the README's "Impact model" section explains them.
PRIORITY_THRESHOLDS = ((Priority.HIGH, 4.0), (Priority.MEDIUM, 1.5))


@dataclass(frozen=True, slots=True)
class Impact:
    """What a finding costs: hours to fix, how likely it bites, and hours lost per month while it stays."""

    effort_hours: float
    risk: Risk
    risk_reason: str
    interest_hours_per_month: float

    @property
    def score(self) -> float:
        # Value of paying the debt down per hour of work: risk-weighted monthly interest over effort.
        return round(self.risk.weight * self.interest_hours_per_month / max(self.effort_hours, 0.25), 2)

    @property
    def priority(self) -> Priority:
        for level, threshold in PRIORITY_THRESHOLDS:
            if self.score >= threshold:
                return level
        return Priority.LOW

    def to_dict(self) -> dict[str, Any]:
        return {
            "effort_hours": self.effort_hours,
            "risk": self.risk.value,
            "risk_reason": self.risk_reason,
            "interest_hours_per_month": self.interest_hours_per_month,
            "score": self.score,
            "priority": self.priority.value,
        }


@dataclass(frozen=True, slots=True)
class Location:
    """A span in a file, path relative to the scanned root; lines and columns are 1-based.

    For a notebook, ``cell`` is the cell as Jupyter shows it (the N-th cell of the notebook, 1-based, markdown and
    raw cells counted), ``line`` and ``end_line`` are lines inside that cell, and ``file_line`` and
    ``file_end_line`` are the lines of the .ipynb file (its JSON text) that hold them, for tools that show the
    file as text (SARIF).
    """

    path: str
    line: int
    column: int = 1
    end_line: int = 0
    end_column: int = 0
    cell: int | None = None
    file_line: int = 0
    file_end_line: int = 0

    def __post_init__(self) -> None:
        if self.end_line < self.line:
            object.__setattr__(self, "end_line", self.line)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
        }
        if self.cell is not None:
            data["cell"] = self.cell
            if self.file_line:
                data["file_line"] = self.file_line
        return data

    @property
    def cited(self) -> str:
        return cite(self.path, self.line, self.cell)


def cite(path: str, line: int, cell: int | None = None) -> str:
    """How a message names a place: ``path:line``, or ``path cell N line M`` inside a notebook."""
    return f"{path}:{line}" if cell is None else f"{path} cell {cell} line {line}"


@dataclass(frozen=True, slots=True)
class Case:
    """An example repository for a rule and the findings it must produce: ``(rule_id, path, line)``."""

    name: str
    files: Mapping[str, str]
    expect: tuple[tuple[str, str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule's identity and documentation, declared once; feeds the CLI, SARIF, issues and docs."""

    id: str
    name: str
    kind: Kind
    summary: str
    why: str
    example: str
    fix: str
    options: Mapping[str, Any] = field(default_factory=dict)
    cases: tuple[Case, ...] = ()
    merged_into: str = ""  # a retired rule: its id stays reserved, its findings are now the named rule's


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    kind: Kind
    message: str
    location: Location
    symbol: str
    fingerprint: str
    impact: Impact
    related: tuple[Location, ...] = ()
    fix: str = ""

    @property
    def locations(self) -> tuple[Location, ...]:
        return (self.location, *self.related)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule_id,
            "kind": self.kind.value,
            "message": self.message,
            "path": self.location.path,
            "line": self.location.line,
            "column": self.location.column,
            "end_line": self.location.end_line,
            **({"cell": self.location.cell} if self.location.cell is not None else {}),
            **({"file_line": self.location.file_line} if self.location.cell is not None and self.location.file_line
               else {}),
            "symbol": self.symbol,
            "fingerprint": self.fingerprint,
            "impact": self.impact.to_dict(),
            "fix": self.fix,
            "locations": [loc.to_dict() for loc in self.locations],
        }


@dataclass(frozen=True, slots=True)
class Problem:
    """A file (or, with ``cell``, one notebook cell as Jupyter numbers it) that could not be analysed, and why;
    the scan goes on without it."""

    path: str
    reason: str
    message: str
    cell: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "reason": self.reason, "message": self.message}
        if self.cell is not None:
            data["cell"] = self.cell
        return data


@dataclass(slots=True)
class AnalysisResult:
    findings: list[Finding] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


_SPACE = re.compile(r"\s+")


def normalize_anchor(code: str) -> str:
    """The flagged code with comments and white space folded, so reformatting keeps the fingerprint."""
    lines = [line.split("#", 1)[0] if "#" in line and "'" not in line and '"' not in line else line
             for line in code.splitlines()]
    return _SPACE.sub("", "".join(lines))


def fingerprint(rule_id: str, path: str, scope: str, anchor: str) -> str:
    payload = "\x1f".join((rule_id, path, scope, normalize_anchor(anchor)))
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def new_finding(
    rule: Rule,
    location: Location,
    *,
    symbol: str,
    message: str,
    impact: Impact,
    anchor: str = "",
    scope: str = "",
    related: tuple[Location, ...] = (),
    fix: str = "",
) -> Finding:
    """The one way to make a finding: the fingerprint comes from content (rule, path, scope, anchor), never lines."""
    return Finding(
        rule_id=rule.id,
        kind=rule.kind,
        message=message,
        location=location,
        symbol=symbol,
        fingerprint=fingerprint(rule.id, location.path, scope, anchor or symbol),
        impact=impact,
        related=related,
        fix=fix or rule.fix,
    )
