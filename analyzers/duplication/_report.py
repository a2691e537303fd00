"""A clone group told as a finding: where the copies are, their first real difference, their roles, and the fix."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from ..finding import Finding, Impact, Location, Risk, Rule, new_finding
from ..notebook import cite_line
from ..snapshot import RepoSnapshot
from . import _diverge, _roles
from ._extract import Block, Statement

_ROLE_ORDER = (_roles.TRAINING, _roles.NOTEBOOK, _roles.EVALUATION, _roles.BATCH, _roles.SERVING, _roles.LIBRARY)
_SHOWN_COPIES = 3
_WIDTH = 80
_COMMENT = re.compile(r"""#[^\n'"]*$""", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Copy:
    path: str
    role: str  # what the file or function is: training, serving, ..., library
    reach: str | None  # the role its entry points give it, when they say one
    block: Block
    statements: tuple[Statement, ...]
    together: tuple[str, ...] = ()  # functions copied along with this one in its file (a tokeniser's decode)
    generates: bool = False  # a prompt template's copy whose function passes the text to the model

    @property
    def location(self) -> Location:
        whole = self.statements == self.block.statements
        line = self.block.line if whole else self.statements[0].line
        return Location(self.path, line, 1, self.statements[-1].end_line)

    @property
    def name(self) -> str | None:
        """The copied function's name, or None for a run of module-level statements."""
        last = self.block.qualname.rsplit(".", 1)[-1]
        return last if last.isidentifier() and self.statements == self.block.statements else None

    @property
    def names(self) -> str | None:
        """The copied functions as the message names them: "`encode` and `decode`" when copied together."""
        if self.name is None:
            return None
        named = [f"`{n}`" for n in dict.fromkeys([self.name, *self.together])]
        return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]


def order_key(copy: Copy) -> tuple[int, str, int]:
    return _ROLE_ORDER.index(copy.role), copy.path, copy.block.line


def _where(snapshot: RepoSnapshot, path: str, line: int) -> str:
    return cite_line(snapshot.files, path, line)


def _text(snapshot: RepoSnapshot, path: str, statement: Statement) -> str:
    """A whole statement on one line, comments dropped: never a fragment of a multi-line expression."""
    file = snapshot.files.get(path)
    if file is None:
        return ""
    lines = [file.line_text(n) for n in range(statement.line, statement.end_line + 1)]
    return " ".join(_COMMENT.sub("", line).strip() for line in lines if _COMMENT.sub("", line).strip())


def _clip(text: str, at: int) -> str:
    """``text`` cut to the width around position ``at`` (where it first differs from the other copy)."""
    if len(text) <= _WIDTH:
        return f"`{text}`"
    start = max(0, min(at - 25, len(text) - _WIDTH + 3))
    head = "..." if start else ""
    body = text[start:start + _WIDTH - len(head) - 3]
    return f"`{head}{body}...`" if start + len(body) < len(text) else f"`{head}{body}`"


def _describe(snapshot: RepoSnapshot, difference: _diverge.Difference, primary: Copy, other: Copy) -> str | None:
    mine, theirs = difference.primary, difference.other
    if mine is not None and theirs is not None:
        a, b = _text(snapshot, primary.path, mine), _text(snapshot, other.path, theirs)
        if a == b:
            return None  # differs only in local names or quoting: not a difference worth showing
        at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        return (f"{_clip(a, at)} at {_where(snapshot, primary.path, mine.line)} became {_clip(b, at)} at "
                f"{_where(snapshot, other.path, theirs.line)}")
    if theirs is not None:
        return (f"{_clip(_text(snapshot, other.path, theirs), 0)} at {_where(snapshot, other.path, theirs.line)} "
                f"is not in the copy at {_where(snapshot, primary.path, primary.location.line)}")
    assert mine is not None
    return (f"{_clip(_text(snapshot, primary.path, mine), 0)} at {_where(snapshot, primary.path, mine.line)} "
            f"is missing from the copy at {_where(snapshot, other.path, other.location.line)}")


def first_difference(snapshot: RepoSnapshot, copies: list[Copy]) -> tuple[str | None, int]:
    """The first real difference between the first copy and any other, and how many differences there are."""
    shown, count = None, 0
    for other in copies[1:]:
        for difference in _diverge.differences(copies[0].statements, other.statements):
            told = _describe(snapshot, difference, copies[0], other)
            if told is not None:
                count += 1
                shown = shown or told
    return shown, count


def _places(snapshot: RepoSnapshot, copies: list[Copy]) -> str:
    cited = [_where(snapshot, c.path, c.location.line) for c in copies]
    if len(cited) <= _SHOWN_COPIES:
        return ", ".join(cited)
    rest = sorted({posixpath.dirname(c.path) or "." for c in copies[_SHOWN_COPIES:]})
    folders = ", ".join(f"{f}/" for f in rest[:2]) + (f" ... {rest[-1]}/" if len(rest) > 2 else "")
    more = len(cited) - _SHOWN_COPIES
    return ", ".join(cited[:_SHOWN_COPIES]) + f" and {more} more cop{'ies' if more > 1 else 'y'} (in {folders})"


