"""The store: one engine per process on SQLite or PostgreSQL, migrations, and the race-safe writes the jobs share."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, delete, event, func, inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.util import identity_key

from paydown.analyzers.runner import Report

from .github import InstallationRecord, RepoRecord
from .models import (
    BacklogItem,
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
    utcnow,
)

if TYPE_CHECKING:
    from flask import Flask

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATE_LOCK_KEY = 0x70617964  # "payd": the advisory lock every migrating process queues on (PostgreSQL)
SQLITE_BEGIN_OPTION = "paydown_sqlite_begin"
EXTENSION = "paydown.store"
FAILED_STATUSES = ("failed", "skipped", "queued")  # queued: a transient error, the job retries


class Store:
    """An engine and a session factory for one database URL."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect == "sqlite":
            self.engine: Engine = _sqlite_engine(url)
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite: read-only sessions begin DEFERRED, so a page never waits for a writer's lock.
        self._readers = sessionmaker(self.engine, expire_on_commit=False,
                                     execution_options={SQLITE_BEGIN_OPTION: "DEFERRED"})

    @contextlib.contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """A unit of work: commit on success, rollback on exception, always close.

        On SQLite every writing session takes the write lock when it begins (BEGIN IMMEDIATE): a read followed by
        a write then never fails with a stale snapshot under concurrency. Keep such sessions short; never hold one
        across a scan or GitHub calls. ``readonly=True`` begins DEFERRED instead (pages, health checks).
        Objects stay readable after the block (expire_on_commit=False).
        """
        factory = self._readers if readonly else self._sessions
        with factory() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def migrate(self) -> None:
        """Upgrade the database to the newest revision; safe when many processes start at once."""
        for attempt in range(5):
            try:
                self._migrate_once()
                return
            except OperationalError as err:
                if self.dialect != "sqlite" or "locked" not in str(err) or attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def _migrate_once(self) -> None:
        from alembic import command

        config = alembic_config()
        with self.engine.connect() as conn:
            # The whole upgrade is one transaction that starts by taking the migration lock, so a second process
            # waits and then finds the database at head. PostgreSQL: an advisory lock (it outlives commits);
            # SQLite: the first statement begins IMMEDIATE, i.e. holds the write lock before Alembic reads.
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATE_LOCK_KEY})
            else:
                conn.execute(text("SELECT 1"))
            try:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                if self.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATE_LOCK_KEY})
                    conn.commit()

    def ping(self) -> bool:
        """The database answers `SELECT 1`."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                conn.rollback()
        except Exception:
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config() -> Any:
    """Alembic's configuration without an ini file: the migrations ship inside the package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


def _sqlite_engine(url: str) -> Engine:
    parsed = make_url(url)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own implicit BEGIN is off; the "begin" hook below emits ours (SQLAlchemy's pysqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # WAL's recommended setting: a commit is durable across a crash of paydown, and the fsync per commit
        # (one per webhook delivery) goes away; only an OS crash may lose the last commits, which GitHub redelivers.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def init_app(app: Flask, store: Store) -> None:
    """Attach the store to a Flask app; sessions are opened per use, so there is nothing to tear down."""
    app.extensions[EXTENSION] = store


def get_store(app: Flask) -> Store:
    return app.extensions[EXTENSION]


def _insert(session: Session, model: type) -> Any:
    """An INSERT that understands ON CONFLICT on the session's dialect."""
    name = session.get_bind().dialect.name
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(model)


def _inserted(session: Session, stmt: Any) -> bool:
    """Whether an INSERT ... ON CONFLICT DO NOTHING RETURNING wrote its row (rowcount is unreliable here)."""
    return session.execute(stmt).first() is not None


# --- installations and repositories ---------------------------------------------------------------------------


def upsert_installation(session: Session, record: InstallationRecord) -> Installation:
    values = {"account_login": record.account_login, "account_type": record.account_type,
              "suspended": record.suspended}
    stmt = _insert(session, Installation).values(id=record.id, **values)
    session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=values))
    return session.get_one(Installation, record.id, populate_existing=True)


