"""The Markdown job summary of a saved JSON report (`paydown summary`), as the GitHub Action writes it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from paydown.templating import render

from .finding import Kind, Priority

TOP_ITEMS = 10


def _row(kind: str, findings: list[Mapping[str, Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {"kind": kind, "total": len(findings),
                           "effort": round(sum(f["impact"]["effort_hours"] for f in findings), 2)}
    row.update({p.value: sum(1 for f in findings if f["impact"]["priority"] == p.value) for p in Priority})
    return row


def totals(report: Mapping[str, Any]) -> dict[str, Any]:
    """Findings per kind and per priority, and the effort, of a JSON report: what the summary's table says."""
    findings = list(report["findings"])
    kinds = [_row(kind.value, [f for f in findings if f["kind"] == kind.value]) for kind in Kind]
    whole = _row("", findings)
    return {"total": whole["total"], "kinds": [row for row in kinds if row["total"]],
            "priorities": {p.value: whole[p.value] for p in Priority}, "effort": whole["effort"]}


def render_summary(report: Mapping[str, Any], baseline: Collection[str] | None = None) -> str:
    """The summary: totals by kind and priority, the top items by score, and, with a baseline's fingerprints,
    the findings not in it."""
    findings = list(report["findings"])
    ranked = sorted(findings, key=lambda f: (-f["impact"]["score"], f["path"], f["line"]))
    new = None
    new_more = new_count = 0
    if baseline is not None:
        fresh = [f for f in ranked if f["fingerprint"] not in baseline]
        new, new_count = fresh[:TOP_ITEMS * 3], len(fresh)
        new_more = new_count - len(new)
    return render("report/summary.md.j2", **totals(report), top=ranked[:TOP_ITEMS], new=new, new_more=new_more,
                  new_count=new_count,
                  errors=len({e["path"] for e in report.get("errors", [])}), warnings=len(report.get("warnings", [])))
