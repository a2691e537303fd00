"""Every output format of a report, rendered in one place: text for people, JSON, and SARIF 2.1.0."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any
from urllib.parse import quote

from paydown import __version__
from paydown.templating import render

from . import ALL_RULES
from .finding import Finding, Location, Priority, Rule
from .runner import Report

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = {Priority.HIGH: "error", Priority.MEDIUM: "warning", Priority.LOW: "note"}
_COLOURS = {Priority.HIGH: "\033[31m", Priority.MEDIUM: "\033[33m", Priority.LOW: "\033[36m"}
_BOLD, _DIM, _RESET = "\033[1m", "\033[2m", "\033[0m"


def _where(location: Location) -> str:
    if location.cell is not None:
        return f"{location.path}:cell {location.cell}:{location.line}:{location.column}"
    return f"{location.path}:{location.line}:{location.column}"


def rule_help(rule: Rule) -> str:
    """The rule's documentation under fixed headings, as `paydown explain` prints it."""
    return render("rules/explain.txt.j2", rule=rule)


def render_text(report: Report, colour: bool = False) -> str:
    def paint(text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if colour else text

    by_path: dict[str, list[Finding]] = defaultdict(list)
    for finding in report.findings:
        by_path[finding.location.path].append(finding)
    out: list[str] = []
    for path in sorted(by_path):
        out.append(paint(path, _BOLD))
        for finding in sorted(by_path[path], key=lambda f: (f.location.cell or 0, f.location.line)):
            level = finding.impact.priority
            out.append(f"  {_where(finding.location)}: {paint(finding.rule_id, _COLOURS[level])} {finding.message}")
            out.append(paint(f"      {level.value} priority; effort {finding.impact.effort_hours:g} h, "
                             f"risk {finding.impact.risk.value} ({finding.impact.risk_reason}), interest "
                             f"{finding.impact.interest_hours_per_month:g} h/month", _DIM))
            out.extend(paint(f"      also at {_where(loc)}", _DIM) for loc in finding.related)
        out.append("")
    if report.errors:
        out.append(paint("Files that could not be analysed", _BOLD))
        out.extend(f"  {e.path}: {e.reason}: {e.message}" for e in report.errors)
        out.append("")
    effort = sum(f.impact.effort_hours for f in report.findings)
    counts = {p: sum(1 for f in report.findings if f.impact.priority is p) for p in Priority}
    out.append(
        f"{len(report.findings)} finding{'s' if len(report.findings) != 1 else ''} "
        f"({counts[Priority.HIGH]} high, {counts[Priority.MEDIUM]} medium, {counts[Priority.LOW]} low), "
        f"{effort:g} h estimated effort, {len(report.errors)} file error{'s' if len(report.errors) != 1 else ''}, "
        f"{report.stats.get('files', 0)} files scanned"
    )
    return "\n".join(out) + "\n"


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False) + "\n"


def _sarif_region(location: Location) -> dict[str, Any]:
    if location.cell is not None:
        # Code scanning shows the .ipynb as text: point at the lines of its JSON that hold the code, whole lines
        # (a column inside a cell is not a column of the escaped JSON string).
        start = max(location.file_line, 1)
        return {"startLine": start, "endLine": max(location.file_end_line, start)}
    region: dict[str, Any] = {"startLine": location.line, "startColumn": max(location.column, 1),
                              "endLine": max(location.end_line, location.line)}
    if location.end_column > 0 and location.end_line >= location.line:
        region["endColumn"] = max(location.end_column, 1 if location.end_line > location.line else region[
            "startColumn"])
    return region


def _sarif_location(location: Location) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": quote(location.path), "uriBaseId": "%SRCROOT%"},
                                "region": _sarif_region(location)}
    result: dict[str, Any] = {"physicalLocation": physical}
    if location.cell is not None:
        result["properties"] = {"notebookCell": location.cell, "notebookCellLine": location.line}
    return result


def _sarif_rule(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.why},
        "help": {"text": rule_help(rule)},
        "properties": {"kind": rule.kind.value, "tags": ["technical-debt", rule.kind.value]},
    }


def render_sarif(report: Report) -> str:
    rules = list(ALL_RULES)
    index = {rule.id: i for i, rule in enumerate(rules)}
    results = []
    for finding in report.findings:
        result: dict[str, Any] = {
            "ruleId": finding.rule_id,
            "ruleIndex": index[finding.rule_id],
            "level": _LEVELS[finding.impact.priority],
            "message": {"text": finding.message},
            "locations": [_sarif_location(finding.location)],
            "partialFingerprints": {"paydown/v1": finding.fingerprint},
            "properties": {"symbol": finding.symbol, "impact": finding.impact.to_dict()},
        }
        if finding.related:
            result["relatedLocations"] = [
                {"id": i, **_sarif_location(loc), "message": {"text": "another copy"}}
                for i, loc in enumerate(finding.related, start=1)
            ]
        results.append(result)
    notifications = [
        {
            "level": "warning",
            "message": {"text": f"{problem.path}: {problem.reason}: {problem.message}"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": quote(problem.path),
                                                                     "uriBaseId": "%SRCROOT%"}}}],
            "descriptor": {"id": problem.reason},
            **({"properties": {"notebookCell": problem.cell}} if problem.cell is not None else {}),
        }
        for problem in report.errors
    ]
    sarif = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "paydown", "version": __version__, "semanticVersion": __version__,
                                "rules": [
                                    _sarif_rule(rule) for rule in rules]}},
            "invocations": [{"executionSuccessful": True, "toolExecutionNotifications": notifications}],
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    }
    return json.dumps(sarif, indent=2) + "\n"


RENDERERS = {"json": render_json, "sarif": render_sarif}