def forget_installation(session: Session, installation_id: int) -> list[str]:
    """Delete the installation and its repositories with all their data; the names of the repositories purged."""
    names = sorted(session.scalars(select(Repository.full_name).where(Repository.installation_id == installation_id)))
    for name in names:
        forget_repository(session, name)
    session.execute(delete(Installation).where(Installation.id == installation_id)
                    .execution_options(synchronize_session=False))
    installation = session.identity_map.get(identity_key(Installation, installation_id))
    if installation is not None:
        session.expunge(installation)
    return names


def forget_repository(session: Session, full_name: str) -> bool:
    """Delete a repository and everything stored about it (explicitly, not trusting ON DELETE CASCADE)."""
    repo_id = session.scalar(select(Repository.id).where(Repository.full_name == full_name))
    if repo_id is None:
        return False
    session.flush()
    scan_ids = list(session.scalars(select(Scan.id).where(Scan.repository_id == repo_id)))
    sprint_ids = list(session.scalars(select(Sprint.id).where(Sprint.repository_id == repo_id)))
    statements = [
        delete(Finding).where(Finding.repository_id == repo_id),
        delete(ScanFinding).where(ScanFinding.scan_id.in_(scan_ids)),
        delete(Scan).where(Scan.repository_id == repo_id),
        delete(SprintEvent).where(SprintEvent.sprint_id.in_(sprint_ids)),
        delete(Sprint).where(Sprint.repository_id == repo_id),
        delete(BacklogItem).where(BacklogItem.repository_id == repo_id),
        delete(ReviewComment).where(ReviewComment.repository_id == repo_id),
        delete(CheckRun).where(CheckRun.repository_id == repo_id),
        delete(JobFailure).where(JobFailure.repository == full_name),
        delete(Repository).where(Repository.id == repo_id),
    ]
    for statement in statements:
        session.execute(statement.execution_options(synchronize_session=False))
    _expunge_purged(session, repo_id, set(scan_ids), set(sprint_ids))
    return True


def _expunge_purged(session: Session, repo_id: int, scan_ids: set[int], sprint_ids: set[int]) -> None:
    """Drop the purged rows' objects from the identity map so nothing flushes them back."""
    for obj in list(session.identity_map.values()):
        if (
            getattr(obj, "repository_id", None) == repo_id
            or (isinstance(obj, Repository) and obj.id == repo_id)
            or (isinstance(obj, ScanFinding) and obj.scan_id in scan_ids)
            or (isinstance(obj, SprintEvent) and obj.sprint_id in sprint_ids)
        ):
            session.expunge(obj)


def upsert_repository(session: Session, record: RepoRecord, installation_id: int | None) -> Repository:
    """Create or update by GitHub id; a rename keeps the row, and a stale row holding the new name is purged.

    An installation not stored yet is created from the repository's owner (its type is corrected by the next
    installation event), so a repository can always point at its installation.
    """
    if installation_id is not None and session.get(Installation, installation_id) is None:
        owner = record.full_name.split("/", 1)[0]
        stmt = _insert(session, Installation).values(id=installation_id, account_login=owner, account_type="User")
        session.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))
    repo = _repository_by_github_id(session, record.id)
    if repo is None:
        repo = repository_by_name(session, record.full_name)
    elif repo.full_name != record.full_name and forget_repository(session, record.full_name):
        session.flush()
    if repo is None:
        stmt = _insert(session, Repository).values(full_name=record.full_name, github_id=record.id,
                                                   default_branch=record.default_branch, private=record.private,
                                                   installation_id=installation_id)
        session.execute(stmt.on_conflict_do_nothing())
        repo = _repository_by_github_id(session, record.id) or repository_by_name(session, record.full_name)
        if repo is None:
            raise RuntimeError(f"repository {record.full_name} could not be stored")
    repo.full_name = record.full_name
    repo.github_id = record.id
    repo.default_branch = record.default_branch
    repo.private = record.private
    if installation_id is not None:
        repo.installation_id = installation_id
    session.flush()
    return repo


