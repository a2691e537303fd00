"""Cleanup sprints: the burndown of known events, and sprint events recorded from `issues`/`milestone` payloads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from paydown.service.store import BacklogItem, Repository, Sprint, SprintEvent
from paydown.service.web import burndown, on_issue_event, on_milestone_event, parse_time

WEBHOOKS = Path("/work/shared/github/webhooks")


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def known_sprint(**overrides: Any) -> Sprint:
    """Items #1 (5 h), #2 (3 h), #3 (2 h) added on day 1; #1 closed day 3; #4 (4 h) added day 4 (a scope change);
    #1 reopened day 5; #2 closed day 6; due day 8."""
    fields = {"milestone_number": 3, "title": "March cleanup", "state": "open", "created_at": at(1, 9),
              "due_on": date(2026, 3, 8), **overrides}
    sprint = Sprint(**fields)
    events = [(1, "added", 5.0, 1), (2, "added", 3.0, 1), (3, "added", 2.0, 1), (1, "closed", 5.0, 3),
              (4, "added", 4.0, 4), (1, "reopened", 5.0, 5), (2, "closed", 3.0, 6)]
    for n, (issue, kind, effort, day) in enumerate(events, 1):
        sprint.events.append(SprintEvent(id=n, issue_number=issue, event=kind, effort_hours=effort, at=at(day)))
    return sprint


def test_burndown_of_known_events_gives_exact_remaining_ideal_and_scope_changes() -> None:
    chart = burndown(known_sprint(), today=date(2026, 3, 7))

    assert chart.start == date(2026, 3, 1)
    assert chart.due == date(2026, 3, 8)
    assert [d.day.day for d in chart.days] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [d.remaining for d in chart.days] == [10, 10, 5, 9, 14, 11, 11, None]  # day 8 is still to come
    assert [d.ideal for d in chart.days] == [10, 8.57, 7.14, 5.71, 4.29, 2.86, 1.43, 0]
    assert [d.scope for d in chart.days] == [10, 10, 10, 14, 14, 14, 14, 14]
    assert chart.starting_scope == 10
    assert [(c.day, c.issue_number, c.change, c.effort_hours) for c in chart.scope_changes] == [
        (date(2026, 3, 4), 4, "added", 4.0)]
    assert chart.remaining == 11


def test_burndown_runs_past_the_due_date_until_today_and_counts_a_removal_as_scope_change() -> None:
    sprint = known_sprint()
    sprint.events.append(SprintEvent(id=20, issue_number=3, event="removed", effort_hours=2.0, at=at(9)))
    chart = burndown(sprint, today=date(2026, 3, 10))

    assert [d.day.day for d in chart.days] == list(range(1, 11))
    assert [d.remaining for d in chart.days][-3:] == [11, 9, 9]
    assert [d.ideal for d in chart.days][-3:] == [0, 0, 0]
    assert [(c.day.day, c.issue_number, c.change) for c in chart.scope_changes] == [(4, 4, "added"), (9, 3, "removed")]


def test_a_closed_sprint_ends_on_its_closing_day_and_one_without_due_date_has_no_ideal_line() -> None:
    closed = burndown(known_sprint(state="closed", closed_at=at(10)), today=date(2026, 4, 30))
    assert closed.days[-1].day == date(2026, 3, 10)
    assert closed.days[-1].remaining == 11

    open_ended = known_sprint()
    open_ended.due_on = None
    chart = burndown(open_ended, today=date(2026, 3, 5))
    assert [d.day.day for d in chart.days] == [1, 2, 3, 4, 5]
    assert {d.ideal for d in chart.days} == {None}
    assert chart.to_dict()["due"] is None


def test_start_is_the_first_item_added_when_that_precedes_the_milestone_date() -> None:
    sprint = Sprint(milestone_number=1, title="s", state="open", created_at=at(5), due_on=date(2026, 3, 6))
    sprint.events.append(SprintEvent(id=1, issue_number=7, event="added", effort_hours=2.0, at=at(4)))
    chart = burndown(sprint, today=date(2026, 3, 6))
    assert [(d.day.day, d.remaining, d.ideal) for d in chart.days] == [(4, 2, 2), (5, 2, 1), (6, 2, 0)]


