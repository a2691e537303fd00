"""Backlog sync: items from findings, the pure plan, and whole syncs against the GitHub stand-in server."""

from __future__ import annotations

import html
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from paydown.analyzers import ALL_RULES
from paydown.analyzers.config import BacklogSettings, Config, load_config
from paydown.analyzers.finding import Impact, Priority, Risk
from paydown.analyzers.runner import scan as run_scan
from paydown.service import store as db
from paydown.service.backlog import (
    BODY_MAX,
    Links,
    StoredItem,
    SyncPlan,
    item_labels,
    items_from_findings,
    plan_sync,
    render_item_section,
)
from paydown.service.backlog import apply as backlog
from paydown.service.github import GitHubApp, IssueRecord, RateLimited, RepoRecord
from paydown.service.markdown import md_code, md_inline, md_text
from paydown.service.store import models

FULL = "octo-org/widgets"
SHA = "a" * 40
LINKS = Links("https://github.com", FULL, SHA, "https://paydown.example")
BOT = "paydown-test[bot]"
GIT_ENV = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "T",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


# ---------------------------------------------------------------- findings as the store keeps them


def finding(rule: str, path: str, line: int, symbol: str, *, kind: str = "unpinned-dependency",
            effort: float = 0.5, risk: str = "high", interest: float = 1.0, message: str = "",
            locations: list[dict[str, Any]] | None = None, fix: str = "") -> dict[str, Any]:
    impact = Impact(effort, Risk(risk), f"{symbol} can change", interest)
    return {
        "rule": rule, "kind": kind, "message": message or f"{symbol} is not pinned: no version", "path": path,
        "line": line, "column": 1, "end_line": line, "symbol": symbol,
        "fingerprint": f"{rule}:{path}:{symbol}".encode().hex()[:32].ljust(32, "0"),
        "impact": impact.to_dict(), "fix": fix,
        "locations": locations or [{"path": path, "line": line, "column": 1, "end_line": line, "end_column": 0}],
    }


def requirement(path: str, line: int, name: str, **kw: Any) -> dict[str, Any]:
    return finding("PD201", path, line, name, **kw)


def issue(number: int, body: str, *, state: str = "open", reason: str | None = None, title: str = "t",
          labels: tuple[str, ...] = ("paydown",), user: str = BOT, milestone: int | None = None) -> IssueRecord:
    return IssueRecord(number, title, body, state, reason, labels, milestone, user,
                       f"https://github.com/{FULL}/issues/{number}")


# ---------------------------------------------------------------- items


def test_two_clone_groups_of_module_level_code_in_one_notebook_are_two_items() -> None:
    # Made-With-ML: copies among notebook cells, and notebook cells copied into evaluate.py, share the scope name.
    def loc(path: str, line: int) -> dict[str, Any]:
        return {"path": path, "line": line, "column": 1, "end_line": line + 5, "end_column": 0}

    within = finding("PD302", "nb.ipynb", 2, "<module>", kind="duplicated-feature-logic",
                     locations=[loc("nb.ipynb", 2), loc("nb.ipynb", 40)])
    across = finding("PD301", "nb.ipynb", 9, "<module>", kind="duplicated-feature-logic",
                     locations=[loc("nb.ipynb", 9), loc("evaluate.py", 127)])
    across["fingerprint"] = "f" * 32
    items = items_from_findings([within, across])
    assert len(items) == 2
    assert all("<module>" not in item.title and "module-level code" in item.title for item in items)


def test_loose_requirements_of_one_file_are_one_item_whose_key_survives_a_new_member() -> None:
    three = [requirement("requirements.txt", n, name) for n, name in enumerate(["numpy", "pandas", "torch"], 1)]
    items = items_from_findings([*three, requirement("dev/requirements.txt", 1, "pytest")])
    assert sorted((i.path, len(i.findings)) for i in items) == [("dev/requirements.txt", 1), ("requirements.txt", 3)]
    grown = items_from_findings([*three, requirement("requirements.txt", 4, "scipy")])
    main = next(i for i in items if i.path == "requirements.txt")
    assert grown[0].key == main.key
    assert len(grown[0].fingerprints) == 4
    assert main.title == "Pin the 3 loose requirements in requirements.txt"


