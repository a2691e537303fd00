"""Cleanup sprints: milestones holding paydown issues, kept current from webhook events, and their burndown."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..policy import PAYDOWN_LABEL
from ..store import BacklogItem, Repository, Sprint, SprintEvent

MAX_DAYS = 400  # a chart longer than a year is unreadable; later days are cut off


# ---------------------------------------------------------------- events from webhooks


def on_milestone_event(session: Session, repo: Repository, action: str, milestone: dict[str, Any],
                       delivery_id: str) -> Sprint | None:
    """Keep a sprint's title, dates and state in step with its milestone (an upsert, so redelivery is harmless)."""
    number = milestone.get("number")
    if not isinstance(number, int):
        return None
    sprint = _find_sprint(session, repo, number)
    if action == "deleted":
        if sprint is not None:
            session.delete(sprint)
        return None
    if sprint is None:
        sprint = _new_sprint(session, repo, milestone)
    _apply_milestone(sprint, milestone)
    return sprint


def on_issue_event(session: Session, repo: Repository, action: str, issue: dict[str, Any],
                   delivery_id: str, *, milestone: dict[str, Any] | None = None) -> list[SprintEvent]:
    """Record what an `issues` event did to the sprints of a paydown issue: added, removed, closed or reopened.

    `milestone` is the event's own top-level milestone (the one added or removed), used when the issue's is absent.
    """
    number = issue.get("number")
    paydown = _is_paydown(issue)
    if not isinstance(number, int) or not (paydown or action == "unlabeled") or _seen(session, delivery_id):
        return []
    item = session.scalar(select(BacklogItem).where(BacklogItem.repository_id == repo.id,
                                                    BacklogItem.issue_number == number))
    effort = item.effort_hours if item is not None else 0.0
    key = item.key if item is not None else None
    current = issue.get("milestone") if isinstance(issue.get("milestone"), dict) else None
    if current is None and action == "milestoned" and isinstance(milestone, dict):
        current = milestone
    members = _sprints_holding(session, repo, number)
    if not paydown and not members:
        return []
    leaving = not paydown or action in ("deleted", "transferred")  # it leaves every sprint it was in
    target = None if leaving else _sprint_of_milestone(session, repo, current)
    when = _event_time(issue, action)
    changes: list[tuple[Sprint, str]] = [(s, "removed") for s in members if target is None or s.id != target.id]
    if target is not None and target not in members:
        changes.append((target, "added"))
        if issue.get("state") == "closed" and action != "closed":
            changes.append((target, "closed"))  # milestoned after it was closed: in the scope, already done
    if target is not None and action in ("closed", "reopened"):
        changes.append((target, action))
    events = [_record(session, sprint, number, key, kind, effort, when, _delivery(delivery_id, i))
              for i, (sprint, kind) in enumerate(changes)]
    if item is not None:
        item.milestone_number = target.milestone_number if target is not None else None
        item.issue_state = issue.get("state", item.issue_state)
    return events


def _is_paydown(issue: dict[str, Any]) -> bool:
    labels = issue.get("labels") or []
    names = {label if isinstance(label, str) else (label or {}).get("name") for label in labels}
    return PAYDOWN_LABEL in names


def _delivery(delivery_id: str, index: int) -> str:
    # One delivery can move an issue out of one sprint and into another: two rows, one unique id each.
    return delivery_id if index == 0 else f"{delivery_id}#{index}"


def _seen(session: Session, delivery_id: str) -> bool:
    return session.scalar(select(SprintEvent.id).where(SprintEvent.delivery_id == delivery_id)) is not None


def _find_sprint(session: Session, repo: Repository, number: int) -> Sprint | None:
    return session.scalar(select(Sprint).where(Sprint.repository_id == repo.id, Sprint.milestone_number == number))


def _new_sprint(session: Session, repo: Repository, milestone: dict[str, Any]) -> Sprint:
    sprint = Sprint(repository_id=repo.id, milestone_number=milestone["number"],
                    title=str(milestone.get("title") or ""))
    session.add(sprint)
    return sprint


def _apply_milestone(sprint: Sprint, milestone: dict[str, Any]) -> None:
    if milestone.get("title") is not None:
        sprint.title = str(milestone["title"])
    if milestone.get("state") in ("open", "closed"):
        sprint.state = milestone["state"]
    created = parse_time(milestone.get("created_at"))
    if created is not None:
        sprint.created_at = created
    if "due_on" in milestone:
        due = parse_time(milestone.get("due_on"))
        sprint.due_on = due.date() if due is not None else None
    if "closed_at" in milestone:
        sprint.closed_at = parse_time(milestone.get("closed_at"))


def _sprint_of_milestone(session: Session, repo: Repository, milestone: dict[str, Any] | None) -> Sprint | None:
    if milestone is None or not isinstance(milestone.get("number"), int):
        return None
    sprint = _find_sprint(session, repo, milestone["number"])
    if sprint is None:
        sprint = _new_sprint(session, repo, milestone)
    _apply_milestone(sprint, milestone)
    session.flush()
    return sprint


