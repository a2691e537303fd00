"""Every output format of a report, rendered in one place: text for people, JSON, and SARIF 2.1.0."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from paydown import __version__
from paydown.templating import render

from . import ALL_RULES, terminal
from .finding import Kind, Location, Priority, Rule
from .runner import Report

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = {Priority.HIGH: "error", Priority.MEDIUM: "warning", Priority.LOW: "note"}


def rule_help(rule: Rule) -> str:
    """The rule's documentation under fixed headings, as `paydown explain` prints it."""
    return render("rules/explain.txt.j2", rule=rule)


def render_text(report: Report, colour: bool = False, width: int = terminal.PIPE_WIDTH, *, quiet: bool = False,
                statistics: bool = False) -> str:
    """The report for people: by priority then file, wrapped to ``width``, closed by one summary line.
    ``statistics`` prints counts per rule instead of the findings; ``quiet`` prints the findings only."""
    if statistics:
        lines = [*terminal.statistics_lines(report.findings), terminal.Line("")]
    else:
        lines = terminal.finding_lines(report.findings, quiet=quiet)
    if not quiet:
        lines.extend(_how_to_fix(report))
        lines.extend(terminal.summary_lines(report))
    return terminal.layout(lines, width, colour) if lines else ""


def _how_to_fix(report: Report) -> list[terminal.Line]:
    """Advice a kind's findings share, said once per run rather than under each finding."""
    inputs = sum(1 for f in report.findings if f.kind is Kind.UNDOCUMENTED_INPUT)
    if not inputs:
        return []
    return [terminal.Line(str(terminal.words().declare_inputs(inputs)).strip()), terminal.Line("")]


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


def _sarif_location(location: Location, prefix: str = "") -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": quote(prefix + location.path), "uriBaseId": "%SRCROOT%"},
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


def render_sarif(report: Report, prefix: str = "") -> str:
    """SARIF 2.1.0 for code scanning. ``prefix`` is the scanned folder's path inside its repository
    (``ml/``), since code scanning reads every URI from the repository's root."""
    rules = list(ALL_RULES)
    index = {rule.id: i for i, rule in enumerate(rules)}
    results = []
    for finding in report.findings:
        result: dict[str, Any] = {
            "ruleId": finding.rule_id,
            "ruleIndex": index[finding.rule_id],
            "level": _LEVELS[finding.impact.priority],
            "message": {"text": finding.message},
            "locations": [_sarif_location(finding.location, prefix)],
            "partialFingerprints": {"paydown/v1": finding.fingerprint},
            "properties": {"symbol": finding.symbol, "impact": finding.impact.to_dict()},
        }
        if finding.related:
            result["relatedLocations"] = [
                {"id": i, **_sarif_location(loc, prefix), "message": {"text": "another copy"}}
                for i, loc in enumerate(finding.related, start=1)
            ]
        results.append(result)
    notifications = [
        {
            "level": "warning",
            "message": {"text": f"{problem.path}: {problem.reason}: {problem.message}"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": quote(prefix + problem.path),
                                                                     "uriBaseId": "%SRCROOT%"}}}],
            "descriptor": {"id": problem.reason},
            **({"properties": {"notebookCell": problem.cell}} if problem.cell is not None else {}),
        }
        for problem in report.errors
    ]
    notifications.extend(
        {
            "level": "warning",
            "message": {"text": f"{warning.path}:{warning.line}: {warning.message}"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": quote(prefix + warning.path),
                                                                     "uriBaseId": "%SRCROOT%"},
                                                **({"region": {"startLine": warning.line}}
                                                   if warning.cell is None else {})}}],
            "descriptor": {"id": warning.reason},
            **({"properties": {"notebookCell": warning.cell, "notebookCellLine": warning.line}}
               if warning.cell is not None else {}),
        }
        for warning in report.warnings
    )
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