def test_impact_adds_effort_and_interest_takes_the_worst_risk_and_recomputes_the_score() -> None:
    members = [requirement("r.txt", 1, "a", effort=0.25, risk="low", interest=0.2),
               requirement("r.txt", 2, "b", effort=0.5, risk="high", interest=1.0)]
    [item] = items_from_findings(members)
    expected = Impact(0.75, Risk.HIGH, "b can change", 1.2)
    assert (item.effort_hours, item.risk, item.interest_hours_per_month) == (0.75, "high", 1.2)
    assert (item.score, item.priority, item.risk_reason) == (expected.score, expected.priority.value, "b can change")


def test_two_rules_on_one_flag_are_one_piece_of_work() -> None:
    dead = finding("PD101", "settings.py", 3, "settings.USE_NEW_TOKENIZER", kind="dead-flag", effort=0.5,
                   interest=0.3, risk="medium")
    stale = finding("PD103", "settings.py", 3, "settings.USE_NEW_TOKENIZER", kind="dead-flag", effort=0.25,
                    interest=0.25, risk="medium")
    [item] = items_from_findings([dead, stale])
    assert item.rule_ids == ("PD101", "PD103")
    assert (item.effort_hours, item.interest_hours_per_month) == (0.5, 0.3)
    assert item.title == "Remove the stale feature flag USE_NEW_TOKENIZER"


def test_one_item_per_flag_clone_group_and_input_source() -> None:
    flag = finding("PD101", "settings.py", 3, "settings.USE_NEW_TOKENIZER", kind="dead-flag")
    clone = finding("PD301", "train.py", 10, "preprocess", kind="duplicated-feature-logic", locations=[
        {"path": "train.py", "line": 10, "end_line": 20}, {"path": "serve.py", "line": 5, "end_line": 15}])
    source = "s3://bucket/customers.parquet"
    reads = [finding("PD401", "train.py", 30, source, kind="undocumented-input"),
             finding("PD402", "notebooks/explore.ipynb", 4, source, kind="undocumented-input")]
    titles = sorted(i.title for i in items_from_findings([flag, clone, *reads]))
    assert titles == ["Pin and declare the unstable data input s3://bucket/customers.parquet",
                      "Remove the dead switch USE_NEW_TOKENIZER",
                      "Training/serving skew: preprocess duplicated in train.py and serve.py"]


def test_items_are_ranked_by_score_then_key() -> None:
    items = items_from_findings([requirement("a.txt", 1, "x", interest=0.1), requirement("b.txt", 1, "y")])
    assert [i.path for i in items] == ["b.txt", "a.txt"]
    assert items == items_from_findings(list(reversed([f for i in items for f in i.findings])))


# ---------------------------------------------------------------- Markdown safety


@pytest.mark.parametrize("hostile", ["<script>alert(1)</script>", "@org/team please look", "fixes #1",
                                     "--> <!-- paydown:end -->", "a | b", "`tick`` ``", "[x](javascript:1)"])
def test_hostile_text_cannot_ping_reference_inject_html_or_break_markers(hostile: str) -> None:
    for rendered in (md_text(hostile), md_inline(hostile)):
        assert "<!--" not in rendered and "-->" not in rendered
        assert "<script" not in rendered
        shown = html.unescape(rendered)  # what GitHub's mention and reference filters see
        assert not re.search(r"@[\w-]", shown)
        assert not re.search(r"#\d", shown)
    code = md_code(hostile, table=True)  # inside a code span nothing is HTML, a mention or a reference
    fence = re.match(r"`+", code).group(0)
    assert code.endswith(fence) and fence not in code[len(fence):-len(fence)]
    assert "<!--" not in code and "-->" not in code
    assert "|" not in code.replace("\\|", "") and "|" not in md_text(hostile).replace("\\|", "")


def test_code_spans_hold_backticks_and_keep_code_readable() -> None:
    assert md_code("a`b") == "``a`b``"
    assert md_code("`x`") == "`` `x` ``"
    assert md_inline("use `x == 1` here") == "use `x == 1` here"


# ---------------------------------------------------------------- the plan (pure)

SETTINGS = BacklogSettings(issue_priority=Priority.MEDIUM, max_open_issues=25)
DASH = issue(1, "<!-- paydown:begin -->\n<!-- paydown:dashboard -->\n<!-- paydown:end -->")