def _repository_by_github_id(session: Session, github_id: int) -> Repository | None:
    stmt = select(Repository).where(Repository.github_id == github_id).execution_options(populate_existing=True)
    return session.scalar(stmt)


def repository_by_name(session: Session, full_name: str) -> Repository | None:
    stmt = select(Repository).where(Repository.full_name == full_name).execution_options(populate_existing=True)
    return session.scalar(stmt)


def local_repository(session: Session, path: Path) -> Repository:
    """The repository row of a local folder (`paydown scan --save`), created on first use."""
    resolved = path.resolve()
    full_name = f"local:{resolved}"
    stmt = _insert(session, Repository).values(full_name=full_name, local_path=str(resolved),
                                               default_branch=_git_branch(resolved))
    session.execute(stmt.on_conflict_do_nothing(index_elements=["full_name"]))
    repo = repository_by_name(session, full_name)
    assert repo is not None
    repo.local_path = str(resolved)
    return repo


def _git_branch(path: Path) -> str:
    """The remote's default branch if git knows it, else the checked-out branch, else "main"."""
    for args, prefix in ((["symbolic-ref", "--short", "refs/remotes/origin/HEAD"], "origin/"),
                         (["symbolic-ref", "--short", "HEAD"], "")):
        try:
            done = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, timeout=10,
                                  check=False)
        except (OSError, subprocess.SubprocessError):
            return "main"
        name = done.stdout.strip()
        if done.returncode == 0 and name:
            return name.removeprefix(prefix)
    return "main"


# --- deliveries -----------------------------------------------------------------------------------------------


def delivery_seen(session: Session, delivery_id: str) -> bool:
    return session.scalar(select(Delivery.id).where(Delivery.id == delivery_id)) is not None


def record_delivery(session: Session, delivery_id: str, *, event: str, action: str | None,
                    installation_id: int | None, repository: str | None, job_ids: list[str]) -> bool:
    """Remember an accepted delivery; False if that id was already recorded (by anyone, concurrently too)."""
    stmt = _insert(session, Delivery).values(id=delivery_id, event=event, action=action,
                                             installation_id=installation_id, repository=repository,
                                             job_ids=list(job_ids), received_at=utcnow())
    return _inserted(session, stmt.on_conflict_do_nothing(index_elements=["id"]).returning(Delivery.id))


# --- scans ----------------------------------------------------------------------------------------------------


def claim_scan(session: Session, repository_id: int, sha: str, *, trigger: str, ref: str | None,
               committed_at: datetime | None = None) -> tuple[Scan, bool]:
    """Get or create the scan of (repository, sha): (scan, already_succeeded); a new or retried one is "running".

    Commit the session before scanning: the row is the claim, and holding the session would block other writers.
    """
    now = utcnow()
    stmt = _insert(session, Scan).values(repository_id=repository_id, commit_sha=sha, trigger=trigger, ref=ref,
                                         committed_at=committed_at, status="running", queued_at=now, started_at=now,
                                         problems=[], stats={})
    created = _inserted(session, stmt.on_conflict_do_nothing(index_elements=["repository_id", "commit_sha"])
                        .returning(Scan.id))
    scan = session.scalars(select(Scan).where(Scan.repository_id == repository_id, Scan.commit_sha == sha)
                           .execution_options(populate_existing=True)).one()
    if created:
        return scan, False
    if scan.status == "succeeded":
        return scan, True
    scan.status = "running"
    scan.started_at = now
    scan.error = None
    scan.ref = ref or scan.ref
    scan.committed_at = scan.committed_at or committed_at
    session.flush()
    return scan, False


def _attached(session: Session, scan: Scan) -> Scan:
    """The session's own copy of a scan that may come from an earlier, closed session."""
    if inspect(scan).session is session:
        return scan
    return session.get_one(Scan, scan.id, populate_existing=True)


def _locked(session: Session, scan_id: int) -> Scan | None:
    """The scan row, locked until commit (PostgreSQL), so two runs of one job write its findings one at a time."""
    stmt = select(Scan).where(Scan.id == scan_id).with_for_update().execution_options(populate_existing=True)
    return session.scalar(stmt)


