"""Backlog sync: findings become tracked GitHub issues, planned as a pure diff and applied idempotently."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from paydown.analyzers.config import Config
from paydown.templating import render

from ..github import Forbidden, Gone, InstallationClient, IssueRecord, NotFound
from ..logs import fields
from ..markdown import md_code, md_text
from ..settings import Settings
from ..store import models
from .items import (
    BEGIN,
    END,
    Item,
    Links,
    body_budget,
    fit,
    item_body,
    item_marker,
    item_title,
    items_from_findings,
    label_table,
    meets,
    merge_body,
    own_section,
    render_item_section,
)
from .items import hours as _hours
from .plan import (
    _ITEM_KEY,
    DASHBOARD_MARKER,
    DISMISSING_REASONS,
    IssueAction,
    Outcome,
    StoredItem,
    SyncPlan,
    match_issues,
    plan_sync,
    still_there_candidates,
)

__all__ = [
    "IssueAction",
    "Item",
    "StoredItem",
    "SyncPlan",
    "SyncReport",
    "apply_plan",
    "items_from_findings",
    "on_issue_event",
    "plan_sync",
    "sync_backlog",
]

log = logging.getLogger("paydown.backlog")

CHANGES_BEGIN = "<!-- paydown:changes -->"
CHANGES_END = "<!-- paydown:changes:end -->"
SHOWN_CHANGES = 20  # rows per group in the dashboard's "what changed"


@dataclass
class SyncReport:
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    commented: list[int] = field(default_factory=list)
    labels_created: list[str] = field(default_factory=list)
    numbers: dict[str, int] = field(default_factory=dict)
    dashboard_number: int | None = None
    dashboard_written: bool = False
    skipped: str | None = None
    done: set[str] = field(default_factory=set)

    @property
    def writes(self) -> int:
        return (len(self.created) + len(self.updated) + len(self.closed) + len(self.reopened) + len(self.commented)
                + len(self.labels_created) + self.dashboard_written)


# ---------------------------------------------------------------- the dashboard


def render_dashboard(plan: SyncPlan, numbers: Mapping[str, int], full_name: str, *,
                     previous: IssueRecord | None = None) -> str:
    """The dashboard issue's body: totals by kind, what changed, and every item ranked (cut to fit)."""
    links = plan.links
    rows = [_dashboard_row(rank, item, plan, numbers) for rank, item in enumerate(plan.items, 1)]
    context = {
        "marker": DASHBOARD_MARKER, "begin": BEGIN, "end": END, "changes_begin": CHANGES_BEGIN,
        "changes_end": CHANGES_END, "repo": md_code(full_name), "page_url": links.page,
        "totals": _totals(plan.items), "total": _total(plan.items), "threshold": plan.settings.issue_priority.value,
        "max_open": plan.settings.max_open_issues, "changes": _changes_text(plan, numbers, previous),
        "issued": sum(1 for o in plan.outcomes.values() if o.issue_state == "open" and o.state == "open"),
    }
    return fit(lambda shown: render("issues/dashboard.md.j2", **context, rows=rows[:shown], hidden=len(rows) - shown),
               len(rows), body_budget(previous))


def _dashboard_row(rank: int, item: Item, plan: SyncPlan, numbers: Mapping[str, int]) -> dict[str, Any]:
    outcome = plan.outcomes.get(item.key)
    number = numbers.get(item.key) or (outcome.issue_number if outcome else None)
    if outcome is not None and outcome.state == "dismissed":
        status = "dismissed"
    elif number and item.key not in plan.deferred and (outcome is None or outcome.issue_state != "closed"):
        status = "open"
    elif meets(item.priority, plan.settings.issue_priority) or number:
        status = "waiting"
    else:
        status = "below"
    return {"rank": rank, "title": item_title(item, code=lambda text: md_code(text, table=True)),
            "priority": item.priority, "effort": _hours(item.effort_hours),
            "interest": _hours(item.interest_hours_per_month) + "/month", "number": number, "status": status}


