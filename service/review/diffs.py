"""Unified-diff hunks as line numbers: which lines a pull request adds, which it touches, where a comment may go."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..github import PullFile

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of a hunk: `+` added, `-` removed, ` ` context; `old`/`new` are its numbers on each side
    (for an added line `old` is the base line it follows, for a removed line `new` the head line it precedes)."""

    op: str
    old: int
    new: int
    hunk: int


def parse_patch(patch: str | None) -> list[DiffLine]:
    """Every line inside the hunks of a patch (GitHub's `patch` field or whole `git diff` output).

    Lines are counted against the hunk header, so a file header (`+++ b/x`) after a hunk is never taken for an
    added line, and a `\\ No newline at end of file` marker counts for nothing.
    """
    lines: list[DiffLine] = []
    old = new = old_left = new_left = 0
    hunk = -1
    for text in (patch or "").splitlines():
        if old_left <= 0 and new_left <= 0:
            header = _HUNK.match(text)
            if header is None:
                continue
            old, new = int(header[1]), int(header[3])
            old_left = 1 if header[2] is None else int(header[2])
            new_left = 1 if header[4] is None else int(header[4])
            # A side of length 0 names the line *before* the hunk; the next line on that side is one more.
            old, new, hunk = (old + 1 if old_left == 0 else old), (new + 1 if new_left == 0 else new), hunk + 1
            continue
        op = text[:1] or " "  # some tools strip the single space of an empty context line
        if op == "\\":
            continue
        if op == "+":
            lines.append(DiffLine("+", old - 1, new, hunk))
            new, new_left = new + 1, new_left - 1
        elif op == "-":
            lines.append(DiffLine("-", old, new, hunk))
            old, old_left = old + 1, old_left - 1
        else:
            lines.append(DiffLine(" ", old, new, hunk))
            old, new, old_left, new_left = old + 1, new + 1, old_left - 1, new_left - 1
    return lines


def added_lines(patch: str | None) -> set[int]:
    """Head-side line numbers of the lines the patch adds."""
    return {line.new for line in parse_patch(patch) if line.op == "+"}


def commentable_lines(patch: str | None) -> set[int]:
    """Head-side (RIGHT) line numbers inside the hunks: added and context lines, where a review comment may go."""
    return {line.new for line in parse_patch(patch) if line.op != "-"}


def changed_lines(files: Sequence[PullFile]) -> dict[str, set[int]]:
    """Head path -> added lines, for every file of the pull request that adds any (a renamed file under its new
    name; a removed file adds nothing)."""
    changed = {}
    for file in files:
        if file.status == "removed":
            continue
        lines = added_lines(file.patch)
        if lines:
            changed[file.filename] = lines
    return changed


def _changes(lines: Sequence[DiffLine]) -> Iterator[tuple[DiffLine, int | None]]:
    """Each added or removed line with the head line a comment about it goes on (None when the hunk has no
    head-side line to anchor a comment)."""
    for index, line in enumerate(lines):
        if line.op == "+":
            yield line, line.new
            continue
        if line.op != "-":
            continue
        after = next((x.new for x in lines[index + 1:] if x.hunk == line.hunk and x.op != "-"), None)
        before = next((x.new for x in reversed(lines[:index]) if x.hunk == line.hunk and x.op != "-"), None)
        yield line, after if after is not None else before


def first_change_in_span(patch: str | None, start: int, end: int) -> int | None:
    """The first head line (a commentable one) of a change the patch makes inside base lines start..end; None
    when it changes nothing there.

    A removed line counts when it lies in the span; an added line when it is inserted between two lines of the
    span (after one of start..end-1), since lines added just before or after a block are not inside it.
    """
    for line, anchor in _changes(parse_patch(patch)):
        inside = start <= line.old <= end if line.op == "-" else start <= line.old < end
        if inside and anchor is not None:
            return anchor
    return None


def touches_span(patch: str | None, start: int, end: int) -> bool:
    """The patch changes some base line start..end (removed there, or inserted between two of them)."""
    for line in parse_patch(patch):
        if line.op == "-" and start <= line.old <= end:
            return True
        if line.op == "+" and start <= line.old < end:
            return True
    return False


def file_line(location: dict[str, Any]) -> int:
    """The line of the file as GitHub shows it (and diffs it): a notebook location's `line` counts inside its
    cell, so its .ipynb line is `file_line` (0 when unknown, from reports made before notebooks carried it)."""
    if "cell" in location:
        return int(location.get("file_line") or 0)
    return int(location["line"])