def test_parse_time_reads_github_stamps_and_rejects_anything_else() -> None:
    assert parse_time("2026-03-04T10:00:00Z") == datetime(2026, 3, 4, 10, tzinfo=UTC)
    assert parse_time("2026-03-04T12:00:00+02:00") == datetime(2026, 3, 4, 10, tzinfo=UTC)
    assert parse_time("yesterday") is None
    assert parse_time(None) is None


# ---------------------------------------------------------------- events from payloads, on a real SQLite store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Any]:
    from paydown.service.store import Store

    store = Store(f"sqlite:///{tmp_path / 'paydown.db'}")
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
def repo(store: Any) -> int:
    with store.session() as session:
        row = Repository(full_name="octo/ml", github_id=1)
        session.add(row)
        session.flush()
        for number, effort in ((11, 5.0), (12, 3.0)):
            session.add(BacklogItem(repository_id=row.id, key=f"k{number}", kind="dead-flag", title=f"item {number}",
                                    path="a.py", effort_hours=effort, risk="low", interest_hours_per_month=1.0,
                                    priority="low", score=0.5, issue_number=number))
        return row.id


MILESTONE = {"number": 4, "title": "Cleanup sprint 4", "state": "open", "due_on": "2026-03-08T07:00:00Z",
             "created_at": "2026-03-01T09:00:00Z", "closed_at": None}


def issue(number: int, *, milestone: dict[str, Any] | None = MILESTONE, state: str = "open",
          labels: tuple[str, ...] = ("paydown", "debt:dead-flag"), updated: str = "2026-03-01T10:00:00Z",
          closed: str | None = None) -> dict[str, Any]:
    return {"number": number, "title": f"item {number}", "state": state, "state_reason": None,
            "labels": list(labels), "milestone": milestone, "user": {"login": "paydown[bot]"}, "body": "",
            "updated_at": updated, "closed_at": closed}


def events_of(store: Any, repo_id: int) -> list[tuple[int, int, str, float, str]]:
    with store.session() as session:
        rows = session.execute(select(Sprint.milestone_number, SprintEvent.issue_number, SprintEvent.event,
                                      SprintEvent.effort_hours, SprintEvent.at).join(Sprint)
                               .where(Sprint.repository_id == repo_id).order_by(SprintEvent.id)).all()
    return [(m, n, e, h, a.strftime("%d %H:%M")) for m, n, e, h, a in rows]


def send(store: Any, repo_id: int, action: str, payload: dict[str, Any], delivery: str) -> int:
    with store.session() as session:
        return len(on_issue_event(session, session.get_one(Repository, repo_id), action, payload, delivery))


def test_issue_events_add_close_reopen_and_remove_items_with_their_effort_once_per_delivery(store: Any,
                                                                                          repo: int) -> None:
    assert send(store, repo, "milestoned", issue(11), "d1") == 1
    assert send(store, repo, "milestoned", issue(11), "d1") == 0  # a redelivery adds nothing
    assert send(store, repo, "milestoned", issue(12, updated="2026-03-02T08:00:00Z"), "d2") == 1
    assert send(store, repo, "closed", issue(11, state="closed", closed="2026-03-03T15:30:00Z",
                                             updated="2026-03-03T15:31:00Z"), "d3") == 1
    assert send(store, repo, "reopened", issue(11, updated="2026-03-04T09:00:00Z",
                                               closed="2026-03-03T15:30:00Z"), "d4") == 1
    assert send(store, repo, "demilestoned", issue(12, milestone=None, updated="2026-03-05T11:00:00Z"), "d5") == 1
    assert send(store, repo, "labeled", issue(99, labels=("bug",)), "d6") == 0  # not a paydown issue

    assert events_of(store, repo) == [
        (4, 11, "added", 5.0, "01 10:00"), (4, 12, "added", 3.0, "02 08:00"), (4, 11, "closed", 5.0, "03 15:30"),
        (4, 11, "reopened", 5.0, "04 09:00"), (4, 12, "removed", 3.0, "05 11:00")]
    with store.session() as session:
        sprint = session.scalars(select(Sprint)).one()
        assert (sprint.title, sprint.due_on, sprint.created_at) == ("Cleanup sprint 4", date(2026, 3, 8), at(1, 9))
        items = {i.issue_number: i.milestone_number for i in session.scalars(select(BacklogItem))}
        assert items == {11: 4, 12: None}
        chart = burndown(sprint, today=date(2026, 3, 6))
    assert [d.remaining for d in chart.days] == [5, 8, 3, 8, 5, 5, None, None]
    assert [(c.day.day, c.issue_number, c.change) for c in chart.scope_changes] == [(2, 12, "added"),
                                                                                     (5, 12, "removed")]