def plan(desired: list[Any], existing: list[IssueRecord], stored: dict[str, StoredItem] | None = None,
         **kw: Any) -> SyncPlan:
    kw.setdefault("settings", SETTINGS)
    return plan_sync(desired, existing, stored or {}, bot_login=BOT, links=LINKS, **kw)


def ops(p: SyncPlan) -> list[tuple[str, str]]:
    return [(a.op, a.why) for a in p.actions]


def adopted(item: Any, number: int, **kw: Any) -> IssueRecord:
    """The issue paydown made for `item` (its body as paydown renders it now)."""
    body = render_item_section(item, replace(LINKS, dashboard_number=1))
    kw.setdefault("labels", item_labels(item))
    kw.setdefault("title", item.title)
    return issue(number, body, **kw)


def test_items_at_or_above_the_threshold_get_issues_highest_score_first() -> None:
    high = items_from_findings([requirement("requirements.txt", 1, "numpy", interest=2.0)])
    low = items_from_findings([requirement("dev.txt", 1, "pytest", risk="low", interest=0.1)])
    p = plan(high + low, [DASH])
    assert ops(p) == [("create", "new")]
    assert p.actions[0].title == "Pin the loose requirement numpy in requirements.txt"
    assert p.actions[0].labels == ("paydown", "debt: unpinned-dependency", "priority: high")
    assert "<!-- paydown:item=" + high[0].key + " -->" in (p.actions[0].body or "")
    assert p.outcomes[low[0].key].issue_number is None


def test_at_most_max_open_issues_are_open_and_the_next_waits_for_a_free_slot() -> None:
    items = items_from_findings([requirement(f"r{n}.txt", 1, "numpy", interest=1 + n / 10) for n in range(5)])
    open_one = adopted(items[4], 7)  # the lowest score already has its issue: it keeps it
    p = plan(items, [DASH, open_one], settings=BacklogSettings(max_open_issues=3))
    assert [a.key for a in p.actions] == [items[0].key, items[1].key]
    assert set(p.deferred) == {items[2].key, items[3].key}


def test_an_unchanged_backlog_plans_nothing() -> None:
    items = items_from_findings([requirement("requirements.txt", 1, "numpy")])
    stored = {items[0].key: StoredItem(items[0].key, 7, "open")}
    assert plan(items, [DASH, adopted(items[0], 7)], stored).actions == []


def test_a_new_commit_that_does_not_move_the_code_keeps_the_old_permalinks() -> None:
    items = items_from_findings([requirement("requirements.txt", 1, "numpy")])
    current = adopted(items[0], 7)
    p = plan_sync(items, [DASH, current], {}, bot_login=BOT, settings=SETTINGS, links=replace(LINKS, sha="b" * 40))
    assert p.actions == []
    moved = items_from_findings([requirement("requirements.txt", 2, "numpy")])
    p = plan_sync(moved, [DASH, current], {}, bot_login=BOT, settings=SETTINGS, links=replace(LINKS, sha="b" * 40))
    assert ops(p) == [("update", "changed")]
    assert f"/blob/{'b' * 40}/requirements.txt#L2" in (p.actions[0].body or "")


def test_gone_debt_closes_its_issue_as_completed_with_a_comment_naming_the_commit() -> None:
    items = items_from_findings([requirement("requirements.txt", 1, "numpy")])
    key = items[0].key
    p = plan([], [DASH, adopted(items[0], 7)], {key: StoredItem(key, 7, "open")})
    [action] = p.actions
    assert (action.op, action.state, action.state_reason) == ("close", "closed", "completed")
    assert SHA[:7] in (action.comment or "") and f"commit/{SHA}" in (action.comment or "")
    assert p.outcomes[key].state == "fixed" and p.changes["fixed"] == [key]


def test_debt_back_after_a_fix_reopens_with_a_comment() -> None:
    items = items_from_findings([requirement("requirements.txt", 1, "numpy")])
    key = items[0].key
    closed = adopted(items[0], 7, state="closed", reason="completed")
    p = plan(items, [DASH, closed], {key: StoredItem(key, 7, "fixed", fixed_in_sha="c" * 40)})
    assert ops(p) == [("reopen", "back")]
    assert "is back" in (p.actions[0].comment or "")
    assert p.changes["back"] == [key]