def _totals(items: Sequence[Item]) -> list[dict[str, Any]]:
    kinds: dict[str, list[Item]] = {}
    for item in items:
        kinds.setdefault(item.kind, []).append(item)
    return [{"kind": kind, **_total(group)} for kind, group in sorted(kinds.items())]


def _total(items: Sequence[Item]) -> dict[str, Any]:
    return {"count": len(items), "effort": _hours(sum(i.effort_hours for i in items)),
            "interest": _hours(sum(i.interest_hours_per_month for i in items)) + "/month"}


def _changes_text(plan: SyncPlan, numbers: Mapping[str, int], previous: IssueRecord | None) -> str:
    """This scan's changes; when nothing changed, the last ones stay (so an unchanged scan writes nothing)."""
    if not any(plan.changes.values()) and not plan.first:
        body = previous.body if previous is not None else ""
        start, end = body.find(CHANGES_BEGIN), body.find(CHANGES_END)
        return body[start + len(CHANGES_BEGIN):end].strip("\n") if 0 <= start < end else ""

    def group(keys: list[str]) -> dict[str, Any]:
        rows = [{"number": numbers.get(k) or (plan.outcomes[k].issue_number if k in plan.outcomes else None),
                 "title": md_code_title(plan, k)} for k in keys[:SHOWN_CHANGES]]
        return {"count": len(keys), "rows": rows}

    links = plan.links
    return render("issues/dashboard-changes.md.j2", sha_code=md_code(links.sha[:7]), commit_url=links.commit(),
                  first=plan.first, count=len(plan.items), new=group(plan.changes.get("new", [])),
                  back=group(plan.changes.get("back", [])), fixed=group(plan.changes.get("fixed", []))).strip("\n")


def md_code_title(plan: SyncPlan, key: str) -> str:
    item = next((i for i in plan.items if i.key == key), None)
    if item is not None:
        return item_title(item, code=md_code)
    return md_text(plan.titles.get(key, key))


# ---------------------------------------------------------------- applying the plan


def apply_plan(plan: SyncPlan, client: InstallationClient, full_name: str, *,
               report: SyncReport | None = None) -> SyncReport:
    """Carry the plan out in a stable order: labels, the dashboard if missing, closes, then items by rank, then the
    dashboard's body. A RateLimited error stops it; the retried job lists the issues again, finds the ones this run
    created by their markers, and goes on from there."""
    report = report if report is not None else SyncReport()
    report.numbers.update({k: o.issue_number for k, o in plan.outcomes.items() if o.issue_number})
    _ensure_labels(plan, client, full_name, report)
    dashboard = plan.dashboard
    if dashboard is None:
        dashboard = client.create_issue(full_name, title=render("issues/dashboard-title.txt.j2").strip(),
                                        body=render_dashboard(plan, report.numbers, full_name),
                                        labels=[label_table()["marker_label"]], marker=DASHBOARD_MARKER)
        report.dashboard_written = True
    report.dashboard_number = dashboard.number
    links = replace(plan.links, dashboard_number=dashboard.number)
    for action in plan.actions:
        _apply(action, client, full_name, report, links if links != plan.links else None)
    section = own_section(render_dashboard(plan, report.numbers, full_name, previous=dashboard))
    if section is not None and (own_section(dashboard.body) or "").strip("\n") != section.strip("\n"):
        client.ensure_issue(full_name, dashboard, body=merge_body(dashboard.body, section))
        report.dashboard_written = True
    return report


def _ensure_labels(plan: SyncPlan, client: InstallationClient, full_name: str, report: SyncReport) -> None:
    if not plan.labels_needed:
        return
    existing = client.list_labels(full_name)
    have = {label.name.lower() for label in existing}
    table = label_table()
    for name in plan.labels_needed:
        if name.lower() in have:
            continue  # a label the team already has keeps its colour and description
        spec = table["labels"].get(name, table["default_label"])
        client.ensure_label(full_name, name, color=spec["color"], description=spec["description"], existing=existing)
        report.labels_created.append(name)


