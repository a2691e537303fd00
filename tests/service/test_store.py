"""The store on real SQLite (and PostgreSQL when PAYDOWN_TEST_POSTGRES_URL is set): migrations, races, lifecycle."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import StatementError

from paydown.analyzers import ALL_RULES
from paydown.analyzers.config import load_config
from paydown.analyzers.finding import Finding as AnalyzerFinding
from paydown.analyzers.finding import Impact, Location, Problem, Risk, new_finding
from paydown.analyzers.runner import Report, scan
from paydown.service import store as st
from paydown.service.github import InstallationRecord, RepoRecord
from paydown.service.store import (
    BacklogItem,
    Base,
    CheckRun,
    Delivery,
    Finding,
    Installation,
    JobFailure,
    Repository,
    ReviewComment,
    Scan,
    ScanFinding,
    Sprint,
    SprintEvent,
)

POSTGRES_URL = os.environ.get("PAYDOWN_TEST_POSTGRES_URL") or None
BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.skipif(POSTGRES_URL is None,
                                                        reason="PAYDOWN_TEST_POSTGRES_URL is not set")),
]
RULES = {rule.id: rule for rule in ALL_RULES}
HEAD = "0002"  # the newest migration
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


# --- fixtures -------------------------------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file in tmp_path, or a fresh PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'paydown.db'}"
        return
    assert POSTGRES_URL is not None
    schema = f"paydown_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture
def store(database_url: str) -> Iterator[st.Store]:
    store = st.Store(database_url)
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
def repo(store: st.Store) -> Repository:
    with store.session() as session:
        st.upsert_installation(session, InstallationRecord(id=100, account_login="acme", account_type="Organization"))
        return st.upsert_repository(session, RepoRecord(id=1, full_name="acme/model", default_branch="main",
                                                        private=False), 100)


def finding(name: str, *, path: str = "train.py", line: int = 3, effort: float = 1.0) -> AnalyzerFinding:
    """A real finding of rule PD101 whose fingerprint depends on `name` only."""
    impact = Impact(effort_hours=effort, risk=Risk.MEDIUM, risk_reason="tested", interest_hours_per_month=2.0)
    return new_finding(RULES["PD101"], Location(path, line), symbol=name, message=f"flag {name} is dead",
                       impact=impact)


def report(*names: str, errors: list[Problem] | None = None) -> Report:
    return Report(root="/repo", findings=[finding(n) for n in names], errors=errors or [], stats={"files": 7})


def fp(name: str) -> str:
    return finding(name).fingerprint


def scanned(store: st.Store, repo: Repository, sha: str, names: tuple[str, ...], *,
            committed_at: datetime | None = None, ref: str | None = "refs/heads/main") -> Scan:
    """Claim and finish a scan of `sha` whose report has findings `names`, in two sessions like a job."""
    with store.session() as session:
        claimed, done = st.claim_scan(session, repo.id, sha, trigger="push", ref=ref, committed_at=committed_at)
        assert not done
    with store.session() as session:
        return st.finish_scan(session, claimed, report(*names))


def apply(store: st.Store, repo: Repository, scan_row: Scan) -> st.Lifecycle:
    with store.session() as session:
        return st.update_lifecycle(session, repo, scan_row)


def states(store: st.Store, repo: Repository) -> dict[str, str]:
    with store.session() as session:
        rows = session.execute(select(Finding.fingerprint, Finding.state).where(Finding.repository_id == repo.id))
        return {fingerprint: state for fingerprint, state in rows}


def row_counts(store: st.Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {table.name: conn.scalar(select(func.count()).select_from(table)) or 0
                for table in Base.metadata.sorted_tables}


def in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run `work(i)` in `count` threads released together; re-raise the first error."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = work(i)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results


def drift(store: st.Store, metadata: MetaData = Base.metadata) -> list[Any]:
    with store.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)


# --- engine, sessions, migrations -----------------------------------------------------------------------------


def test_migrate_from_empty_creates_exactly_the_models(store: st.Store) -> None:
    assert drift(store) == []
    with store.engine.connect() as conn:
        assert conn.scalar(text("SELECT version_num FROM alembic_version")) == HEAD


def test_drift_check_notices_a_column_the_migration_lacks(store: st.Store) -> None:
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["scans"].append_column(Column("extra", Integer))
    diffs = drift(store, changed)
    assert [(d[0], d[3].name) for d in diffs] == [("add_column", "extra")]


def test_migrate_twice_changes_nothing(store: st.Store, repo: Repository) -> None:
    before = row_counts(store)
    store.migrate()
    assert row_counts(store) == before
    assert before["repositories"] == 1
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]


def test_migrate_from_two_threads(database_url: str) -> None:
    stores = [st.Store(database_url), st.Store(database_url)]
    try:
        in_threads(2, lambda i: stores[i].migrate())
        assert drift(stores[0]) == []
    finally:
        for one in stores:
            one.dispose()


def test_migrate_from_two_processes(database_url: str) -> None:
    code = "import sys; from paydown.service.store import Store; s = Store(sys.argv[1]); s.migrate(); s.dispose()"
    procs = [subprocess.Popen([sys.executable, "-c", code, database_url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    checked = st.Store(database_url)
    try:
        assert drift(checked) == []
        with checked.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]
    finally:
        checked.dispose()


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    store = st.Store(f"sqlite:///{tmp_path / 'new' / 'folder' / 'paydown.db'}")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == st.SQLITE_BUSY_TIMEOUT_MS
        assert (tmp_path / "new" / "folder" / "paydown.db").is_file()
    finally:
        store.dispose()


def test_session_commits_on_success_and_rolls_back_on_error(store: st.Store, repo: Repository) -> None:
    with pytest.raises(RuntimeError), store.session() as session:
        st.record_delivery(session, "d-rolled-back", event="push", action=None, installation_id=100,
                           repository="acme/model", job_ids=["j"])
        raise RuntimeError("boom")
    with store.session(readonly=True) as session:
        assert not st.delivery_seen(session, "d-rolled-back")
        assert st.repository_by_name(session, "acme/model") is not None
    assert repo.full_name == "acme/model"  # still readable after its session closed


def test_ping(store: st.Store, tmp_path: Path) -> None:
    assert store.ping() is True
    (tmp_path / "a-folder.db").mkdir()
    dead_urls = [f"sqlite:///{tmp_path / 'a-folder.db'}"]
    if importlib.util.find_spec("psycopg") is not None:
        dead_urls.append("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2")
    for url in dead_urls:
        dead = st.Store(url)
        try:
            assert dead.ping() is False, url
        finally:
            dead.dispose()


def test_sqlite_readonly_session_reads_while_a_writer_holds_the_lock(tmp_path: Path) -> None:
    store = st.Store(f"sqlite:///{tmp_path / 'paydown.db'}")
    store.migrate()
    seen: list[bool] = []
    try:
        with store.session() as writer:
            st.record_delivery(writer, "held", event="push", action=None, installation_id=None, repository=None,
                               job_ids=[])

            def read() -> None:
                with store.session(readonly=True) as reader:
                    seen.append(st.delivery_seen(reader, "held"))

            thread = threading.Thread(target=read)
            thread.start()
            thread.join(timeout=5)
            assert not thread.is_alive(), "a read-only session waited for the writer"
        assert seen == [False]  # the writer had not committed yet
    finally:
        store.dispose()


def test_init_app_and_get_store(store: st.Store) -> None:
    from flask import Flask

    app = Flask(__name__)
    st.init_app(app, store)
    assert st.get_store(app) is store
    assert app.extensions["paydown.store"] is store


# --- installations, repositories, deliveries ------------------------------------------------------------------


def test_upsert_installation_updates_in_place(store: st.Store) -> None:
    with store.session() as session:
        st.upsert_installation(session, InstallationRecord(id=7, account_login="old", account_type="User"))
    with store.session() as session:
        again = st.upsert_installation(session, InstallationRecord(id=7, account_login="new",
                                                                   account_type="Organization", suspended=True))
        assert (again.account_login, again.account_type, again.suspended) == ("new", "Organization", True)
    assert row_counts(store)["installations"] == 1


def test_upsert_repository_creates_missing_installation_and_follows_renames(store: st.Store) -> None:
    with store.session() as session:
        first = st.upsert_repository(session, RepoRecord(id=55, full_name="octo/a", default_branch="main",
                                                         private=True), 9)
        installation = session.get_one(Installation, 9)
        assert (installation.account_login, first.installation_id) == ("octo", 9)
    with store.session() as session:
        renamed = st.upsert_repository(session, RepoRecord(id=55, full_name="octo/b", default_branch="trunk",
                                                           private=False), None)
        assert (renamed.id, renamed.full_name, renamed.default_branch, renamed.private) == (
            first.id, "octo/b", "trunk", False)
        assert renamed.installation_id == 9
        assert st.repository_by_name(session, "octo/a") is None
    with store.session() as session:
        # Another repository now takes the old name, and the renamed one comes back to it: the stale row goes.
        st.upsert_repository(session, RepoRecord(id=56, full_name="octo/a", default_branch="main", private=False), 9)
    with store.session() as session:
        back = st.upsert_repository(session, RepoRecord(id=56, full_name="octo/b", default_branch="main",
                                                        private=False), 9)
        assert back.github_id == 56
    assert row_counts(store)["repositories"] == 1


def test_local_repository(store: st.Store, tmp_path: Path, make_repo: Any) -> None:
    root = make_repo(tmp_path, {"train.py": "x = 1\n"})
    with store.session() as session:
        local = st.local_repository(session, root / ".." / root.name)
        assert (local.full_name, local.local_path, local.default_branch) == (
            f"local:{root.resolve()}", str(root.resolve()), "main")
        assert local.is_local and local.installation_id is None
    with store.session() as session:
        assert st.local_repository(session, root).id == local.id
    plain = tmp_path / "not-git"
    plain.mkdir()
    with store.session() as session:
        assert st.local_repository(session, plain).default_branch == "main"
    assert row_counts(store)["repositories"] == 2


def test_record_delivery_once(store: st.Store) -> None:
    with store.session() as session:
        assert not st.delivery_seen(session, "d1")
        assert st.record_delivery(session, "d1", event="push", action=None, installation_id=1,
                                  repository="acme/model", job_ids=["scan:acme/model:abc"]) is True
    with store.session() as session:
        assert st.delivery_seen(session, "d1")
        assert st.record_delivery(session, "d1", event="push", action="again", installation_id=1,
                                  repository="acme/model", job_ids=["other"]) is False
    with store.session() as session:
        row = session.scalars(select(Delivery)).one()
        assert (row.id, row.action, row.job_ids, row.received_at.tzinfo) == ("d1", None, ["scan:acme/model:abc"], UTC)
    assert row_counts(store)["deliveries"] == 1


def test_record_delivery_concurrently(store: st.Store) -> None:
    def deliver(i: int) -> bool:
        with store.session() as session:
            return st.record_delivery(session, "same", event="pull_request", action="opened", installation_id=1,
                                      repository="acme/model", job_ids=[f"job-{i}"])

    results = in_threads(8, deliver)
    assert sorted(results) == [False] * 7 + [True]
    assert row_counts(store)["deliveries"] == 1


# --- scans ----------------------------------------------------------------------------------------------------


def test_claim_scan_from_eight_threads_makes_one_row(store: st.Store, repo: Repository) -> None:
    def claim(_i: int) -> list[tuple[int, bool, str]]:
        claims = []
        for sha in ("a" * 40, *(f"{n:040d}" for n in range(4))):
            with store.session() as session:
                repository = st.repository_by_name(session, "acme/model")  # a read before the write, as jobs do
                assert repository is not None
                row, done = st.claim_scan(session, repository.id, sha, trigger="push", ref="refs/heads/main")
                claims.append((row.id, done, row.status))
        return claims

    results = [claims[0] for claims in in_threads(8, claim)]
    assert len({scan_id for scan_id, _, _ in results}) == 1
    assert {(done, status) for _, done, status in results} == {(False, "running")}
    assert row_counts(store)["scans"] == 5
    with store.session() as session:
        st.finish_scan(session, session.get_one(Scan, results[0][0]), report("x"))
    with store.session() as session:
        again, done = st.claim_scan(session, repo.id, "a" * 40, trigger="check_suite", ref=None)
        assert (again.id, done, again.status, again.trigger) == (results[0][0], True, "succeeded", "push")


def test_claim_scan_retries_a_failed_scan(store: st.Store, repo: Repository) -> None:
    with store.session() as session:
        first, _ = st.claim_scan(session, repo.id, "b" * 40, trigger="push", ref=None)
    with store.session() as session:
        st.fail_scan(session, first.id, "tarball too large")
        assert session.get_one(Scan, first.id).status == "failed"
    with store.session() as session:
        retried, done = st.claim_scan(session, repo.id, "b" * 40, trigger="push", ref="refs/heads/main")
        assert (retried.id, done, retried.status, retried.error, retried.ref) == (
            first.id, False, "running", None, "refs/heads/main")


def test_finish_scan_stores_the_report_and_a_replay_replaces_it(store: st.Store, repo: Repository) -> None:
    with store.session() as session:
        claimed, _ = st.claim_scan(session, repo.id, "c" * 40, trigger="push", ref="refs/heads/main")
    problem = Problem(path="bad.py", reason="syntax-error", message="invalid syntax")
    with store.session() as session:
        done = st.finish_scan(session, claimed, Report(root="/r", findings=[finding("a"), finding("b", effort=2.5),
                                                                            finding("c")], errors=[problem],
                                                       stats={"files": 3}), config_stats={"source": "default"})
        assert (done.status, done.finding_count, done.total_effort_hours, done.files) == ("succeeded", 3, 4.5, 3)
        assert done.problems == [problem.to_dict()]
        assert done.stats == {"files": 3, "config": {"source": "default"}}
    with store.session() as session:
        replay = st.finish_scan(session, claimed, report("b", "d"))
        rows = session.scalars(select(ScanFinding).where(ScanFinding.scan_id == claimed.id)
                               .order_by(ScanFinding.fingerprint)).all()
        assert sorted(r.fingerprint for r in rows) == sorted([fp("b"), fp("d")])
        assert (replay.finding_count, replay.total_effort_hours, replay.problems) == (2, 2.0, [])
        assert "config" not in replay.stats
        row = next(r for r in rows if r.fingerprint == fp("d"))
        assert (row.rule_id, row.kind, row.path, row.line, row.effort_hours, row.priority) == (
            "PD101", "dead-flag", "train.py", 3, 1.0, finding("d").impact.priority.value)
        assert row.data == finding("d").to_dict()
    assert row_counts(store)["scan_findings"] == 2


def test_finish_scan_from_four_threads_at_once(store: st.Store, repo: Repository) -> None:
    with store.session() as session:
        claimed, _ = st.claim_scan(session, repo.id, "c" * 40, trigger="push", ref=None)

    def finish(i: int) -> int:
        with store.session() as session:
            return st.finish_scan(session, claimed, report("a", "b", f"only-{i}")).finding_count

    assert in_threads(4, finish) == [3, 3, 3, 3]
    with store.session() as session:
        names = {d["symbol"] for d in session.scalars(select(ScanFinding.data))}
    assert len(names) == 3 and {"a", "b"} < names
    assert row_counts(store)["scan_findings"] == 3


def test_finish_scan_of_a_real_analysis(store: st.Store, repo: Repository, tmp_path: Path, make_repo: Any) -> None:
    root = make_repo(tmp_path, {"requirements.txt": "pandas\nscikit-learn>=1.0\n",
                                "train.py": 'import pandas as pd\ndf = pd.read_csv("data/train.csv")\n'})
    result = scan(root, load_config(root, ALL_RULES), jobs=1, use_cache=False)
    assert sorted(f.rule_id for f in result.findings) == ["PD201", "PD201", "PD401"]
    with store.session() as session:
        claimed, _ = st.claim_scan(session, repo.id, "d" * 40, trigger="push", ref="refs/heads/main")
        done = st.finish_scan(session, claimed, result)
        assert (done.finding_count, done.files) == (3, 2)
        stored = session.scalars(select(ScanFinding.data).where(ScanFinding.scan_id == done.id)).all()
        assert sorted(d["fingerprint"] for d in stored) == sorted(f.fingerprint for f in result.findings)


def test_fail_scan(store: st.Store, repo: Repository) -> None:
    with store.session() as session:
        one, _ = st.claim_scan(session, repo.id, "e" * 40, trigger="push", ref=None)
        two, _ = st.claim_scan(session, repo.id, "f" * 40, trigger="push", ref=None)
        st.fail_scan(session, two.id, "installation suspended", status="skipped")
        with pytest.raises(ValueError, match="status"):
            st.fail_scan(session, one.id, "x", status="running")
        st.fail_scan(session, one.id, "GitHub did not answer", status="queued")
        retry = session.get_one(Scan, one.id)
        assert (retry.status, retry.error, retry.finished_at) == ("queued", "GitHub did not answer", None)
    with store.session() as session:
        assert (session.get_one(Scan, two.id).status, session.get_one(Scan, two.id).error) == (
            "skipped", "installation suspended")
        st.finish_scan(session, one, report("a"))
        st.fail_scan(session, one.id, "late failure of a replay")
        assert session.get_one(Scan, one.id).status == "succeeded"


def test_latest_scan_scan_by_sha_and_scans_of(store: st.Store, repo: Repository) -> None:
    old = scanned(store, repo, "1" * 40, ("a",), committed_at=T0)
    new = scanned(store, repo, "2" * 40, ("a", "b"), committed_at=T0 + timedelta(days=1))
    history = scanned(store, repo, "0" * 40, (), committed_at=T0 - timedelta(days=1))  # imported last, oldest
    with store.session() as session:
        pr, _ = st.claim_scan(session, repo.id, "3" * 40, trigger="pull_request", ref="refs/pull/1/head")
    with store.session() as session:
        assert [s.id for s in st.scans_of(session, repo.id)] == [history.id, old.id, new.id]
        latest = st.latest_scan(session, repo.id)
        assert latest is not None and latest.id == history.id  # finished last
        assert st.latest_scan(session, repo.id, trigger="pull_request") is None
        running = st.latest_scan(session, repo.id, status="running", trigger="pull_request")
        assert running is not None and running.id == pr.id
        by_sha = st.scan_by_sha(session, repo.id, "2" * 40)
        assert by_sha is not None and by_sha.id == new.id
        assert st.scan_by_sha(session, repo.id, "9" * 40) is None


def test_datetimes_come_back_aware_in_utc(store: st.Store, repo: Repository) -> None:
    plus_two = datetime(2024, 3, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    with store.session() as session:
        claimed, _ = st.claim_scan(session, repo.id, "7" * 40, trigger="push", ref=None, committed_at=plus_two)
    with store.session() as session:
        row = session.get_one(Scan, claimed.id)
        assert row.committed_at == plus_two
        assert row.committed_at.tzinfo == UTC and row.committed_at.hour == 12
        assert row.queued_at.tzinfo == UTC and row.started_at is not None and row.started_at.tzinfo == UTC
    with pytest.raises(StatementError, match="naive datetime"), store.session() as session:
        st.claim_scan(session, repo.id, "8" * 40, trigger="push", ref=None, committed_at=datetime(2024, 1, 1))


def test_record_job_failure(store: st.Store) -> None:
    with store.session() as session:
        st.record_job_failure(session, job_id="scan:acme/model:abc", job_kind="scan", repository="acme/model",
                              commit_sha="abc", reason="GitHub unavailable", retrying=True)
    with store.session() as session:
        row = session.scalars(select(JobFailure)).one()
        assert (row.job_id, row.job_kind, row.repository, row.commit_sha, row.reason, row.retrying) == (
            "scan:acme/model:abc", "scan", "acme/model", "abc", "GitHub unavailable", True)
        assert row.failed_at.tzinfo == UTC


# --- lifecycle ------------------------------------------------------------------------------------------------


def test_lifecycle_new_fixed_reopened_and_dismissed_stays(store: st.Store, repo: Repository) -> None:
    first = scanned(store, repo, "1" * 40, ("a", "b"), committed_at=T0)
    assert apply(store, repo, first) == st.Lifecycle(new=sorted([fp("a"), fp("b")]), open=2)
    with store.session() as session:
        dismissed = session.scalars(select(Finding).where(Finding.fingerprint == fp("b"))).one()
        dismissed.state = "dismissed"

    second = scanned(store, repo, "2" * 40, ("b", "c"), committed_at=T0 + timedelta(hours=1))
    assert apply(store, repo, second) == st.Lifecycle(new=[fp("c")], fixed=[fp("a")], open=1)
    assert states(store, repo) == {fp("a"): "fixed", fp("b"): "dismissed", fp("c"): "open"}
    with store.session() as session:
        fixed = session.scalars(select(Finding).where(Finding.fingerprint == fp("a"))).one()
        assert (fixed.fixed_in_sha, fixed.fixed_at, fixed.last_seen_scan_id) == ("2" * 40, second.committed_at,
                                                                                first.id)

    third = scanned(store, repo, "3" * 40, ("a", "c"), committed_at=T0 + timedelta(hours=2))
    assert apply(store, repo, third) == st.Lifecycle(reopened=[fp("a")], open=2)
    with store.session() as session:
        rows = {f.fingerprint: f for f in session.scalars(select(Finding))}
        assert (rows[fp("a")].state, rows[fp("a")].fixed_at, rows[fp("a")].fixed_in_sha) == ("open", None, None)
        assert (rows[fp("a")].first_seen_scan_id, rows[fp("a")].last_seen_scan_id) == (first.id, third.id)
        assert (rows[fp("c")].message, rows[fp("c")].risk, rows[fp("c")].interest_hours_per_month) == (
            "flag c is dead", "medium", 2.0)
        assert rows[fp("b")].state == "dismissed"  # absent now, still dismissed
        snapshot = {fpr: (f.state, f.last_seen_scan_id, f.last_seen_at, f.fixed_at) for fpr, f in rows.items()}

    assert apply(store, repo, third) == st.Lifecycle(open=2)
    with store.session() as session:
        again = {f.fingerprint: (f.state, f.last_seen_scan_id, f.last_seen_at, f.fixed_at)
                 for f in session.scalars(select(Finding))}
    assert again == snapshot
    assert row_counts(store)["findings"] == 3


def test_lifecycle_ignores_an_older_commit_replayed_late(store: st.Store, repo: Repository) -> None:
    newer = scanned(store, repo, "2" * 40, (), committed_at=T0 + timedelta(days=1))
    older = scanned(store, repo, "1" * 40, ("a",), committed_at=T0)  # claimed and finished after the newer one
    first = scanned(store, repo, "0" * 40, ("a",), committed_at=T0 - timedelta(days=1))
    assert apply(store, repo, first).new == [fp("a")]
    assert apply(store, repo, newer) == st.Lifecycle(fixed=[fp("a")], open=0)
    assert apply(store, repo, older) == st.Lifecycle(open=0)
    assert states(store, repo) == {fp("a"): "fixed"}


def test_lifecycle_without_commit_dates_goes_by_claim_order(store: st.Store, repo: Repository) -> None:
    with store.session() as session:
        early, _ = st.claim_scan(session, repo.id, "1" * 40, trigger="push", ref="refs/heads/main")
    late = scanned(store, repo, "2" * 40, ("b",))
    assert apply(store, repo, late).new == [fp("b")]
    with store.session() as session:  # the early job's retry succeeds only now
        early = st.finish_scan(session, early, report("a"))
    assert apply(store, repo, early) == st.Lifecycle(open=1)
    assert states(store, repo) == {fp("b"): "open"}


def test_lifecycle_ignores_other_branches_and_unfinished_scans(store: st.Store, repo: Repository) -> None:
    branch = scanned(store, repo, "1" * 40, ("a",), ref="refs/heads/feature")
    assert apply(store, repo, branch) == st.Lifecycle(open=0)
    assert states(store, repo) == {}
    with store.session() as session:
        running, _ = st.claim_scan(session, repo.id, "2" * 40, trigger="push", ref="main")
    with pytest.raises(ValueError, match="not succeeded"):
        apply(store, repo, running)


# --- forgetting -----------------------------------------------------------------------------------------------


def populate(store: st.Store, installation_id: int, github_id: int, name: str) -> None:
    """One repository with a row in every table that holds repository data."""
    with store.session() as session:
        st.upsert_installation(session, InstallationRecord(id=installation_id, account_login=name.split("/")[0],
                                                           account_type="User"))
        repository = st.upsert_repository(session, RepoRecord(id=github_id, full_name=name, default_branch="main",
                                                              private=False), installation_id)
        st.record_delivery(session, f"delivery-{name}", event="push", action=None, installation_id=installation_id,
                           repository=name, job_ids=[])
        st.record_job_failure(session, job_id=f"scan:{name}:1", job_kind="scan", repository=name, commit_sha="1",
                              reason="x", retrying=False)
    done = scanned(store, repository, "1" * 40, ("a", "b"))
    apply(store, repository, done)
    with store.session() as session:
        sprint = Sprint(repository_id=repository.id, milestone_number=1, title="Sprint 1")
        session.add(sprint)
        session.flush()
        session.add_all([
            SprintEvent(sprint_id=sprint.id, issue_number=5, event="added", effort_hours=1.0),
            BacklogItem(repository_id=repository.id, key="k", kind="dead-flag", title="t", path="train.py",
                        effort_hours=1.0, risk="low", interest_hours_per_month=1.0, priority="low", score=1.0),
            ReviewComment(repository_id=repository.id, pull_number=1, fingerprint=fp("a"), comment_id=10,
                          commit_sha="1" * 40, path="train.py", line=3),
            CheckRun(repository_id=repository.id, head_sha="1" * 40, check_run_id=11),
        ])


def test_forget_installation_purges_its_repositories(store: st.Store) -> None:
    populate(store, 1, 11, "gone/one")
    populate(store, 2, 22, "kept/two")
    each = {"installations": 1, "repositories": 1, "scans": 1, "scan_findings": 2, "findings": 2, "deliveries": 1,
            "job_failures": 1, "backlog_items": 1, "sprints": 1, "sprint_events": 1, "review_comments": 1,
            "check_runs": 1, "web_sessions": 0}
    assert row_counts(store) == {table: 2 * count for table, count in each.items()}
    with store.session() as session:
        loaded = st.repository_by_name(session, "gone/one")  # loaded objects must not be flushed back
        assert loaded is not None and loaded.installation is not None
        assert st.forget_installation(session, 1) == ["gone/one"]
    expected = {**each, "deliveries": 2}  # the delivery log is not repository data: a replay stays a duplicate
    assert row_counts(store) == expected
    with store.session() as session:
        assert st.repository_by_name(session, "gone/one") is None
        kept = st.repository_by_name(session, "kept/two")
        assert kept is not None and kept.installation_id == 2
        assert session.get(Installation, 1) is None
        assert st.forget_installation(session, 1) == []
        assert st.forget_repository(session, "kept/two") is True
        assert st.forget_repository(session, "kept/two") is False
    assert row_counts(store)["repositories"] == 0