def test_closed_as_not_planned_is_dismissed_and_never_touched() -> None:
    items = items_from_findings([requirement("requirements.txt", 1, "numpy")])
    key = items[0].key
    closed = adopted(items[0], 7, state="closed", reason="not_planned")
    for stored in ({}, {key: StoredItem(key, 7, "open")}, {key: StoredItem(key, 7, "dismissed")}):
        p = plan(items, [DASH, closed], stored)
        assert p.actions == [] and p.outcomes[key].state == "dismissed"


def test_closed_as_completed_while_still_there_reopens_once_then_respects_the_person() -> None:
    items = items_from_findings([requirement("requirements.txt", 1, "numpy")])
    key = items[0].key
    closed = adopted(items[0], 7, state="closed", reason="completed")
    p = plan(items, [DASH, closed], {key: StoredItem(key, 7, "open")})
    assert ops(p) == [("reopen", "still-there")]
    assert "still finds" in (p.actions[0].comment or "") and "requirements.txt" in (p.actions[0].comment or "")
    again = plan(items, [DASH, closed], {key: StoredItem(key, 7, "open")}, told={7})
    assert again.actions == [] and again.outcomes[key].state == "dismissed"


def test_a_persons_labels_title_and_text_are_kept() -> None:
    items = items_from_findings([requirement("requirements.txt", 1, "numpy")])
    key = items[0].key
    mine = adopted(items[0], 7, labels=("paydown", "debt: unpinned-dependency", "priority: low", "team: ml"),
                   title="Pin numpy before the release")
    mine = replace(mine, body="Alice: doing this in the next sprint.\n\n" + mine.body + "\n\nThanks!")
    p = plan(items, [DASH, mine], {key: StoredItem(key, 7, "open")})
    [action] = p.actions
    assert action.title is None
    assert set(action.labels or ()) == {"paydown", "debt: unpinned-dependency", "priority: high", "team: ml"}
    assert action.body is None  # the text paydown owns is unchanged: only the stale priority label moves


def test_a_body_whose_markers_a_person_deleted_is_found_by_the_store_and_gets_its_part_back() -> None:
    items = items_from_findings([requirement("requirements.txt", 1, "numpy")])
    key = items[0].key
    edited = issue(7, "I rewrote this issue myself.", title="numpy")
    p = plan(items, [DASH, edited], {key: StoredItem(key, 7, "open")})
    [action] = p.actions
    assert action.op == "update" and action.current == edited
    assert (action.body or "").startswith("I rewrote this issue myself.\n\n<!-- paydown:begin -->")


def test_a_wiped_store_adopts_paydowns_issues_by_marker_but_not_a_copy_by_someone_else() -> None:
    items = items_from_findings([requirement("requirements.txt", 1, "numpy")])
    impostor = replace(adopted(items[0], 3), user_login="mallory")
    p = plan(items, [DASH, impostor, adopted(items[0], 7)])
    assert p.actions == [] and p.outcomes[items[0].key].issue_number == 7


def test_a_huge_item_body_is_cut_under_githubs_limit_with_a_link_to_the_dashboard() -> None:
    many = [requirement("requirements/" + "x" * 120 + ".txt", n, f"package-{n}") for n in range(1, 1500)]
    many = [dict(f, path="requirements.txt") for f in many]
    [item] = items_from_findings(many)
    body = render_item_section(item, replace(LINKS, dashboard_number=1))
    assert len(body) <= BODY_MAX
    assert body.rstrip().endswith("<!-- paydown:end -->")
    hidden = int(re.search(r"\.\.\.and ([\d,]+) more locations", body).group(1).replace(",", ""))
    shown = body.count("](https://github.com/octo-org/widgets/blob/")
    assert hidden + shown == 1499 and hidden > 0
    assert f"[debt dashboard](https://github.com/{FULL}/issues/1)" in body


# ---------------------------------------------------------------- whole syncs against the GitHub stand-in

LOOSE = {"requirements.txt": "numpy>=1.26\npandas\n"}
ACTIONS = {".github/workflows/ci.yml": ("on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
                                        "      - uses: actions/checkout@v4\n")}
CLEAN = {"requirements.txt": "numpy==1.26.4\npandas==2.2.2\n"}


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args], cwd=root,
                          env={**os.environ, **GIT_ENV}, check=True, capture_output=True, text=True)
    return done.stdout.strip()