def test_moving_an_issue_to_another_milestone_removes_it_from_the_first(store: Any, repo: int) -> None:
    other = {**MILESTONE, "number": 5, "title": "Sprint 5"}
    send(store, repo, "milestoned", issue(11), "d1")
    assert send(store, repo, "milestoned", issue(11, milestone=other, updated="2026-03-02T10:00:00Z"), "d2") == 2
    assert send(store, repo, "milestoned", issue(11, milestone=other, updated="2026-03-02T10:00:00Z"), "d2") == 0
    assert events_of(store, repo) == [(4, 11, "added", 5.0, "01 10:00"), (4, 11, "removed", 5.0, "02 10:00"),
                                      (5, 11, "added", 5.0, "02 10:00")]


def test_an_issue_opened_in_a_milestone_joins_the_sprint_and_one_closed_before_joining_counts_as_done(
        store: Any, repo: int) -> None:
    send(store, repo, "opened", issue(11), "d1")
    send(store, repo, "milestoned", issue(12, state="closed", closed="2026-03-01T08:00:00Z"), "d2")
    assert [e[1:3] for e in events_of(store, repo)] == [(11, "added"), (12, "added"), (12, "closed")]
    with store.session() as session:
        assert burndown(session.scalars(select(Sprint)).one(), today=date(2026, 3, 1)).days[0].remaining == 5


def test_milestone_events_keep_the_sprint_current_and_deletion_drops_it(store: Any, repo: int) -> None:
    with store.session() as session:
        row = session.get_one(Repository, repo)
        on_milestone_event(session, row, "created", MILESTONE, "m1")
        on_milestone_event(session, row, "edited", {**MILESTONE, "title": "Renamed <b>", "due_on": None}, "m2")
        on_milestone_event(session, row, "closed", {**MILESTONE, "title": "Renamed <b>", "due_on": None,
                                                    "state": "closed", "closed_at": "2026-03-09T17:00:00Z"}, "m3")
    with store.session() as session:
        sprint = session.scalars(select(Sprint)).one()
        assert (sprint.title, sprint.state, sprint.due_on, sprint.closed_at) == (
            "Renamed <b>", "closed", None, datetime(2026, 3, 9, 17, tzinfo=UTC))
        on_milestone_event(session, session.get_one(Repository, repo), "deleted", MILESTONE, "m4")
    with store.session() as session:
        assert session.scalars(select(Sprint)).all() == []


def test_the_real_reopened_payload_is_understood(store: Any, repo: int) -> None:
    payload = json.loads((WEBHOOKS / "issues.reopened.json").read_text(encoding="utf-8"))["issue"]
    payload["labels"] = [*payload["labels"], {"name": "paydown"}]
    assert send(store, repo, "reopened", payload, "real-1") == 2
    assert events_of(store, repo) == [(1, 1, "added", 0.0, "11 16:40"), (1, 1, "reopened", 0.0, "11 16:40")]
    with store.session() as session:
        sprint = session.scalars(select(Sprint)).one()
        assert (sprint.title, sprint.state, sprint.due_on) == ("v1.0", "closed", date(2019, 5, 23))
        assert sprint.created_at == datetime(2019, 5, 15, 15, 20, 17, tzinfo=UTC)


def test_losing_the_paydown_label_or_the_issue_takes_it_out_of_the_sprint(store: Any, repo: int) -> None:
    with store.session() as session:
        row = session.get_one(Repository, repo)
        # the webhook's own top-level milestone stands in when the issue subset has none
        on_issue_event(session, row, "milestoned", issue(11, milestone=None), "d1", milestone=MILESTONE)
    send(store, repo, "milestoned", issue(12), "d2")
    assert send(store, repo, "unlabeled", issue(11, labels=("bug",), updated="2026-03-02T10:00:00Z"), "d3") == 1
    assert send(store, repo, "unlabeled", issue(11, labels=("bug",)), "d4") == 0  # no longer in any sprint
    assert send(store, repo, "deleted", issue(12, updated="2026-03-03T10:00:00Z"), "d5") == 1
    assert [e[1:3] for e in events_of(store, repo)] == [(11, "added"), (12, "added"), (11, "removed"),
                                                        (12, "removed")]