def _fix(copies: list[Copy]) -> str:
    name = copies[0].names
    home = next((c.path for c in copies if c.role == _roles.LIBRARY), None)
    home = home or posixpath.join(posixpath.dirname(copies[0].path), "features.py")
    what = name if name else f"lines {copies[0].location.line}-{copies[0].location.end_line} of " \
                                    f"{copies[0].path} as a function"
    callers = ", ".join(f"{c.path} ({c.block.qualname})" for c in copies if c.path != home)
    them = "them" if copies[0].name and copies[0].together else "it"
    return f"Keep {what} once, in {home}, and import {them} from {callers}."


def build(rule: Rule, copies: list[Copy], snapshot: RepoSnapshot, risk: Risk, reason: str,
          note: str = "") -> Finding:
    """The finding of one clone group; ``copies[0]`` is the anchor, ``note`` says why its priority is low."""
    primary, others = copies[0], copies[1:]
    shown, count = first_difference(snapshot, copies)
    size = max(len(c.statements) for c in copies)
    what = primary.names or f"{size} statements of feature logic"
    places = f"{len(copies)} copies: {_places(snapshot, copies)}"
    if shown:
        more = f" (and {count - 1} more difference{'s' if count > 2 else ''})" if count > 1 else ""
        message = f"Copies of {what} have diverged: {shown}{more}. {places}."
    else:
        verb = "is" if primary.name and not primary.together else "are"
        message = f"{what[0].upper()}{what[1:]} {verb} copied identically. {places}."
    if len({c.role for c in copies}) > 1:
        roles = sorted({c.role for c in copies}, key=_ROLE_ORDER.index)
        message += f" Roles: {', '.join(roles)}" + (" (training/serving skew)." if risk is Risk.HIGH else ".")
    if note:
        message += f" Low priority: {note}."
    smallest = min(copies, key=lambda c: (len(c.statements), c.path))
    anchor = ",".join(sorted(f"{s.shape:016x}" for s in smallest.statements))
    weight = 0.1 if risk is Risk.LOW and note else 0.2
    return new_finding(
        rule, primary.location, symbol=primary.block.qualname, message=message, anchor=anchor,
        scope=primary.block.qualname, related=tuple(c.location for c in others), fix=_fix(copies),
        impact=Impact(effort_hours=round(0.5 + 0.5 * len(others) + size / 20, 2), risk=risk, risk_reason=reason,
                      interest_hours_per_month=round(weight * len(copies) * (1 + size / 10) * (2 if shown else 1),
                                                     2)),
    )


@dataclass(frozen=True, slots=True)
class Template:
    """A prompt template the copies build: its text, whether one copy writes it out with its fields filled in,
    and the drift already seen between them."""

    text: str
    filled: bool = False
    drift: str = ""


def build_template(rule: Rule, copies: list[Copy], snapshot: RepoSnapshot, risk: Risk, reason: str,
                   template: Template, note: str = "") -> Finding:
    """The finding of a prompt template built by hand in several functions; ``copies[0]`` passes it to the model."""
    primary, others = copies[0], copies[1:]
    shown = _clip(template.text.replace("\n", "\\n"), 0)
    if template.filled:
        at = _where(snapshot, primary.path, primary.location.line)
        message = (f"The prompt {primary.block.qualname} gives the model at {at} is the model-input template {shown} "
                   f"written out by hand with its fields filled in: {_places(snapshot, copies)}. It must match the "
                   "template character for character")
        message += f", and {template.drift}." if template.drift else "."
    else:
        message = (f"The model-input template {shown} is built by hand in {len(copies)} functions: "
                   f"{_places(snapshot, copies)}. The text {primary.block.qualname} gives the model must match what "
                   f"{'the other builds' if len(copies) == 2 else 'the others build'}, character for character.")
    if len({c.role for c in copies}) > 1:
        roles = sorted({c.role for c in copies}, key=_ROLE_ORDER.index)
        message += f" Roles: {', '.join(roles)}" + (" (training/serving skew)." if risk is Risk.HIGH else ".")
    if note:
        message += f" Low priority: {note}."
    home = next((c for c in others if not c.generates), others[0])
    held = "at module level" if home.block.qualname == "<module>" else home.block.qualname
    fix = (f"Keep the template once, as a constant or a function in {home.path} ({held}), and "
           f"build the text with it in " + ", ".join(f"{c.path} ({c.block.qualname})" for c in copies if c is not home)
           + ".")
    return new_finding(
        rule, primary.location, symbol=primary.block.qualname, message=message, anchor=template.text,
        scope=primary.block.qualname, related=tuple(c.location for c in others), fix=fix,
        impact=Impact(effort_hours=round(0.5 + 0.25 * len(others), 2), risk=risk, risk_reason=reason,
                      interest_hours_per_month=round((0.1 if note else 0.2) * len(copies), 2)),
    )