class World:
    """One repository on the stand-in GitHub, its real git history, the store, and paydown's sync of each scan."""

    def __init__(self, root: Path, fake: Any, settings: Any, store: Any, config: Config) -> None:
        self.root, self.fake, self.settings, self.store, self.config = root, fake, settings, store, config
        root.mkdir(parents=True)
        git(root, "init", "-q")
        fake.add_installation(1)
        fake.add_repo(FULL, root / ".git", 1)
        self.app = GitHubApp(settings)
        self.client = self.app.installation(1)
        with store.session() as session:
            db.upsert_repository(session, RepoRecord(77, FULL, "main", False), 1)
        self.sha = ""

    def commit(self, files: dict[str, str | None]) -> str:
        for name, text in files.items():
            path = self.root / name
            if text is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "--allow-empty", "-m", "change")
        self.sha = git(self.root, "rev-parse", "HEAD")
        report = run_scan(self.root, load_config(self.root, ALL_RULES))
        with self.store.session() as session:
            repo = db.repository_by_name(session, FULL)
            scan, _ = db.claim_scan(session, repo.id, self.sha, trigger="push", ref="main")
            db.finish_scan(session, scan, report)
        return self.sha

    def sync(self) -> backlog.SyncReport:
        with self.store.session() as session:
            repo = db.repository_by_name(session, FULL)
            scan = db.scan_by_sha(session, repo.id, self.sha)
            return backlog.sync_backlog(session, self.client, repo, scan, self.config, self.settings)

    def issues(self, state: str = "all") -> list[Any]:
        return [i for i in self.fake.issue_list(FULL, state) if "paydown:item=" in (i.body or "")]

    def dashboard(self) -> Any:
        [found] = [i for i in self.fake.issue_list(FULL) if "paydown:dashboard" in (i.body or "")]
        return found

    def rows(self) -> dict[str, models.BacklogItem]:
        with self.store.session() as session:
            return {row.title: row for row in session.scalars(select(models.BacklogItem))}

    def close(self) -> None:
        self.app.close()


@pytest.fixture
def world(tmp_path: Path, fake_github: Any, service_settings: Any, service_store: Any) -> Iterator[World]:
    config = Config(backlog=BacklogSettings(issue_priority=Priority.MEDIUM, max_open_issues=25))
    made = World(tmp_path / "widgets", fake_github, service_settings, service_store, config)
    yield made
    made.close()
    assert fake_github.errors == []


def writes(fake: Any) -> list[tuple[str, str]]:
    return [(r.method, re.sub(r"/repos/[^/]+/[^/]+", "", r.path)) for r in fake.writes()]


def test_first_sync_creates_the_dashboard_the_issues_and_the_labels(world: World) -> None:
    world.commit({**LOOSE, **ACTIONS})
    report = world.sync()
    titles = sorted(i.title for i in world.issues())
    assert titles == ["Pin the 2 loose requirements in requirements.txt",
                      "Pin the GitHub Action actions/checkout in .github/workflows/ci.yml to a commit SHA"]
    labels = world.fake.labels(FULL)
    assert {"paydown", "debt: unpinned-dependency", "priority: high", "priority: medium"} <= set(labels)
    assert labels["priority: high"].color == "b60205" and labels["paydown"].description
    dashboard = world.dashboard()
    assert dashboard.number == report.dashboard_number == 1 and dashboard.labels == ["paydown"]
    first = next(i for i in world.issues() if "requirements" in i.title)
    assert f"/blob/{world.sha}/requirements.txt#L1" in first.body
    assert f"#{first.number}" in dashboard.body
    rows = world.rows()
    assert rows[first.title].issue_number == first.number and rows[first.title].state == "open"
    with world.store.session() as session:
        assert db.repository_by_name(session, FULL).dashboard_issue_number == 1


def test_an_identical_second_sync_makes_zero_write_calls(world: World) -> None:
    world.commit({**LOOSE, **ACTIONS})
    world.sync()
    assert writes(world.fake) == [("POST", "/labels")] * 4 + [("POST", "/issues")] * 3 + [("PATCH", "/issues/1")]
    world.fake.clear_log()
    world.sync()  # the same scan again (a replayed job)
    assert world.fake.writes() == []
    world.commit({"README.md": "unrelated change\n"})  # a new commit that does not touch the debt
    world.sync()
    assert world.fake.writes() == []
    assert world.fake.count("GET", r"/issues$") == 2  # one listing per sync, never the search API
    assert world.fake.count("GET", r"/search") == 0


