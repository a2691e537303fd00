"""The text report laid out for a terminal, as ruff and pytest do it: by priority then file, wrapped to the width,
advice shared by a group said once. The words are macros of `templates/report/text.txt.j2`."""

from __future__ import annotations

import re
import shutil
import textwrap
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from paydown.templating import environment

from . import ALL_RULES
from .finding import Finding, Location, Priority

PIPE_WIDTH = 100  # the width when stdout is no terminal and COLUMNS is unset
_INDENT = "    "
_NBSP = "\xa0"  # joins the `path:line:col: RULE` head so wrapping never splits it
_COLOURS = {Priority.HIGH: "\033[31m", Priority.MEDIUM: "\033[33m", Priority.LOW: "\033[36m"}
_BOLD, _DIM, _RESET = "\033[1m", "\033[2m", "\033[0m"
_RULES = {rule.id: rule for rule in ALL_RULES}


def terminal_width() -> int:
    """COLUMNS, else the terminal's width, else 100 (pipes and CI logs); never under 40."""
    return max(shutil.get_terminal_size((PIPE_WIDTH, 24)).columns, 40)


def words() -> Any:
    """The macros holding the text report's words."""
    return environment().get_template("report/text.txt.j2").module


@dataclass(frozen=True, slots=True)
class Line:
    """One logical line before wrapping: its indent, its text, and how to colour it."""

    text: str
    indent: str = ""
    style: str = ""  # "bold" | "dim" | a priority's value, to colour the rule id in a finding's head
    rule_id: str = ""


def where(location: Location) -> str:
    if location.cell is not None:
        return f"{location.path}:cell {location.cell}:{location.line}:{location.column}"
    return f"{location.path}:{location.line}:{location.column}"


def _split(message: str) -> tuple[str, str]:
    """A message as (what is wrong, what to do): paydown's messages put the advice after the first '; '."""
    what, sep, advice = message.partition("; ")
    return (what, advice) if sep else (message, "")


def _generic(text: str, symbol: str) -> str:
    """The text with the finding's own name made a placeholder, so advice for pandas and numpy compares equal."""
    if not symbol or not text:
        return text
    return re.sub(rf"(?<![\w./-]){re.escape(symbol)}(?![\w/-])", "<name>", text)


def _blocks(findings: list[Finding]) -> list[list[Finding]]:
    """One file's findings of one priority in blocks: findings of a rule sharing their advice go together."""
    buckets: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    blocks: list[list[Finding]] = []
    for finding in findings:
        advice = _generic(_split(finding.message)[1], finding.symbol)
        if advice:
            buckets[(finding.rule_id, advice)].append(finding)
        else:
            blocks.append([finding])
    for members in buckets.values():
        blocks.extend([members] if len(members) > 1 else [[m] for m in members])
    return sorted(blocks, key=lambda block: _order(block[0]))


def _order(finding: Finding) -> tuple[int, int, int]:
    return (finding.location.cell or 0, finding.location.line, finding.location.column)


def _shared(texts: Iterable[str]) -> str:
    distinct = set(texts)
    return distinct.pop() if len(distinct) == 1 else ""


def _head_line(finding: Finding, text: str, indent: str = "") -> Line:
    """A finding's first line, `path:line:col: RULE text`, its head joined so wrapping keeps it whole."""
    head = where(finding.location).replace(" ", _NBSP)
    rendered = str(words().finding(head, finding.rule_id, text)).strip()
    rendered = rendered.replace(f"{head}: {finding.rule_id} ", f"{head}:{_NBSP}{finding.rule_id} ", 1)
    return Line(rendered, indent, finding.impact.priority.value, finding.rule_id)


def _finding_lines(block: list[Finding], quiet: bool) -> list[Line]:
    w = words()
    lines: list[Line] = []
    grouped = len(block) > 1
    reason = _shared(_generic(f.impact.risk_reason, f.symbol) for f in block) if grouped else ""
    if grouped and not quiet:
        first = block[0]
        lines.append(Line(str(w.group(first.location.path, len(block), _RULES[first.rule_id],
                                      _generic(_split(first.message)[1], first.symbol), reason)).strip(),
                          style="bold"))
    for finding in block:
        lines.append(_head_line(finding, _split(finding.message)[0] if grouped else finding.message))
        if quiet:
            continue
        lines.append(Line(str(w.detail(finding.impact, "" if reason else finding.impact.risk_reason)).strip(),
                          _INDENT, "dim"))
        lines.extend(Line(str(w.related(where(loc))).strip(), _INDENT, "dim") for loc in finding.related)
    return lines


