"""The store's tables (SQLAlchemy 2): installations, repositories, scans, findings and the backlog built on them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on SQLite (which forgets the zone) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Named constraints, so a later migration can drop or alter them (SQLite's batch mode needs the names).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Installation(Base):
    """A GitHub App installation (an account that installed paydown)."""

    __tablename__ = "installations"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)  # GitHub's id
    account_login: Mapped[str] = mapped_column(String(255))
    account_type: Mapped[str] = mapped_column(String(32), default="User")
    suspended: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    repositories: Mapped[list[Repository]] = relationship(back_populates="installation")


class Repository(Base):
    """A repository paydown scans: on GitHub through an installation, or a local folder (`scan --save`)."""

    __tablename__ = "repositories"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    full_name: Mapped[str] = mapped_column(String(255), unique=True)  # owner/name, or local:<abs path>
    github_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    installation_id: Mapped[int | None] = mapped_column(ForeignKey("installations.id", ondelete="SET NULL"))
    default_branch: Mapped[str] = mapped_column(String(255), default="main")
    private: Mapped[bool] = mapped_column(default=False)
    local_path: Mapped[str | None] = mapped_column(Text)
    dashboard_issue_number: Mapped[int | None] = mapped_column(Integer)
    # The newest default-branch scan the findings' lifecycle reflects (no FK: scans already point here).
    lifecycle_scan_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    installation: Mapped[Installation | None] = relationship(back_populates="repositories")

    @property
    def is_local(self) -> bool:
        return self.local_path is not None


class Scan(Base):
    """One analysis of one commit. A commit is scanned once; later requests reuse the stored result."""

    __tablename__ = "scans"
    __table_args__ = (UniqueConstraint("repository_id", "commit_sha"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), index=True)
    commit_sha: Mapped[str] = mapped_column(String(64))
    ref: Mapped[str | None] = mapped_column(String(255))
    trigger: Mapped[str] = mapped_column(String(32), default="push")  # push, pull_request, installation, local, history
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued, running, succeeded, failed, skipped
    error: Mapped[str | None] = mapped_column(Text)
    committed_at: Mapped[datetime | None] = mapped_column()  # the commit's own date, for trend charts of history
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    files: Mapped[int] = mapped_column(Integer, default=0)
    finding_count: Mapped[int] = mapped_column(Integer, default=0)
    total_effort_hours: Mapped[float] = mapped_column(Float, default=0.0)
    problems: Mapped[list[Any]] = mapped_column(default=list)  # files that could not be analysed
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    findings: Mapped[list[ScanFinding]] = relationship(back_populates="scan", cascade="all, delete-orphan")


class ScanFinding(Base):
    """A finding exactly as one scan reported it (Finding.to_dict in `data`)."""

    __tablename__ = "scan_findings"
    __table_args__ = (UniqueConstraint("scan_id", "fingerprint"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    line: Mapped[int] = mapped_column(Integer)
    effort_hours: Mapped[float] = mapped_column(Float)
    priority: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column()
    scan: Mapped[Scan] = relationship(back_populates="findings")


class Finding(Base):
    """A finding's life in one repository, across scans of its default branch."""

    __tablename__ = "findings"
    __table_args__ = (UniqueConstraint("repository_id", "fingerprint"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    line: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text)
    effort_hours: Mapped[float] = mapped_column(Float)
    risk: Mapped[str] = mapped_column(String(16))
    interest_hours_per_month: Mapped[float] = mapped_column(Float)
    priority: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="open")  # open, fixed, dismissed
    first_seen_scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id", ondelete="SET NULL"))
    last_seen_scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id", ondelete="SET NULL"))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    fixed_at: Mapped[datetime | None] = mapped_column()
    fixed_in_sha: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Delivery(Base):
    """A webhook delivery that was accepted: its id is written only once its job is enqueued."""

    __tablename__ = "deliveries"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # X-GitHub-Delivery
    event: Mapped[str] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(64))
    installation_id: Mapped[int | None] = mapped_column(BigInteger)
    repository: Mapped[str | None] = mapped_column(String(255))
    job_ids: Mapped[list[Any]] = mapped_column(default=list)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobFailure(Base):
    """A job that ended without doing its work, and why (shown on the web page and in logs)."""

    __tablename__ = "job_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(String(255), index=True)
    job_kind: Mapped[str] = mapped_column(String(32))
    repository: Mapped[str | None] = mapped_column(String(255), index=True)
    commit_sha: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    retrying: Mapped[bool] = mapped_column(default=False)
    failed_at: Mapped[datetime] = mapped_column(default=utcnow)