def _apply(action: IssueAction, client: InstallationClient, full_name: str, report: SyncReport,
           relinked: Links | None) -> None:
    """One action. The comment goes first: found again by its marker, it is never posted twice by a retry."""
    body = action.body
    if relinked is not None and action.item is not None and action.op in ("create", "update", "reopen"):
        body = item_body(action.item, action.current, relinked) if action.op != "create" else \
            render_item_section(action.item, relinked, budget=body_budget(None))
    if action.op == "create":
        issue = client.create_issue(full_name, title=action.title or "", body=body or "",
                                    labels=list(action.labels or ()), marker=action.item.marker if action.item
                                    else item_marker(action.key))
        report.created.append(issue.number)
        report.numbers[action.key] = issue.number
        report.done.add(action.key)
        return
    current = action.current
    assert current is not None
    if action.comment and action.comment_marker:
        client.ensure_comment(full_name, current.number, action.comment, marker=action.comment_marker)
        report.commented.append(current.number)
    client.ensure_issue(full_name, current, body=body, labels=list(action.labels) if action.labels else None,
                        state=action.state, state_reason=action.state_reason)
    {"close": report.closed, "reopen": report.reopened}.get(action.op, report.updated).append(current.number)
    report.done.add(action.key)


# ---------------------------------------------------------------- the job's entry and the webhook's


def sync_backlog(session: Session, client: InstallationClient, repo: models.Repository, scan: models.Scan,
                 config: Config, settings: Settings, *, web_url: str | None = None,
                 bot_login: str | None = None) -> SyncReport:
    """Bring the repository's paydown issues in line with one scan, and the store with both. On an error
    (RateLimited included) nothing is stored: the retry plans again from what GitHub then has."""
    full_name = repo.full_name
    rows = {row.key: row for row in session.scalars(
        select(models.BacklogItem).where(models.BacklogItem.repository_id == repo.id))}
    stored = {key: StoredItem(key, row.issue_number, row.state, row.fixed_in_sha, row.title)
              for key, row in rows.items()}
    findings = [row.data for row in session.scalars(
        select(models.ScanFinding).where(models.ScanFinding.scan_id == scan.id).order_by(models.ScanFinding.id))]
    items = items_from_findings(findings)
    links = Links(web_url or settings.github_web_url, full_name, scan.commit_sha, settings.public_url)
    session.commit()  # only reads so far: release SQLite's write lock while GitHub is called (paced writes)
    try:
        existing = _paydown_issues(client, full_name, stored, repo.dashboard_issue_number)
    except (Gone, Forbidden) as err:  # issues disabled, or an archived repository: the backlog lives on the page
        log.info("backlog issues skipped", extra=fields(repository=full_name, reason=str(err)))
        plan = plan_sync(items, [], {}, bot_login=None, settings=config.backlog, links=links)
        _store(session, repo, scan, plan, SyncReport(), rows, issues=False)
        return SyncReport(skipped=str(err))
    bot_login = bot_login or _author_of(existing, stored, repo.dashboard_issue_number)
    matched, _ = match_issues(existing, stored, bot_login=bot_login)
    told = _told(client, full_name, still_there_candidates(items, matched, stored))
    plan = plan_sync(items, existing, stored, bot_login=bot_login, settings=config.backlog, links=links,
                     told=told, dashboard_number=repo.dashboard_issue_number)
    report = apply_plan(plan, client, full_name)
    _store(session, repo, scan, plan, report, rows, issues=True)
    log.info("backlog synced", extra=fields(repository=full_name, issues_created=len(report.created),
                                            issues_closed=len(report.closed), issues_reopened=len(report.reopened),
                                            issues_updated=len(report.updated), items_deferred=len(plan.deferred)))
    return report


def _paydown_issues(client: InstallationClient, full_name: str, stored: Mapping[str, StoredItem],
                    dashboard_number: int | None) -> list[IssueRecord]:
    """One listing by paydown's label, plus the mapped issues a person took the label off (or deleted: gone)."""
    existing = list(client.list_issues(full_name, labels=[label_table()["marker_label"]], state="all"))
    listed = {issue.number for issue in existing}
    wanted = {item.issue_number for item in stored.values() if item.issue_number} | (
        {dashboard_number} if dashboard_number else set())
    for number in sorted(wanted - listed):
        try:
            issue = client.get_issue(full_name, number)
        except NotFound:
            continue
        if not issue.is_pull_request:
            existing.append(issue)
    return existing