def finding_lines(findings: Sequence[Finding], quiet: bool = False) -> list[Line]:
    """Findings by priority (high first), then by file, then by line; a blank line between files."""
    w = words()
    lines: list[Line] = []
    for priority in sorted(Priority, key=lambda p: -p.rank):
        chosen = [f for f in findings if f.impact.priority is priority]
        if not chosen:
            continue
        if not quiet:
            lines.append(Line(str(w.section(priority.value, len(chosen))).strip(), style="bold"))
            lines.append(Line(""))
        by_path: dict[str, list[Finding]] = defaultdict(list)
        for finding in chosen:
            by_path[finding.location.path].append(finding)
        for path in sorted(by_path):
            for block in _blocks(sorted(by_path[path], key=_order)):
                lines.extend(_finding_lines(block, quiet))
            if not quiet:
                lines.append(Line(""))
    return lines


def summary_lines(report: Any) -> list[Line]:
    """Errors, warnings, what the baseline hid, and the closing count."""
    w = words()
    lines: list[Line] = []
    if report.errors:
        lines.append(Line(str(w.errors_heading(len({e.path for e in report.errors}))).strip(), style="bold"))
        lines.extend(Line(str(w.error(e)).strip(), "  ") for e in report.errors)
        lines.append(Line(""))
    if report.warnings:
        lines.append(Line(str(w.warnings_heading(len(report.warnings))).strip(), style="bold"))
        lines.extend(Line(str(w.warning(x)).strip(), "  ") for x in report.warnings)
        lines.append(Line(""))
    hidden = report.stats.get("baseline_hidden")
    if hidden is not None:
        lines.append(Line(str(w.baseline_hidden(hidden)).strip()))
    findings = report.findings
    priorities = {p.value: sum(1 for f in findings if f.impact.priority is p) for p in Priority}
    kinds = Counter(f.kind.value for f in findings).most_common()
    lines.append(Line(str(w.summary(len(findings), priorities, kinds, sum(f.impact.effort_hours for f in findings),
                                    len({e.path for e in report.errors}), report.stats.get("files", 0))).strip()))
    return lines


def statistics_lines(findings: Sequence[Finding]) -> list[Line]:
    """Counts per rule, most frequent first, as `ruff --statistics` prints them."""
    w = words()
    counts = Counter(f.rule_id for f in findings)
    return [Line(str(w.statistics_row(n, _RULES[rule_id])).rstrip()) for rule_id, n in
            sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def fail_on_lines(findings: Sequence[Finding], level: Priority, limit: int = 10) -> list[Line]:
    """Which findings reached ``--fail-on``, the worst first, at most ``limit`` of them."""
    w = words()
    reached = sorted((f for f in findings if f.impact.priority.rank >= level.rank),
                     key=lambda f: (-f.impact.priority.rank, f.location.path, _order(f)))
    lines = [Line(str(w.fail_on(len(reached), level.value)).strip())]
    lines.extend(_head_line(finding, _split(finding.message)[0], "  ") for finding in reached[:limit])
    if len(reached) > limit:
        lines.append(Line(str(w.fail_on_more(len(reached) - limit)).strip(), "  "))
    return lines


def _paint(text: str, line: Line, first: bool) -> str:
    if line.style == "bold":
        return f"{_BOLD}{text}{_RESET}"
    if line.style == "dim":
        return f"{_DIM}{text}{_RESET}"
    if line.rule_id and first and line.style in {p.value for p in Priority}:
        colour = _COLOURS[Priority(line.style)]
        return re.sub(rf"(: )({re.escape(line.rule_id)})( |$)", rf"\1{colour}\2{_RESET}\3", text, count=1)
    return text


def layout(lines: Iterable[Line], width: int, colour: bool = False) -> str:
    """Wrap every line to ``width`` (continuations indented), then colour; no line is ever wider."""
    out: list[str] = []
    for line in lines:
        if not line.text:
            out.append("")
            continue
        wrapped = textwrap.wrap(line.text, width, initial_indent=line.indent,
                                subsequent_indent=line.indent + _INDENT, break_on_hyphens=False,
                                break_long_words=True) or [line.indent]
        for index, piece in enumerate(wrapped):
            piece = piece.replace(_NBSP, " ")
            out.append(_paint(piece, line, index == 0) if colour else piece)
    return "\n".join(out) + "\n"