def finish_scan(session: Session, scan: Scan, report: Report, *, config_stats: dict[str, Any] | None = None) -> Scan:
    """Store a report as the scan's result, replacing what an earlier run of the same job stored."""
    locked = _locked(session, scan.id)
    if locked is None:
        raise ValueError(f"scan {scan.id} does not exist (its repository was forgotten?)")
    scan = locked
    session.execute(delete(ScanFinding).where(ScanFinding.scan_id == scan.id)
                    .execution_options(synchronize_session=False))
    session.expire(scan, ["findings"])
    rows: dict[str, dict[str, Any]] = {}
    for finding in report.findings:
        rows.setdefault(finding.fingerprint, {
            "scan_id": scan.id, "fingerprint": finding.fingerprint, "rule_id": finding.rule_id,
            "kind": finding.kind.value, "path": finding.location.path, "line": finding.location.line,
            "effort_hours": finding.impact.effort_hours, "priority": finding.impact.priority.value,
            "data": finding.to_dict(),
        })
    if rows:
        session.execute(ScanFinding.__table__.insert(), list(rows.values()))
    stats = dict(report.stats)
    if config_stats is not None:
        stats["config"] = config_stats
    scan.problems = [problem.to_dict() for problem in report.errors]
    scan.stats = stats
    scan.files = int(report.stats.get("files", 0))
    scan.finding_count = len(rows)
    scan.total_effort_hours = round(sum(row["effort_hours"] for row in rows.values()), 2)
    scan.status = "succeeded"
    scan.error = None
    scan.finished_at = utcnow()
    session.flush()
    return scan


def fail_scan(session: Session, scan_id: int, reason: str, *, status: str = "failed") -> None:
    """Mark a scan failed, skipped, or queued again (a retry is coming) with its reason.

    A scan that already succeeded keeps its result (a late failure of a replayed job changes nothing).
    """
    if status not in FAILED_STATUSES:
        raise ValueError(f"fail_scan status must be one of {FAILED_STATUSES}, not {status!r}")
    scan = _locked(session, scan_id)
    if scan is None or scan.status == "succeeded":
        return
    scan.status = status
    scan.error = reason
    scan.finished_at = None if status == "queued" else utcnow()
    session.flush()


@dataclass(frozen=True)
class Lifecycle:
    """What a default-branch scan changed, as fingerprints; `open` counts the open findings after it."""

    new: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)
    open: int = 0


def update_lifecycle(session: Session, repository: Repository, scan: Scan) -> Lifecycle:
    """Apply a succeeded default-branch scan to the repository's findings (open, fixed, reopened; dismissed stays).

    Idempotent, and a scan older than the newest one applied (by commit date when both have one, else by the
    order the scans were claimed) changes nothing, so a replayed job cannot reopen debt fixed since.
    A scan of another branch (`ref` set and not the default branch) changes nothing either.
    """
    scan = _attached(session, scan)
    if scan.status != "succeeded":
        raise ValueError(f"scan {scan.id} has not succeeded ({scan.status})")
    # Serialises concurrent lifecycle updates of one repository (PostgreSQL; SQLite's BEGIN IMMEDIATE already does).
    repo = session.scalars(select(Repository).where(Repository.id == repository.id).with_for_update()
                           .execution_options(populate_existing=True)).one()
    if not _on_default_branch(repo, scan) or not _newer_than_applied(session, repo, scan):
        return Lifecycle(open=_open_count(session, repo.id))
    seen_at = scan.committed_at or scan.finished_at or utcnow()
    rows = session.scalars(select(ScanFinding).where(ScanFinding.scan_id == scan.id))
    current = {row.fingerprint: row for row in rows}
    known = {f.fingerprint: f for f in session.scalars(select(Finding).where(Finding.repository_id == repo.id))}
    new, fixed, reopened = [], [], []
    for fingerprint, row in current.items():
        finding = known.get(fingerprint)
        if finding is None:
            finding = Finding(repository_id=repo.id, fingerprint=fingerprint, state="open",
                              first_seen_scan_id=scan.id, first_seen_at=seen_at)
            session.add(finding)
            new.append(fingerprint)
        elif finding.state == "fixed":
            finding.state, finding.fixed_at, finding.fixed_in_sha = "open", None, None
            reopened.append(fingerprint)
        _copy_seen(finding, row, scan, seen_at)
    for fingerprint, finding in known.items():
        if fingerprint not in current and finding.state == "open":
            finding.state, finding.fixed_at, finding.fixed_in_sha = "fixed", seen_at, scan.commit_sha
            fixed.append(fingerprint)
    repo.lifecycle_scan_id = scan.id
    session.flush()
    return Lifecycle(new=sorted(new), fixed=sorted(fixed), reopened=sorted(reopened),
                     open=_open_count(session, repo.id))