def _author_of(existing: Sequence[IssueRecord], stored: Mapping[str, StoredItem],
               dashboard_number: int | None) -> str | None:
    """The App's login, from an issue the store knows paydown wrote (None on a first or wiped sync: then any
    author's marker counts)."""
    mine = {item.issue_number for item in stored.values()} | {dashboard_number}
    return next((issue.user_login for issue in existing if issue.number in mine), None)


def _told(client: InstallationClient, full_name: str, issues: Sequence[IssueRecord]) -> set[int]:
    told = set()
    for issue in issues:
        prefix = "<!-- paydown:still-there="
        if any(prefix in comment.body for comment in client.list_comments(full_name, issue.number)):
            told.add(issue.number)
    return told


def _store(session: Session, repo: models.Repository, scan: models.Scan, plan: SyncPlan, report: SyncReport,
           rows: dict[str, models.BacklogItem], *, issues: bool) -> None:
    now = models.utcnow()
    by_key = {item.key: item for item in plan.items}
    for key, outcome in plan.outcomes.items():
        row, item = rows.get(key), by_key.get(key)
        if row is None and item is None:
            continue  # an issue for an item this store never knew, and whose debt is gone
        if row is None:
            row = models.BacklogItem(repository_id=repo.id, key=key, first_seen_at=now)
            session.add(row)
        if item is not None:
            _copy_item(row, item, now)
        _copy_outcome(row, outcome, report.numbers.get(key) if issues else row.issue_number, now, scan)
    if issues and report.dashboard_number:
        repo.dashboard_issue_number = report.dashboard_number
    session.flush()


def _copy_item(row: models.BacklogItem, item: Item, now: datetime) -> None:
    row.kind, row.title, row.path, row.line = item.kind, item.title, item.path, item.line
    row.fingerprints = list(item.fingerprints)
    row.effort_hours, row.risk, row.interest_hours_per_month = item.effort_hours, item.risk, \
        item.interest_hours_per_month
    row.priority, row.score, row.last_seen_at = item.priority, item.score, now


def _copy_outcome(row: models.BacklogItem, outcome: Outcome, number: int | None, now: datetime,
                  scan: models.Scan) -> None:
    if outcome.state == "fixed" and row.state != "fixed":
        row.fixed_at = now
    if outcome.state == "dismissed" and row.state != "dismissed":
        row.dismissed_at = now
    if outcome.state == "open":
        row.fixed_at = None
        row.dismissed_at = None
    row.state = outcome.state
    row.fixed_in_sha = outcome.fixed_in_sha
    row.issue_number = number or outcome.issue_number
    row.issue_state = outcome.issue_state if row.issue_number else None
    if outcome.issue_number:
        row.milestone_number = outcome.milestone_number


def on_issue_event(session: Session, repo: models.Repository, action: str, issue: dict[str, Any]) -> None:
    """A person changed one of paydown's issues: closed as not planned dismisses the item, reopened brings it
    back; the issue's state and milestone are kept current."""
    number = issue.get("number")
    row = session.scalar(select(models.BacklogItem).where(models.BacklogItem.repository_id == repo.id,
                                                         models.BacklogItem.issue_number == number))
    if row is None:
        found = _ITEM_KEY.search(issue.get("body") or "")
        row = session.scalar(select(models.BacklogItem).where(
            models.BacklogItem.repository_id == repo.id, models.BacklogItem.key == found.group(1))) if found else None
    if row is None:
        return
    if action in ("deleted", "transferred"):
        row.issue_number, row.issue_state = None, None
        session.flush()
        return
    row.issue_number = number
    row.issue_state = issue.get("state") or row.issue_state
    milestone = issue.get("milestone")
    row.milestone_number = milestone.get("number") if isinstance(milestone, dict) else None
    if action == "closed" and issue.get("state_reason") in DISMISSING_REASONS:
        row.state, row.dismissed_at = "dismissed", models.utcnow()
    elif action == "reopened" and row.state == "dismissed":
        row.state, row.dismissed_at = "open", None
    session.flush()