def test_a_fix_closes_exactly_that_issue_with_a_comment_naming_the_commit(world: World) -> None:
    world.commit({**LOOSE, **ACTIONS})
    world.sync()
    loose = next(i for i in world.issues() if "requirements" in i.title)
    fix = world.commit(CLEAN)
    world.fake.clear_log()
    world.sync()
    assert [(i.number, i.state, i.state_reason) for i in world.issues("closed")] == [
        (loose.number, "closed", "completed")]
    assert len(world.issues("open")) == 1
    [comment] = world.fake.comments(FULL, loose.number)
    assert fix[:7] in comment.body and f"/commit/{fix}" in comment.body and comment.user == BOT
    assert writes(world.fake) == [("POST", f"/issues/{loose.number}/comments"), ("PATCH", f"/issues/{loose.number}"),
                                  ("PATCH", "/issues/1")]
    assert world.rows()[loose.title].state == "fixed" and world.rows()[loose.title].fixed_in_sha == fix
    assert "1 fixed" in world.dashboard().body


def test_a_regression_reopens_the_issue_with_a_comment(world: World) -> None:
    world.commit(LOOSE)
    world.sync()
    [loose] = world.issues()
    world.commit(CLEAN)
    world.sync()
    back = world.commit(LOOSE)
    world.sync()
    again = world.fake.issue(FULL, loose.number)
    assert again.state == "open" and len(world.issues()) == 1
    comments = world.fake.comments(FULL, loose.number)
    assert len(comments) == 2 and "is back" in comments[1].body and back[:7] in comments[1].body
    assert f"/blob/{back}/requirements.txt" in again.body
    assert world.rows()[loose.title].state == "open" and "1 back after a fix" in world.dashboard().body


def test_closed_as_not_planned_stays_closed_across_later_scans(world: World) -> None:
    world.commit(LOOSE)
    world.sync()
    [loose] = world.issues()
    world.fake.edit_issue(FULL, loose.number, state="closed", state_reason="not_planned")
    for files in ({"README.md": "one\n"}, {"requirements.txt": "numpy>=1.26\npandas\nscipy\n"}):
        world.commit(files)
        world.fake.clear_log()
        world.sync()
        assert world.fake.issue(FULL, loose.number).state == "closed"
        assert not [w for w in writes(world.fake) if w[1].startswith(f"/issues/{loose.number}")]
    assert world.fake.comments(FULL, loose.number) == [] and len(world.issues()) == 1
    row = world.rows()[loose.title.replace("2", "3")]
    assert row.state == "dismissed" and row.dismissed_at is not None
    assert f"#{loose.number} dismissed" in world.dashboard().body


def test_a_persons_title_milestone_labels_and_text_survive_a_sync(world: World) -> None:
    world.commit(LOOSE)
    world.sync()
    [loose] = world.issues()
    milestone = world.fake.add_milestone(FULL, "Cleanup sprint")
    world.fake.add_label(FULL, "team: ml")
    world.fake.edit_issue(FULL, loose.number, title="Pin numpy and pandas before 2.0", milestone=milestone,
                          labels=[*loose.labels, "team: ml"], body="Alice: taking this.\n\n" + loose.body)
    world.commit({"requirements.txt": "numpy>=1.26\npandas\nscipy\n"})
    world.sync()
    now = world.fake.issue(FULL, loose.number)
    assert now.title == "Pin numpy and pandas before 2.0" and now.milestone == milestone
    assert "team: ml" in now.labels and "paydown" in now.labels
    assert now.body.startswith("Alice: taking this.\n\n<!-- paydown:begin -->") and "scipy" in now.body
    assert len(world.issues()) == 1