class BacklogItem(Base):
    """One thing a person fixes in one change (a file's loose requirements, a flag, a clone group, an input)."""

    __tablename__ = "backlog_items"
    __table_args__ = (UniqueConstraint("repository_id", "key"), Index("ix_backlog_issue", "repository_id",
                                                                      "issue_number"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(64))  # stable identity from its findings' fingerprints
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)
    line: Mapped[int] = mapped_column(Integer, default=1)
    fingerprints: Mapped[list[Any]] = mapped_column(default=list)
    effort_hours: Mapped[float] = mapped_column(Float)
    risk: Mapped[str] = mapped_column(String(16))
    interest_hours_per_month: Mapped[float] = mapped_column(Float)
    priority: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16), default="open")  # open, fixed, dismissed
    issue_number: Mapped[int | None] = mapped_column(Integer)
    issue_state: Mapped[str | None] = mapped_column(String(16))  # open / closed as GitHub last said
    milestone_number: Mapped[int | None] = mapped_column(Integer)  # the sprint it is planned in
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    fixed_at: Mapped[datetime | None] = mapped_column()
    fixed_in_sha: Mapped[str | None] = mapped_column(String(64))
    dismissed_at: Mapped[datetime | None] = mapped_column()


class Sprint(Base):
    """A cleanup sprint: a GitHub milestone holding paydown issues."""

    __tablename__ = "sprints"
    __table_args__ = (UniqueConstraint("repository_id", "milestone_number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), index=True)
    milestone_number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_on: Mapped[date | None] = mapped_column(Date)
    closed_at: Mapped[datetime | None] = mapped_column()
    events: Mapped[list[SprintEvent]] = relationship(back_populates="sprint", cascade="all, delete-orphan",
                                                     order_by="SprintEvent.at")


class SprintEvent(Base):
    """Something that moved a sprint's remaining effort: an item added, removed, closed or reopened."""

    __tablename__ = "sprint_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sprint_id: Mapped[int] = mapped_column(ForeignKey("sprints.id", ondelete="CASCADE"), index=True)
    issue_number: Mapped[int] = mapped_column(Integer)
    item_key: Mapped[str | None] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(16))  # added, removed, closed, reopened
    effort_hours: Mapped[float] = mapped_column(Float, default=0.0)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    delivery_id: Mapped[str | None] = mapped_column(String(64), unique=True)  # a redelivery adds nothing
    sprint: Mapped[Sprint] = relationship(back_populates="events")


class ReviewComment(Base):
    """A line comment paydown posted on a pull request, keyed by the finding it is about."""

    __tablename__ = "review_comments"
    __table_args__ = (UniqueConstraint("repository_id", "pull_number", "fingerprint"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), index=True)
    pull_number: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    comment_id: Mapped[int] = mapped_column(BigInteger)
    commit_sha: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    line: Mapped[int] = mapped_column(Integer)
    resolved_reply_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CheckRun(Base):
    """The `paydown` check run of one head commit."""

    __tablename__ = "check_runs"
    __table_args__ = (UniqueConstraint("repository_id", "head_sha"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), index=True)
    head_sha: Mapped[str] = mapped_column(String(64))
    pull_number: Mapped[int | None] = mapped_column(Integer)
    check_run_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="in_progress")
    conclusion: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebSession(Base):
    """A viewer signed in to the web page. Their cookie holds only a random id; this row's id is its SHA-256, and
    their GitHub token is kept here encrypted (Fernet, with a key derived from the app's secret key)."""

    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie's session id
    login: Mapped[str] = mapped_column(String(255))
    encrypted_token: Mapped[str] = mapped_column(Text)
    repos: Mapped[list[Any] | None] = mapped_column()  # the viewer's repositories paydown has data for
    repos_at: Mapped[datetime | None] = mapped_column()  # when GitHub last said so
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)  # for the idle expiry
    expires_at: Mapped[datetime] = mapped_column(index=True)  # the absolute expiry
