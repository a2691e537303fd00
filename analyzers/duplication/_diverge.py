"""Where two copies of the same logic differ, statement by statement: a changed line, an extra or a missing step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from ._extract import Statement

CHANGED = "changed"
EXTRA = "extra"  # a step only the other copy has
MISSING = "missing"  # a step the other copy lacks


@dataclass(frozen=True, slots=True)
class Difference:
    kind: str
    primary: Statement | None
    other: Statement | None


def differences(primary: Sequence[Statement], other: Sequence[Statement]) -> list[Difference]:
    """Align on the normalised shape, then compare literals and names within aligned statements."""
    found: list[Difference] = []
    matcher = SequenceMatcher(None, [s.shape for s in primary], [s.shape for s in other], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            found.extend(Difference(CHANGED, a, b) for a, b in zip(primary[i1:i2], other[j1:j2], strict=True)
                         if a.exact != b.exact)
            continue
        paired = min(i2 - i1, j2 - j1)
        found.extend(Difference(CHANGED, primary[i1 + k], other[j1 + k]) for k in range(paired))
        found.extend(Difference(MISSING, a, None) for a in primary[i1 + paired:i2])
        found.extend(Difference(EXTRA, None, b) for b in other[j1 + paired:j2])
    return found