def test_a_wiped_store_adopts_the_existing_issues_and_creates_no_duplicate(world: World) -> None:
    world.commit({**LOOSE, **ACTIONS})
    world.sync()
    before = [(i.number, i.title) for i in world.fake.issue_list(FULL)]
    with world.store.session() as session:
        session.execute(delete(models.BacklogItem))
        db.repository_by_name(session, FULL).dashboard_issue_number = None
    world.fake.clear_log()
    world.sync()
    assert [(i.number, i.title) for i in world.fake.issue_list(FULL)] == before
    assert world.fake.writes() == []
    assert {row.issue_number for row in world.rows().values()} == {n for n, _ in before if n != 1}


def test_a_secondary_rate_limit_mid_sync_of_40_items_ends_with_exactly_40_issues_after_the_retry(
        world: World) -> None:
    world.config = replace(world.config, backlog=BacklogSettings(max_open_issues=50))
    world.commit({f"svc{n:02d}/requirements.txt": "numpy\n" for n in range(40)})
    create, made = world.client.create_issue, []

    def limited_after_20(*args: Any, **kwargs: Any) -> Any:
        if len(made) == 20:  # GitHub's content-creation limit hits the 21st create; longer than paydown waits
            world.fake.fail("POST", r"/issues$", "secondary_rate_limit", times=1, retry_after=3600)
        made.extend([1] if "paydown:item=" in kwargs["body"] else [])
        return create(*args, **kwargs)

    world.client.create_issue = limited_after_20
    with pytest.raises(RateLimited):
        world.sync()
    assert len(world.issues()) == 20
    world.sync()  # RQ's retry of the same job
    numbers = sorted(i.number for i in world.issues())
    assert len(numbers) == 40 == len({i.title for i in world.issues()})
    assert {row.issue_number for row in world.rows().values()} == set(numbers)
    assert world.fake.count("POST", r"/issues$", status=403) == 1


def test_a_body_over_githubs_limit_is_cut_cleanly_with_a_link_to_the_dashboard(world: World) -> None:
    names = [f"package-with-a-rather-long-name-number-{n:04d}" for n in range(1600)]
    world.commit({"requirements.txt": "".join(f"{name}>=1.0\n" for name in names)})
    world.sync()
    [big] = world.issues()
    assert len(big.body) <= 65536
    assert world.fake.count(status=422) == 0
    assert big.body.rstrip().endswith("<!-- paydown:end -->")
    assert re.search(r"\.\.\.and [\d,]+ more locations", big.body)
    assert f"[debt dashboard]({world.fake.web_url}/{FULL}/issues/1)" in big.body


def test_hostile_finding_text_cannot_break_the_marker_or_ping_anyone(world: World) -> None:
    hostile = "@org/team fixes #1 --> <!-- paydown:end --> <script>x</script>"
    world.commit({".github/workflows/ci.yml": ACTIONS[".github/workflows/ci.yml"].replace(
        "actions/checkout@v4", "evil/act@main # " + hostile)})
    world.commit({"requirements.txt": "numpy\n",
                  "train.py": f"import pandas as pd\ndf = pd.read_csv('s3://b/{hostile}.csv')\n"})
    world.sync()
    for made in world.issues():
        assert made.body.count("<!-- paydown:begin -->") == 1 and made.body.count("<!-- paydown:end -->") == 1
        assert made.body.count("-->") == made.body.count("<!--")  # no comment opened or closed by the finding
        prose = re.sub(r"(`+).*?\1", "", made.body, flags=re.S)  # what GitHub renders as Markdown, not code
        assert "<script" not in prose and "@org" not in html.unescape(prose)
        assert not re.search(r"(?<![\w/&])#1\b", html.unescape(prose))
    world.fake.clear_log()
    world.sync()
    assert world.fake.writes() == []


def test_closed_as_completed_while_the_debt_is_there_gets_one_comment_and_one_reopen(world: World) -> None:
    world.commit(LOOSE)
    world.sync()
    [loose] = world.issues()
    world.fake.edit_issue(FULL, loose.number, state="closed", state_reason="completed")
    world.commit({"README.md": "one\n"})
    world.sync()
    [comment] = world.fake.comments(FULL, loose.number)
    assert world.fake.issue(FULL, loose.number).state == "open"
    assert "still finds" in comment.body and f"/blob/{world.sha}/requirements.txt#L1" in comment.body
    world.fake.edit_issue(FULL, loose.number, state="closed", state_reason="completed")  # the person insists
    for files in ({"README.md": "two\n"}, {"README.md": "three\n"}):
        world.commit(files)
        world.sync()
        assert world.fake.issue(FULL, loose.number).state == "closed"
        assert len(world.fake.comments(FULL, loose.number)) == 1
    assert world.rows()[loose.title].state == "dismissed"