def _copy_seen(finding: Finding, row: ScanFinding, scan: Scan, seen_at: datetime) -> None:
    impact = row.data.get("impact", {})
    finding.rule_id, finding.kind, finding.path, finding.line = row.rule_id, row.kind, row.path, row.line
    finding.message = row.data.get("message", "")
    finding.effort_hours = row.effort_hours
    finding.risk = impact.get("risk", "low")
    finding.interest_hours_per_month = impact.get("interest_hours_per_month", 0.0)
    finding.priority = row.priority
    finding.data = row.data
    finding.last_seen_scan_id = scan.id
    finding.last_seen_at = seen_at


def _on_default_branch(repo: Repository, scan: Scan) -> bool:
    return scan.ref is None or scan.ref.removeprefix("refs/heads/") == repo.default_branch


def _newer_than_applied(session: Session, repo: Repository, scan: Scan) -> bool:
    if repo.lifecycle_scan_id is None:
        return True
    if repo.lifecycle_scan_id == scan.id:
        return False
    applied = session.get(Scan, repo.lifecycle_scan_id)
    if applied is None:
        return True
    if scan.committed_at is not None and applied.committed_at is not None and scan.committed_at != applied.committed_at:
        return scan.committed_at > applied.committed_at
    # A retried job finishes late but was claimed early: claim order, not finish time, says which commit came first.
    return scan.id > applied.id


def _open_count(session: Session, repository_id: int) -> int:
    stmt = select(func.count()).select_from(Finding).where(Finding.repository_id == repository_id,
                                                            Finding.state == "open")
    return session.scalar(stmt) or 0


def latest_scan(session: Session, repository_id: int, *, status: str = "succeeded",
                trigger: str | None = None) -> Scan | None:
    """The most recently finished scan with that status (and trigger), else the most recently claimed one."""
    stmt = select(Scan).where(Scan.repository_id == repository_id, Scan.status == status)
    if trigger is not None:
        stmt = stmt.where(Scan.trigger == trigger)
    stmt = stmt.order_by(Scan.finished_at.is_(None), Scan.finished_at.desc(), Scan.id.desc()).limit(1)
    return session.scalar(stmt)


def scan_by_sha(session: Session, repository_id: int, sha: str) -> Scan | None:
    return session.scalar(select(Scan).where(Scan.repository_id == repository_id, Scan.commit_sha == sha))


def scans_of(session: Session, repository_id: int) -> list[Scan]:
    """Succeeded scans, oldest first (by commit date when known, else finish time): the trend charts' points."""
    stmt = (select(Scan).where(Scan.repository_id == repository_id, Scan.status == "succeeded")
            .order_by(func.coalesce(Scan.committed_at, Scan.finished_at), Scan.id))
    return list(session.scalars(stmt))


def record_job_failure(session: Session, *, job_id: str, job_kind: str, repository: str | None,
                       commit_sha: str | None, reason: str, retrying: bool) -> None:
    session.add(JobFailure(job_id=job_id, job_kind=job_kind, repository=repository, commit_sha=commit_sha,
                           reason=reason, retrying=retrying, failed_at=utcnow()))
    session.flush()
