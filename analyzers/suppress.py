"""Inline suppression, applied in one place for every analyzer: `# paydown: ignore[PD201]` on the line.

Names are matched without regard to case (`pd201`, `Unpinned-Requirement`). A suppression naming no rule or kind
paydown knows, or one that silences nothing, is a warning, so suppressions do not rot (ruff's unused-noqa).
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .finding import Finding, Kind, Rule

SUPPRESSION_MARK = "paydown:"  # cheap pre-check before the regex
SUPPRESSION = re.compile(r"#\s*paydown:\s*ignore(?:\[(?P<names>[^\]]*)\])?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ScanWarning:
    """Something about the scanned code that is not debt but needs a look: a suppression that rotted."""

    path: str
    line: int
    reason: str  # "unknown-suppression" | "unused-suppression"
    message: str
    cell: int | None = None  # a notebook: ``line`` is then the line in this cell, as Jupyter shows it

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "line": self.line, "reason": self.reason, "message": self.message}
        if self.cell is not None:
            data["cell"] = self.cell
        return data


def suppression_names(line_text: str) -> tuple[str, ...] | None:
    """The names a suppression on the line lists, as written; () for a bare one; None when there is none."""
    match = SUPPRESSION.search(line_text)
    if match is None:
        return None
    names = match.group("names")
    return () if names is None else tuple(name.strip() for name in names.split(",") if name.strip())


def _matches(names: Iterable[str], rule: Rule) -> bool:
    return bool({name.lower() for name in names} & {rule.id.lower(), rule.name.lower(), rule.kind.value})


def suppressed(finding: Finding, rule: Rule, line_text: str) -> bool:
    """True when the finding's line carries a suppression naming it (or naming nothing, which means all)."""
    names = suppression_names(line_text)
    if names is None:
        return False
    return not names or _matches(names, rule)


def comment_lines(path: str, text: str) -> set[int] | None:
    """Lines of a Python file whose comment holds a suppression; None when the file does not tokenize, or is not
    Python (then every marked line counts). A suppression quoted inside a string is not one."""
    if not path.endswith(".py"):
        return None
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    return {tok.start[0] for tok in tokens if tok.type == tokenize.COMMENT and SUPPRESSION.search(tok.string)}


def suppression_warnings(path: str, marked: dict[int, str], used: set[int], rules: Iterable[Rule],
                         enabled: Iterable[Rule]) -> list[ScanWarning]:
    """Warnings for the suppressions of one file: ``marked`` maps lines to their text, ``used`` are the lines that
    silenced a finding. A suppression of a rule that did not run (``--select``) is not called unused."""
    rules = tuple(rules)
    known = {kind.value for kind in Kind} | {n.lower() for rule in rules for n in (rule.id, rule.name)}
    running = tuple(enabled)
    warnings: list[ScanWarning] = []
    for line, text in sorted(marked.items()):
        names = suppression_names(text)
        if names is None:
            continue
        unknown = [name for name in names if name.lower() not in known]
        if unknown:
            warnings.append(ScanWarning(path, line, "unknown-suppression",
                                    f"# paydown: ignore names {', '.join(map(repr, unknown))}, which is no rule or "
                                    "kind (see `paydown rules`)"))
        if line in used:
            continue
        might_run = len(running) == len(rules) if not names else any(_matches(names, rule) for rule in running)
        if might_run and len(unknown) < len(names or ("",)):
            listed = f"[{', '.join(names)}]" if names else ""
            warnings.append(ScanWarning(path, line, "unused-suppression",
                                    f"# paydown: ignore{listed} silences nothing on this line; remove it"))
    return warnings
