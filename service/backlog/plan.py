"""The backlog sync's plan: the issue changes that bring GitHub in line with the findings, a pure diff (no I/O)."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

from paydown.analyzers.config import BacklogSettings

from ..github import IssueRecord
from .items import (
    Item,
    Links,
    body_budget,
    comment_body,
    comment_marker,
    item_body,
    item_labels,
    label_table,
    labels_for,
    meets,
    rank_key,
    render_item_section,
)

DASHBOARD_MARKER = "<!-- paydown:dashboard -->"
_ITEM_KEY = re.compile(r"<!-- paydown:item=([0-9a-f]{16,64}) -->")
DISMISSING_REASONS = ("not_planned", "duplicate")


@dataclass(frozen=True)
class StoredItem:
    """What the store remembers of an item between syncs (a cache: GitHub's issues are the truth)."""

    key: str
    issue_number: int | None = None
    state: str = "open"  # open, fixed, dismissed
    fixed_in_sha: str | None = None
    title: str = ""


@dataclass(frozen=True)
class IssueAction:
    """One issue to create or change. `comment` is posted (once, found again by its marker) before the change."""

    key: str
    op: str  # create, update, close, reopen
    why: str  # new, changed, fixed, back, still-there
    item: Item | None = None
    current: IssueRecord | None = None
    title: str | None = None
    body: str | None = None
    labels: tuple[str, ...] | None = None
    state: str | None = None
    state_reason: str | None = None
    comment: str | None = None
    comment_marker: str | None = None


@dataclass(frozen=True)
class Outcome:
    """An item's state once the plan is applied, for the store."""

    key: str
    state: str
    issue_number: int | None
    issue_state: str | None
    fixed_in_sha: str | None
    milestone_number: int | None = None


@dataclass
class SyncPlan:
    actions: list[IssueAction]
    outcomes: dict[str, Outcome]
    items: list[Item]
    links: Links
    labels_needed: tuple[str, ...] = ()
    dashboard: IssueRecord | None = None
    changes: dict[str, list[str]] = field(default_factory=dict)  # new / fixed / back: item keys
    first: bool = False
    deferred: tuple[str, ...] = ()  # items that wait for a free slot under max_open_issues
    settings: BacklogSettings = field(default_factory=BacklogSettings)
    titles: dict[str, str] = field(default_factory=dict)  # key -> title, also of items that are gone


# ---------------------------------------------------------------- matching issues to items


def match_issues(existing: Sequence[IssueRecord], stored: Mapping[str, StoredItem], *,
                 bot_login: str | None) -> tuple[dict[str, IssueRecord], IssueRecord | None]:
    """Which issue belongs to which item key, and the dashboard: the store's mapping first (it survives a person
    deleting the markers or the label), then paydown's own marker in issues paydown wrote."""
    by_number = {issue.number: issue for issue in existing if not issue.is_pull_request}
    matched: dict[str, IssueRecord] = {}
    for key, item in stored.items():
        if item.issue_number in by_number:
            matched[key] = by_number[item.issue_number]
    taken = {issue.number for issue in matched.values()}
    dashboard = None
    for issue in sorted(by_number.values(), key=lambda i: (i.state != "open", i.number)):
        if issue.number in taken or (bot_login and issue.user_login != bot_login):
            continue
        body = issue.body or ""
        if DASHBOARD_MARKER in body and dashboard is None:
            dashboard = issue
            continue
        found = _ITEM_KEY.search(body)
        if found and found.group(1) not in matched:
            matched[found.group(1)] = issue
    return matched, dashboard


def still_there_candidates(desired: Sequence[Item], matched: Mapping[str, IssueRecord],
                           stored: Mapping[str, StoredItem]) -> list[IssueRecord]:
    """Issues a person closed as completed while their debt is still there, and that paydown has not dismissed:
    their comments tell whether paydown already said so once."""
    out = []
    for item in desired:
        issue, known = matched.get(item.key), stored.get(item.key)
        if issue is None or issue.state != "closed" or issue.state_reason in DISMISSING_REASONS:
            continue
        if known is not None and (known.fixed_in_sha or known.state == "dismissed"):
            continue
        out.append(issue)
    return out


# ---------------------------------------------------------------- the plan (pure: no I/O)


def plan_sync(desired: Sequence[Item], existing: Sequence[IssueRecord], stored: Mapping[str, StoredItem], *,
              bot_login: str | None, settings: BacklogSettings, links: Links, told: Collection[int] = (),
              dashboard_number: int | None = None) -> SyncPlan:
    """The issue changes that bring GitHub in line with `desired`. `told`: issues that already carry paydown's
    "still there" comment (closed as completed again by a person, they are dismissed)."""
    desired = sorted(desired, key=rank_key)
    matched, dashboard = match_issues(existing, stored, bot_login=bot_login)
    dashboard = next((i for i in existing if i.number == dashboard_number), None) or dashboard
    links = replace(links, dashboard_number=dashboard.number if dashboard is not None else None)
    present = {item.key: item for item in desired}
    actions: list[IssueAction] = []
    outcomes: dict[str, Outcome] = {}
    for key in sorted((set(matched) | set(stored)) - set(present)):
        action, outcomes[key] = _gone(key, matched.get(key), stored.get(key), links)
        actions += [action] if action else []
    open_count = sum(1 for o in outcomes.values() if o.issue_state == "open")
    waiting: list[tuple[Item, IssueAction, Outcome]] = []
    for item in desired:
        action, outcome, slot = _present(item, matched.get(item.key), stored.get(item.key), settings, links, told)
        outcomes[item.key] = outcome
        open_count += outcome.issue_state == "open"
        if slot is not None and action is not None:
            waiting.append((item, action, slot))
        elif action is not None:
            actions.append(action)
    deferred = []
    for item, action, outcome in waiting:  # highest score first, as slots under max_open_issues allow
        if open_count >= settings.max_open_issues:
            deferred.append(item.key)
            continue
        open_count += 1
        actions.append(action)
        outcomes[item.key] = outcome
    actions.sort(key=lambda a: (a.op != "close", rank_key(present[a.key]) if a.key in present else (0, a.key)))
    labels = sorted({name for action in actions for name in action.labels or ()}
                    | ({label_table()["marker_label"]} if dashboard is None else set()))
    titles = {key: stored[key].title for key in stored if stored[key].title}
    titles |= {key: issue.title for key, issue in matched.items() if key not in titles}
    titles |= {item.key: item.title for item in desired}
    return SyncPlan(actions=actions, outcomes=outcomes, items=desired, links=links, labels_needed=tuple(labels),
                    dashboard=dashboard, changes=_changes(desired, matched, stored, outcomes), titles=titles,
                    first=not stored and not matched and dashboard is None, deferred=tuple(deferred),
                    settings=settings)


def _gone(key: str, issue: IssueRecord | None, known: StoredItem | None,
          links: Links) -> tuple[IssueAction | None, Outcome]:
    """An item whose debt is no longer found."""
    fixed_in = (known.fixed_in_sha if known else None) or links.sha
    if issue is None:
        state = known.state if known is not None and known.state != "open" else "fixed"
        return None, Outcome(key, state, None, None, fixed_in)
    if issue.state == "open" and not (known is not None and known.state == "fixed"):
        marker = comment_marker("fixed", key, links.sha)
        action = IssueAction(key, "close", "fixed", current=issue, state="closed", state_reason="completed",
                             comment=comment_body("closed", key, marker, None, links), comment_marker=marker)
        return action, Outcome(key, "fixed", issue.number, "closed", links.sha, issue.milestone_number)
    dismissed = issue.state == "closed" and (issue.state_reason in DISMISSING_REASONS or (
        known is not None and known.state == "dismissed"))
    return None, Outcome(key, "dismissed" if dismissed else "fixed", issue.number, issue.state, fixed_in,
                         issue.milestone_number)


def _present(item: Item, issue: IssueRecord | None, known: StoredItem | None, settings: BacklogSettings,
             links: Links, told: Collection[int]) -> tuple[IssueAction | None, Outcome, Outcome | None]:
    """An item whose debt is there: (action, outcome without it, outcome with it when it needs a free slot)."""
    if issue is None:
        waiting = Outcome(item.key, "dismissed" if known and known.state == "dismissed" else "open", None, None, None)
        if waiting.state == "dismissed" or not meets(item.priority, settings.issue_priority):
            return None, waiting, None
        action = IssueAction(item.key, "create", "new", item=item, title=item.title,
                             body=render_item_section(item, links, budget=body_budget(None)), labels=item_labels(item))
        return action, waiting, Outcome(item.key, "open", None, "open", None)
    if issue.state == "open":
        return _update(item, issue, links), Outcome(item.key, "open", issue.number, "open", None,
                                                     issue.milestone_number), None
    closed = Outcome(item.key, "dismissed", issue.number, "closed", known.fixed_in_sha if known else None,
                     issue.milestone_number)
    if issue.state_reason in DISMISSING_REASONS or (known is not None and known.state == "dismissed"):
        return None, closed, None
    regression = known is not None and known.fixed_in_sha is not None
    if not regression and issue.number in told:
        return None, closed, None  # closed as completed a second time: the person means it
    kind, template = ("back", "reopened") if regression else ("still-there", "still-there")
    marker = comment_marker(kind, item.key, links.sha if regression else None)
    action = IssueAction(item.key, "reopen", kind, item=item, current=issue,
                         body=item_body(item, issue, links, keep_links=False),
                         labels=_changed_labels(item, issue), state="open",
                         comment=comment_body(template, item.key, marker, item, links), comment_marker=marker)
    waiting = replace(closed, state="open")
    return action, waiting, Outcome(item.key, "open", issue.number, "open", None, issue.milestone_number)


def _changed_labels(item: Item, issue: IssueRecord) -> tuple[str, ...] | None:
    labels = labels_for(item, issue)
    return None if set(labels) == set(issue.labels) else labels


def _update(item: Item, issue: IssueRecord, links: Links) -> IssueAction | None:
    body, labels = item_body(item, issue, links), _changed_labels(item, issue)
    if body is None and labels is None:
        return None
    return IssueAction(item.key, "update", "changed", item=item, current=issue, body=body, labels=labels)


def _changes(desired: Sequence[Item], matched: Mapping[str, IssueRecord], stored: Mapping[str, StoredItem],
             outcomes: Mapping[str, Outcome]) -> dict[str, list[str]]:
    """New, back and fixed since the last sync, from the store (or, when it was wiped, from the issues)."""
    new, back = [], []
    for item in desired:
        known, issue = stored.get(item.key), matched.get(item.key)
        if known is None and issue is None:
            new.append(item.key)
        elif (known is not None and known.state == "fixed") or (
                known is None and issue is not None and issue.state == "closed"
                and issue.state_reason not in DISMISSING_REASONS):
            back.append(item.key)
    present = {item.key for item in desired}
    fixed = [key for key, outcome in outcomes.items() if key not in present and outcome.state == "fixed" and (
        (stored[key].state == "open") if key in stored else (matched[key].state == "open"))]
    return {"new": new, "back": back, "fixed": sorted(fixed)}