def _sprints_holding(session: Session, repo: Repository, issue_number: int) -> list[Sprint]:
    """The sprints whose latest added/removed event for this issue is `added`."""
    rows = session.execute(
        select(SprintEvent.sprint_id, SprintEvent.event).join(Sprint)
        .where(Sprint.repository_id == repo.id, SprintEvent.issue_number == issue_number,
               SprintEvent.event.in_(("added", "removed")))
        .order_by(SprintEvent.at, SprintEvent.id)
    ).all()
    latest = {sprint_id: event for sprint_id, event in rows}
    ids = [sprint_id for sprint_id, event in latest.items() if event == "added"]
    return list(session.scalars(select(Sprint).where(Sprint.id.in_(ids)))) if ids else []


def _event_time(issue: dict[str, Any], action: str) -> datetime:
    stamp = issue.get("closed_at") if action == "closed" else None
    return parse_time(stamp) or parse_time(issue.get("updated_at")) or datetime.now(UTC)


def _record(session: Session, sprint: Sprint, number: int, key: str | None, kind: str, effort: float,
            when: datetime, delivery_id: str) -> SprintEvent:
    event = SprintEvent(issue_number=number, item_key=key, event=kind, effort_hours=effort, at=when,
                        delivery_id=delivery_id)
    sprint.events.append(event)
    session.flush()
    return event


def parse_time(value: object) -> datetime | None:
    """GitHub's ISO 8601 timestamps (`2026-03-04T10:00:00Z`) as aware UTC datetimes; anything else is None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# ---------------------------------------------------------------- burndown (pure)


@dataclass(frozen=True)
class BurndownDay:
    day: date
    remaining: float | None  # None: a day still to come
    ideal: float | None  # None: the sprint has no due date
    scope: float  # effort of the items in the sprint at the end of the day, done or not


@dataclass(frozen=True)
class ScopeChange:
    day: date
    issue_number: int
    change: str  # added, removed
    effort_hours: float


@dataclass(frozen=True)
class Burndown:
    title: str
    milestone_number: int
    state: str
    start: date
    due: date | None
    days: list[BurndownDay] = field(default_factory=list)
    starting_scope: float = 0.0
    scope_changes: list[ScopeChange] = field(default_factory=list)

    @property
    def remaining(self) -> float:
        known = [d.remaining for d in self.days if d.remaining is not None]
        return known[-1] if known else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "milestone_number": self.milestone_number,
            "state": self.state,
            "start": self.start.isoformat(),
            "due": self.due.isoformat() if self.due else None,
            "starting_scope": self.starting_scope,
            "remaining": self.remaining,
            "days": [{"day": d.day.isoformat(), "remaining": d.remaining, "ideal": d.ideal, "scope": d.scope}
                     for d in self.days],
            "scope_changes": [{"day": c.day.isoformat(), "issue_number": c.issue_number, "change": c.change,
                               "effort_hours": c.effort_hours} for c in self.scope_changes],
        }


@dataclass
class _Item:
    member: bool = False
    done: bool = False
    effort: float = 0.0


def burndown(sprint: Sprint, *, today: date | None = None) -> Burndown:
    """Remaining effort of the sprint's items at the end of each day, the ideal line and mid-sprint scope changes."""
    today = today or datetime.now(UTC).date()
    events = sorted(sprint.events, key=lambda e: (e.at, e.id or 0))
    created = sprint.created_at.date() if sprint.created_at else None
    first_added = next((e.at.date() for e in events if e.event == "added"), None)
    start = min((d for d in (created, first_added) if d is not None), default=today)
    closed = sprint.closed_at.date() if sprint.state == "closed" and sprint.closed_at else None
    last = closed or today
    end = max(d for d in (sprint.due_on, last, start) if d is not None)
    end = min(end, start + timedelta(days=MAX_DAYS - 1))
    items: dict[int, _Item] = {}
    days: list[BurndownDay] = []
    changes: list[ScopeChange] = []
    pending = list(events)
    day = start
    while day <= end:
        while pending and pending[0].at.date() <= day:
            event = pending.pop(0)
            if _apply(items, event) and event.at.date() > start:
                changes.append(ScopeChange(event.at.date(), event.issue_number, event.event, _effort(items, event)))
        scope = _sum(items.values(), done_too=True)
        remaining = _sum(items.values(), done_too=False) if day <= last else None
        days.append(BurndownDay(day, remaining, None, scope))
        day += timedelta(days=1)
    starting = days[0].scope if days else 0.0
    days = [BurndownDay(d.day, d.remaining, _ideal(starting, start, sprint.due_on, d.day), d.scope) for d in days]
    return Burndown(sprint.title, sprint.milestone_number, sprint.state, start, sprint.due_on, days, starting,
                    changes)


def _apply(items: dict[int, _Item], event: SprintEvent) -> bool:
    """Apply one event; True when it changed the sprint's scope (an item joined or left)."""
    item = items.setdefault(event.issue_number, _Item())
    if event.effort_hours:
        item.effort = event.effort_hours
    if event.event == "added":
        changed = not item.member
        item.member = True
        return changed
    if event.event == "removed":
        changed = item.member
        item.member = False
        return changed
    item.done = event.event == "closed"
    return False


def _effort(items: dict[int, _Item], event: SprintEvent) -> float:
    return items[event.issue_number].effort


def _sum(items: Iterable[_Item], *, done_too: bool) -> float:
    return round(sum(i.effort for i in items if i.member and (done_too or not i.done)), 2)


def _ideal(scope: float, start: date, due: date | None, day: date) -> float | None:
    if due is None:
        return None
    length = (due - start).days
    if length <= 0 or day >= due:
        return 0.0 if day >= due else scope
    return round(max(scope * (1 - (day - start).days / length), 0.0), 2)
