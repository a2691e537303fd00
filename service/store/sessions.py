"""The store: one engine per process on SQLite or PostgreSQL, migrations, and the race-safe writes the jobs share."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, delete, event, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.util import identity_key

from ..git import run_git
from ..github import InstallationRecord, RepoRecord
from ..policy import STORE_KEY
from ._sql import _insert, _inserted
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
    WebSession,
    utcnow,
)

if TYPE_CHECKING:
    from flask import Flask


MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATE_LOCK_KEY = 0x70617964  # "payd": the advisory lock every migrating process queues on (PostgreSQL)
SQLITE_BEGIN_OPTION = "paydown_sqlite_begin"
EXTENSION = STORE_KEY
WEB_SESSION_TOUCH = timedelta(minutes=1)  # a web session's last_seen_at is written at most this often


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
            done = run_git(path, *args, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return "main"
        name = done.stdout.decode("utf-8", "replace").strip()
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


def prune_deliveries(session: Session, *, older_than: datetime) -> int:
    """Forget deliveries received before `older_than` (past GitHub's redelivery window): how many went."""
    result = session.execute(delete(Delivery).where(Delivery.received_at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)


def record_job_failure(session: Session, *, job_id: str, job_kind: str, repository: str | None,
                       commit_sha: str | None, reason: str, retrying: bool) -> None:
    session.add(JobFailure(job_id=job_id, job_kind=job_kind, repository=repository, commit_sha=commit_sha,
                           reason=reason, retrying=retrying, failed_at=utcnow()))
    session.flush()


# --- web sessions (viewers signed in to the web page) -----------------------------------------------------------


def open_web_session(session: Session, session_hash: str, *, login: str, encrypted_token: str,
                     expires_at: datetime) -> WebSession:
    """A new signed-in viewer; sessions that have expired are deleted on the way."""
    now = utcnow()
    session.execute(delete(WebSession).where(WebSession.expires_at <= now).execution_options(
        synchronize_session=False))
    row = WebSession(id=session_hash, login=login, encrypted_token=encrypted_token, created_at=now,
                     last_seen_at=now, expires_at=expires_at)
    session.add(row)
    session.flush()
    return row


def live_web_session(session: Session, session_hash: str, *, idle: timedelta) -> WebSession | None:
    """The session if it has not expired and was used within `idle`; else None, and an expired row is deleted.
    Its last_seen_at moves to now (at most once per WEB_SESSION_TOUCH)."""
    row = session.get(WebSession, session_hash, populate_existing=True)
    if row is None:
        return None
    now = utcnow()
    if row.expires_at <= now or row.last_seen_at + idle <= now:
        session.delete(row)
        return None
    if now - row.last_seen_at >= WEB_SESSION_TOUCH:
        row.last_seen_at = now
    return row


def remember_viewer_repos(session: Session, session_hash: str, repos: list[str]) -> None:
    session.execute(update(WebSession).where(WebSession.id == session_hash).values(repos=list(repos),
                                                                                  repos_at=utcnow()))


def close_web_session(session: Session, session_hash: str) -> None:
    """Sign out: the row goes, so the cookie naming it stops working at once."""
    session.execute(delete(WebSession).where(WebSession.id == session_hash).execution_options(
        synchronize_session=False))