def test_a_deleted_issue_is_unlinked_and_made_again(world: World) -> None:
    world.commit(LOOSE)
    world.sync()
    [loose] = world.issues()
    world.fake.delete_issue(FULL, loose.number)
    world.sync()
    [again] = world.issues()
    assert again.id != loose.id and world.rows()[loose.title].issue_number == again.number


def test_issues_disabled_skips_the_issue_sync_but_keeps_the_backlog(world: World) -> None:
    world.fake.set_repo(FULL, has_issues=False)
    world.commit(LOOSE)
    report = world.sync()
    assert report.skipped and world.fake.writes() == []
    assert world.rows()["Pin the 2 loose requirements in requirements.txt"].issue_number is None


def test_issue_events_dismiss_undismiss_and_track_the_milestone(world: World) -> None:
    world.commit(LOOSE)
    world.sync()
    [loose] = world.issues()
    event = {"number": loose.number, "title": "renamed", "state": "closed", "state_reason": "not_planned",
             "labels": [{"name": "paydown"}], "milestone": {"number": 3}, "user": {"login": BOT}, "body": ""}
    with world.store.session() as session:
        backlog.on_issue_event(session, db.repository_by_name(session, FULL), "closed", event)
    row = world.rows()[loose.title]
    assert (row.state, row.issue_state, row.milestone_number) == ("dismissed", "closed", 3)
    with world.store.session() as session:
        backlog.on_issue_event(session, db.repository_by_name(session, FULL), "reopened",
                               {**event, "state": "open", "state_reason": "reopened", "milestone": None})
    row = world.rows()[loose.title]
    assert (row.state, row.issue_state, row.milestone_number, row.dismissed_at) == ("open", "open", None, None)


def test_the_dashboard_ranks_every_item_marks_which_have_issues_and_fits_githubs_limit() -> None:
    high = items_from_findings([requirement("requirements.txt", 1, "numpy", interest=2.0)])
    low = items_from_findings([requirement("dev.txt", 1, "pytest", risk="low", interest=0.1)])
    p = plan(high + low, [DASH])
    body = backlog.render_dashboard(p, {high[0].key: 9}, FULL, previous=DASH)
    assert "| 1 | Pin the loose requirement `numpy` in `requirements.txt` | high |" in body and "| #9 |" in body
    assert "| 2 | Pin the loose requirement `pytest` in `dev.txt` | low |" in body and "none (below medium)" in body
    assert ": 2 new." in body and f"]({LINKS.page})" in body
    many = items_from_findings([requirement(f"services/{'s' * 60}{n}/requirements.txt", 1, "numpy")
                                for n in range(1500)])
    body = backlog.render_dashboard(plan(many, [DASH]), {}, FULL, previous=DASH)
    assert len(body) <= BODY_MAX and body.rstrip().endswith("<!-- paydown:end -->")
    hidden = int(re.search(r"\.\.\.and ([\d,]+) more items", body).group(1).replace(",", ""))
    assert hidden + len(re.findall(r"^\| \d+ \|", body, flags=re.M)) == 1500 and hidden > 0


def test_every_rule_has_a_backlog_family_and_container_images_are_one_item_per_file(tmp_path: Path) -> None:
    """A rule without a family falls back to a generic 'Fix PDxxx' item: each rule, new ones too, gets its own."""
    from paydown.service.backlog import FAMILIES, item_title

    assert {rule.id for rule in ALL_RULES} <= set(FAMILIES)
    (tmp_path / "Dockerfile").write_text("FROM pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime\nRUN echo\n"
                                         "FROM python:3.11-slim AS serve\n")
    (tmp_path / "worker.Dockerfile").write_text("FROM python:3.11-slim\n")
    findings = [f.to_dict() for f in run_scan(tmp_path, Config(), use_cache=False, jobs=1).findings
                if f.rule_id == "PD204"]
    titles = sorted(item_title(item) for item in items_from_findings(findings))
    assert titles == ["Pin the 2 container images in Dockerfile to digests",
                      "Pin the container image python in worker.Dockerfile to a digest"]
