"""Inline suppression, applied in one place for every analyzer: `# paydown: ignore[PD201]` on the line."""

from __future__ import annotations

import re

from .finding import Finding, Rule

SUPPRESSION_MARK = "paydown:"  # cheap pre-check before the regex
SUPPRESSION = re.compile(r"#\s*paydown:\s*ignore(?:\[(?P<names>[^\]]*)\])?", re.IGNORECASE)


def suppressed(finding: Finding, rule: Rule, line_text: str) -> bool:
    """True when the finding's line carries a suppression naming it (or naming nothing, which means all)."""
    match = SUPPRESSION.search(line_text)
    if match is None:
        return False
    names = match.group("names")
    if names is None:
        return True
    wanted = {name.strip() for name in names.split(",") if name.strip()}
    return bool(wanted & {rule.id, rule.name, rule.kind.value})
